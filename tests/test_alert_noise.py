"""Noise control through the real daemon and the fake Bot API, with an injected clock: grouped
messages, quiet hours delivered in the morning, the per-chat pace, a 429 storm that delays but
loses nothing, and the morning digest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from common.clock import ManualClock
from monitor.config import AppConfig, load_config
from monitor.daemon.app import App
from monitor.daemon.delivery import grouped
from monitor.daemon.digest import digest_lines, digest_trigger
from monitor.daemon.texts import TELEGRAM_LIMIT, fit_lines, utf16_len
from storage import OutboxRow
from tests.alerting import BOT, DUTY, TOPICS, complain, daemon, ekb
from tests.fakes.bot_api import FakeBotApi
from tests.test_alerts import incident

CONFIG = BOT + """
[alerts]
{alerts}
""" + TOPICS


@asynccontextmanager
async def running(tmp_path: Path, alerts: str, start: datetime) -> AsyncIterator[
        tuple[App, FakeBotApi, ManualClock]]:
    clock = ManualClock(start)
    async with FakeBotApi() as api:
        path = tmp_path / "config.toml"
        path.write_text(CONFIG.format(url=api.base_url, alerts=alerts), encoding="utf-8")
        config: AppConfig = load_config(path, env={}).config
        async with daemon(config, clock, api) as app:
            yield app, api, clock


async def tick(app: App) -> None:
    await app.deadline_tick()
    await app.flush_outbox()


def first_lines(api: FakeBotApi) -> list[str]:
    return [m["text"].split("\n")[0] for m in api.delivered]


async def test_alerts_within_the_window_go_as_one_message(tmp_path: Path) -> None:
    async with running(tmp_path, 'group_window = "1m"', ekb(25, 10)) as (app, api, clock):
        for number in range(8):
            await complain(app, str(number))
            await tick(app)
            clock.advance(timedelta(seconds=5))
        assert api.delivered == [], "the window is still open"
        clock.advance(timedelta(minutes=1))
        await tick(app)
        await tick(app)
        [message] = api.delivered
        assert "и ещё 7 инцидентов:" in message["text"]
        assert message["text"].count("Новый инцидент") == 8
        assert "reply_markup" not in message, "buttons act on one incident, not on eight"
        assert (await app.store.outbox_counts())["sent"] == 8
        events = await app.store.events_of(8)
        assert [e.kind for e in events] == ["opened", "alerted"]


def row(number: int, text: str) -> OutboxRow:
    return OutboxRow(number, number, "overdue", DUTY, text, f"https://t.me/news/{number}", 0)


def test_a_grouped_message_fits_and_leaves_the_rest_for_the_next() -> None:
    rows = [row(n, f"🔴 <b>Срок ответа истёк</b>\nИнцидент №{n}: " + "я" * 300 + "\n" + "ж" * 3000)
            for n in range(1, 40)]
    text, carried = grouped(rows)
    assert utf16_len(text) <= TELEGRAM_LIMIT
    assert 1 < len(carried) < len(rows)
    assert text.count('<a href="https://t.me/news/') == len(carried), "every post linked"
    assert [r.id for r in carried] == list(range(1, len(carried) + 1))
    huge = [row(1, "🔴 <b>Срок</b>\nИнцидент №1\n" + "я" * 4000), row(2, "🔴 <b>Срок</b>\nИ")]
    text, carried = grouped(huge)
    assert utf16_len(text) <= TELEGRAM_LIMIT and len(carried) == 2
    assert 'href="https://t.me/news/1"' in text


async def test_quiet_hours_hold_what_is_not_urgent_until_morning(tmp_path: Path) -> None:
    alerts = 'quiet = "22:00-08:00"'
    async with running(tmp_path, alerts, ekb(25, 23)) as (app, api, clock):
        await complain(app, "1")  # an ordinary pit at night
        leak = await complain(app, "2", "Прорыв трубы на Ленина")  # critical
        await tick(app)
        assert [m["text"].count(f"№{leak}:") for m in api.delivered] == [1]
        clock.set(ekb(26, 7, 59))
        await tick(app)
        assert len(api.delivered) == 1
        clock.set(ekb(26, 8))
        await tick(app)
        morning = api.delivered[1]["text"]
        assert "Новый инцидент" in morning and "придержано до конца тихих часов" in morning


async def test_one_chat_gets_no_more_than_its_pace(tmp_path: Path) -> None:
    async with running(tmp_path, "per_chat_per_minute = 3", ekb(25, 10)) as (app, api, clock):
        for number in range(7):
            await complain(app, str(number))
        await app.deadline_tick()
        result = await app.flush_outbox()
        assert (result.sent, result.waiting, len(api.delivered)) == (3, 4, 3)
        clock.advance(timedelta(seconds=59))
        assert (await app.flush_outbox()).sent == 0
        clock.advance(timedelta(seconds=1))
        assert (await app.flush_outbox()).sent == 3
        clock.advance(timedelta(minutes=1))
        assert (await app.flush_outbox()).sent == 1
        assert (await app.store.outbox_counts())["sent"] == 7


async def test_a_429_storm_delays_but_loses_nothing(tmp_path: Path) -> None:
    async with running(tmp_path, "", ekb(25, 10)) as (app, api, clock):
        for number in range(5):
            await complain(app, str(number))
        await app.deadline_tick()
        api.fail_next(429, "Too Many Requests: retry after 30", retry_after=30, times=6)
        passes = 0
        while (await app.store.outbox_counts())["pending"]:
            result = await app.flush_outbox()
            assert result.failed == 0
            clock.advance(timedelta(seconds=10))
            passes += 1
            assert passes < 100
        counts = await app.store.outbox_counts()
        assert (counts["sent"], counts["failed"]) == (5, 0), "max_attempts = 2, yet none lost"
        assert len(api.delivered) == 5 and len(api.sent) == 11
        assert passes >= 6 * 3, "each 429 held every chat for its 30 s"


async def test_the_morning_digest_lists_each_organisation_once_a_day(tmp_path: Path) -> None:
    alerts = 'digest_at = "08:30"'
    async with running(tmp_path, alerts, ekb(24, 15)) as (app, api, clock):
        await complain(app, "1")  # due 25.11 15:00: due today at the digest
        clock.set(ekb(25, 8))
        await complain(app, "2", "Прорыв трубы")  # due 25.11 17:00
        clock.set(ekb(23, 9))
        await complain(app, "3")  # due 23.11 17:00: overdue
        clock.set(ekb(25, 8, 30))
        assert await app.morning_digest() == 1
        assert await app.morning_digest() == 0, "once a day per chat"
        await app.flush_outbox()
        digest = [m["text"] for m in api.delivered if "Утренняя сводка" in m["text"]]
        assert len(digest) == 1
        text = digest[0]
        assert "Утренняя сводка, 25.11.2026" in text
        assert "Открыто: 3 · срок сегодня: 2 · просрочено: 1" in text
        assert "УГХ: открыто 2, срок сегодня 1, просрочено 1" in text
        assert "Водоканал: открыто 1, срок сегодня 1, просрочено 0" in text
        trigger = digest_trigger(app.config)
        assert trigger is not None
        fire = trigger.get_next_fire_time(None, ekb(25, 9))
        assert fire == ekb(26, 8, 30)


async def test_an_alert_refused_for_good_is_told_to_the_rescue_chat(tmp_path: Path) -> None:
    routes = '[[alerts.routes]]\nname = "всё"\nchat = -1005'
    async with running(tmp_path, routes, ekb(25, 10)) as (app, api, clock):
        await complain(app, "1")
        await app.deadline_tick()
        api.fail_next(400, "Bad Request: chat not found")
        result = await app.flush_outbox()
        assert (result.sent, result.failed) == (0, 1)
        await app.flush_outbox()
        await app.flush_outbox()
        [told] = api.delivered
        assert told["chat"]["id"] == DUTY
        assert told["text"].startswith("⚠️ Оповещение не доставлено в чат -1005: Chat not found")
        assert "Новый инцидент" in told["text"]
        counts = await app.store.outbox_counts()
        assert (counts["failed"], counts["sent"], counts["pending"]) == (1, 1, 0)


def test_a_digest_of_a_whole_region_stays_a_few_messages() -> None:
    now = ekb(25, 8, 30)
    many = [replace(incident("x"), id=n, organisation=f"Организация {n % 94}",
                    due_at=now - timedelta(hours=1)) for n in range(20_000)]
    parts = fit_lines(digest_lines(many, now, AppConfig()))
    assert len(parts) <= 3
    assert "Открыто: 20000 · срок сегодня: 0 · просрочено: 20000" in parts[0]
    assert sum(p.count("просрочено 213") + p.count("просрочено 212") for p in parts) == 94
    few = [replace(i, organisation=f"Организация {i.id % 3}") for i in many[:100]]
    [part] = fit_lines(digest_lines(few, now, AppConfig()))
    assert part.count("… и ещё") == 3 and part.count("🔴") == 15
