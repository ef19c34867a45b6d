"""The PostgreSQL store: the shared queries of `storage/sql/` on an asyncpg pool, and the one
query several daemons need done differently: claiming an outbox row right before sending it."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime

from storage.fleet import DaemonInfo
from storage.postgresql.connection import PostgresDatabase
from storage.sql.outbox import mark_sent_in
from storage.sql.store import SqlStore
from storage.sql.timestamps import to_db

_CLAIM = (
    "UPDATE outbox SET claimed_by = :me WHERE id = :id AND status = 'pending'"
    " AND (claimed_by IS NULL OR claimed_by = :me OR NOT EXISTS ("
    "  SELECT 1 FROM daemons d WHERE d.id = outbox.claimed_by AND d.stopped_at IS NULL"
    "  AND d.alive_until > :now))"
)
"""The row is this daemon's to send: still pending, and unclaimed or claimed by a daemon that
is no longer alive (stopped, or its heartbeat lapsed: the lease TTL). A live daemon's claim is
never taken, however slow its send; a dead one's is taken once its leases would be. The
UPDATE's row lock makes two daemons claiming at once take turns; the second finds it claimed.
A daemon killed between sending and marking sent leaves its row to be sent again: the same
window one daemon has."""


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
        cancelled, sent, or is a live daemon's claim."""
        async with self.pg.unlocked_transaction() as tx:
            return await tx.execute(_CLAIM, {"id": row_id, "me": self.daemon.id,
                                             "now": to_db(now)}) == 1

    async def mark_sent(self, row_id: int, message_id: int | None, now: datetime) -> None:
        """Record a delivered alert without the writer lock: the row is this daemon's claim,
        and marking it is one UPDATE by key plus an appended event, nothing read and checked
        first (the row lock orders it against a cancellation). At 2,000 sources a lock turn
        per sent alert halved what polls could write (bench/pg_fleet.py)."""
        async with self.pg.unlocked_transaction() as tx:
            await mark_sent_in(tx, row_id, message_id, now)
