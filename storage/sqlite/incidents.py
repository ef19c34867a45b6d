"""Incidents: listing them, finding those whose alert is due, queueing alerts, answering."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.sqlite.connection import Database
from storage.sqlite.timestamps import from_db, to_db
from storage.types import AlertMessage, IncidentRow

_COLUMNS = (
    "id, source_id, group_name, topic, topic_name, organisation, priority, status,"
    " opened_at, warn_at, due_at, warned_at, overdue_at, answered_at, url, text, settlement,"
    " (SELECT COUNT(*) FROM incident_repeats r WHERE r.incident_id = incidents.id) AS repeats"
)


def _row(row: object) -> IncidentRow:
    r = dict(row)  # type: ignore[call-overload]
    for key in ("opened_at", "warn_at", "due_at", "warned_at", "overdue_at", "answered_at"):
        r[key] = from_db(r[key])
    return IncidentRow(**r)


async def list_incidents(db: Database, overdue_at: datetime | None = None) -> list[IncidentRow]:
    """Return incidents, oldest first; with `overdue_at`, only open ones past due then."""
    if overdue_at is None:
        rows = await db.fetchall(f"SELECT {_COLUMNS} FROM incidents ORDER BY id")
    else:
        rows = await db.fetchall(
            f"SELECT {_COLUMNS} FROM incidents WHERE status = 'open' AND due_at <= ? ORDER BY id",
            (to_db(overdue_at),),
        )
    return [_row(r) for r in rows]


async def incidents_needing_alert(db: Database, now: datetime) -> list[IncidentRow]:
    """Return open incidents whose warning or overdue alert is due and not yet queued."""
    moment = to_db(now)
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM incidents WHERE status = 'open' AND ("
        " (warned_at IS NULL AND warn_at <= ?) OR (overdue_at IS NULL AND due_at <= ?))"
        " ORDER BY due_at, id",
        (moment, moment),
    )
    return [_row(r) for r in rows]


async def queue_alert(
    db: Database, incident_id: int, reason: str, messages: Sequence[AlertMessage], now: datetime
) -> int:
    """Write alerts to the outbox and mark the incident, in one transaction; return rows added."""
    moment = to_db(now)
    column = {"warning": "warned_at", "overdue": "overdue_at"}[reason]
    added = 0
    async with db.transaction() as tx:
        for message in messages:
            cursor = await tx.execute(
                "INSERT INTO outbox (incident_id, reason, chat_id, text, link, next_attempt_at,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (incident_id, reason, chat_id) DO NOTHING",
                (incident_id, reason, message.chat_id, message.text, message.link, moment, moment),
            )
            added += cursor.rowcount
        await tx.execute(f"UPDATE incidents SET {column} = ? WHERE id = ?", (moment, incident_id))
        if reason == "overdue":
            # An overdue alert makes the earlier warning pointless: never send it afterwards.
            await tx.execute(
                "UPDATE incidents SET warned_at = ? WHERE id = ? AND warned_at IS NULL",
                (moment, incident_id),
            )
    return added


async def mark_answered(db: Database, incident_id: int, now: datetime) -> bool:
    """Close an open incident as answered; repeats no longer join it. False if it was not open."""
    async with db.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE incidents SET status = 'answered', answered_at = ?"
            " WHERE id = ? AND status = 'open'",
            (to_db(now), incident_id),
        )
        await tx.execute("DELETE FROM incident_bands WHERE incident_id = ?", (incident_id,))
    return cursor.rowcount == 1
