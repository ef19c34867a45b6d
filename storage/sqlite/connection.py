"""The one SQLite connection: WAL, a writer lock, BEGIN IMMEDIATE per unit of work.

It is the SQLite side of `storage.sql.db`: the shared queries run on it as written (SQLite reads
`?` and `:name` itself). SQLite's own errors leave this module as `StorageError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from storage.sql.db import STREAM_BATCH, Params, Row
from storage.sqlite.adapter import SqliteTx, bound, storage_errors
from storage.sqlite.migrations import apply_migrations

MEMORY = ":memory:"


class Database:
    """Owns the aiosqlite connection; all SQL goes through the storage package."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._conn = connection
        self._tx = SqliteTx(connection)
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        """Open (creating if needed) the database and apply pending migrations."""
        with storage_errors(f"база {path} не открыта"):
            if str(path) != MEMORY:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(str(path), isolation_level=None)
        conn.row_factory = aiosqlite.Row
        try:
            with storage_errors(f"база {path} не открыта"):
                await conn.execute("PRAGMA journal_mode=WAL")
                await conn.execute("PRAGMA synchronous=NORMAL")
                await conn.execute("PRAGMA foreign_keys=ON")
                await conn.execute("PRAGMA busy_timeout=5000")
            db = cls(conn)
            async with db._lock, db._raw_transaction():
                await apply_migrations(conn)
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        """Wait for the running unit of work, checkpoint the WAL and close."""
        async with self._lock:
            with storage_errors("база не закрыта"):
                await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                await self._conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTx]:
        """Run a unit of work under BEGIN IMMEDIATE; commit on success, roll back on error."""
        async with self._lock, self._raw_transaction():
            yield self._tx

    @asynccontextmanager
    async def _raw_transaction(self) -> AsyncIterator[None]:
        with storage_errors("запись в базу не удалась"):
            await self._begin()
            try:
                yield
            except BaseException:
                await self._conn.rollback()
                raise
            await self._conn.commit()

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE, waiting for the write lock; a cancel while it waits (shutdown) rolls
        the transaction back once it has begun, so the connection is never left inside one."""
        begin = asyncio.ensure_future(self._conn.execute("BEGIN IMMEDIATE"))
        try:
            await asyncio.shield(begin)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await begin
                await self._conn.rollback()
            raise

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a read query (positional or named parameters) and return all rows."""
        async with self._lock:
            with storage_errors("чтение из базы не удалось"):
                return await self._tx.fetchall(sql, params)

    async def stream(
        self, sql: str, params: Params = (), size: int = STREAM_BATCH
    ) -> AsyncIterator[list[Row]]:
        """Run a read query and yield its rows in batches of `size` (big reads in little
        memory); the connection is held until the last batch. The next batch is read while the
        caller handles this one (SQLite works outside the GIL, on another core)."""
        async with self._lock:
            with storage_errors("чтение из базы не удалось"):
                async with self._conn.execute(sql, bound(params)) as cursor:
                    ahead = asyncio.ensure_future(cursor.fetchmany(size))
                    try:
                        while rows := await ahead:
                            ahead = asyncio.ensure_future(cursor.fetchmany(size))
                            batch: list[Row] = list(rows)
                            yield batch
                    finally:  # the caller stopped early: the batch read ahead is not wanted
                        if not ahead.cancel() and not ahead.cancelled():
                            ahead.exception()  # retrieved, not logged as lost

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a read query and return the first row."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None
