"""`monitor status`: the daemons sharing the store, their heartbeats and leases."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from common.clock import Clock
from monitor.cli.database import CommandFailed, existing_store
from monitor.config import AppConfig
from storage import DaemonStatus, FleetStatus, fleet_of


async def status_command(config: AppConfig, clock: Clock) -> int:
    """Print who works on the store now; return the exit code."""
    location = config.store_location(os.environ)
    try:
        async with existing_store(location) as store:
            fleet, _ = fleet_of(store)
            status = await fleet.status(clock.now())
    except CommandFailed as exc:
        print(exc.message)
        return exc.code
    print(f"Хранилище: {location}")
    if not status.shared:
        print("SQLite: работает один демон, аренды источников не нужны.")
        return 0
    print("\n".join(status_lines(status, clock.now(), config.storage.lease_ttl)))
    return 0


def status_lines(status: FleetStatus, now: datetime, ttl: timedelta) -> list[str]:
    """The fleet in Russian lines: daemons with heartbeats and leases, then the free leases."""
    alive = [d for d in status.daemons if _state(d, now, ttl) == "работает"]
    lines = [f"Демоны: {len(status.daemons)}, работают {len(alive)}."]
    for daemon in status.daemons:
        ago = int((now - daemon.heartbeat_at).total_seconds())
        lines.append(f"  {daemon.id} ({daemon.host}, pid {daemon.pid}): {_state(daemon, now, ttl)}"
                     f"; пульс {daemon.heartbeat_at:%d.%m.%Y %H:%M:%S} UTC ({ago} с назад);"
                     f" аренд {len(daemon.leases)}")
        if daemon.leases:
            lines.append(f"    {', '.join(daemon.leases)}")
    lines.append(f"Аренды: {len(status.lease_names)}; свободны или истекли "
                 f"{len(status.unheld)}; перехвачено у остановившихся демонов {status.takeovers}.")
    if status.unheld:
        lines.append(f"  свободны: {', '.join(status.unheld)}")
    return lines


def _state(daemon: DaemonStatus, now: datetime, ttl: timedelta) -> str:
    if daemon.stopped_at is not None:
        return "остановлен"
    return "работает" if now - daemon.heartbeat_at < ttl else "нет пульса"
