"""System conditions (a source refused or silent, a token near its cap): raised and cleared
together with the alert that tells staff, so each is told once, and once more on recovery."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.sql.db import Database
from storage.sql.outbox import add_notices
from storage.sql.timestamps import from_db, to_db
from storage.types import AlertMessage


async def open_conditions(db: Database) -> dict[str, datetime]:
    """Conditions raised and not cleared: key → since when."""
    rows = await db.fetchall("SELECT key, since FROM system_conditions")
    return {row["key"]: from_db(row["since"]) for row in rows}  # type: ignore[misc]


async def set_condition(
    db: Database, key: str, raised: bool, messages: Sequence[AlertMessage], now: datetime
) -> bool:
    """Raise (or clear) a condition and queue its alert, in one transaction; False when it
    already stood so (nothing queued)."""
    moment = to_db(now)
    async with db.transaction() as tx:
        row = await tx.fetchone("SELECT since FROM system_conditions WHERE key = ?", (key,))
        if (row is not None) == raised:
            return False
        if raised:
            await tx.execute("INSERT INTO system_conditions (key, since) VALUES (?, ?)",
                             (key, moment))
            reason = f"system:{key}:{moment}"
        else:
            assert row is not None
            await tx.execute("DELETE FROM system_conditions WHERE key = ?", (key,))
            reason = f"system:{key}:{row['since']}:cleared"
        await add_notices(tx, reason, messages, now)
    return True


async def last_items(db: Database, source_ids: Sequence[str]) -> dict[str, datetime]:
    """When each source's newest item was first seen (sources with none are left out)."""
    found: dict[str, datetime] = {}
    for source_id in source_ids:
        row = await db.fetchone("SELECT MAX(first_seen_at) AS seen FROM items WHERE source_id = ?",
                                (source_id,))
        if row is not None and row["seen"] is not None:
            found[source_id] = from_db(row["seen"])  # type: ignore[assignment]
    return found
