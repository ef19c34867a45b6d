"""Read-only queries for replaying stored items through changed rules; never writes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import aiosqlite

from connectors.base import Item
from storage.sqlite.connection import Database, storage_errors
from storage.sqlite.migrations import MIGRATIONS
from storage.sqlite.timestamps import to_db
from storage.types import StorageError, StoredItem

_STORED_ITEMS = (
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


class ReadOnlyDatabase:
    """A connection that cannot write: the replay must leave the daemon's database untouched."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._conn = connection
        self.damaged = 0

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[ReadOnlyDatabase]:
        """Open an existing database read-only (SQLite `mode=ro`); never creates or migrates."""
        uri = f"{path.resolve().as_uri()}?mode=ro"
        with storage_errors(f"база {path} не прочитана"):
            conn = await aiosqlite.connect(uri, uri=True)
        try:
            with storage_errors(f"база {path} не прочитана"):
                conn.row_factory = aiosqlite.Row
                await conn.execute("PRAGMA query_only=ON")
                await conn.execute("PRAGMA busy_timeout=5000")
                await _check_schema(conn, path)
            yield cls(conn)
        finally:
            await conn.close()

    async def stored_items(self) -> AsyncIterator[StoredItem]:
        """Yield every stored item with its latest text, oldest first, streaming; a row that
        cannot be read (a timestamp edited by hand, say) is counted in `damaged` and skipped."""
        with storage_errors("чтение из базы не удалось"):
            async with self._conn.execute(_STORED_ITEMS) as cursor:
                async for row in cursor:
                    try:
                        stored = _stored(row)
                    except (ValueError, TypeError):
                        self.damaged += 1
                        continue
                    yield stored


async def _check_schema(conn: aiosqlite.Connection, path: Path) -> None:
    """Refuse a database whose schema is older than this release: a read-only reader cannot
    migrate it, and its queries would fail on tables of the old shape."""
    async with conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ) as cursor:
        if await cursor.fetchone() is None:
            msg = f"база {path} пуста или создана не монитором (нет таблицы schema_migrations)"
            raise StorageError(msg)
    async with conn.execute("SELECT name FROM schema_migrations") as cursor:
        applied = {row[0] for row in await cursor.fetchall()}
    missing = [name for name, _ in MIGRATIONS if name not in applied]
    if missing:
        msg = (f"база {path} ещё не обновлена до этой версии (нет миграций: "
               f"{', '.join(missing)}); запустите monitor run или monitor incidents один раз")
        raise StorageError(msg)


def _stored(row: aiosqlite.Row) -> StoredItem:
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
