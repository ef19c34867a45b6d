"""Soak: 1,000 sources on the fakes for a simulated day at high speed; RSS, asyncio tasks and
open file descriptors printed every simulated hour.

    python bench/soak.py                       # 1000 t.me channels, a day, a poll every 15 min
    python bench/soak.py --sources 200 --hours 6 --interval 5m --faults 0.3

The app object of the daemon (the same `App` `monitor run` builds: one HTTP session, one
database, the pollers, the outbox and the alert sender) runs in this process on a manual clock:
each round publishes posts (a third of them complaints) on random channels of a fake t.me,
polls every source, ticks the deadlines and flushes the outbox to a fake Bot API, then moves
the clock by the interval. The fakes run in a process of their own (their RSS is printed
apart), so the RSS, tasks and fds read here are the daemon's; each round they drop what they
kept (requests, messages sent, posts but each channel's newest). With --faults the fake t.me
fails that share of its requests. Targets (issue 14): RSS flat and under 150 MB, tasks and fds
not growing. Besides RSS each hour: its anonymous, file-backed and SQLite parts, and the MB
Python's small-object allocator holds in arenas beside the MB of blocks in use there (arenas
growing while the blocks in use stay flat is fragmentation, not objects kept).

With --trace, tracemalloc runs and each hour also prints the size of the Python objects alive
(what the interpreter holds, apart from the allocator's free-but-kept memory and C libraries'
own, e.g. SQLite's page cache), and the run ends with the lines whose live memory grew most
from the first hour to the last: RSS growing while the traced size stays flat is the allocator
or a C library, not objects we keep. With --trim, glibc's `malloc_trim(0)` runs before each
hourly reading (the freed heap pages handed back), which tells fragmentation from growth.
"""

from __future__ import annotations

import _sqlite3
import argparse
import asyncio
import ctypes
import gc
import logging
import multiprocessing
import os
import random
import re
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common.clock import ManualClock  # noqa: E402
from common.durations import parse_duration  # noqa: E402
from fakes.bot_api import FakeBotApi  # noqa: E402
from fakes.local import Chaos  # noqa: E402
from fakes.tme import TME_FAULTS, FakeTme  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.daemon.app import App  # noqa: E402
from tests.fakes.world import STAFF_CHAT, WORDS  # noqa: E402

START = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def rss_mb() -> float:
    """Resident set size of this process, MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_parts() -> str:
    """RSS split into anonymous memory, mapped files and shared memory (/proc), and what SQLite
    has allocated (sqlite3_memory_used, the page cache included)."""
    fields = dict(line.split(":", 1) for line in
                  Path("/proc/self/status").read_text().splitlines() if ":" in line)
    parts = [f"{name[3:].lower()} {int(fields[name].split()[0]) / 1024:.1f}"
             for name in ("RssAnon", "RssFile", "RssShmem") if name in fields]
    try:
        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
        used.restype = ctypes.c_int64
        parts.append(f"sqlite {used() / 2**20:.1f}")
    except (OSError, AttributeError):
        pass
    return ", ".join(parts)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def config(tme_url: str, bot_url: str, sources: int, interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    channels = "".join(
        f'[[sources]]\nid = "c{n}"\nnetwork = "telegram_web"\nchannel = "soak_{n:04d}"\n'
        f'base_url = "{tme_url}"\ninterval = "{seconds}s"\nmax_pages = 3\n\n'
        for n in range(sources))
    return f"""[storage]
path = "m.db"

[telegram]
base_url = "{bot_url}"
timeout = "5s"

[[telegram.chats]]
id = {STAFF_CHAT}
name = "Дежурные"

{channels}[[topics]]
id = "pits"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["яма"]
"""


class Reading(NamedTuple):
    """One hourly line."""

    hour: int
    rss: float
    """MB; with --trace, less what tracemalloc itself holds (its table of every block)."""
    tasks: int
    fds: int
    posted: int
    seconds: float
    traced: float | None
    """MB of live Python allocations (tracemalloc), None without --trace."""
    parts: str
    """rss_parts()"""
    arenas: tuple[float, float]
    """MB held in pymalloc's arenas, MB of blocks in use there."""
    fakes: float
    """RSS of the fakes' process, MB."""


