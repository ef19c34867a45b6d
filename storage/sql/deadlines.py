"""Deadlines recomputed when the calendar or the policies change: the open incidents' history,
and the changes written back with their events in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from storage.sql.db import Database
from storage.sql.events import add_events
from storage.sql.incidents import OPEN
from storage.sql.timestamps import from_db, to_db
from storage.types import SYSTEM, DeadlineHistory, Deadlines

BASIS_KEY = "deadline_basis"

_HISTORY = (
    "SELECT n.id, n.topic, n.group_name, n.priority, n.source_id, i.network, n.settlement,"
    " n.opened_at, i.published_at, n.round_started_at, n.policy, n.clock_started_at,"
    " n.warn_at, n.due_at, n.resolution_due_at, n.municipality"
    f" FROM incidents n JOIN items i ON i.id = n.item_id WHERE n.{OPEN} AND n.id > ?"
    " ORDER BY n.id LIMIT ?"
)


async def deadline_histories(db: Database, after: int, limit: int) -> list[DeadlineHistory]:
    """Open incidents numbered after `after` (at most `limit`, by number) with what their
    deadlines are computed from."""
    rows = await db.fetchall(_HISTORY, (after, limit))
    return [DeadlineHistory(
        int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], _moment(r[7]), _moment(r[8]),
        from_db(r[9]), r[10], from_db(r[11]), _moment(r[12]), _moment(r[13]), from_db(r[14]),
        r[15],
    ) for r in rows]


def _moment(value: str) -> datetime:
    moment = from_db(value)
    assert moment is not None  # NOT NULL columns
    return moment


async def deadline_basis(db: Database) -> str | None:
    """The fingerprint of the calendar and policies the stored deadlines were computed under."""
    row = await db.fetchone("SELECT value FROM bot_state WHERE key = ?", (BASIS_KEY,))
    return None if row is None else str(row["value"])


_UPDATE = (
    "UPDATE incidents SET policy = ?, policy_terms = ?, clock_started_at = ?, warn_at = ?,"
    " due_at = ?, resolution_due_at = ? WHERE id = ?"
)


async def save_recomputed(
    db: Database, changes: Sequence[tuple[DeadlineHistory, Deadlines]], basis: str | None,
    now: datetime,
) -> int:
    """Write new deadlines with a `recomputed` event each and (unless None) the new basis,
    atomically.

    An incident answered or given a new term since it was read is left alone; return how many
    changed."""
    ids = [old.incident_id for old, _ in changes] or [0]
    async with db.transaction() as tx:
        # Still open with the deadlines that were read: staff or a poll may have acted since.
        rows = await tx.fetchall(f"SELECT id, warn_at, due_at FROM incidents WHERE {OPEN}"
                                 " AND id BETWEEN ? AND ?", (min(ids), max(ids)))
        current = {int(r[0]): (r[1], r[2]) for r in rows}
        kept = [(old, new) for old, new in changes
                if current.get(old.incident_id) == (to_db(old.warn_at), to_db(old.due_at))]
        await tx.executemany(_UPDATE, [
            (new.policy, json.dumps(dict(new.policy_terms), ensure_ascii=False, sort_keys=True),
             to_db(new.clock_started_at), to_db(new.warn_at), to_db(new.due_at),
             _or_none(new.resolution_due_at), old.incident_id) for old, new in kept])
        await add_events(tx, now, "recomputed", SYSTEM,
                         [(old.incident_id, _difference(old, new)) for old, new in kept])
        if basis is not None:
            await tx.execute(
                "INSERT INTO bot_state (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (BASIS_KEY, basis))
    return len(kept)


def _or_none(moment: datetime | None) -> str | None:
    return None if moment is None else to_db(moment)


def _difference(old: DeadlineHistory, new: Deadlines) -> dict[str, object]:
    """What the event log keeps: each value that changed, before and after."""
    detail: dict[str, object] = {}
    pairs = (("policy", old.policy, new.policy), ("warn_at", old.warn_at, new.warn_at),
             ("due_at", old.due_at, new.due_at),
             ("resolution_due_at", old.resolution_due_at, new.resolution_due_at),
             ("clock_started_at", old.clock_started_at, new.clock_started_at))
    for key, before, after in pairs:
        if before != after:
            detail[f"from_{key}"] = before.isoformat() if isinstance(before, datetime) else before
            detail[key] = after.isoformat() if isinstance(after, datetime) else after
    return detail
