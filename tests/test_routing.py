"""Routing: by organisation, group, settlement and priority, to chats and forum topics, day and
night; nothing falls between routes; `monitor routes test` says where and when."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.clock import ManualClock
from monitor.cli import main
from monitor.config import AppConfig, load_config
from monitor.config.problems import ConfigError
from monitor.daemon.alert_steps import Step
from monitor.daemon.routing import LOG_CHAT, Router
from storage import IncidentRow
from tests.alerting import EKB, complain, daemon
from tests.conftest import PITS_TOPIC
from tests.fakes.bot_api import FakeBotApi

DAY = datetime(2026, 11, 25, 11, 0, tzinfo=EKB)
NIGHT = datetime(2026, 11, 25, 23, 30, tzinfo=EKB)
ROUTES = """
[telegram]
base_url = "{url}"
timeout = "2s"
updates = false

[[telegram.chats]]
id = -1001
name = "Дежурные"

[[telegram.chats]]
id = -1002
name = "Руководство"

[alerts]
night = "22:00-08:00"
night_chat = -1009

[[alerts.routes]]
name = "срочные"
priorities = ["critical"]
chat = -1002
continue = true

[[alerts.routes]]
name = "дороги Мартюша"
groups = ["Дороги"]
settlements = ["Мартюш"]
chat = -1005
thread = 12
night_chat = -1006

[[alerts.routes]]
name = "УГХ"
organisations = ["УГХ", "Водоканал"]
chat = -1005
thread = 7

[[alerts.escalations]]
name = "куратор"
after = "1d"
chats = [-1003]

