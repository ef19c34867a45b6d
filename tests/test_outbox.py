"""The outbox against the fake Bot API: retries, 429, permanent failures, the log fallback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.clock import ManualClock
from monitor.config.settings import TelegramConfig
from monitor.daemon.alert_sender import AlertSender
from monitor.daemon.alerts import flush_outbox
from storage import SYSTEM, Action, AlertMessage, AlertProgress, QueuedStep, Store, open_store
from tests.fakes.bot_api import FakeBotApi
from tests.test_storage import entry

START = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Store]:
    database = await open_store(tmp_path / "m.db")
    yield database
    await database.close()


async def queue(db: Store, count: int, chat: int = -100) -> None:
    """Open `count` incidents and queue one overdue alert for each."""
    items = [entry(str(n), f"яма {n}") for n in range(count)]
    await db.save_items_and_cursor("news", items, {}, START)
    for due in await db.due_alerts(START):
        incident_id = due.incident.id
        message = AlertMessage(chat, f"<b>Инцидент №{incident_id}</b>", "https://t.me/news/1")
        step = QueuedStep("opened", "opened", (message,))
        await db.queue_alerts([AlertProgress(incident_id, due.next_alert_at, START, None, (step,))],
                              START)


def settings(api: FakeBotApi, **extra: object) -> TelegramConfig:
    return TelegramConfig(base_url=api.base_url, timeout=timedelta(seconds=2),
                          retry_base=timedelta(seconds=10), **extra)  # type: ignore[arg-type]


async def test_429_pauses_the_pass_and_is_honoured(db: Store) -> None:
    clock = ManualClock(START)
    await queue(db, 3)
    async with FakeBotApi() as api, AlertSender(settings(api), api.token) as sender:
        api.fail_next(429, "Too Many Requests: retry after 7", retry_after=7)
        first = await flush_outbox(db, sender, clock, settings(api))
        assert (first.sent, first.retried) == (0, 1), "a 429 stops the whole pass"
        clock.advance(timedelta(seconds=6))
        assert (await flush_outbox(db, sender, clock, settings(api))).sent == 2
        clock.advance(timedelta(seconds=2))
        assert (await flush_outbox(db, sender, clock, settings(api))).sent == 1
        assert (await flush_outbox(db, sender, clock, settings(api))).sent == 0
        assert len(api.delivered) == 3
    assert await db.outbox_counts() == {"pending": 0, "sent": 3, "failed": 0, "cancelled": 0}


async def test_a_400_drops_one_alert_and_the_rest_go_on(db: Store, caplog) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(START)
    await queue(db, 2)
    async with FakeBotApi() as api, AlertSender(settings(api), api.token) as sender:
        api.fail_next(400, "Bad Request: chat not found")
        result = await flush_outbox(db, sender, clock, settings(api))
    assert (result.sent, result.failed) == (1, 1)
    assert "отброшено после 1-й попытки: Chat not found" in caplog.text
    assert await db.outbox_counts() == {"pending": 0, "sent": 1, "failed": 1, "cancelled": 0}


async def test_server_errors_back_off_then_give_up(db: Store) -> None:
    clock = ManualClock(START)
    await queue(db, 1)
    async with FakeBotApi() as api, AlertSender(settings(api), api.token) as sender:
        cfg = settings(api, max_attempts=3)
        api.fail_next(502, "Bad Gateway", times=3)
        for _ in range(4):
            await flush_outbox(db, sender, clock, cfg)
            clock.advance(timedelta(hours=2))
        assert len(api.sent) == 3, "three attempts, then the alert is given up"
    assert await db.outbox_counts() == {"pending": 0, "sent": 0, "failed": 1, "cancelled": 0}


async def test_backoff_waits_before_the_next_try(db: Store) -> None:
    clock = ManualClock(START)
    await queue(db, 1)
    async with FakeBotApi() as api, AlertSender(settings(api), api.token) as sender:
        api.fail_next(500, "Internal Server Error")
        await flush_outbox(db, sender, clock, settings(api))
        clock.advance(timedelta(seconds=9))
        await flush_outbox(db, sender, clock, settings(api))
        assert len(api.sent) == 1, "no retry before the backoff delay"
        clock.advance(timedelta(seconds=30))
        await flush_outbox(db, sender, clock, settings(api))
        assert len(api.delivered) == 1


async def test_without_a_bot_alerts_go_to_the_log_once(db: Store, caplog) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(START)
    await queue(db, 2, chat=0)
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        await flush_outbox(db, None, clock, TelegramConfig())
    assert caplog.text.count("бота для отправки нет") == 2
    assert await db.outbox_counts() == {"pending": 0, "sent": 2, "failed": 0, "cancelled": 0}


async def test_an_alert_cancelled_during_a_pass_is_not_sent(db: Store) -> None:
    """Staff answer incident 2 while the alert of incident 1 is on its way: 2's stays unsent."""
    clock = ManualClock(START)
    await queue(db, 2)
    async with FakeBotApi() as api, AlertSender(settings(api), api.token) as sender:
        api.delay_next(0.3)
        flushing = asyncio.create_task(flush_outbox(db, sender, clock, settings(api)))
        for _ in range(200):
            if api.calls.count("sendMessage"):
                break
            await asyncio.sleep(0.01)
        await db.act(2, Action("answer", SYSTEM), clock.now())
        result = await flushing
    assert (result.sent, len(api.delivered)) == (1, 1)
    assert await db.outbox_counts() == {"pending": 0, "sent": 1, "failed": 0, "cancelled": 1}
