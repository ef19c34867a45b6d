"""The alert outbox: rows are written before sending and marked after."""

from __future__ import annotations

from datetime import datetime

from storage.sql.db import Database
from storage.sql.events import add_event
from storage.sql.timestamps import from_db, to_db
from storage.types import SYSTEM, OutboxRow


async def pending_alerts(db: Database, now: datetime, limit: int = 50) -> list[OutboxRow]:
    """Return unsent alerts whose next attempt is due, oldest first."""
    rows = await db.fetchall(
        "SELECT id, incident_id, reason, chat_id, text, link, attempts FROM outbox"
        " WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
        (to_db(now), limit),
    )
    return [OutboxRow(**dict(r)) for r in rows]


async def mark_sent(db: Database, row_id: int, message_id: int | None, now: datetime) -> None:
    """Record a delivered alert, in the outbox and in its incident's log."""
    async with db.transaction() as tx:
        row = await tx.fetchone(
            "UPDATE outbox SET status = 'sent', sent_at = ?, message_id = ?,"
            " attempts = attempts + 1, last_error = NULL WHERE id = ?"
            " RETURNING incident_id, reason, chat_id",
            (to_db(now), message_id, row_id),
        )
        if row is not None:
            await add_event(tx, row["incident_id"], now, "alerted", SYSTEM,
                            alert=row["reason"].split(":")[0], chat=row["chat_id"])


async def mark_retry(db: Database, row_id: int, next_attempt_at: datetime, error: str) -> None:
    """Record a failed attempt to be retried later."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
            " WHERE id = ?",
            (to_db(next_attempt_at), error[:500], row_id),
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
        "SELECT id, incident_id, reason, chat_id, text, link, attempts FROM outbox"
        " WHERE chat_id = ? AND message_id = ? AND status = 'sent' ORDER BY id DESC LIMIT 1",
        (chat_id, message_id),
    )
    return None if row is None else OutboxRow(**dict(row))
