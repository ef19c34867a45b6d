"""Recompute open incidents' deadlines when the calendar or the policies changed.

Run at start, and by whatever reloads the config: `recompute_deadlines(store, config, calendar,
now)`. The stored basis (a fingerprint of everything deadlines depend on) makes an unchanged
config cost one read; a changed one recomputes every open incident from its history (when its
clock started, when its running term started) and writes each change with a `recomputed` event.
Running it twice changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version

from monitor.config import AppConfig
from monitor.config.policies import PolicyBook
from monitor.daemon.deadlines import recomputed
from monitor.daemon.workcal import WorkingCalendar
from storage import Store

log = logging.getLogger(__name__)

PAGE = 5000
"""Open incidents read, recomputed and written at a time."""


def deadline_basis(config: AppConfig) -> str:
    """A fingerprint of what deadlines depend on: the calendar (and the holidays package that
    knows the transfers), the policies, and which topic is in which group, priority and
    named policy."""
    try:
        holidays_version = version("holidays")
    except PackageNotFoundError:  # pragma: no cover - it is a dependency
        holidays_version = "?"
    topics = sorted((t.id, t.group, t.priority or "normal", t.sla or "", t.enabled)
                    for t in config.topics)
    basis = {
        "calendar": config.calendar.model_dump(mode="json"),
        "sla": config.sla.model_dump(mode="json"),
        "policies": [p.model_dump(mode="json") for p in config.policies],
        "topics": topics, "holidays": holidays_version,
    }
    text = json.dumps(basis, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


async def recompute_deadlines(
    store: Store, config: AppConfig, calendar: WorkingCalendar, now: datetime,
    force: bool = False, page: int = PAGE,
) -> int:
    """Bring open incidents' deadlines in line with the config, `page` incidents at a time;
    return how many changed."""
    basis = deadline_basis(config)
    if not force and await store.deadline_basis() == basis:
        return 0
    book = PolicyBook(config)
    changed, after = 0, 0
    while found := await store.deadline_histories(after, page):
        # A page at a time, each its own transaction: memory stays flat; the basis is written
        # last, so an interrupted run is simply done again at the next start.
        after = found[-1].incident_id
        changes = [(h, fresh) for h in found
                   if (fresh := recomputed(h, book, calendar)) is not None]
        if changes:
            changed += await store.save_recomputed(changes, None, now)
    await store.save_recomputed([], basis, now)
    if changed:
        log.info("сроки пересчитаны у открытых инцидентов: %s (изменились календарь или "
                 "политики SLA)", changed)
    return changed
