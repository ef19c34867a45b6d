"""Per-source polling health: backoff, transitions logged once, one bad source harms no other."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.clock import ManualClock
from connectors.base import ConnectorSpec, Item, register, registry
from monitor.config import build_ruleset, load_config
from monitor.daemon.app import App
from monitor.daemon.poller import Intake, backoff
from monitor.daemon.workcal import WorkingCalendar
from rules.engine import NO_PLACE
from tests.fakes.tme import FakeTme
from tests.test_config import TokenSettings, _TokenSource

START = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)

CONFIG = """
[storage]
path = "m.db"

[[sources]]
id = "news"
network = "telegram_web"
channel = "kamensk_news"
base_url = "{url}"
interval = "5m"

[[sources]]
id = "gone"
network = "telegram_web"
channel = "no_such_channel"
base_url = "{url}"
interval = "5m"

[[topics]]
id = "pits"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["яма"]
"""


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[FakeTme, App, ManualClock]]:
    clock = ManualClock(START)
    async with FakeTme("kamensk_news") as tme:
        tme.add_post(1, START - timedelta(minutes=5), "Яма у подъезда")
        path = tmp_path / "config.toml"
        path.write_text(CONFIG.format(url=tme.base_url), encoding="utf-8")
        config = load_config(path, env={}).config
        async with App(config, clock=clock, env={}, rng=Draws(0.99)) as app:
            yield tme, app, clock


class Draws(random.Random):
    """A random source whose every draw is the one given: backoff made exact."""

    def __init__(self, draw: float) -> None:
        super().__init__(0)
        self.draw = draw

    def random(self) -> float:
        return self.draw


async def test_a_failing_source_backs_off_and_logs_transitions_once(world, caplog) -> None:  # type: ignore[no-untyped-def]
    tme, app, clock = world
    caplog.set_level(logging.DEBUG, logger="monitor.daemon.poller")
    tme.answer_status(500)
    for _ in range(3):
        await app.poll("news")
        clock.advance(timedelta(minutes=1))
    assert len(tme.requests) == 1, "no retry before the backoff (0.99 of 5m) has passed"
    clock.advance(timedelta(minutes=3))
    await app.poll("news")
    assert len(tme.requests) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "источник news: временная ошибка (1-я подряд): " in errors[0]
    assert errors[0].endswith("следующая попытка не раньше 2026-11-25 04:04:57 UTC "
                              "(через 4 мин 57 с)")
    assert "(2-я подряд)" in caplog.text and "(через 9 мин 54 с)" in caplog.text
    tme.answer_normally()
    clock.advance(timedelta(minutes=11))
    result = await app.poll("news")
    assert result is not None and result.new_items == 1
    assert caplog.text.count("источник news снова читается после 2 неудачных опросов") == 1


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    five = timedelta(minutes=5)
    assert backoff(five, 1, 0.0) == timedelta(0)
    assert backoff(five, 1, 0.5) == timedelta(minutes=2.5)
    assert backoff(five, 3, 0.5) == timedelta(minutes=10)
    assert backoff(five, 40, 0.5) == timedelta(minutes=30), "capped at an hour"
    assert backoff(five, 1, 0.5, retry_after=600) == timedelta(minutes=10)
    assert backoff(five, 4, 0.5, retry_after=60) == timedelta(minutes=20)


async def test_sources_that_failed_together_do_not_retry_together(tmp_path: Path) -> None:
    """A hundred channels on one t.me that answered 502 at once: their retries spread out."""
    clock = ManualClock(START)
    async with FakeTme("kamensk_news") as tme:
        tme.answer_status(502)
        sources = "".join(
            f'[[sources]]\nid = "s{n}"\nnetwork = "telegram_web"\nchannel = "kamensk_news"\n'
            f'base_url = "{tme.base_url}"\ninterval = "5m"\n\n' for n in range(100))
        path = tmp_path / "config.toml"
        path.write_text('[storage]\npath = "m.db"\n\n' + sources + CONFIG.split("[[topics]]")[1]
                        .join(["[[topics]]", ""]), encoding="utf-8")
        config = load_config(path, env={}).config
        async with App(config, clock=clock, env={}, rng=random.Random(14)) as app:
            await app.poll_all()
            retries = sorted(p.retry_at - START for p in app.pollers.values() if p.retry_at)
    assert len(retries) == 100 and len(set(retries)) == 100
    assert retries[0] < timedelta(minutes=1) and retries[-1] > timedelta(minutes=4)
    assert all(r <= timedelta(minutes=5) for r in retries)


async def test_retry_after_is_honoured(world) -> None:  # type: ignore[no-untyped-def]
    tme, app, clock = world
    tme.answer_status(429, retry_after="3600", times=1)
    await app.poll("news")
    assert app.pollers["news"].retry_at == START + timedelta(hours=1)


async def test_one_broken_source_does_not_stop_the_others(world, caplog) -> None:  # type: ignore[no-untyped-def]
    tme, app, clock = world
    await app.poll_all()
    assert len(await app.store.list_incidents()) == 1
    assert app.pollers["gone"].paused
    clock.advance(timedelta(days=1))
    await app.poll_all()
    stopped = [r for r in caplog.records if "источник gone остановлен (постоянная ошибка)"
               in r.getMessage()]
    assert len(stopped) == 1 and stopped[0].levelno == logging.ERROR, "said once"
    assert len([r for r in tme.requests if "no_such_channel" in r.path]) == 1, "never retried"


async def test_content_it_does_not_understand_is_reported_once(world, caplog) -> None:  # type: ignore[no-untyped-def]
    tme, app, clock = world
    tme.answer_truncated(times=2)
    counts = []
    for _ in range(2):
        await app.poll("news")
        counts.append(sum("не удалось прочитать" in r.getMessage() for r in caplog.records))
    assert counts[0] >= 1 and counts[1] == counts[0], "each kind of notice is logged once"


async def test_a_source_without_its_token_is_skipped_with_one_warning(  # type: ignore[no-untyped-def]
    tmp_path: Path, caplog
) -> None:
    if "test_tokened" not in registry():
        register(ConnectorSpec("test_tokened", TokenSettings, _TokenSource, needs_token=True))
    path = tmp_path / "config.toml"
    path.write_text('[[sources]]\nid = "vk"\nnetwork = "test_tokened"\n'
                    'token_env = "MONITOR_TEST_TOKEN"\n', encoding="utf-8")
    config = load_config(path, env={}).config
    async with App(config, env={}) as app:
        assert app.pollers == {}
    assert caplog.text.count("источник vk пропущен: нет токена в $MONITOR_TEST_TOKEN") == 1
    async with App(config, env={"MONITOR_TEST_TOKEN": "t"}) as app:
        assert list(app.pollers) == ["vk"]


async def test_an_edited_post_is_stored_as_a_new_version(world) -> None:  # type: ignore[no-untyped-def]

    tme, app, clock = world
    await app.poll("news")
    tme.edit_post(1, "Яму у подъезда засыпали, спасибо")
    clock.advance(timedelta(minutes=5))
    result = await app.poll("news")
    assert result is not None and (result.new_items, result.new_versions) == (0, 1)
    assert await app.store.item_versions("news", "1") == [
        "Яма у подъезда", "Яму у подъезда засыпали, спасибо"]
    assert len(await app.store.list_incidents()) == 1, "an edit never opens a second incident"


REPEATS_CONFIG = """
[storage]
path = "m.db"

