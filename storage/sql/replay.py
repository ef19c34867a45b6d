"""Replaying stored items through changed rules (`monitor rules test`): the shared queries."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime

from connectors.base import Item
from storage.sql.db import Database, Row
from storage.sql.timestamps import to_db
from storage.types import StoredItem

STORED_ITEMS = (
    "SELECT i.id, i.source_id, i.external_id, i.network, i.kind, i.url, i.author,"
    " i.is_official, i.published_at, i.first_seen_at, i.text, i.group_name, i.topic,"
    " i.actionable, n.id AS incident_id, n.status, COALESCE(n.answered_at, ("
    "  SELECT j.answered_at FROM incident_repeats m JOIN incidents j ON j.id = m.incident_id"
    "  WHERE m.item_id = i.id)) AS answered_at"
    " FROM items i LEFT JOIN incidents n ON n.item_id = i.id ORDER BY i.id"
)
"""Every item with its latest text (items.text is the newest version), its incident and when
that incident (or the one it joined) was answered, in the order the daemon saved them: one
poll's items are saved in one transaction, so they are neighbours (streams, no sort)."""

_FORGET = (
    "DELETE FROM incident_bands WHERE opened_at < :before",
    "DELETE FROM incident_repeats WHERE incident_id IN"
    " (SELECT id FROM incidents WHERE opened_at < :before)",
    "DELETE FROM incident_thread WHERE incident_id IN"
    " (SELECT id FROM incidents WHERE opened_at < :before)",
    "DELETE FROM incident_events WHERE incident_id IN"
    " (SELECT id FROM incidents WHERE opened_at < :before)",
    "DELETE FROM incidents WHERE opened_at < :before",
    "DELETE FROM item_versions WHERE item_id IN"
    " (SELECT id FROM items WHERE last_seen_at < :before"
    "  AND id NOT IN (SELECT item_id FROM incidents)"
    "  AND id NOT IN (SELECT item_id FROM incident_repeats))",
    "DELETE FROM items WHERE last_seen_at < :before"
    " AND id NOT IN (SELECT item_id FROM incidents)"
    " AND id NOT IN (SELECT item_id FROM incident_repeats)",
)
"""A scratch store's past that no new item can join any more: incidents opened before the
window, their repeats and band keys, and items nothing refers to."""


class StoredItems:
    """What both read-only stores share: rows of STORED_ITEMS as StoredItems, unreadable ones
    (a timestamp edited by hand, say) counted in `damaged` and skipped."""

    damaged: int = 0

    async def readable(self, rows: AsyncIterable[Row]) -> AsyncIterator[StoredItem]:
        """The readable rows as StoredItems, in their order."""
        async for row in rows:
            try:
                found = stored(row)
            except (ValueError, TypeError):
                self.damaged += 1
                continue
            yield found


def stored(row: Row) -> StoredItem:
    item = Item(
        source_id=row["source_id"], external_id=row["external_id"], url=row["url"],
        text=row["text"], published_at=_moment(row["published_at"]),
        author=row["author"], kind=row["kind"], is_official=bool(row["is_official"]),
    )
    return StoredItem(
        id=row["id"], item=item, network=row["network"],
        first_seen_at=_moment(row["first_seen_at"]), group=row["group_name"],
        topic=row["topic"], actionable=bool(row["actionable"]),
        incident_id=row["incident_id"], incident_status=row["status"],
        answered_at=None if row["answered_at"] is None else _moment(row["answered_at"]),
    )


async def forget_before(scratch: Database, moment: datetime) -> None:
    """Drop from a replay's scratch store what no item from `moment` on can join."""
    async with scratch.transaction() as tx:
        for statement in _FORGET:
            await tx.execute(statement, {"before": to_db(moment)})


def _moment(value: str) -> datetime:
    """A stored timestamp; ValueError unless it is ISO 8601 with a time zone."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        msg = f"timestamp without a time zone: {value!r}"
        raise ValueError(msg)
    return moment
