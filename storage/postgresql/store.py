"""The PostgreSQL store: the shared queries of `storage/sql/` on an asyncpg pool."""

from __future__ import annotations

from storage.postgresql.connection import PostgresDatabase
from storage.sql.store import SqlStore


class PostgresStore(SqlStore):
    """`storage.Store` on a PostgreSQL database shared by several daemons."""

    def __init__(self, database: PostgresDatabase) -> None:
        super().__init__(database)
        self.pg = database

    @classmethod
    async def open(cls, dsn: str) -> PostgresStore:
        """Connect and apply pending migrations."""
        return cls(await PostgresDatabase.open(dsn))
