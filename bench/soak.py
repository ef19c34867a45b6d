"""Soak: 1,000 sources on the fakes for a simulated day at high speed; RSS, asyncio tasks and
open file descriptors printed every simulated hour.

    python bench/soak.py                       # 1000 t.me channels, a day, a poll every 15 min
    python bench/soak.py --sources 200 --hours 6 --interval 5m --faults 0.3

The app object of the daemon (the same `App` `monitor run` builds: one HTTP session, one
database, the pollers, the outbox and the alert sender) runs in this process on a manual clock:
each round publishes posts (a third of them complaints) on random channels of a fake t.me,
polls every source, ticks the deadlines and flushes the outbox to a fake Bot API, then moves
the clock by the interval. The fakes share the process, so the RSS printed is the daemon's
plus theirs (a ceiling on the daemon's own; their request logs are cleared every round, the
posts they hold stay). With --faults the fake t.me fails that share of
its requests. Targets (issue 14): RSS flat and under 150 MB, tasks and fds not growing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def config(tme: FakeTme, bot: FakeBotApi, sources: int, interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    channels = "".join(
        f'[[sources]]\nid = "c{n}"\nnetwork = "telegram_web"\nchannel = "soak_{n:04d}"\n'
        f'base_url = "{tme.base_url}"\ninterval = "{seconds}s"\nmax_pages = 3\n\n'
        for n in range(sources))
    return f"""[storage]
path = "m.db"

[telegram]
base_url = "{bot.base_url}"
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


async def soak(sources: int, hours: int, interval: timedelta, faults: float, seed: int,
               workdir: Path) -> list[tuple[int, float, int, int, int, float]]:
    """Rows of (hour, RSS MB, tasks, fds, items so far, real seconds)."""
    rng = random.Random(seed)
    clock = ManualClock(START)
    rows = []
    async with FakeTme("soak_0000") as tme, FakeBotApi() as bot:
        channels = [tme.channel] + [tme.add_channel(f"soak_{n:04d}") for n in range(1, sources)]
        if faults:
            tme.chaos = Chaos.spread(faults, TME_FAULTS, seed=seed, hang=2.0)
        path = workdir / "config.toml"
        path.write_text(config(tme, bot, sources, interval), encoding="utf-8")
        env = {"MONITOR_BOT_TOKEN": bot.token}
        began, posted, next_id = time.perf_counter(), 0, 1
        rounds_an_hour = max(1, int(timedelta(hours=1) / interval))
        async with App(load_config(path, env=env).config, clock=clock, env=env,
                       rng=random.Random(seed)) as app:
            rows.append(_row(0, posted, began))
            for hour in range(1, hours + 1):
                for _ in range(rounds_an_hour):
                    for channel in rng.sample(channels, max(1, sources // 20)):
                        words = " ".join(rng.sample(WORDS, 8))
                        text = f"Яма: {words}" if rng.random() < 0.33 else words.capitalize()
                        next_id += 1
                        channel.add_post(next_id, clock.now(), f"{text} {next_id}")
                        posted += 1
                    await app.poll_all()
                    await app.deadline_tick()
                    await app.flush_outbox()
                    clock.advance(interval)
                    _forget(tme, bot)
                gc.collect()
                rows.append(_row(hour, posted, began))
                print(_line(rows[-1]), flush=True)
    return rows


def _forget(tme: FakeTme, bot: FakeBotApi) -> None:
    """Clear the fakes' request logs (they keep every request: thousands an hour), so what
    grows is the daemon's, not the test servers' bookkeeping."""
    tme.requests.clear()
    for kept in (bot.calls, bot.sent, bot.delivered):
        kept.clear()
    bot.store.messages.clear()
    if tme.chaos is not None:
        tme.chaos.log.clear()


def _row(hour: int, posted: int, began: float) -> tuple[int, float, int, int, int, float]:
    return (hour, rss_mb(), len(asyncio.all_tasks()), open_fds(), posted,
            time.perf_counter() - began)


def _line(row: tuple[int, float, int, int, int, float]) -> str:
    hour, rss, tasks, fds, posted, seconds = row
    return (f"{hour:>4}h  RSS {rss:7.1f} MB  tasks {tasks:>4}  fds {fds:>4}  "
            f"posts {posted:>6}  real {seconds:7.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--interval", default="15m")
    parser.add_argument("--faults", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    interval = parse_duration(args.interval)
    print(f"command: python bench/soak.py --sources {args.sources} --hours {args.hours} "
          f"--interval {args.interval}" + (f" --faults {args.faults}" if args.faults else ""))
    print(f"cold: RSS {rss_mb():.1f} MB after imports, fds {open_fds()}")
    with tempfile.TemporaryDirectory(prefix="soak-") as folder:
        rows = asyncio.run(soak(args.sources, args.hours, interval, args.faults, args.seed,
                                Path(folder)))
    first, last = rows[1] if len(rows) > 1 else rows[0], rows[-1]
    peak = max(row[1] for row in rows)
    print(f"start (app open, before the first poll): {_line(rows[0])}")
    print(f"RSS after the first hour {first[1]:.1f} MB, at the end {last[1]:.1f} MB, "
          f"peak {peak:.1f} MB (target < 150 MB, flat); tasks {first[2]} -> {last[2]}, "
          f"fds {first[3]} -> {last[3]}")
    flat = last[1] <= max(first[1] * 1.15, first[1] + 10) and last[2] <= first[2] \
        and last[3] <= first[3] + 2
    print("flat" if flat and peak < 150 else "GREW or over target")
    return 0 if flat and peak < 150 else 1


if __name__ == "__main__":
    sys.exit(main())
