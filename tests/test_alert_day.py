"""A day and a half of incidents through the real daemon, the real PTB client and the fake Bot
API, with an injected clock: every warning, breach, reminder and escalation exactly once, with a
restart in the middle."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from common.clock import ManualClock
from monitor.config import load_config
from monitor.daemon.app import App
from storage import SYSTEM, Action
from tests.alerting import BOT, DUTY, EKB, TOPICS, complain, daemon, ekb
from tests.fakes.bot_api import FakeBotApi

HEAD, CURATOR = -1002, -1003
CONFIG = BOT + f"""
[sla]
first_response = "8h"
warn_before = "1h"

[alerts]
warnings = ["50%", "1h"]
reminders = ["1h", "2h"]
max_reminders = 3

[[alerts.escalations]]
name = "начальник МЦУ"
after = "2h"
chats = [{HEAD}]

[[alerts.escalations]]
name = "куратор"
after = "1d"
clock = "calendar"
chats = [{CURATOR}]
""" + TOPICS
_TITLE = re.compile(r"^\W*([^(:\n]+)")
_NUMBER = re.compile(r"Инцидент №(\d+)")


def log_of(api: FakeBotApi, start: int, at: datetime) -> list[tuple[str, int, int, str]]:
    """What the bot delivered since `start`: (local time, chat, incident, title)."""
    found = []
    for message in api.delivered[start:]:
        title = _TITLE.search(message["text"])
        number = _NUMBER.search(message["text"])
        assert title and number, message["text"]
        found.append((at.astimezone(EKB).strftime("%d %H:%M"), message["chat"]["id"],
                      int(number.group(1)), title.group(1).strip()))
    return found


async def test_a_day_of_incidents_gives_each_step_once_across_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(ekb(25, 9))
    async with FakeBotApi() as api:
        path = tmp_path / "config.toml"
        path.write_text(CONFIG.format(url=api.base_url), encoding="utf-8")
        config = load_config(path, env={}).config
        log: list[tuple[str, int, int, str]] = []
        opened: dict[str, int] = {}
        arrivals = {ekb(25, 9): "a", ekb(25, 11): "b", ekb(25, 15): "c"}

        async def run_until(app: App, end: datetime) -> None:
            while clock.now() < end:
                now = clock.now()
                if now in arrivals:
                    opened[arrivals[now]] = await complain(app, arrivals[now])
                if now == ekb(25, 16):
                    await app.store.act(opened["c"], Action("answer", SYSTEM), now)
                start = len(api.delivered)
                await app.deadline_tick()
                await app.flush_outbox()
                log.extend(log_of(api, start, now))
                clock.advance(timedelta(minutes=5))

        async with daemon(config, clock, api) as app:
            await run_until(app, ekb(26, 10))
        async with daemon(config, clock, api) as app:  # restarted on Thursday at 10:00
            await run_until(app, ekb(27, 12))

    a, b, c = opened["a"], opened["b"], opened["c"]
    warning, overdue, reminder = "Скоро истекает срок ответа", "Срок ответа истёк", "Напоминание"
    assert log == [
        ("25 09:00", DUTY, a, "Новый инцидент"),
        ("25 11:00", DUTY, b, "Новый инцидент"),
        ("25 13:00", DUTY, a, warning),  # 50 % of 8 working hours
        ("25 15:00", DUTY, c, "Новый инцидент"),  # answered at 16:00: nothing more
        ("25 16:00", DUTY, b, warning),
        ("25 17:00", DUTY, a, warning),  # an hour before
        ("25 18:00", DUTY, a, overdue),
        ("25 19:00", DUTY, a, reminder),  # then after 2 h, 2 h (the last gap repeats)
        ("25 21:00", DUTY, a, reminder),
        ("25 23:00", DUTY, a, reminder),
        ("26 10:00", DUTY, b, warning),  # the first tick after the restart
        ("26 11:00", HEAD, a, "Эскалация"),  # two working hours after 18:00
        ("26 11:00", DUTY, b, overdue),
        ("26 12:00", DUTY, b, reminder),
        ("26 13:00", HEAD, b, "Эскалация"),
        ("26 14:00", DUTY, b, reminder),
        ("26 16:00", DUTY, b, reminder),
        ("26 18:00", CURATOR, a, "Эскалация"),  # a day after the deadline
        ("27 11:00", CURATOR, b, "Эскалация"),
    ]


NOISE = BOT + f"""
[sla]
first_response = "8h"

