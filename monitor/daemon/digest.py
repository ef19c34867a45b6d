"""The morning digest: per chat, what is open, due today and overdue, per organisation."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

from common.clock import Clock
from monitor.config import AppConfig
from monitor.daemon.routing import LOG_CHAT, Router
from monitor.daemon.texts import escape, fit_lines, status_line
from storage import AlertMessage, IncidentRow, Store

PER_ORGANISATION = 5
"""Incidents overdue or due today listed per organisation; the rest are counted."""
MANY_ORGANISATIONS = 15
"""With more organisations than this, the digest gives their counts only."""


def digest_trigger(config: AppConfig) -> CronTrigger | None:
    """The cron trigger of the digest at `[alerts] digest_at` local time, or None."""
    at = config.alerts.digest_at
    if at is None:
        return None
    return CronTrigger(hour=at.hour, minute=at.minute, timezone=config.calendar.zone)


def digest_lines(incidents: list[IncidentRow], now: datetime, config: AppConfig) -> list[str]:
    """The digest of these incidents: totals, then per organisation its counts and the
    incidents overdue or due today."""
    zone = config.calendar.zone
    today = now.astimezone(zone).date()
    overdue = {i.id for i in incidents if i.due_at <= now}
    due_today = {i.id for i in incidents if i.due_at > now and i.due_at.astimezone(zone).date()
                 == today}
    lines = [f"☀️ <b>Утренняя сводка, {today:%d.%m.%Y}</b>",
             f"Открыто: {len(incidents)} · срок сегодня: {len(due_today)} · "
             f"просрочено: {len(overdue)}"]
    if not incidents:
        return [*lines, "Открытых инцидентов нет."]
    by_organisation: dict[str, list[IncidentRow]] = defaultdict(list)
    for incident in sorted(incidents, key=lambda i: (i.due_at, i.id)):
        by_organisation[incident.organisation or ""].append(incident)
    for organisation, own in sorted(by_organisation.items(), key=lambda kv: kv[1][0].due_at):
        late = sum(1 for i in own if i.id in overdue)
        soon = [i for i in own if i.id in due_today]
        lines.append(f"\n<b>{escape(organisation, 'Ответственный не назначен')}</b>: открыто "
                     f"{len(own)}, срок сегодня {len(soon)}, просрочено {late}")
        urgent = [i for i in own if i.id in overdue or i.id in due_today]
        listed = PER_ORGANISATION if len(by_organisation) <= MANY_ORGANISATIONS else 0
        lines += [status_line(i, now) for i in urgent[:listed]]
        if listed and len(urgent) > listed:
            lines.append(f"… и ещё {len(urgent) - listed} (все — /status)")
    return lines


async def queue_digest(store: Store, config: AppConfig, router: Router, clock: Clock) -> int:
    """Queue today's digest to every chat (once a day per chat, even if asked again); a chat
    gets the incidents its routes send it; every duty chat gets one, if only to say none."""
    now = clock.now()
    per_chat: dict[tuple[int, int | None], list[IncidentRow]] = defaultdict(list)
    duty: list[tuple[int, int | None]] = [(c.id, None) for c in config.telegram.chats]
    if not router.sending:
        duty = []
    for key in duty or [(LOG_CHAT, None)]:
        per_chat[key] = []
    for incident in await store.list_incidents(open_only=True):
        found = router.duty_targets(incident, now) if router.sending else []
        keys = [(t.chat_id, t.thread_id) for t in found] or [(LOG_CHAT, None)]
        for key in keys:
            per_chat[key].append(incident)
    day = now.astimezone(config.calendar.zone).date().isoformat()
    queued = 0
    for (chat_id, thread), incidents in per_chat.items():
        parts = fit_lines(digest_lines(incidents, now, config))
        for number, text in enumerate(parts, 1):
            reason = f"digest:{day}:{thread or ''}:{number}"
            message = AlertMessage(chat_id, text, None, thread)
            queued += await store.queue_notices(reason, [message], now)
    return queued
