"""The alert outbox: rows are written before sending and marked after."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.sql.db import Database, Row, Tx
from storage.sql.events import add_event
from storage.sql.timestamps import from_db, to_db
from storage.types import SYSTEM, AlertMessage, OutboxRow

_ROW = "id, incident_id, reason, chat_id, text, link, attempts, thread_id, created_at"


def _row(row: Row) -> OutboxRow:
    values = dict(row)
    values["created_at"] = from_db(values["created_at"])
    return OutboxRow(**values)


async def pending_alerts(db: Database, now: datetime, limit: int = 50) -> list[OutboxRow]:
    """Return unsent alerts whose next attempt is due, oldest first."""
    rows = await db.fetchall(
        f"SELECT {_ROW} FROM outbox"
        " WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
        (to_db(now), limit),
    )
    return [_row(r) for r in rows]


async def mark_sent(db: Database, row_id: int, message_id: int | None, now: datetime) -> None:
    """Record a delivered alert, in the outbox and in its incident's log."""
    async with db.transaction() as tx:
        await mark_sent_in(tx, row_id, message_id, now)


async def mark_sent_in(tx: Tx, row_id: int, message_id: int | None, now: datetime) -> None:
    """`mark_sent` inside the caller's transaction. It checks nothing before writing: one
    UPDATE of one row by its key, and an event appended."""
    row = await tx.fetchone(
        "UPDATE outbox SET status = 'sent', sent_at = ?, message_id = ?,"
        " attempts = attempts + 1, last_error = NULL WHERE id = ?"
        " RETURNING incident_id, reason, chat_id",
        (to_db(now), message_id, row_id),
    )
    if row is not None and row["incident_id"] is not None:
        await add_event(tx, row["incident_id"], now, "alerted", SYSTEM,
                        alert=row["reason"].split(":")[0], chat=row["chat_id"])


async def mark_retry(
    db: Database, row_id: int, next_attempt_at: datetime, error: str, count: bool = True
) -> None:
    """Record a failed attempt to be retried later (with `count` off, one that does not use up
    the row's attempts: Telegram asked to wait)."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE outbox SET attempts = attempts + ?, next_attempt_at = ?, last_error = ?"
            " WHERE id = ?",
            (int(count), to_db(next_attempt_at), error[:500], row_id),
        )


async def mark_failed(db: Database, row_id: int, error: str) -> None:
    """Give up on an alert for good."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?"
            " WHERE id = ?",
            (error[:500], row_id),
        )


async def outbox_counts(db: Database) -> dict[str, int]:
    """Return how many alerts are pending, sent and failed."""
    rows = await db.fetchall("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
    counts = {"pending": 0, "sent": 0, "failed": 0, "cancelled": 0}
    counts.update({r["status"]: r["n"] for r in rows})
    return counts


async def oldest_waiting_alert(db: Database, now: datetime) -> datetime | None:
    """When the oldest alert still waiting to go out was queued (see `Store`)."""
    row = await db.fetchone(
        "SELECT MIN(created_at) AS oldest FROM outbox WHERE status = 'pending'"
        " AND (next_attempt_at <= ? OR attempts > 0)", (to_db(now),))
    return None if row is None else from_db(row["oldest"])


async def sent_alert(db: Database, chat_id: int, message_id: int) -> OutboxRow | None:
    """The alert that became a given Telegram message, or None."""
    row = await db.fetchone(
        f"SELECT {_ROW} FROM outbox"
        " WHERE chat_id = ? AND message_id = ? AND status = 'sent' ORDER BY id DESC LIMIT 1",
        (chat_id, message_id),
    )
    return None if row is None else _row(row)


_NOTICE = (
    "INSERT INTO outbox (incident_id, reason, chat_id, thread_id, text, link,"
    " next_attempt_at, created_at) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (reason, chat_id) WHERE incident_id IS NULL DO NOTHING"
)


async def queue_notices(
    db: Database, reason: str, messages: Sequence[AlertMessage], now: datetime,
    not_before: datetime | None = None,
) -> int:
    """Queue a message about no one incident (a digest, a system alert) to chats, once per
    reason and chat; return rows added."""
    async with db.transaction() as tx:
        return await add_notices(tx, reason, messages, now, not_before)


async def add_notices(
    tx: Tx, reason: str, messages: Sequence[AlertMessage], now: datetime,
    not_before: datetime | None = None,
) -> int:
    """`queue_notices` inside the caller's transaction."""
    moment = to_db(now)
    added = 0
    for m in messages:
        added += await tx.execute(_NOTICE, (reason, m.chat_id, m.thread_id, m.text, m.link,
                                            to_db(not_before) if not_before else moment,
                                            moment))
    return added
