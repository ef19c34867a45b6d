"""This daemon among the others sharing its store: which sources it polls now, whether it reads
the bot's updates, and whether a scheduled job's moment is its to run.

On SQLite it is alone and holds everything. On PostgreSQL it renews its leases every
`[storage] lease_renew`; a lease it lost (a dead daemon's, taken over; or given back for an even
share) is polled by whoever holds it, from the stored cursor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from common.clock import Clock
from storage import Fleet, Grant, Store, fleet_of

log = logging.getLogger(__name__)

UPDATES = "telegram:updates"
"""The lease of the bot's one update reader (Telegram allows one getUpdates per token)."""


def source_lease(source_id: str) -> str:
    """The lease name of a source."""
    return f"source:{source_id}"


class FleetMember:
    """This daemon's leases, renewed by a scheduled job."""

    def __init__(self, store: Store, clock: Clock, ttl: timedelta, names: Iterable[str]) -> None:
        self.fleet: Fleet
        self.fleet, self.daemon = fleet_of(store)
        self._clock = clock
        self._ttl = ttl
        self._names = sorted(set(names))
        self.held: frozenset[str] = frozenset() if self.fleet.shared else frozenset(self._names)
        self._renewing = asyncio.Lock()

    def set_names(self, names: Iterable[str]) -> None:
        """The leases to compete for from now on (a reload added or removed sources): a removed
        one is no longer held at once (its row expires for others to take, should their config
        still name it); an added one is taken at the next renewal (alone: at once)."""
        self._names = sorted(set(names))
        self.held = (self.held & set(self._names) if self.fleet.shared
                     else frozenset(self._names))

    @property
    def shared(self) -> bool:
        """Whether other daemons share the store."""
        return self.fleet.shared

    async def join(self) -> None:
        """Announce this daemon and take its first share of the leases."""
        await self.fleet.join(self.daemon, self._clock.now(), self._ttl)
        await self.renew()

    async def renew(self) -> None:
        """Renew the heartbeat and leases; take over expired ones, give back the excess."""
        async with self._renewing:  # the scheduled renewal and a reload's, one at a time
            grant = await self.fleet.lease(self.daemon.id, self._names, self._clock.now(),
                                           self._ttl)
            self._granted(grant)

    def _granted(self, grant: Grant) -> None:
        gained = sorted(grant.held - self.held)
        if grant.taken_over:
            log.warning("перехвачено аренд у демона, переставшего их продлевать: "
                        "%s (%s)",
                        len(grant.taken_over), ", ".join(grant.taken_over))
        elif gained and self.fleet.shared:
            log.info("взято аренд: %s (%s)", len(gained), ", ".join(gained))
        if grant.released:
            log.info("отдано аренд для ровной доли: %s (%s)", len(grant.released),
                     ", ".join(grant.released))
        # A reload may have changed the names during the renewal: hold only what it still names.
        self.held = grant.held & frozenset(self._names)

    def holds(self, name: str) -> bool:
        """Whether this daemon holds a lease now."""
        return name in self.held

    async def once(self, job: str, every: timedelta) -> bool:
        """Whether this daemon runs a scheduled job now: one daemon per moment of `every`."""
        return await self.fleet.once(job, moment_of(self._clock.now(), every), self.daemon.id)

    async def leave(self) -> None:
        """A clean stop: give every lease back at once."""
        await self.fleet.leave(self.daemon.id, self._clock.now())


def moment_of(now: datetime, every: timedelta) -> datetime:
    """The start of the period of length `every` that `now` falls in (periods from the epoch)."""
    step = max(every.total_seconds(), 1.0)
    return datetime.fromtimestamp(now.timestamp() // step * step, tz=now.tzinfo)
