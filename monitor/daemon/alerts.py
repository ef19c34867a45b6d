"""Alerts: the deadline tick that queues them and the outbox flush that delivers them."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from common.clock import Clock
from monitor.config.settings import TelegramConfig
from monitor.daemon.alert_sender import SendOutcome
from monitor.daemon.alert_steps import AlertSchedule, Step, due_steps
from monitor.daemon.delivery import Delivery, batches, grouped, undelivered
from monitor.daemon.routing import LOG_CHAT, Router
from monitor.daemon.texts import alert_text, local, with_footer
from storage import AlertMessage, AlertProgress, DueAlert, OutboxRow, QueuedStep, Store

log = logging.getLogger(__name__)

_MAX_BACKOFF = timedelta(hours=1)
_RETRY_STEPS = timedelta(minutes=15)
_PASS_ROWS = 200
_MAX_BATCHES = 1000
"""A tick works through at most this many batches (10⁶ incidents at the default limit)."""


class Sender(Protocol):
    """Anything that can deliver an alert to a chat."""

    async def send(
        self, chat_id: int, html_text: str, link: str | None = None,
        incident_id: int | None = None, *, thread_id: int | None = None,
    ) -> SendOutcome:
        """Deliver one message (in a forum topic with `thread_id`); with `incident_id`, with
        the buttons that act on it."""
        ...


async def queue_due_alerts(
    store: Store, clock: Clock, schedule: AlertSchedule, router: Router, zone: ZoneInfo,
    limit: int = 1000,
) -> int:
    """Queue every alert step that has come due: announcements, warnings, overdue alerts,
    reminders, escalations and ends of snoozes; each step once per chat, even across a
    restart (the outbox keeps one row per incident, step and chat). Works in batches of
    `limit` incidents until none is left (after a restart, every open incident once)."""
    now = clock.now()
    queued = 0
    for _ in range(_MAX_BATCHES):
        found = []
        due_now = await store.due_alerts(now, limit)
        for due in due_now:
            try:
                found.append(_progress(due, schedule, router, zone, now))
            except Exception:  # one incident's bug must not hold back every other alert
                log.exception("шаги оповещений инцидента %s не рассчитаны; новая попытка "
                              "через %s",
                              due.incident.id, _RETRY_STEPS)
                found.append(AlertProgress(due.incident.id, due.next_alert_at,
                                           due.alerted_until, now + _RETRY_STEPS))
        queued += await store.queue_alerts(found, now)
        if len(due_now) < limit:
            break
    return queued


def _progress(
    due: DueAlert, schedule: AlertSchedule, router: Router, zone: ZoneInfo, now: datetime
) -> AlertProgress:
    """What one tick does to one incident's alerts."""
    incident = due.incident
    snoozed = incident.snoozed_until
    if snoozed is not None and snoozed > now:  # nothing until the snooze ends
        return AlertProgress(incident.id, due.next_alert_at, due.alerted_until, snoozed)
    found = due_steps(schedule.steps(incident), due, now)
    chosen = found.steps
    if snoozed is not None:  # the snooze's end replaces what came due during it
        stamp = snoozed.astimezone(UTC).isoformat(timespec="microseconds")
        chosen = (Step(now, "reminder", f"reminder:{stamp}"),)
    queued = []
    for step in chosen:
        held = router.held_until(incident, step, now)
        text = alert_text(incident, step.kind, zone, now, step.label, router.templates)
        if held is not None:
            text = with_footer(text, f"<i>Оповещение от {local(now, zone)}, придержано до конца "
                                     "тихих часов.</i>")
        messages = tuple(AlertMessage(target.chat_id, text, incident.url, target.thread_id)
                         for target in router.targets(incident, step, now))
        queued.append(QueuedStep(step.kind, step.reason, messages, held))
    return AlertProgress(incident.id, due.next_alert_at, found.alerted_until, found.next_at,
                         tuple(queued),
                         snooze_ended=snoozed is not None)


