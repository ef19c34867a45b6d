"""PostgreSQL as `storage.sql.db` sees it: `?` and `:name` become `$n`, errors become ours.

The shared queries are written once with SQLite's placeholders; asyncpg wants `$1, $2, …`.
`translate` rewrites a statement once (cached), skipping quoted text and `::` casts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import asyncpg

from storage.sql.db import Params, Row
from storage.types import StorageError

_TOKEN = re.compile(r"'(?:[^']|'')*'|\?|(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=1024)
def translate(sql: str) -> tuple[str, tuple[str, ...]]:
    """The statement with `$n` placeholders, and the names of `:name` ones in their order."""
    names: list[str] = []
    position = 0

    def placeholder(match: re.Match[str]) -> str:
        nonlocal position
        token = match.group(0)
        if token.startswith("'"):
            return token
        if token == "?":
            position += 1
            return f"${position}"
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _TOKEN.sub(placeholder, sql), tuple(names)


NUL_STAND_IN = "\ufffd"
"""PostgreSQL text cannot hold U+0000: a NUL in a post's text is stored as U+FFFD."""


def _value(value: Any) -> Any:
    return value.replace("\x00", NUL_STAND_IN) if isinstance(value, str) else value


def arguments(sql: str, params: Params) -> tuple[str, list[Any]]:
    """The translated statement and its positional arguments."""
    text, names = translate(sql)
    if isinstance(params, Mapping):
        return text, [_value(params[name]) for name in names]
    return text, [_value(value) for value in params]


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn PostgreSQL's and the driver's errors into ours, saying what was being done."""
    try:
        yield
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise StorageError(f"{what}: {exc}") from exc


def changed_rows(status: str) -> int:
    """Rows a statement changed, from its command tag ("INSERT 0 3", "UPDATE 2")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresTx:
    """`storage.sql.db.Tx` on an asyncpg connection (inside a transaction, or not)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._conn = connection

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return how many rows it changed."""
        text, args = arguments(sql, params)
        return changed_rows(await self._conn.execute(text, *args))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run a statement once per parameter row."""
        text, _ = translate(sql)
        await self._conn.executemany(text, [arguments(sql, row)[1] for row in rows])

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query and return every row."""
        text, args = arguments(sql, params)
        return list(await self._conn.fetch(text, *args))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a query and return its first row, or None."""
        text, args = arguments(sql, params)
        row: Row | None = await self._conn.fetchrow(text, *args)
        return row
