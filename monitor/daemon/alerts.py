"""Alerts: the deadline tick that queues them and the outbox flush that delivers them."""

from __future__ import annotations

import html
import logging
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from common.clock import Clock
from monitor.config.settings import TelegramConfig
from monitor.daemon.alert_sender import SendOutcome
from storage import AlertMessage, IncidentRow, OutboxRow, Store

log = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096
LOG_CHAT = 0
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_MAX_BACKOFF = timedelta(hours=1)


class Sender(Protocol):
    """Anything that can deliver an alert to a chat."""

    async def send(self, chat_id: int, html_text: str, link: str | None = None) -> SendOutcome:
        """Deliver one message."""
        ...


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def render_alert(incident: IncidentRow, reason: str, zone: ZoneInfo, now: datetime) -> str:
    """Write the Russian alert text: HTML-escaped, within Telegram's 4,096 characters."""
    due_local = incident.due_at.astimezone(zone).strftime("%d.%m.%Y %H:%M")
    if reason == "warning":
        left = max(incident.due_at - now, timedelta(0))
        minutes = int(left.total_seconds() // 60)
        left_text = f"осталось {minutes // 60} ч {minutes % 60} мин"
        title = f"⏳ <b>Скоро истекает срок ответа</b> ({left_text})"
    else:
        title = "🔴 <b>Срок ответа истёк</b>"
    topic = " / ".join(x for x in (incident.group_name, incident.topic_name) if x) or "без темы"
    head = "\n".join([
        title,
        f"Инцидент №{incident.id}: {html.escape(topic)}",
        f"Ответственный: {html.escape(incident.organisation or 'не назначен')}",
        f"Срок: {due_local} ({html.escape(zone.key)})",
        f"Источник: {html.escape(incident.source_id)}",
    ])
    tail = f'\n<a href="{html.escape(incident.url, quote=True)}">Открыть пост</a>'
    budget = TELEGRAM_LIMIT - _utf16_len(head + tail) - 4
    body = _fit(_CONTROL.sub("", incident.text).strip(), budget)
    return f"{head}\n\n{body}{tail}"


def _fit(text: str, budget: int) -> str:
    """Escape `text`, cutting it before escaping (never mid-entity) to fit `budget`."""
    escaped = html.escape(text, quote=False)
    if _utf16_len(escaped) <= budget:
        return escaped
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if _utf16_len(html.escape(text[:middle], quote=False)) + 1 <= budget:
            low = middle
        else:
            high = middle - 1
    return html.escape(text[:low], quote=False) + "…"


async def queue_due_alerts(
    store: Store, clock: Clock, chats: list[int], zone: ZoneInfo
) -> int:
    """Queue a warning or an overdue alert for every incident that has reached one."""
    now = clock.now()
    queued = 0
    for incident in await store.incidents_needing_alert(now):
        reason = "overdue" if incident.due_at <= now else "warning"
        text = render_alert(incident, reason, zone, now)
        messages = [AlertMessage(chat, text, incident.url) for chat in chats or [LOG_CHAT]]
        queued += await store.queue_alert(incident.id, reason, messages, now)
    return queued


@dataclass(slots=True)
class FlushResult:
    """What one pass over the outbox did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0


async def flush_outbox(
    store: Store, sender: Sender | None, clock: Clock, cfg: TelegramConfig
) -> FlushResult:
    """Send due outbox rows; on 429 stop the pass, on other failures back off per row."""
    result = FlushResult()
    for row in await store.pending_alerts(clock.now()):
        if sender is None or row.chat_id == LOG_CHAT:
            log.warning("alert #%s (%s) for incident %s, no bot to send it:\n%s",
                        row.id, row.reason, row.incident_id, row.text)
            await store.mark_sent(row.id, None, clock.now())
            result.sent += 1
            continue
        outcome = await sender.send(row.chat_id, row.text, row.link)
        stop = await _record(store, row, outcome, clock.now(), cfg, result)
        if stop:
            break
    return result


async def _record(
    store: Store, row: OutboxRow, outcome: SendOutcome, now: datetime, cfg: TelegramConfig,
    result: FlushResult,
) -> bool:
    """Store one send outcome; return True when the whole pass should stop."""
    if outcome.status == "sent":
        await store.mark_sent(row.id, outcome.message_id, now)
        result.sent += 1
        return False
    error = outcome.error or outcome.status
    if outcome.status == "failed" or row.attempts + 1 >= cfg.max_attempts:
        log.error("alert #%s to chat %s dropped after %s attempt(s): %s",
                  row.id, row.chat_id, row.attempts + 1, error)
        await store.mark_failed(row.id, error)
        result.failed += 1
        return False
    delay = _backoff(cfg.retry_base, row.attempts)
    if outcome.retry_after is not None:
        delay = timedelta(seconds=outcome.retry_after)
    await store.mark_retry(row.id, now + delay, error)
    result.retried += 1
    log.warning("alert #%s to chat %s not sent (%s); next try in %ss",
                row.id, row.chat_id, error, int(delay.total_seconds()))
    # A 429 or a refused token concern the whole bot: the other rows must wait too.
    return outcome.retry_after is not None or outcome.status == "auth"


def _backoff(base: timedelta, attempts: int) -> timedelta:
    delay = min(base * (2 ** min(attempts, 16)), _MAX_BACKOFF)
    return delay + timedelta(seconds=random.uniform(0, base.total_seconds()))  # noqa: S311