class Fakes:
    """The fake t.me and Bot API in a process of their own, so that the RSS read here is the
    daemon's alone; each round they drop what they kept and publish the round's posts."""

    def __init__(self, sources: int, faults: float, seed: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve_fakes, args=(child, sources, faults, seed),
                                         daemon=True)

    async def __aenter__(self) -> tuple[str, str, str]:
        """Start them: the t.me and Bot API addresses and the bot's token."""
        self._process.start()
        urls: tuple[str, str, str] = await asyncio.to_thread(self._conn.recv)
        return urls

    async def publish(self, now: datetime) -> tuple[int, float]:
        """One round's posts, dated `now`: posts so far and the fakes' RSS, MB."""
        self._conn.send(now)
        answer: tuple[int, float] = await asyncio.to_thread(self._conn.recv)
        return answer

    async def __aexit__(self, *exc: object) -> None:
        self._conn.send(None)
        await asyncio.to_thread(self._process.join, 10)
        if self._process.is_alive():
            self._process.kill()


def serve_fakes(conn: Connection, sources: int, faults: float, seed: int) -> None:
    """The fakes' process."""
    asyncio.run(_serve(conn, sources, faults, seed))


async def _serve(conn: Connection, sources: int, faults: float, seed: int) -> None:
    rng = random.Random(seed)
    async with FakeTme("soak_0000") as tme, FakeBotApi() as bot:
        channels = [tme.channel] + [tme.add_channel(f"soak_{n:04d}") for n in range(1, sources)]
        if faults:
            tme.chaos = Chaos.spread(faults, TME_FAULTS, seed=seed, hang=2.0)
        conn.send((tme.base_url, bot.base_url, bot.token))
        posted = 0
        while (now := await asyncio.to_thread(conn.recv)) is not None:
            _forget(tme, bot)
            for channel in rng.sample(channels, max(1, sources // 20)):
                words = " ".join(rng.sample(WORDS, 8))
                text = f"Яма: {words}" if rng.random() < 0.33 else words.capitalize()
                posted += 1
                channel.add_post(posted + 1, now, f"{text} {posted + 1}")
            conn.send((posted, rss_mb()))


async def soak(sources: int, hours: int, interval: timedelta, faults: float, seed: int,
               workdir: Path, trim: bool) -> tuple[list[Reading], list[str]]:
    """The hourly readings, and (with tracemalloc on) the lines whose memory grew most."""
    clock = ManualClock(START)
    rows: list[Reading] = []
    growth: list[str] = []
    fakes = Fakes(sources, faults, seed)
    tme_url, bot_url, token = await fakes.__aenter__()
    try:
        path = workdir / "config.toml"
        path.write_text(config(tme_url, bot_url, sources, interval), encoding="utf-8")
        env = {"MONITOR_BOT_TOKEN": token}
        began, posted, theirs = time.perf_counter(), 0, 0.0
        rounds_an_hour = max(1, int(timedelta(hours=1) / interval))
        async with App(load_config(path, env=env).config, clock=clock, env=env,
                       rng=random.Random(seed)) as app:
            rows.append(_row(0, posted, began, trim, theirs))
            first: tracemalloc.Snapshot | None = None
            for hour in range(1, hours + 1):
                for _ in range(rounds_an_hour):
                    posted, theirs = await fakes.publish(clock.now())
                    await app.poll_all()
                    await app.deadline_tick()
                    await app.flush_outbox()
                    clock.advance(interval)
                gc.collect()
                rows.append(_row(hour, posted, began, trim, theirs))
                print(_line(rows[-1]), flush=True)
                if tracemalloc.is_tracing():
                    first = first or tracemalloc.take_snapshot()
            if first is not None:
                growth = _grown(first, tracemalloc.take_snapshot())
    finally:
        await fakes.__aexit__()
    return rows, growth


def _grown(first: tracemalloc.Snapshot, last: tracemalloc.Snapshot, top: int = 15) -> list[str]:
    """The source lines whose live memory grew most between two snapshots."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diff = last.filter_traces(ignore).compare_to(first.filter_traces(ignore), "lineno")
    return [f"{d.size_diff / 1024:+9.1f} KiB {d.count_diff:+7d} blocks  "
            f"{d.traceback[0].filename}:{d.traceback[0].lineno}" for d in diff[:top]]


def _forget(tme: FakeTme, bot: FakeBotApi) -> None:
    """Clear what the fakes keep (every request, every message sent, every post published:
    thousands an hour), so what grows is the daemon's, not the test servers' bookkeeping. A
    channel keeps its newest post: the older ones were read polls ago."""
    tme.requests.clear()
    for channel in tme.channels.values():
        for post_id in sorted(channel.posts)[:-1]:
            channel.delete_post(post_id)
    for kept in (bot.calls, bot.sent, bot.delivered):
        kept.clear()
    bot.store.messages.clear()
    bot.store.formatting.clear()
    if tme.chaos is not None:
        tme.chaos.log.clear()


def pymalloc_mb() -> tuple[float, float]:
    """MB that Python's small-object allocator holds in arenas, and MB of blocks in use there
    (sys._debugmallocstats): arenas held well beyond the blocks in use is fragmentation."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        stats = out.read().decode(errors="replace")
    found = dict(re.findall(r"^# (arenas allocated current|bytes in allocated blocks)\s*="
                            r"\s*([\d,]+)", stats, flags=re.MULTILINE))
    arena = 1 << 20  # 3.10+ on 64-bit: 1 MiB arenas
    held = int(found.get("arenas allocated current", "0").replace(",", "")) * arena
    used = int(found.get("bytes in allocated blocks", "0").replace(",", ""))
    return held / 2**20, used / 2**20


def _trim() -> None:
    """Hand glibc's free heap pages back to the system (no-op off glibc)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _row(hour: int, posted: int, began: float, trim: bool, fakes: float) -> Reading:
    if trim:
        _trim()
    traced = tracemalloc.get_traced_memory()[0] / 2**20 if tracemalloc.is_tracing() else None
    own = tracemalloc.get_tracemalloc_memory() / 2**20 if tracemalloc.is_tracing() else 0.0
    return Reading(hour, rss_mb() - own, len(asyncio.all_tasks()), open_fds(), posted,
                   time.perf_counter() - began, traced, rss_parts(), pymalloc_mb(), fakes)


def _line(row: Reading) -> str:
    traced = f"  traced {row.traced:6.1f} MB" if row.traced is not None else ""
    arenas = f"  pymalloc {row.arenas[0]:5.1f} MB ({row.arenas[1]:5.1f} in use)"
    return (f"{row.hour:>4}h  RSS {row.rss:7.1f} MB ({row.parts}){traced}{arenas}  "
            f"tasks {row.tasks:>4}  fds {row.fds:>4}  posts {row.posted:>6}  "
            f"real {row.seconds:7.1f} s  (fakes' process: RSS {row.fakes:.1f} MB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--interval", default="15m")
    parser.add_argument("--faults", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--trace", action="store_true",
                        help="tracemalloc: live Python memory beside RSS, and what grew")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) before each reading")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    interval = parse_duration(args.interval)
    print("command: python bench/soak.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    arenas = os.environ.get("MALLOC_ARENA_MAX")
    print(f"cold: RSS {rss_mb():.1f} MB after imports, fds {open_fds()}"
          + (f"; MALLOC_ARENA_MAX={arenas}" if arenas else ""))
    if args.trace:
        tracemalloc.start()
    with tempfile.TemporaryDirectory(prefix="soak-") as folder:
        rows, growth = asyncio.run(soak(args.sources, args.hours, interval, args.faults,
                                        args.seed, Path(folder), args.trim))
    first, last = rows[1] if len(rows) > 1 else rows[0], rows[-1]
    peak = max(row.rss for row in rows)
    print(f"start (app open, before the first poll): {_line(rows[0])}")
    print(f"RSS after the first hour {first.rss:.1f} MB, at the end {last.rss:.1f} MB, "
          f"peak {peak:.1f} MB (target < 150 MB, flat); tasks {first.tasks} -> {last.tasks}, "
          f"fds {first.fds} -> {last.fds}")
    if first.traced is not None and last.traced is not None:
        hours = max(last.hour - first.hour, 1)
        print(f"per simulated hour after the first: RSS {(last.rss - first.rss) / hours:+.2f} MB,"
              f" traced Python memory {(last.traced - first.traced) / hours:+.2f} MB")
        print("grew most, first hour -> end (tracemalloc, by line):")
        print("\n".join(f"  {line}" for line in growth))
    flat = last.rss <= max(first.rss * 1.15, first.rss + 10) and last.tasks <= first.tasks \
        and last.fds <= first.fds + 2
    print("flat" if flat and peak < 150 else "GREW or over target")
    return 0 if flat and peak < 150 else 1


if __name__ == "__main__":
    sys.exit(main())
