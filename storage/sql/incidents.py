"""Incidents: listing them, finding those whose alert is due, and queueing alerts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.sql.db import Database, Row, Tx
from storage.sql.timestamps import from_db, to_db
from storage.types import AlertKind, AlertMessage, DueAlert, IncidentRow

_COLUMNS = (
    "id, source_id, group_name, topic, topic_name, organisation, priority, status,"
    " opened_at, warn_at, due_at, warned_at, overdue_at, answered_at, url, text, settlement,"
    " (SELECT COUNT(*) FROM incident_repeats r WHERE r.incident_id = incidents.id) AS repeats,"
    " assignee, snoozed_until, closed_at, close_reason, answered_by, answer_url, answer_text"
)
_TIMES = ("opened_at", "warn_at", "due_at", "warned_at", "overdue_at", "answered_at",
          "snoozed_until", "closed_at")
OPEN = "status IN ('open', 'in_work')"
"""Incidents that still wait for an answer (`storage.types.OPEN_STATUSES`)."""

_DUE_WHERE = (
    f"{OPEN} AND ("
    " snoozed_until <= :now OR (snoozed_until IS NULL AND ("
    "  announced_at IS NULL OR (warned_at IS NULL AND warn_at <= :now)"
    "  OR (overdue_at IS NULL AND due_at <= :now))))"
)
_DUE = f"SELECT {_COLUMNS}, announced_at FROM incidents WHERE {_DUE_WHERE} ORDER BY due_at, id"
"""Open incidents with an alert due: a snooze ended, never announced, warning or overdue time
reached and not yet alerted; a snoozed incident gets nothing until its snooze ends."""


def incident_row(row: Row) -> IncidentRow:
    """A row selected with _COLUMNS as an IncidentRow."""
    r = {key: row[key] for key in row.keys() if key != "announced_at"}
    for key in _TIMES:
        r[key] = from_db(r[key])
    return IncidentRow(**r)


async def open_counts(db: Database, now: datetime) -> dict[str | None, tuple[int, int]]:
    """Open incidents per group and how many of them are past due at `now` (see `Store`)."""
    rows = await db.fetchall(
        "SELECT group_name, COUNT(*) AS n, SUM(CASE WHEN due_at <= ? THEN 1 ELSE 0 END) AS late"
        f" FROM incidents WHERE {OPEN} GROUP BY group_name", (to_db(now),))
    return {row["group_name"]: (row["n"], row["late"] or 0) for row in rows}


async def list_incidents(
    db: Database, overdue_at: datetime | None = None, open_only: bool = False
) -> list[IncidentRow]:
    """Incidents, oldest first; only those still open with `open_only`, and only those open and
    past due at `overdue_at` with it."""
    where, params = [], []
    if open_only or overdue_at is not None:
        where.append(OPEN)
    if overdue_at is not None:
        where.append("due_at <= ?")
        params.append(to_db(overdue_at))
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM incidents{condition} ORDER BY id", params)
    return [incident_row(r) for r in rows]


async def incident(db: Database, incident_id: int) -> IncidentRow | None:
    """One incident by its number, or None."""
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM incidents WHERE id = ?", (incident_id,))
    return None if row is None else incident_row(row)


async def due_alerts(db: Database, now: datetime) -> list[DueAlert]:
    """Incidents with an alert due now, soonest deadline first, each with the alert's kind."""
    rows = await db.fetchall(_DUE, {"now": to_db(now)})
    return [DueAlert(_kind(row, now), incident_row(row)) for row in rows]


def _kind(row: Row, now: datetime) -> AlertKind:
    """One alert per incident and tick: the ended snooze, else the most urgent due one."""
    if row["snoozed_until"] is not None:
        return "reminder"
    if row["overdue_at"] is None and from_db(row["due_at"]) <= now:  # type: ignore[operator]
        return "overdue"
    if row["announced_at"] is None:
        return "opened"
    return "warning"


async def queue_alert(
    db: Database, incident_id: int, kind: AlertKind, messages: Sequence[AlertMessage],
    now: datetime,
) -> int:
    """Write alerts to the outbox and mark the incident, in one transaction; return rows added.

    Whatever the kind, the incident counts as announced, warned once its warning time has come
    and alerted as overdue once its deadline has passed: one message never repeats another.
    """
    moment = to_db(now)
    added = 0
    async with db.transaction() as tx:
        # Still due, and the same kind, now inside the transaction: staff may have answered,
        # dismissed or snoozed it, or another tick queued it, since `due_alerts` read it.
        row = await tx.fetchone(
            f"SELECT {_COLUMNS}, announced_at FROM incidents WHERE id = :id AND {_DUE_WHERE}",
            {"id": incident_id, "now": moment},
        )
        if row is None or _kind(row, now) != kind:
            return 0
        reason = await _reason(tx, incident_id, kind)
        added = await add_to_outbox(tx, incident_id, reason, messages, moment)
        await tx.execute(
            "UPDATE incidents SET announced_at = COALESCE(announced_at, :now),"
            " warned_at = CASE WHEN warn_at <= :now THEN COALESCE(warned_at, :now)"
            "  ELSE warned_at END,"
            " overdue_at = CASE WHEN due_at <= :now THEN COALESCE(overdue_at, :now)"
            "  ELSE overdue_at END,"
            " snoozed_until = CASE WHEN :kind = 'reminder' THEN NULL ELSE snoozed_until END"
            " WHERE id = :id", {"now": moment, "kind": kind, "id": incident_id},
        )
    return added


async def add_to_outbox(
    tx: Tx, incident_id: int, reason: str, messages: Sequence[AlertMessage], moment: str,
) -> int:
    """Write one outbox row per message, at most one per (incident, reason, chat); return how
    many were added."""
    added = 0
    for message in messages:
        added += await tx.execute(
            "INSERT INTO outbox (incident_id, reason, chat_id, text, link, next_attempt_at,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (incident_id, reason, chat_id) DO NOTHING",
            (incident_id, reason, message.chat_id, message.text, message.link, moment, moment),
        )
    return added


async def _reason(tx: Tx, incident_id: int, kind: AlertKind) -> str:
    """The outbox reason: the kind, and for a reminder the snooze it ends (one per snooze)."""
    if kind != "reminder":
        return kind
    row = await tx.fetchone("SELECT snoozed_until FROM incidents WHERE id = ?",
                          (incident_id,))
    return f"reminder:{row[0] if row else ''}"
