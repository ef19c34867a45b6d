"""A PostgreSQL store opened for reading only, to replay its items through changed rules: one
connection whose transactions are read-only (the server refuses any write), never migrated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from storage.location import shown
from storage.postgresql.adapter import storage_errors
from storage.postgresql.migrations import MIGRATIONS
from storage.sql.replay import STORED_ITEMS, StoredItems
from storage.types import StorageError, StoredItem


class ReadOnlyPostgres(StoredItems):
    """`storage.ReadOnlyStore` on PostgreSQL."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._conn = connection
        self.damaged = 0

    @classmethod
    @asynccontextmanager
    async def open(cls, dsn: str) -> AsyncIterator[ReadOnlyPostgres]:
        """Connect read-only and check the schema is this release's."""
        where = shown(dsn)
        with storage_errors(f"база {where} не прочитана"):
            conn = await asyncpg.connect(
                dsn, server_settings={"default_transaction_read_only": "on"})
        try:
            with storage_errors(f"база {where} не прочитана"):
                await _check_schema(conn, where)
            yield cls(conn)
        finally:
            await conn.close()

    async def stored_items(self) -> AsyncIterator[StoredItem]:
        """Every stored item with its latest text, oldest first, streamed through a cursor."""
        with storage_errors("чтение из базы не удалось"):
            async with self._conn.transaction():
                async for found in self.readable(self._conn.cursor(STORED_ITEMS, prefetch=500)):
                    yield found


async def _check_schema(conn: asyncpg.Connection, where: str) -> None:
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        raise StorageError(f"база {where} пуста или создана не монитором "
                           "(нет таблицы schema_migrations)")
    applied = {row[0] for row in await conn.fetch("SELECT name FROM schema_migrations")}
    missing = [name for name, _ in MIGRATIONS if name not in applied]
    if missing:
        raise StorageError(f"база {where} ещё не обновлена до этой версии (нет миграций: "
                           f"{', '.join(missing)}); запустите monitor run один раз")
