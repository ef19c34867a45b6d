"""Several daemons on one store: who is alive, who holds which lease, which moment ran where.

A lease is a named piece of work (`source:<id>`, `telegram:updates`) one daemon holds until its
expiry and renews while it works; a daemon that dies loses its leases after the TTL and another
takes them over. `once(job, moment)` lets one daemon of all run a scheduled job at a moment.
On SQLite there is one daemon: `SoloFleet` holds every lease and runs every moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    """One `monitor run` process as the fleet knows it."""

    id: str
    host: str
    pid: int


@dataclass(frozen=True, slots=True)
class Grant:
    """What a renewal left a daemon holding, and which of it was taken from a dead daemon."""

    held: frozenset[str]
    taken_over: tuple[str, ...] = ()
    released: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """A daemon with its last heartbeat and the leases it holds (for `monitor status`)."""

    id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    leases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FleetStatus:
    """Every daemon ever joined, and the leases nobody holds now."""

    daemons: tuple[DaemonStatus, ...]
    unheld: tuple[str, ...]
    takeovers: int
    shared: bool = True
    lease_names: tuple[str, ...] = field(default=())


class Fleet(Protocol):
    """The daemons sharing one store."""

    shared: bool
    """Whether other daemons may share the store (PostgreSQL); False on SQLite."""

    async def join(self, daemon: DaemonInfo, now: datetime, ttl: timedelta) -> None:
        """Announce a daemon (its first heartbeat; alive for `ttl` unless renewed)."""
        ...

    async def lease(
        self, daemon_id: str, names: Sequence[str], now: datetime, ttl: timedelta
    ) -> Grant:
        """Renew the daemon's heartbeat and leases, and take its fair share of the free or
        expired ones (`FOR UPDATE SKIP LOCKED`); give back what exceeds the share."""
        ...

    async def once(self, job: str, moment: datetime, daemon_id: str) -> bool:
        """Claim a scheduled job's moment: True for exactly one daemon."""
        ...

    async def leave(self, daemon_id: str, now: datetime) -> None:
        """A clean stop: give back every lease at once (no waiting for the TTL)."""
        ...

    async def status(self, now: datetime) -> FleetStatus:
        """The daemons, their heartbeats and leases."""
        ...


class SoloFleet:
    """The one daemon of a SQLite store: it holds every lease and runs every moment."""

    shared = False

    async def join(self, daemon: DaemonInfo, now: datetime, ttl: timedelta) -> None:
        """Nothing to announce."""

    async def lease(
        self, daemon_id: str, names: Sequence[str], now: datetime, ttl: timedelta
    ) -> Grant:
        """Every lease is this daemon's."""
        return Grant(frozenset(names))

    async def once(self, job: str, moment: datetime, daemon_id: str) -> bool:
        """Every moment is this daemon's."""
        return True

    async def leave(self, daemon_id: str, now: datetime) -> None:
        """Nothing to give back."""

    async def status(self, now: datetime) -> FleetStatus:
        """No shared state: one daemon at most."""
        return FleetStatus((), (), 0, shared=False)
