"""What the shared SQL needs of a backend's connection: a unit of work and reads.

Queries in `storage/sql/` are written once, with `?` or `:name` parameters, and run on every
backend through these two protocols; a backend's adapter translates the placeholders, gives
rows that read by column name and by position, and turns its own errors into `StorageError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Params = Sequence[Any] | Mapping[str, Any]
"""Positional parameters for `?`, or named ones for `:name` (one style per statement)."""

STREAM_BATCH = 5000
"""Rows per batch of `Database.stream`: a big read's memory is one batch, not the result."""


class Row(Protocol):
    """A result row: `row["column"]`, `row[0]`, `row.keys()`, its values in order
    (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: str | int, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def keys(self) -> Iterable[str]: ...


class Reader(Protocol):
    """Queries: inside a transaction, or (on a `Database`) each on its own."""

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query and return every row."""
        ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a query and return its first row, or None."""
        ...


class Tx(Reader, Protocol):
    """The caller's open transaction: statements run inside it, committed together."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return how many rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run a statement once per parameter row (all `?` rows, or all `:name` ones)."""
        ...


class Database(Reader, Protocol):
    """A backend's connection (or pool): reads outside a transaction, and units of work.

    `transaction()` is the backend's writer lock as well (SQLite's BEGIN IMMEDIATE, a
    PostgreSQL advisory lock): the shared queries read, check and write inside one unit of work
    and rely on no other unit of work writing between.
    """

    def stream(self, sql: str, params: Params = (), size: int = STREAM_BATCH
               ) -> AsyncIterator[list[Row]]:
        """Run a read query and yield its rows in batches of `size` (a region's quarter in
        little memory): a SQLite cursor, a PostgreSQL server-side cursor in a transaction."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        ...

    async def close(self) -> None:
        """Wait for the running unit of work and release the backend."""
        ...
