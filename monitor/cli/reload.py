"""`monitor reload`: validate the config, then ask the daemons working on its store to re-read it
(SIGHUP): on SQLite the one whose pid the store's lock file holds; on PostgreSQL the live daemons
of this host the store lists (those of other hosts are reloaded there)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

from common.clock import Clock
from monitor.cli.database import CommandFailed, existing_store
from monitor.config import AppConfig, LoadedConfig
from monitor.daemon.lock import running_daemon
from storage import PostgresLocation, fleet_of


def reload_command(loaded: LoadedConfig, clock: Clock) -> int:
    """Signal the running daemon(s); print what happened; return the exit code."""
    config = loaded.config
    for warning in loaded.warnings:
        print(f"Предупреждение: {warning}")
    location = config.store_location(os.environ)
    if isinstance(location, PostgresLocation):
        try:
            pids, elsewhere = asyncio.run(_fleet_here(config, clock))
        except CommandFailed as exc:
            print(exc.message)
            return exc.code
    else:
        pid = running_daemon(location)
        pids, elsewhere = ([] if pid is None else [pid]), []
    if elsewhere:
        print(f"Демоны на других серверах ({', '.join(elsewhere)}) перечитают конфигурацию, "
              "если выполнить monitor reload там.")
    if not pids:
        print(f"Монитор с базой {location} на этом сервере не запущен: перечитывать некому. "
              "Конфигурация в порядке, она будет прочитана при запуске.")
        return 1
    failed = False
    for pid in pids:
        try:
            os.kill(pid, signal.SIGHUP)
        except OSError as exc:
            print(f"Процессу {pid} не отправить сигнал: {exc.strerror or exc}")
            failed = True
    sent = ", ".join(str(pid) for pid in pids)
    print(f"Конфигурация {config.path} в порядке; демон (процесс {sent}) перечитает её. "
          "Итог — в его журнале.")
    return 1 if failed else 0


async def _fleet_here(config: AppConfig, clock: Clock) -> tuple[list[int], list[str]]:
    """The pids of the live daemons of this host, and the ids of those of other hosts."""
    async with existing_store(config.store_location(os.environ)) as store:
        fleet, _ = fleet_of(store)
        status = await fleet.status(clock.now())
    now, host = clock.now(), socket.gethostname()
    alive = [d for d in status.daemons if d.stopped_at is None
             and now - d.heartbeat_at < config.storage.lease_ttl]
    return ([d.pid for d in alive if d.host == host],
            [d.id for d in alive if d.host != host])



