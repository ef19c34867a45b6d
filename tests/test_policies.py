"""SLA policies: first match wins, the older single-deadline config as the default chain, clear
errors and warnings from check-config, and intake applying the chosen policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import Item
from monitor.cli import main
from monitor.config import build_ruleset, load_config
from monitor.config.policies import IncidentFacts, PolicyBook
from monitor.config.problems import ConfigError
from monitor.daemon.intake import Intake
from monitor.daemon.workcal import WorkingCalendar
from storage import Store
from tests.test_storage import db  # noqa: F401 (the store on both backends)

ENV = {"VK": "t", "MONITOR_BOT_TOKEN": "4242424242:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsbw"}
NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # Wednesday 09:00 in Yekaterinburg
TOPICS = """
[[topics]]
id = "pits"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["яма"]

[[topics]]
id = "heat"
group = "ЖКХ"
name = "Нет отопления"
organisation = "УК"
priority = "critical"
words = ["отопление"]

[[topics]]
id = "trash"
group = "Обращение с отходами"
name = "Мусор"
organisation = "Регоператор"
sla = "sutki"
words = ["мусор"]

[sla.policies.sutki]
first_response = "24h"
clock = "calendar"

[sla.by_priority.critical]
first_response = "4h"
clock = "calendar"

[[telegram.chats]]
id = -1
name = "Дежурные"

[places]
[[places.settlements]]
name = "Мартюш"

[[sources]]
id = "news"
network = "telegram_web"
channel = "news"

[[sources]]
id = "admin-vk"
network = "vk"
group_id = 1
token_env = "VK"
"""


def facts(topic: str, group: str, priority: str = "normal", source: str = "news",
          network: str = "telegram_web", settlement: str | None = None) -> IncidentFacts:
    return IncidentFacts(topic, group, priority, source, network, settlement)


def book_of(write_config, policies: str):  # type: ignore[no-untyped-def]
    loaded = load_config(write_config(policies + TOPICS), env=ENV)
    return loaded, PolicyBook(loaded.config)


def test_without_policies_the_old_config_is_the_chain(write_config) -> None:  # type: ignore[no-untyped-def]
    _, book = book_of(write_config, "")
    assert [p.name for p in book.chain] == ["sutki", "priority-critical", "default"]
    assert book.choose(facts("trash", "Обращение с отходами")).name == "sutki"
    assert book.choose(facts("heat", "ЖКХ", "critical")).name == "priority-critical"
    assert book.choose(facts("pits", "Дороги")).name == "default"


POLICIES = """
[[policies]]
name = "vk-martyush-roads"
groups = ["Дороги"]
networks = ["vk"]
settlements = ["Мартюш"]
first_response = "2h"

[[policies]]
name = "roads"
topics = ["pits"]
first_response = "1d"
clock = "working_days"
resolution = "10d"
resolution_clock = "working_days"
clock_start = "published"

[[policies]]
name = "heat"
priorities = ["critical"]
sources = ["admin-vk"]
first_response = "1h"
clock = "calendar"
warn_before = "15m"
"""


def test_first_matching_policy_wins_and_every_condition_must_hold(write_config) -> None:  # type: ignore[no-untyped-def]
    loaded, book = book_of(write_config, POLICIES)
    assert loaded.warnings == []
    vk = {"source": "admin-vk", "network": "vk"}
    assert book.choose(facts("pits", "Дороги", settlement="Мартюш", **vk)).name == (
        "vk-martyush-roads")
    assert book.choose(facts("pits", "Дороги", settlement="Колчедан", **vk)).name == "roads"
    assert book.choose(facts("pits", "Дороги", settlement="Мартюш")).name == "roads"
    assert book.choose(facts("heat", "ЖКХ", "critical", **vk)).name == "heat"
    assert book.choose(facts("heat", "ЖКХ", "critical")).name == "priority-critical"
    assert book.choose(facts("trash", "Обращение с отходами")).name == "sutki"
    roads = book.by_name["roads"]
    assert roads.describe() == {
        "first_response": "1d", "clock": "working_days", "resolution": "10d",
        "resolution_clock": "working_days", "follow_up": "7d", "follow_up_clock": "working_days",
        "clock_start": "published"}


@pytest.mark.parametrize(("policy", "line", "key", "message"), [
    ('name = "x"\ntopics = ["potholes"]', 3, "policies[0].topics", "нет таких тем: 'potholes'"),
    ('name = "x"\ngroups = ["Дорога"]', 3, "policies[0].groups", "нет таких групп тем"),
    ('name = "x"\nsources = ["vk"]', 3, "policies[0].sources", "нет таких источников: 'vk'"),
    ('name = "x"\nnetworks = ["max"]', 3, "policies[0].networks", "нет таких сетей"),
    ('name = "x"\nsettlements = ["Москва"]', 3, "policies[0].settlements",
     "нет таких населённых пунктов"),
    ('name = "default"', 2, "policies[0].name", "имя политики 'default' уже занято"),
    ('name = "sutki"', 2, "policies[0].name", "уже занято"),
    ('name = "x"\npriorities = ["urgent"]', 3, "policies[0].priorities[0]", "допустимые"),
    ('name = "x"\nclock = "weekly"', 3, "policies[0].clock", ""),
    ('name = "x"\nfollow_up = "7d4h"', 1, "policies[0]", "целое число рабочих дней"),
    ('name = "x"\nfirst_response = "0s"', 3, "policies[0].first_response", "больше нуля"),
    ('name = "x"\nclock_start = "seen"', 3, "policies[0].clock_start", ""),
    ('name = "x"\nwords = ["яма"]', 3, "policies[0].words", ""),
    ('topics = ["pits"]', 1, "policies[0].name", ""),
])
def test_a_bad_policy_is_an_error_with_its_line_and_key(
    write_config, policy: str, line: int, key: str, message: str  # type: ignore[no-untyped-def]
) -> None:
    path = write_config(f"[[policies]]\n{policy}\n" + TOPICS)
    with pytest.raises(ConfigError) as exc:
        load_config(path, env=ENV)
    found = [p for p in exc.value.problems if p.key == key]
    assert found, [str(p) for p in exc.value.problems]
    assert found[0].line == line
    assert message in found[0].message


def test_two_policies_of_the_same_name_are_an_error(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config('[[policies]]\nname = "a"\n[[policies]]\nname = "a"\n' + TOPICS)
    with pytest.raises(ConfigError, match=r":4: policies\[1\]\.name: имя политики 'a' уже"):
        load_config(path, env=ENV)


def test_unreachable_and_hidden_policies_are_warned_of(write_config) -> None:  # type: ignore[no-untyped-def]
    loaded, _ = book_of(write_config, """