[places]
[[places.settlements]]
name = "Мартюш"
""" + PITS_TOPIC.replace("{", "{{").replace("}", "}}")


def config(tmp_path: Path, url: str = "http://127.0.0.1:9/bot") -> AppConfig:
    path = tmp_path / "config.toml"
    path.write_text(ROUTES.format(url=url), encoding="utf-8")
    return load_config(path, env={}).config


def incident(**fields: object) -> IncidentRow:
    row = IncidentRow(
        id=1, source_id="news", group_name="Дороги", topic="pits", topic_name="Ямы",
        organisation="УГХ", priority="normal", status="open", opened_at=DAY, warn_at=DAY,
        due_at=DAY, warned_at=None, overdue_at=None, answered_at=None,
        url="https://t.me/news/1", text="яма")
    return replace(row, **fields)  # type: ignore[arg-type]


OVERDUE = Step(DAY, "overdue", "overdue")


@pytest.mark.parametrize(("fields", "now", "expected"), [
    ({}, DAY, [(-1005, 7)]),
    ({"settlement": "Мартюш"}, DAY, [(-1005, 12)]),
    ({"settlement": "Мартюш"}, NIGHT, [(-1006, None)]),
    ({}, NIGHT, [(-1009, None)]),  # the route has no night chat: the duty chat at night
    ({"priority": "critical"}, DAY, [(-1002, None), (-1005, 7)]),  # `continue`
    ({"organisation": "Водоканал", "group_name": "ЖКХ"}, DAY, [(-1005, 7)]),
    ({"organisation": "Газ"}, DAY, [(-1001, None), (-1002, None)]),  # no route: every chat
    ({"organisation": "Газ"}, NIGHT, [(-1009, None)]),
    ({"organisation": None, "group_name": None}, DAY, [(-1001, None), (-1002, None)]),
])
def test_each_incident_goes_where_its_route_says(
    tmp_path: Path, fields: dict[str, object], now: datetime, expected: list[tuple[int, int]]
) -> None:
    router = Router(config(tmp_path), sending=True)
    found = router.targets(incident(**fields), OVERDUE, now.astimezone(UTC))
    assert [(t.chat_id, t.thread_id) for t in found] == expected


def test_escalations_go_to_their_own_chats_and_without_a_bot_all_goes_to_the_log(
    tmp_path: Path
) -> None:
    cfg = config(tmp_path)
    step = Step(DAY, "escalation", "escalation:0", "куратор", 0)
    assert [t.chat_id for t in Router(cfg, True).targets(incident(), step, DAY)] == [-1003]
    assert [t.chat_id for t in Router(cfg, False).targets(incident(), step, DAY)] == [LOG_CHAT]
    nobody = cfg.model_copy(update={"telegram": cfg.telegram.model_copy(update={"chats": ()}),
                                    "alerts": cfg.alerts.model_copy(update={"routes": ()})})
    assert [t.chat_id for t in Router(nobody, True).targets(incident(), OVERDUE, DAY)] \
        == [LOG_CHAT], "nothing is lost: with no route and no chat, the log"


async def test_alerts_reach_forum_topics_through_the_bot_api(tmp_path: Path) -> None:
    clock = ManualClock(DAY.astimezone(UTC))
    async with FakeBotApi() as api:
        cfg = config(tmp_path, api.base_url)
        async with daemon(cfg, clock, api) as app:
            await complain(app, "1")
            await app.deadline_tick()
            await app.flush_outbox()
    [message] = api.delivered
    assert (message["chat"]["id"], message["message_thread_id"]) == (-1005, 7)
    assert message["is_topic_message"] is True


@pytest.mark.parametrize(("extra", "message"), [
    ('night_chat = -1\n', "не указаны ночные часы"),
    ('night = "08:00-08:00"\n', "совпадают"),
    ('night = "25:00-08:00"\n', "hour must be in"),
    ('[[alerts.routes]]\nname = "a"\nchat = 1\n[[alerts.routes]]\nname = "a"\nchat = 2\n',
     "повторяется имя маршрута: a"),
    ('[[alerts.routes]]\nname = "a"\nchat = 1\nthread = 0\n', "thread"),
    ('[[alerts.routes]]\nname = "a"\nchat = 1\nquiet = "22:00-08:00"\n', "routes[0].quiet"),
    ('[[alerts.routes]]\nname = "a"\nchat = 1\npriorities = ["срочно"]\n', "priorities"),
])
def test_bad_routes_are_refused(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[alerts]\n" + extra, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert message in str(caught.value)


def test_routes_test_says_where_under_which_deadline_and_when(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(tmp_path)
    path = str(tmp_path / "config.toml")
    code = main(["routes", "test", "--config", path, "--at", "2026-11-25T16:00",
                 "Огромная яма в Мартюше"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Срок ответа: 26.11.2026 16:00 (Asia/Yekaterinburg); политика по умолчанию: " \
           "первый ответ за 8h, рабочее время" in out
    assert "25.11.2026 16:00  о новом → чат -1005, тема 12 (маршрут «дороги Мартюша»)" in out
    assert "26.11.2026 16:00  срок истёк → чат -1005, тема 12" in out
    assert "01.12.2026 16:00  эскалация: куратор → чат -1003" in out  # 24 working hours
    main(["routes", "test", "--config", path, "--at", "2026-11-25T16:00", "С праздником"])
    assert "Инцидент не откроется" in capsys.readouterr().out
    assert main(["routes", "test", "--config", path, "--at", "вчера", "яма"]) == 1
    assert "не дата и время ISO 8601" in capsys.readouterr().err
    assert main(["routes", "test", "--config", path, "я" * 200_000]) == 1
    assert "проверка не сделана" in capsys.readouterr().err
    assert main(["routes", "test", "--config", path, "--source", "нет", "яма"]) == 1
    assert "источника 'нет' нет в конфигурации (источники: нет ни одного)" in \
        capsys.readouterr().err


def test_a_night_step_goes_to_the_night_chat_in_routes_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(tmp_path)
    main(["routes", "test", "--config", str(tmp_path / "config.toml"), "--at",
          (DAY + timedelta(hours=11, minutes=30)).isoformat(), "яма на дороге"])
    out = capsys.readouterr().out
    assert "25.11.2026 22:30  о новом → чат -1009 (маршрут «УГХ», ночь)" in out
    assert "срок истёк → чат -1005, тема 7 (маршрут «УГХ»)" in out, "by day its day chat"


def test_a_chat_missing_from_telegram_chats_is_warned_about(tmp_path: Path) -> None:
    config(tmp_path)
    loaded = load_config(tmp_path / "config.toml", env={"MONITOR_BOT_TOKEN": "1:x"})
    found = {(w.key, w.message.split(":")[0]) for w in loaded.warnings
             if "[[telegram.chats]]" in w.message}
    assert found == {
        ("alerts.night_chat", "чата -1009 нет в [[telegram.chats]]"),
        ("alerts.routes[1].chat", "чата -1005 нет в [[telegram.chats]]"),
        ("alerts.routes[2].chat", "чата -1005 нет в [[telegram.chats]]"),
        ("alerts.routes[1].night_chat", "чата -1006 нет в [[telegram.chats]]"),
        ("alerts.escalations[0].chats", "чата -1003 нет в [[telegram.chats]]"),
    }


def test_check_config_sums_up_the_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(tmp_path)
    assert main(["check-config", "--config", str(tmp_path / "config.toml")]) == 0
    out = capsys.readouterr().out
    assert "Шаги оповещений: предупреждения за warn_before из [sla]; напоминания после срока: " \
           "нет" in out
    assert "Эскалации: куратор через 1d рабочих после срока" in out
    assert "Маршруты оповещений: 3: срочные, дороги Мартюша, УГХ" in out
    assert "Шум: ночь 22:00–08:00; не больше 20 сообщений в чат за минуту" in out


def test_routes_test_says_when_quiet_hours_hold_a_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config(tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        '[alerts]\n', '[alerts]\nquiet = "22:00-08:00"\n', 1), encoding="utf-8")
    main(["routes", "test", "--config", str(path), "--at", "2026-11-25T23:00", "яма на дороге"])
    out = capsys.readouterr().out
    assert "25.11.2026 23:00  о новом (тихие часы: придёт в 26.11.2026 08:00) → чат -1009" in out
    assert "срок истёк → чат -1005, тема 7" in out and "срок истёк (тихие" not in out


def test_a_route_value_no_incident_can_have_is_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(ROUTES.format(url="http://127.0.0.1:9/bot").replace(
        'organisations = ["УГХ", "Водоканал"]', 'organisations = ["УГХ", "Горводоканал"]')
        .replace('groups = ["Дороги"]', 'groups = ["Дорги"]'), encoding="utf-8")
    loaded = load_config(path, env={"MONITOR_BOT_TOKEN": "1:x"})
    found = {(w.key, w.message) for w in loaded.warnings if "маршрут" in w.message}
    assert found == {
        ("alerts.routes[1].groups", "'Дорги' нет ни у одной темы или места: маршрут по нему "
                                    "не сработает"),
        ("alerts.routes[2].organisations", "'Горводоканал' нет ни у одной темы или места: "
                                           "маршрут по нему не сработает"),
    }
