"""The one SQLite connection: WAL, a writer lock, BEGIN IMMEDIATE per unit of work.

SQLite's own errors leave this module as `StorageError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage.sqlite.migrations import apply_migrations
from storage.types import StorageError

MEMORY = ":memory:"


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn SQLite's errors into ours, saying what was being done."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageError(f"{what}: {exc}") from exc


class Database:
    """Owns the aiosqlite connection; all SQL goes through the storage package."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._conn = connection
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
            async with db.transaction() as tx:
                await apply_migrations(tx)
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
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run a unit of work under BEGIN IMMEDIATE; commit on success, roll back on error."""
        async with self._lock:
            with storage_errors("запись в базу не удалась"):
                await self._begin()
                try:
                    yield self._conn
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

    async def fetchall(
        self, sql: str, params: Iterable[Any] | Mapping[str, Any] = ()
    ) -> list[aiosqlite.Row]:
        """Run a read query (positional or named parameters) and return all rows."""
        bound = params if isinstance(params, Mapping) else tuple(params)
        async with self._lock:
            with storage_errors("чтение из базы не удалось"):
                async with self._conn.execute(sql, bound) as cursor:
                    return list(await cursor.fetchall())

    async def stream(
        self, sql: str, params: Mapping[str, Any], size: int = 5000
    ) -> AsyncIterator[list[aiosqlite.Row]]:
        """Run a read query and yield its rows in batches of `size` (big reads in little
        memory); the connection is held until the last batch."""
        async with self._lock:
            with storage_errors("чтение из базы не удалось"):
                async with self._conn.execute(sql, params) as cursor:
                    while batch := list(await cursor.fetchmany(size)):
                        yield batch

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        """Run a read query and return the first row."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None