@dataclass(slots=True)
class FlushResult:
    """What one pass over the outbox did (rows; a grouped message carries several)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    waiting: int = 0
    """Rows left for a later pass by the per-chat limit or a 429 (not attempts)."""


async def flush_outbox(
    store: Store, sender: Sender | None, clock: Clock, cfg: TelegramConfig,
    delivery: Delivery | None = None,
) -> FlushResult:
    """Send due outbox rows, per chat grouped within the delivery's window and at its pace; on
    429 stop the pass (every chat waits), on other failures back off per row; an alert refused
    for good is told to the rescue chat."""
    result = FlushResult()
    delivery = delivery or Delivery()
    pacer = delivery.pacer
    now = clock.now()
    for batch in batches(await store.pending_alerts(now, _PASS_ROWS), delivery.window, now):
        chat = batch[0].chat_id
        if sender is None or chat == LOG_CHAT:
            for row in batch:
                log.warning("оповещение #%s (%s) по инциденту %s — бота для отправки нет:\n%s",
                            row.id, row.reason, row.incident_id, row.text)
                await store.mark_sent(row.id, None, clock.now())
                result.sent += 1
            continue
        # Claimed right before sending: not cancelled during this pass (its incident answered
        # or dismissed), and not another daemon's (PostgreSQL).
        batch = [row for row in batch if await store.claim_alert(row.id, clock.now())]
        if not batch:
            continue
        if not pacer.ready(chat, clock.now()):
            result.waiting += len(batch)
            continue
        if await _send_batch(store, sender, clock, cfg, delivery, batch, result):
            break
    return result


async def _send_batch(
    store: Store, sender: Sender, clock: Clock, cfg: TelegramConfig, delivery: Delivery,
    batch: list[OutboxRow], result: FlushResult,
) -> bool:
    """Send one chat's batch as one message; return True when the whole pass should stop."""
    first = batch[0]
    if len(batch) == 1:
        carried = batch
        outcome = await sender.send(first.chat_id, first.text, first.link, first.incident_id,
                                    thread_id=first.thread_id)
    else:  # several incidents: no buttons, each line links to its post
        text, carried = grouped(batch)
        outcome = await sender.send(first.chat_id, text, None, None, thread_id=first.thread_id)
    now = clock.now()
    delivery.pacer.sent(first.chat_id, now)
    if outcome.retry_after is not None:
        delivery.pacer.hold(now + timedelta(seconds=outcome.retry_after))
    stop = False
    failed = result.failed
    for row in carried:
        stop = await _record(store, row, outcome, now, cfg, result) or stop
    rescue = delivery.rescue_chat
    if result.failed > failed and rescue is not None and rescue != first.chat_id:
        error = outcome.error or outcome.status
        for row in carried:  # never silently: the rescue chat gets it, once per row
            message = AlertMessage(rescue, undelivered(row, error), row.link)
            await store.queue_notices(f"undelivered:{row.id}", [message], now)
    return stop


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
    flood = outcome.retry_after is not None  # a 429 delays, it never uses up attempts
    if outcome.status == "failed" or (not flood and row.attempts + 1 >= cfg.max_attempts):
        log.error("оповещение #%s в чат %s отброшено после %s-й попытки: %s",
                  row.id, row.chat_id, row.attempts + 1, error)
        await store.mark_failed(row.id, error)
        result.failed += 1
        return False
    delay = _backoff(cfg.retry_base, row.attempts)
    if outcome.retry_after is not None:
        delay = timedelta(seconds=outcome.retry_after)
    await store.mark_retry(row.id, now + delay, error, count=not flood)
    result.retried += 1
    log.warning("оповещение #%s в чат %s не отправлено (%s); следующая попытка через %s с",
                row.id, row.chat_id, error, int(delay.total_seconds()))
    # A 429 or a refused token concern the whole bot: the other rows must wait too.
    return flood or outcome.status == "auth"


def _backoff(base: timedelta, attempts: int) -> timedelta:
    delay = min(base * (2 ** min(attempts, 16)), _MAX_BACKOFF)
    return delay + timedelta(seconds=random.uniform(0, base.total_seconds()))  # noqa: S311
