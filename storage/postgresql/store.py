"""The PostgreSQL store: the shared queries of `storage/sql/` on an asyncpg pool, and what
several daemons need done differently: claiming an outbox row right before sending it, and
when a once-only job's claim still holds."""

from __future__ import annotations

from datetime import datetime

from storage.postgresql.connection import PostgresDatabase
from storage.sql.db import Tx
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
_ALIVE = "SELECT 1 FROM daemons WHERE id = ? AND stopped_at IS NULL AND alive_until > ?"
"""A claim's holder still lives: not stopped, its heartbeat not lapsed (as in `_CLAIM`)."""


class PostgresStore(SqlStore):
    """`storage.Store` on a PostgreSQL database shared by several daemons."""

    def __init__(self, database: PostgresDatabase) -> None:
        super().__init__(database)
        self.pg = database

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

    async def _claim_alive(
        self, tx: Tx, holder: str | None, until: datetime | None, now: datetime
    ) -> bool:
        """A once-only job's claim holds while its daemon lives (not stopped, heartbeat not
        lapsed), however slow its run: the discipline of the outbox's claims (`_CLAIM`)."""
        return await tx.fetchone(_ALIVE, (holder, to_db(now))) is not None

    async def mark_sent(self, row_id: int, message_id: int | None, now: datetime) -> None:
        """Record a delivered alert without the writer lock: the row is this daemon's claim,
        and marking it is one UPDATE by key plus an appended event, nothing read and checked
        first (the row lock orders it against a cancellation). At 2,000 sources a lock turn
        per sent alert halved what polls could write (bench/pg_fleet.py)."""
        async with self.pg.unlocked_transaction() as tx:
            await mark_sent_in(tx, row_id, message_id, now)
