"""Daemons sharing one PostgreSQL database: heartbeats, leases taken with `FOR UPDATE SKIP
LOCKED`, and job moments claimed by a unique row. Nothing home-made: row locks and conflicts.

Leases are renewed in transactions of their own, without the writer lock of the units of work
(storage/postgresql/connection.py), so a long poll's commit never delays a renewal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from storage.fleet import DaemonInfo, DaemonStatus, FleetStatus, Grant
from storage.postgresql.connection import PostgresDatabase
from storage.sql.db import Tx
from storage.sql.timestamps import from_db, to_db

_TAKE = (
    "SELECT name, daemon_id FROM leases WHERE name = ANY(?::text[])"
    " AND (daemon_id IS NULL OR expires_at <= ?) ORDER BY name LIMIT ?"
    " FOR UPDATE SKIP LOCKED"
)
"""Free or expired leases; another daemon taking the same ones meanwhile skips them."""


MOMENTS_KEPT = timedelta(days=1)
"""Claimed moments older than this are forgotten: no daemon is that late for a moment."""


class PostgresFleet:
    """`storage.fleet.Fleet` on the daemons, leases and job_moments tables."""

    shared = True

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def join(self, daemon: DaemonInfo, now: datetime, ttl: timedelta) -> None:
        """Announce a daemon (its first heartbeat)."""
        async with self._db.unlocked_transaction() as tx:
            await tx.execute(
                "INSERT INTO daemons (id, host, pid, started_at, heartbeat_at, alive_until)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " heartbeat_at = excluded.heartbeat_at, alive_until = excluded.alive_until,"
                " stopped_at = NULL",
                (daemon.id, daemon.host, daemon.pid, to_db(now), to_db(now), to_db(now + ttl)))

    async def lease(
        self, daemon_id: str, names: Sequence[str], now: datetime, ttl: timedelta
    ) -> Grant:
        """Renew, then take or give back leases towards an even share among live daemons."""
        names = list(names)
        expires = to_db(now + ttl)
        async with self._db.unlocked_transaction() as tx:
            await tx.execute("UPDATE daemons SET heartbeat_at = ?, alive_until = ?,"
                             " stopped_at = NULL WHERE id = ?", (to_db(now), expires, daemon_id))
            live = [row[0] for row in await tx.fetchall(
                "SELECT id FROM daemons WHERE stopped_at IS NULL AND heartbeat_at > ?"
                " ORDER BY id", (to_db(now - ttl),))]
            share = fair_share(len(names), live, daemon_id)
            await tx.execute("INSERT INTO leases (name) SELECT unnest(?::text[])"
                             " ON CONFLICT DO NOTHING", (names,))
            rows = await tx.fetchall(
                "UPDATE leases SET expires_at = ? WHERE daemon_id = ? AND name = ANY(?::text[])"
                " AND expires_at > ? RETURNING name", (expires, daemon_id, names, to_db(now)))
            held = sorted(row[0] for row in rows)
            released = tuple(held[share:])
            if released:
                await tx.execute("UPDATE leases SET daemon_id = NULL, expires_at = NULL"
                                 " WHERE daemon_id = ? AND name = ANY(?::text[])",
                                 (daemon_id, list(released)))
            taken = await _take(tx, daemon_id, names, now, expires, share - len(held))
        held_now = frozenset(held[:share]) | {name for name, _ in taken}
        return Grant(held_now, tuple(name for name, before in taken if before), released)

    async def once(self, job: str, moment: datetime, daemon_id: str) -> bool:
        """Claim a job's moment: the first daemon to insert its row runs it."""
        async with self._db.unlocked_transaction() as tx:
            await tx.execute("DELETE FROM job_moments WHERE job = ? AND moment < ?",
                             (job, to_db(moment - MOMENTS_KEPT)))
            return await tx.execute(
                "INSERT INTO job_moments (job, moment, daemon_id) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING", (job, to_db(moment), daemon_id)) == 1

    async def leave(self, daemon_id: str, now: datetime) -> None:
        """Give back every lease and mark the daemon stopped."""
        async with self._db.unlocked_transaction() as tx:
            await tx.execute("UPDATE leases SET daemon_id = NULL, expires_at = NULL"
                             " WHERE daemon_id = ?", (daemon_id,))
            await tx.execute("UPDATE daemons SET stopped_at = ? WHERE id = ?",
                             (to_db(now), daemon_id))

    async def status(self, now: datetime) -> FleetStatus:
        """Every daemon with its heartbeat and current leases; leases nobody holds now."""
        daemons = await self._db.fetchall(
            "SELECT id, host, pid, started_at, heartbeat_at, stopped_at FROM daemons"
            " ORDER BY started_at, id")
        leases = await self._db.fetchall("SELECT name, daemon_id, expires_at, takeovers"
                                         " FROM leases ORDER BY name")
        moment = to_db(now)
        held: dict[str, list[str]] = {}
        unheld = []
        for row in leases:
            if row["daemon_id"] is not None and row["expires_at"] > moment:
                held.setdefault(row["daemon_id"], []).append(row["name"])
            else:
                unheld.append(row["name"])
        return FleetStatus(
            tuple(DaemonStatus(d["id"], d["host"], d["pid"], _time(d["started_at"]),
                               _time(d["heartbeat_at"]), from_db(d["stopped_at"]),
                               tuple(held.get(d["id"], ()))) for d in daemons),
            tuple(unheld), sum(int(row["takeovers"]) for row in leases),
            lease_names=tuple(row["name"] for row in leases))


def fair_share(leases: int, live: list[str], daemon_id: str) -> int:
    """This daemon's share: the leases split evenly among the live daemons, the first ones (by
    id) taking one more while some are left over (7 over 3 daemons: 3, 2, 2)."""
    count = max(1, len(live))
    rank = live.index(daemon_id) if daemon_id in live else count - 1
    return leases // count + (1 if rank < leases % count else 0)


async def _take(
    tx: Tx, daemon_id: str, names: list[str], now: datetime, expires: str, wanted: int
) -> list[tuple[str, str | None]]:
    """Take up to `wanted` free or expired leases; return them with their previous holder."""
    if wanted <= 0:
        return []
    rows = await tx.fetchall(_TAKE, (names, to_db(now), wanted))
    taken = [(row["name"], row["daemon_id"]) for row in rows]
    if taken:
        await tx.execute(
            "UPDATE leases SET takeovers = takeovers + CASE WHEN daemon_id IS NULL OR"
            " daemon_id = ? THEN 0 ELSE 1 END, daemon_id = ?, expires_at = ?, taken_at = ?"
            " WHERE name = ANY(?::text[])",
            (daemon_id, daemon_id, expires, to_db(now), [name for name, _ in taken]))
    return taken


def _time(value: str) -> datetime:
    moment = from_db(value)
    assert moment is not None  # NOT NULL columns
    return moment
