"""The PostgreSQL store: the shared queries of `storage/sql/` on an asyncpg pool, and the one
query several daemons need done differently: claiming an outbox row right before sending it."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from storage.fleet import DaemonInfo
from storage.postgresql.connection import PostgresDatabase
from storage.sql.store import SqlStore
from storage.sql.timestamps import to_db

OUTBOX_CLAIM = timedelta(minutes=2)
"""How long a claimed alert is this daemon's to send: longer than one send with its timeout
(`[telegram] timeout`, 10 s). A daemon that dies after claiming leaves the row to another once
the claim lapses; one that dies between sending and marking sent leaves it to be sent again,
the same window a single daemon has."""

_CLAIM = (
    "UPDATE outbox SET claimed_by = :me, claimed_until = :until WHERE id = :id"
    " AND status = 'pending'"
    " AND (claimed_until IS NULL OR claimed_until <= :now OR claimed_by = :me)"
)
"""The row is this daemon's to send: still pending, and nobody else's unlapsed claim. The
UPDATE's row lock makes two daemons claiming at once take turns; the second finds it claimed."""


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

    async def claim_alert(self, row_id: int, now: datetime) -> bool:
        """Claim a pending alert for this daemon right before sending it: False when it was
        cancelled, sent, or is another daemon's claim that has not lapsed."""
        async with self.pg.unlocked_transaction() as tx:
            return await tx.execute(_CLAIM, {"id": row_id, "me": self.daemon.id,
                                             "now": to_db(now),
                                             "until": to_db(now + OUTBOX_CLAIM)}) == 1
