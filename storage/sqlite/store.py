"""The SQLite store: one file, one writer connection, WAL; the queries are `storage/sql/`'s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from storage.sql.store import SqlStore
from storage.sqlite.connection import MEMORY, Database
from storage.sqlite.replay import ReadOnlyDatabase


class SqliteStore(SqlStore):
    """`storage.Store` on one SQLite file (or in memory, for scratch stores)."""

    due_index = "INDEXED BY incidents_next_alert"
    """Without statistics SQLite's planner would read due alerts through an index on `status`
    (tests/test_storage.py checks the plan)."""

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStore:
        """Open (creating if needed) the file and apply pending migrations."""
        return cls(await Database.open(path))

    @classmethod
    async def scratch(cls) -> SqliteStore:
        """A store in memory that vanishes when closed."""
        return cls(await Database.open(MEMORY))


@asynccontextmanager
async def open_read_only(path: Path) -> AsyncIterator[ReadOnlyDatabase]:
    """Open an existing SQLite file for reading only; never creates or migrates it."""
    async with ReadOnlyDatabase.open(path) as db:
        yield db
