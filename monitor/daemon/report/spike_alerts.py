"""A spike of one problem as it happens: when a new incident makes `[report] spike_incidents`
of its group in its settlement within `[report] spike_window`, the duty chats of that group and
settlement's route (`monitor.daemon.routing`) get one message (an outbox notice); another for
the same group and settlement only after a whole window without one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.config import AppConfig
from monitor.daemon.routing import LOG_CHAT, Router
from monitor.daemon.texts import escape, span
from storage import AlertMessage, IncidentRow, Store

_SHOWN = 10
_JUST_AFTER = timedelta(microseconds=1)


def spike_key(group: str, settlement: str, municipality: str | None = None) -> str:
    """The outbox reason of a spike's alert: one per group and settlement (and municipality,
    where a region's config has them) and window."""
    where = "" if municipality is None else f":{municipality}"
    return f"spike:{group}:{settlement}{where}"


def spike_text(group: str, settlement: str, incidents: Sequence[IncidentRow],
               window: timedelta) -> str:
    """The alert: how many complaints of which group where, and their numbers."""
    numbers = ", ".join(f"№{i.id}" for i in incidents[-_SHOWN:])
    more = f" и ещё {len(incidents) - _SHOWN}" if len(incidents) > _SHOWN else ""
    topics = sorted({i.topic_name for i in incidents if i.topic_name})
    return (f"⚡️ <b>Всплеск: {len(incidents)} жалоб(ы) «{escape(group)}» — "
            f"{escape(settlement)} за {span(window)}</b>\n"
            f"Темы: {escape(', '.join(topics))}\nИнциденты: {numbers}{more}")


async def alert_spikes(
    store: Store, config: AppConfig, router: Router, opened: Sequence[int], now: datetime
) -> int:
    """Queue an alert for each spike the newly `opened` incidents make, to the chats the route
    of its group and settlement names; return rows queued."""
    rules = config.report
    if not rules.spike_alerts or not opened:
        return 0
    since = now - rules.spike_window
    # Only the problems the new incidents belong to are counted: one index range each, not
    # every incident of the window with its event log (a region opens thousands an hour).
    problems: dict[tuple[str, str, str | None], None] = {}
    for number in opened:
        found = await store.incident(number)
        if found is not None and found.group_name and found.settlement:
            problems[(found.group_name, found.settlement, found.municipality)] = None
    queued = 0
    new = set(opened)
    for group, settlement, municipality in problems:
        incidents = await store.problem_incidents(group, settlement, municipality, since,
                                                  now + _JUST_AFTER)
        makers = [i for i in incidents if i.id in new]
        if len(incidents) < rules.spike_incidents or not makers:
            continue
        text = spike_text(group, settlement, incidents, rules.spike_window)
        maker = makers[-1]
        targets = router.duty_targets(maker, now) if router.sending else []
        messages = [AlertMessage(t.chat_id, text, makers[-1].url, t.thread_id) for t in targets]
        queued += await store.queue_spike_alert(
            spike_key(group, settlement, municipality),
            messages or [AlertMessage(LOG_CHAT, text, makers[-1].url)], since, now)
    return queued
