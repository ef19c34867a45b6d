"""What the alert tests share: a config head with the bot and the duty chat, the topics, the
municipality's clock, a daemon on the fake Bot API and a complaint arriving in a poll."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from common.clock import ManualClock
from connectors.base import Item
from monitor.config import AppConfig
from monitor.daemon.app import App
from tests.conftest import PITS_TOPIC
from tests.fakes.bot_api import FakeBotApi

EKB = ZoneInfo("Asia/Yekaterinburg")
DUTY = -1001
BOT = f"""
[storage]
path = "m.db"

[telegram]
base_url = "{{url}}"
timeout = "2s"
updates = false
max_attempts = 2

[[telegram.chats]]
id = {DUTY}
name = "Дежурные"
"""
"""The head of an alert test's config: the store, the bot on the fake (`{url}`), one duty
chat."""
TOPICS = PITS_TOPIC + """
[[topics]]
id = "leak"
group = "ЖКХ"
name = "Прорыв трубы"
organisation = "Водоканал"
priority = "critical"
words = ["прорыв"]
"""
"""A pit (normal priority) and a burst pipe (critical)."""


def ekb(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 in Yekaterinburg, as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=EKB).astimezone(UTC)


@asynccontextmanager
async def daemon(config: AppConfig, clock: ManualClock, api: FakeBotApi,
                 env: Mapping[str, str] | None = None) -> AsyncIterator[App]:
    """The daemon with the fake's bot token (and `env`), on the injected clock."""
    async with App(config, clock=clock,
                   env={"MONITOR_BOT_TOKEN": api.token, **(env or {})}) as app:
        yield app


async def complain(app: App, number: str, text: str | None = None) -> int:
    """A citizen's complaint arrives in a poll now; return its incident."""
    now = app.clock.now()
    text = text or f"Яма у дома {number}"
    item = Item("news", number, f"https://t.me/news/{number}", text, now)
    entry = app.intake.classify(item, "telegram_web", now)
    result = await app.store.save_items_and_cursor("news", [entry], {}, now)
    return result.incidents[0]
