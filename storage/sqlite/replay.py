"""A SQLite file opened for reading only, to replay its items through changed rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from storage.sql.replay import STORED_ITEMS, StoredItems
from storage.sqlite.adapter import storage_errors
from storage.sqlite.migrations import MIGRATIONS
from storage.types import StorageError, StoredItem


class ReadOnlyDatabase(StoredItems):
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
            async with self._conn.execute(STORED_ITEMS) as cursor:
                async for found in self.readable(cursor):
                    yield found


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


