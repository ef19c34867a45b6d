"""The PostgreSQL store: the shared queries of `storage/sql/` on an asyncpg pool, and the one
query several daemons need done differently: claiming outbox rows before sending them."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from storage.fleet import DaemonInfo
from storage.postgresql.connection import PostgresDatabase
from storage.sql.store import SqlStore
from storage.sql.timestamps import to_db
from storage.types import OutboxRow

OUTBOX_CLAIM = timedelta(minutes=2)
"""How long a claimed alert is this daemon's to send: longer than one send with its timeout.
A daemon that dies after claiming leaves the row to another once the claim lapses; one that
dies between sending and marking sends it twice, the same window as a single daemon has."""

_CLAIM = (
    "UPDATE outbox SET claimed_by = :me, claimed_until = :until WHERE id IN ("
    " SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= :now"
    " AND (claimed_until IS NULL OR claimed_until <= :now OR claimed_by = :me)"
    " ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED)"
    " RETURNING id, incident_id, reason, chat_id, text, link, attempts"
)


class PostgresStore(SqlStore):
    """`storage.Store` on a PostgreSQL database shared by several daemons."""

    def __init__(self, database: PostgresDatabase) -> None:
        super().__init__(database)
        self.pg = database
        host = socket.gethostname()
        self.daemon = DaemonInfo(f"{host}:{os.getpid()}:{uuid.uuid4().hex[:6]}", host,
                                 os.getpid())
        """This process as the fleet knows it: its leases and outbox claims carry its id."""

    @classmethod
    async def open(cls, dsn: str) -> PostgresStore:
        """Connect and apply pending migrations."""
        return cls(await PostgresDatabase.open(dsn))

    async def pending_alerts(self, now: datetime, limit: int = 50) -> list[OutboxRow]:
        """Claim unsent alerts due now, oldest first: no other daemon sends them meanwhile."""
        async with self.pg.unlocked_transaction() as tx:
            rows = await tx.fetchall(_CLAIM, {"me": self.daemon.id, "now": to_db(now),
                                              "until": to_db(now + OUTBOX_CLAIM),
                                              "limit": limit})
        return sorted((OutboxRow(**dict(row)) for row in rows), key=lambda row: row.id)