[[policies]]
name = "never"
topics = ["pits"]
groups = ["ЖКХ"]

[[policies]]
name = "vk-only-news"
sources = ["news"]
networks = ["vk"]

[[policies]]
name = "all-roads"
groups = ["Дороги"]

[[policies]]
name = "pits"
topics = ["pits"]
sources = ["admin-vk"]

[[policies]]
name = "everything"
""")
    warnings = [str(w) for w in loaded.warnings]
    assert len(warnings) == 6, warnings
    assert ":2: policies[0]: политика 'never' не применится никогда: ни одна включённая тема" in (
        warnings[0])
    assert "'vk-only-news' не применится никогда: ни один источник" in warnings[1]
    assert "'pits' не применится никогда: всё, что она охватывает, раньше забирает политика " \
           "'all-roads'" in warnings[2]
    # The older config's policies behind a catch-all are hidden too.
    assert [w.split("политика ")[1].split(" ")[0] for w in warnings[3:]] == [
        "'sutki'", "'priority-critical'", "'default'"]


def test_check_config_lists_the_policies(write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    path = write_config(POLICIES + TOPICS)
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Политики сроков (первая подходящая):" in out
    assert ("roads [topics = pits]: 1d (рабочие дни), предупреждение за 1h, решение за 10d "
            "(рабочие дни), после промежуточного ответа 7d (рабочие дни), отсчёт с публикации"
            ) in out


async def test_intake_applies_the_policy_and_the_store_keeps_it(  # type: ignore[no-untyped-def]
    write_config, db: Store  # noqa: F811
) -> None:
    config = load_config(write_config(POLICIES + TOPICS), env=ENV).config
    calendar = WorkingCalendar(config.calendar)
    intake = Intake(config, build_ruleset(config), calendar)
    published = NOW - timedelta(days=3)  # caught up after downtime: Sunday 09:00 local
    pit = Item("news", "1", "https://t.me/news/1", "Яма на дороге", published)
    heat = Item("admin-vk", "2", "https://vk.com/wall-1_2", "Нет отопления в доме", published)
    entries = [intake.classify(pit, "telegram_web", NOW), intake.classify(heat, "vk", NOW)]
    result = await db.save_items_and_cursor("news", entries[:1], {}, NOW)
    result.incidents += (await db.save_items_and_cursor("admin-vk", entries[1:], {},
                                                        NOW)).incidents
    road, warm = [await db.incident(n) for n in result.incidents]
    events = await db.events_of(result.incidents[0])
    assert road is not None and warm is not None
    # "roads": a working day from publication (Sunday): the close of Monday, already past.
    assert road.policy == "roads" and road.clock_started_at == published
    assert road.due_at == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    assert road.resolution_due_at == datetime(2026, 12, 4, 13, 0, tzinfo=UTC)  # 10th day
    assert road.policy_terms is not None and road.policy_terms["resolution"] == "10d"
    # "heat": an hour round the clock from detection.
    assert warm.policy == "heat" and warm.clock_started_at == NOW
    assert warm.due_at == NOW + timedelta(hours=1)
    assert warm.resolution_due_at is None
    assert events[0].kind == "opened" and events[0].detail["policy"] == "roads"
    assert road.as_json()["policy"] == "roads"


def test_published_in_the_future_starts_the_clock_at_detection(write_config) -> None:  # type: ignore[no-untyped-def]
    config = load_config(write_config(POLICIES + TOPICS), env=ENV).config
    intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))
    item = Item("news", "1", "u", "Яма на дороге", NOW + timedelta(hours=5))
    entry = intake.classify(item, "telegram_web", NOW)
    assert entry.incident is not None and entry.incident.clock_started_at == NOW