[alerts]
warnings = ["1h"]
reminders = ["2h"]
max_reminders = 1
group_window = "1m"
quiet = "22:00-08:00"
digest_at = "08:30"

[[alerts.escalations]]
name = "начальник МЦУ"
after = "2h"
chats = [{HEAD}]
""" + TOPICS


def summary(message: dict[str, object]) -> tuple[int, str, list[int], str]:
    """(chat, title, incidents named, how it was grouped) of a delivered message."""
    text = str(message["text"])
    chat = message["chat"]
    assert isinstance(chat, dict)
    title = _TITLE.search(text)
    assert title, text
    numbers = sorted({int(n) for n in _NUMBER.findall(text)})
    more = re.search(r"и ещё \d+ инцидент\w*", text)
    note = more.group(0) if more else "придержано" if "придержано" in text else ""
    return chat["id"], title.group(1).strip(), numbers, note


async def test_a_day_with_grouping_quiet_hours_and_a_digest(tmp_path: Path) -> None:
    clock = ManualClock(ekb(25, 10))
    async with FakeBotApi() as api:
        path = tmp_path / "config.toml"
        path.write_text(NOISE.format(url=api.base_url), encoding="utf-8")
        config = load_config(path, env={}).config
        log: list[tuple[str, int, str, list[int], str]] = []
        arrivals = {ekb(25, 10): ["a", "b", "c"], ekb(25, 21): ["d"], ekb(25, 23): ["e"],
                    ekb(25, 23, 30): ["f"]}
        opened: dict[str, int] = {}

        async def run_until(app: App, end: datetime) -> None:
            while clock.now() < end:
                now = clock.now()
                for name in arrivals.get(now, []):
                    text = "Прорыв трубы во дворе" if name == "f" else None
                    opened[name] = await complain(app, name, text)
                if now == ekb(25, 12):
                    await app.store.act(opened["a"], Action("answer", SYSTEM), now)
                if now == ekb(26, 8, 30):  # the cron's moment (its trigger is tested apart)
                    await app.morning_digest()
                start = len(api.delivered)
                await app.deadline_tick()
                await app.flush_outbox()
                stamp = now.astimezone(EKB).strftime("%d %H:%M")
                log.extend((stamp, *summary(m)) for m in api.delivered[start:])
                clock.advance(timedelta(minutes=5))

        async with daemon(config, clock, api) as app:
            await run_until(app, ekb(26, 8, 15))
        async with daemon(config, clock, api) as app:  # restarted on Thursday at 08:15
            await run_until(app, ekb(26, 13))
        [digest] = [m["text"] for m in api.delivered if "сводка" in m["text"]]
    assert "Открыто: 5 · срок сегодня: 5 · просрочено: 0" in digest  # «a» was answered
    assert "УГХ: открыто 4, срок сегодня 4, просрочено 0" in digest
    assert "Водоканал: открыто 1, срок сегодня 1, просрочено 0" in digest

    a, b, c, d, e, f = (opened[n] for n in "abcdef")
    new, warning, overdue = "Новый инцидент", "Скоро истекает срок ответа", "Срок ответа истёк"
    assert log == [
        ("25 10:05", DUTY, new, [a, b, c], "и ещё 2 инцидента"),  # one minute gathers them
        ("25 18:05", DUTY, warning, [b, c], "и ещё 1 инцидент"),  # an hour before, working
        ("25 21:05", DUTY, new, [d], ""),
        ("25 23:35", DUTY, new, [f], ""),  # critical: quiet hours do not hold it
        ("26 08:00", DUTY, new, [e], "придержано"),  # held since 23:00
        ("26 08:30", DUTY, "Утренняя сводка, 26.11.2026", [], ""),
        ("26 10:05", DUTY, overdue, [b, c], "и ещё 1 инцидент"),
        ("26 12:05", DUTY, "Напоминание", [b, c], "и ещё 1 инцидент"),
        ("26 12:05", HEAD, "Эскалация", [b, c], "и ещё 1 инцидент"),
    ]