[repeats]
window = "3d"
similarity = 0.8

[places]
municipality = "Каменский городской округ"

[[places.settlements]]
name = "Мартюш"

[[sources]]
id = "news"
network = "telegram_web"
channel = "kamensk_news"
base_url = "{url}"

[[sources]]
id = "chat"
network = "telegram_web"
channel = "kamensk_chat"
base_url = "{url}"

[[sources]]
id = "strict"
network = "telegram_web"
channel = "martyush"
base_url = "{url}"
require_place = true

[[topics]]
id = "pits"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["яма"]
"""

COMPLAINT = ("На улице Садовой возле школы огромная яма на дороге, машины объезжают по тротуару, "
             "дети ходят рядом, когда отремонтируют?")


@pytest.fixture
async def region(tmp_path: Path) -> AsyncIterator[tuple[FakeTme, App, ManualClock]]:
    clock = ManualClock(START)
    async with FakeTme("kamensk_news") as tme:
        tme.add_channel("kamensk_chat")
        tme.add_channel("martyush")
        path = tmp_path / "config.toml"
        path.write_text(REPEATS_CONFIG.format(url=tme.base_url), encoding="utf-8")
        async with App(load_config(path, env={}).config, clock=clock, env={}) as app:
            yield tme, app, clock


async def test_a_repost_in_another_community_joins_the_open_incident(region, caplog) -> None:  # type: ignore[no-untyped-def]
    tme, app, clock = region
    caplog.set_level(logging.INFO, logger="monitor.daemon.poller")
    tme.add_post(1, START - timedelta(minutes=30), COMPLAINT)
    tme.channels["kamensk_chat"].add_post(
        7, START - timedelta(minutes=10), "Репост 👉 " + COMPLAINT + " #Каменск https://t.me/x/1")
    await app.poll_all()
    [incident] = await app.store.list_incidents()
    assert (incident.url, incident.repeats) == ("https://t.me/kamensk_news/1", 1)
    [mention] = await app.store.repeats_of(incident.id)
    assert mention.url == "https://t.me/kamensk_chat/7"
    assert "повторов к открытым инцидентам 1" in caplog.text


async def test_a_repost_after_the_window_opens_a_new_incident(region) -> None:  # type: ignore[no-untyped-def]
    tme, app, clock = region
    tme.add_post(1, START - timedelta(minutes=30), COMPLAINT)
    await app.poll("news")
    clock.advance(timedelta(days=3, minutes=1))
    tme.channels["kamensk_chat"].add_post(7, clock.now() - timedelta(minutes=5), COMPLAINT)
    await app.poll("chat")
    incidents = await app.store.list_incidents()
    assert [(i.url, i.repeats) for i in incidents] == [
        ("https://t.me/kamensk_news/1", 0), ("https://t.me/kamensk_chat/7", 0)]


async def test_a_source_that_requires_a_place_ignores_complaints_without_one(region) -> None:  # type: ignore[no-untyped-def]
    tme, app, clock = region
    tme.channels["martyush"].add_post(3, START - timedelta(minutes=5), "Яма у подъезда")
    result = await app.poll("strict")
    assert result is not None and (result.new_items, result.incidents) == (1, [])
    assert await app.store.list_incidents() == []


def intake_for(tmp_path: Path) -> Intake:
    path = tmp_path / "config.toml"
    path.write_text(REPEATS_CONFIG.format(url="https://t.me"), encoding="utf-8")
    config = load_config(path, env={}).config
    return Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))


def test_require_place_without_a_settlement_says_why(tmp_path: Path) -> None:
    intake = intake_for(tmp_path)
    elsewhere = Item("news", "3", "https://t.me/kamensk_news/3", "Яма у подъезда", START)
    free = intake.classify(elsewhere, "telegram_web", START)
    assert free.actionable and free.incident is not None and free.settlement is None
    item = Item("strict", "3", "https://t.me/martyush/3", "Яма у подъезда", START)
    strict = intake.classify(item, "telegram_web", START)
    assert (strict.actionable, strict.incident, strict.topic) == (False, None, "pits")
    assert strict.why[-1] == NO_PLACE


def test_require_place_with_a_settlement_opens_the_incident(tmp_path: Path) -> None:
    intake = intake_for(tmp_path)
    item = Item("strict", "4", "https://t.me/martyush/4", "Яма у подъезда в Мартюше", START)
    found = intake.classify(item, "telegram_web", START)
    assert found.actionable and found.incident is not None
    assert found.settlement == "Мартюш" and NO_PLACE not in found.why


def test_joining_repeats_can_be_switched_off(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    rules = '[rules]\ninclude = ["builtin:rubricator"]\n'
    path.write_text(rules + "[repeats]\nenabled = false\n", encoding="utf-8")
    config = load_config(path, env={}).config
    intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))
    assert intake.repeats.join is False


async def test_incidents_opened_while_joining_is_off_are_joined_once_it_is_on(
    tmp_path: Path,
) -> None:
    """Every incident is fingerprinted when it opens, so repeats join it once [repeats] is on."""
    path = tmp_path / "config.toml"
    rules = '[rules]\ninclude = ["builtin:rubricator"]\n'
    path.write_text(rules + "[repeats]\nenabled = false\n", encoding="utf-8")
    off = load_config(path, env={}).config
    clock = ManualClock(datetime(2026, 11, 25, 4, 0, tzinfo=UTC))
    item = Item("news", "1", "https://t.me/news/1", COMPLAINT, clock.now())
    copy = Item("vk", "2", "https://vk.com/wall-1_2", COMPLAINT, clock.now())
    async with App(off, clock=clock, env={}) as app:
        for one in (item, copy):
            entry = app.intake.classify(one, "t", clock.now())
            await app.store.save_items_and_cursor(one.source_id, [entry], {}, clock.now(),
                                                  app.intake.repeats)
        assert [i.repeats for i in await app.store.list_incidents()] == [0, 0]
    path.write_text(rules, encoding="utf-8")
    on = load_config(path, env={}).config
    async with App(on, clock=clock, env={}) as app:
        again = Item("ok", "3", "https://ok.ru/group/1/topic/3", COMPLAINT, clock.now())
        result = await app.store.save_items_and_cursor(
            "ok", [app.intake.classify(again, "t", clock.now())], {}, clock.now(),
            app.intake.repeats)
        assert result.repeats == [1]


def test_the_daemon_forgets_words_past_its_bound_and_answers_the_same(tmp_path: Path) -> None:
    """Every new number or name in a text is a word the classifier remembers (soak: the
    daemon's memory grew with each post); the daemon's intake keeps at most its bound."""
    path = tmp_path / "config.toml"
    path.write_text(REPEATS_CONFIG.format(url="https://t.me"), encoding="utf-8")
    config = load_config(path, env={}).config
    ruleset = build_ruleset(config)
    intake = Intake(config, ruleset, WorkingCalendar(config.calendar), word_memo_limit=50)
    unbounded = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar),
                       word_memo_limit=10**9)
    for number in range(200):
        item = Item("news", str(number), "https://t.me/kamensk_news/1",
                    f"Яма у дома {number} на Ленина, кв {number + 1000}", START)
        bounded_answer = intake.classify(item, "telegram_web", START)
        assert len(ruleset.index.memo) <= 50
        plain = unbounded.classify(item, "telegram_web", START)
        assert (bounded_answer.topic, bounded_answer.why, bounded_answer.incident) == \
            (plain.topic, plain.why, plain.incident)
