"""The PostgreSQL pool: several daemons' connections to one database, one writer at a time.

Every unit of work takes a transaction-level advisory lock of the schema first: the shared
queries check and write inside one unit of work (an alert still due, an incident still open)
exactly as under SQLite's BEGIN IMMEDIATE. Reads and the fetching of sources run in parallel;
the writes of all daemons are serialised, which is what breaks first as a region grows
(docs/deployment.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from storage.location import shown
from storage.postgresql.adapter import PostgresTx, arguments, storage_errors
from storage.postgresql.migrations import MIGRATIONS
from storage.sql.db import STREAM_BATCH, Params, Row
from storage.sql.migrate import apply_pending

WRITER_LOCK = "SELECT pg_advisory_xact_lock(hashtext('monitor:writer:' || current_schema()))"
"""Taken first by every unit of work; released at its commit or rollback."""


class PostgresDatabase:
    """`storage.sql.db.Database` on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, where: str) -> None:
        self._pool = pool
        self.where = where
        """The database as messages name it (no password)."""
        self._writer = asyncio.Lock()
        """This process's units of work queue here, not on the server: one pool connection
        waits for the writer lock, the others stay free for reads and lease renewals."""

    @classmethod
    async def open(cls, dsn: str, max_connections: int = 5) -> PostgresDatabase:
        """Connect a pool and apply pending migrations (one daemon at a time)."""
        where = shown(dsn)
        with storage_errors(f"база {where} не открыта"):
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_connections,
                                             command_timeout=120)
        db = cls(pool, where)
        try:
            async with db.transaction() as tx:
                await apply_pending(tx, MIGRATIONS)
        except BaseException:
            await pool.close()
            raise
        return db

    async def close(self) -> None:
        """Wait for the running units of work and close the pool."""
        with storage_errors(f"база {self.where} не закрыта"):
            await self._pool.close()

    @asynccontextmanager
    async def unlocked_transaction(self) -> AsyncIterator[PostgresTx]:
        """A transaction without the writer lock, for what row locks guard on their own
        (leases, outbox claims): it never waits for a poll's unit of work."""
        with storage_errors("запись в базу не удалась"):
            async with self._pool.acquire() as conn, conn.transaction():
                yield PostgresTx(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTx]:
        """A unit of work under the writer lock; commit on success, roll back on error."""
        async with self._writer:
            with storage_errors("запись в базу не удалась"):
                async with self._pool.acquire() as conn, conn.transaction():
                    await conn.execute(WRITER_LOCK)
                    yield PostgresTx(conn)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a read query and return all rows."""
        with storage_errors("чтение из базы не удалось"):
            async with self._pool.acquire() as conn:
                return await PostgresTx(conn).fetchall(sql, params)

    async def stream(
        self, sql: str, params: Params = (), size: int = STREAM_BATCH
    ) -> AsyncIterator[list[Row]]:
        """Run a read query and yield its rows in batches of `size` through a server-side
        cursor (inside a read transaction of its own, no writer lock): only a batch is held."""
        text, args = arguments(sql, params)
        with storage_errors("чтение из базы не удалось"):
            async with self._pool.acquire() as conn, conn.transaction(readonly=True):
                cursor = await conn.cursor(text, *args)
                while batch := await cursor.fetch(size):
                    yield list(batch)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a read query and return the first row."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None
