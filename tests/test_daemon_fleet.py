"""Two and three whole daemon processes on one PostgreSQL database share the sources; one is
killed (SIGKILL) and the others take its sources over from the stored cursors after the lease
TTL: no item lost, no incident opened twice, no alert sent twice.

Time is the file clock the test moves in steps shorter than the TTL (the survivors renew at
each step); the scheduler's 1-second jobs are the only wall-clock waits.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.postgresql.store import PostgresStore
from storage.sql.timestamps import to_db
from tests.conftest import DUTY_TELEGRAM, FAST_DAEMON, PITS_TOPIC, ROOT, TME_SOURCE
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.tme import FakeTme
from tests.postgres import fresh_schema
from tests.test_daemon import wait_for

START = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
DUTY_CHAT = -1001234567890
CHANNELS = [f"district{n}" for n in range(6)]
TTL = timedelta(seconds=20)

CONFIG = """
[storage]
backend = "postgresql"
lease_ttl = "20s"
lease_renew = "1s"
""" + FAST_DAEMON + DUTY_TELEGRAM + PITS_TOPIC

NEW = "🆕 <b>Новый инцидент</b>"


def announced(api: FakeBotApi) -> Counter[str]:
    """How many times each incident was announced (its «Инцидент №N» line)."""
    return Counter(line for m in api.sent if m["text"].startswith(NEW)
                   for line in m["text"].split("\n") if line.startswith("Инцидент №"))


async def heartbeats(dsn: str) -> dict[str, str]:
    store = await PostgresStore.open(dsn)
    try:
        rows = await store.database.fetchall("SELECT id, heartbeat_at FROM daemons")
        return {r["id"]: r["heartbeat_at"] for r in rows}
    finally:
        await store.close()


async def holders(dsn: str) -> dict[str, set[str]]:
    """Daemon id → the leases it holds (sources and the bot's updates)."""
    store = await PostgresStore.open(dsn)
    try:
        rows = await store.database.fetchall(
            "SELECT name, daemon_id FROM leases WHERE daemon_id IS NOT NULL")
    finally:
        await store.close()
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["daemon_id"], set()).add(row["name"])
    return found


@pytest.mark.parametrize("daemons", [2, 3])
async def test_daemons_share_sources_and_take_over_a_killed_one(
    tmp_path: Path, daemons: int
) -> None:
    clock_file = tmp_path / "clock"
    clock_file.write_text(START.isoformat(), encoding="utf-8")
    async with fresh_schema() as dsn, FakeTme(CHANNELS[0]) as tme, FakeBotApi() as api:
        for name in CHANNELS[1:]:
            tme.add_channel(name)
        for name in CHANNELS:
            tme.channels[name].add_post(1, START - timedelta(minutes=5), f"Яма у дома в {name}")
        path = tmp_path / "config.toml"
        sources = "".join(TME_SOURCE.format(name=name, tme=tme.base_url, interval="1s")
                          for name in CHANNELS)
        path.write_text(CONFIG.format(bot=api.base_url, chat=DUTY_CHAT) + sources,
                        encoding="utf-8")
        env = {**os.environ, "MONITOR_BOT_TOKEN": api.token, "MONITOR_PG_DSN": dsn,
               "MONITOR_CLOCK_FILE": str(clock_file)}
        processes = [await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(path), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            for _ in range(daemons)]
        try:
            await wait_for(lambda: len(announced(api)) == len(CHANNELS), 40)
            spread = await _until_spread(dsn, daemons)
            # Killed between a send and its mark, a daemon leaves that alert to be sent again
            # (the window one daemon has too, PostgresStore._CLAIM): kill it outside one.
            await _until_sent(dsn)
            victim = processes[0]
            victim_id = next(d for d in spread if d.split(":")[1] == str(victim.pid))
            victim.kill()  # SIGKILL: no clean stop, its leases stay until the TTL
            await victim.wait()
            for name in CHANNELS:
                tme.channels[name].add_post(2, START, f"Ещё одна яма на дороге в {name}")
            await _advance(clock_file, dsn, TTL + timedelta(seconds=5), victim_id)
            await wait_for(lambda: len(announced(api)) == 2 * len(CHANNELS), 40)
            status = await _status(path, env)
        finally:
            for process in processes:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
            logs = [(await asyncio.wait_for(p.communicate(), 20))[1].decode()
                    for p in processes[1:]]
            await processes[0].wait()
    for process, log in zip(processes[1:], logs, strict=True):
        assert process.returncode == 0, log
    assert any("перехвачено аренд" in log for log in logs), logs
    counts = announced(api)
    assert len(counts) == 2 * len(CHANNELS), "every post opened its incident: none lost"
    assert set(counts.values()) == {1}, f"an alert sent twice: {counts}"
    assert f"{victim_id}" in status and "нет пульса" in status, status
    assert "перехвачено у остановившихся демонов" in status


async def _until_spread(dsn: str, daemons: int) -> dict[str, set[str]]:
    """Wait until every daemon holds its even share of the leases (sources and the bot's)."""
    leases = len(CHANNELS) + 1
    for _ in range(200):
        found = await holders(dsn)
        sizes = sorted((len(s) for s in found.values()), reverse=True)
        even = [leases // daemons + (1 if n < leases % daemons else 0) for n in range(daemons)]
        if sizes == even:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"sources never spread over {daemons} daemons: {found}")


async def _until_sent(dsn: str) -> None:
    """Wait until every alert queued so far is marked sent."""
    for _ in range(200):
        store = await PostgresStore.open(dsn)
        try:
            pending = (await store.outbox_counts()).get("pending", 0)
        finally:
            await store.close()
        if pending == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{pending} alerts never marked sent")


async def _advance(clock: Path, dsn: str, total: timedelta, dead: str) -> None:
    """Move the file clock in steps of a quarter TTL, waiting for the living to renew."""
    step = TTL / 4
    moment = START
    while moment < START + total:
        moment += step
        clock.write_text(moment.isoformat(), encoding="utf-8")
        for _ in range(200):
            beats = await heartbeats(dsn)
            if all(at >= to_db(moment) for d, at in beats.items() if d != dead):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the living daemons never renewed at {moment}: {beats}")


async def _status(path: Path, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "status", "--config", str(path), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return out.decode()
