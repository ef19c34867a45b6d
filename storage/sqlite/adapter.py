"""SQLite as `storage.sql.db` sees it: a transaction's statements and SQLite's errors as ours.

SQLite reads the shared queries' `?` and `:name` placeholders itself: nothing is translated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiosqlite

from storage.sql.db import Params, Row
from storage.types import StorageError


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn SQLite's errors into ours, saying what was being done."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageError(f"{what}: {exc}") from exc


def bound(params: Params) -> Any:
    """Parameters as sqlite3 takes them: a mapping, or a tuple."""
    return params if isinstance(params, Mapping) else tuple(params)


class SqliteTx:
    """`storage.sql.db.Tx` on an aiosqlite connection inside a transaction."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._conn = connection

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return how many rows it changed."""
        async with self._conn.execute(sql, bound(params)) as cursor:
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run a statement once per parameter row."""
        await self._conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query and return every row."""
        async with self._conn.execute(sql, bound(params)) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a query and return its first row, or None."""
        async with self._conn.execute(sql, bound(params)) as cursor:
            row: Row | None = await cursor.fetchone()
            return row
