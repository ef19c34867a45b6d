"""Measure the deadline tick over 100,000 open incidents in SQLite.

Usage: python bench/alert_tick.py [--incidents N] [--ticks N] [--keep PATH]
       python bench/alert_tick.py --cold PATH --at ISO   (one tick in a fresh process)

Fills a fresh SQLite file through the store (as polls do) with N open incidents opened over
the last five days, lets the tick catch up with all of them (as after a restart: every new
incident is looked at once), then runs `--ticks` ticks 30 s apart, as the daemon does, with
the full alert config of a region (three warnings, reminders, two escalations).

Targets: the tick that finds the due alerts < 50 ms; the whole process < 200 MB RSS.
Printed: the fill and catch-up rates, per steady tick the query alone and the whole tick
(query, schedules, outbox writes), median and worst (warm), the process's peak RSS; then a
fresh process opens the same file and runs one tick (cold: imports, opening, first query):
its wall time, the tick alone and its peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common.clock import ManualClock  # noqa: E402
from connectors.base import Item  # noqa: E402
from monitor.config import AppConfig  # noqa: E402
from monitor.config.alerting import AlertsConfig  # noqa: E402
from monitor.daemon.alert_steps import AlertSchedule  # noqa: E402
from monitor.daemon.alerts import queue_due_alerts  # noqa: E402
from monitor.daemon.routing import Router  # noqa: E402
from monitor.daemon.workcal import WorkingCalendar, deadline  # noqa: E402
from storage import ClassifiedItem, NewIncident, Store, open_store  # noqa: E402

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # Wednesday 12:00 in Yekaterinburg
BATCH = 2000
ALERTS = {
    "warnings": ["50%", "80%", "1h"],
    "reminders": ["1h", "2h", "4h", "8h"],
    "escalations": [
        {"name": "начальник МЦУ", "after": "2h", "chats": [-1002]},
        {"name": "куратор", "after": "1d", "clock": "calendar", "chats": [-1003]},
    ],
}


def entries(config: AppConfig, calendar: WorkingCalendar, start: int, count: int,
            rng: random.Random) -> tuple[list[ClassifiedItem], datetime]:
    found = []
    opened = NOW
    for number in range(start, start + count):
        opened = NOW - timedelta(seconds=rng.uniform(0, 5 * 86400))
        warn_at, due_at = deadline(opened, config.sla, calendar)
        item = Item("news", str(number), f"https://t.me/news/{number}", f"Яма №{number}", opened)
        incident = NewIncident("Ямы", f"Организация {number % 40}", "normal", warn_at, due_at)
        found.append(ClassifiedItem(item, "telegram_web", str(number), "Дороги", "pits", True,
                                    1.0, ("«яма»",), incident))
    return found, opened


async def fill(store: Store, config: AppConfig, calendar: WorkingCalendar, total: int) -> float:
    rng = random.Random(11)  # noqa: S311 - a reproducible load, not a secret
    started = time.perf_counter()
    for start in range(0, total, BATCH):
        batch, _ = entries(config, calendar, start, min(BATCH, total - start), rng)
        await store.save_items_and_cursor("news", batch, {"n": start}, NOW)
    return time.perf_counter() - started


async def run(total: int, ticks: int, path: Path) -> None:
    config = AppConfig(alerts=AlertsConfig.model_validate(ALERTS))
    calendar = WorkingCalendar(config.calendar)
    schedule = AlertSchedule(config.alerts, calendar, announce=False)
    router = Router(config, sending=False)
    zone = config.calendar.zone
    store = await open_store(path)
    try:
        filled = await fill(store, config, calendar, total)
        print(f"fill: {total} incidents in {filled:.1f} s ({total / filled:,.0f}/s)")
        clock = ManualClock(NOW)
        started = time.perf_counter()
        caught = await queue_due_alerts(store, clock, schedule, router, zone)
        assert await store.due_alerts(clock.now(), 1) == [], "one tick catches up"
        spent = time.perf_counter() - started
        print(f"catch-up (the first tick after the restart): every incident looked at once in"
              f" {spent:.1f} s "
              f"({total / spent:,.0f}/s), {caught} alerts queued")
        queries, whole, queued = [], [], []
        for _ in range(ticks):
            clock.advance(timedelta(seconds=30))
            t0 = time.perf_counter()
            due = await store.due_alerts(clock.now())
            queries.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            queued.append(await queue_due_alerts(store, clock, schedule, router, zone))
            whole.append((time.perf_counter() - t0) * 1000)
            assert len(due) <= 1000
        print(f"steady ticks ({ticks}, 30 s apart): query median {statistics.median(queries):.2f}"
              f" ms, worst {max(queries):.2f} ms; whole tick median "
              f"{statistics.median(whole):.2f} ms, worst {max(whole):.2f} ms; "
              f"alerts per tick median {statistics.median(queued):.0f}, max {max(queued)}")
        counts = await store.outbox_counts()
        print(f"outbox: {counts['pending']} pending")
    finally:
        await store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the whole process: {rss:.0f} MB (target < 200 MB)")
    at = clock.now() + timedelta(seconds=30)
    started = time.perf_counter()
    cold = subprocess.run([sys.executable, __file__, "--cold", str(path), "--at", at.isoformat()],
                          check=True, capture_output=True, text=True)
    print(f"{cold.stdout.strip()}; whole process {time.perf_counter() - started:.2f} s")


async def cold_tick(path: Path, at: datetime) -> None:
    """One tick in a fresh process on an existing file: what a restart pays."""
    config = AppConfig(alerts=AlertsConfig.model_validate(ALERTS))
    schedule = AlertSchedule(config.alerts, WorkingCalendar(config.calendar), announce=False)
    store = await open_store(path)
    try:
        clock = ManualClock(at)
        t0 = time.perf_counter()
        due = await store.due_alerts(at)
        query = (time.perf_counter() - t0) * 1000
        queued = await queue_due_alerts(store, clock, schedule, Router(config, sending=False),
                                        config.calendar.zone)
        whole = (time.perf_counter() - t0) * 1000
    finally:
        await store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"cold tick in a fresh process: query {query:.2f} ms ({len(due)} due), whole tick "
          f"{whole:.2f} ms ({queued} alerts), peak RSS {rss:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--keep", type=Path, help="write the database here (default: temporary)")
    parser.add_argument("--cold", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--at", type=datetime.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold:
        asyncio.run(cold_tick(args.cold, args.at))
        return
    if args.keep:
        asyncio.run(run(args.incidents, args.ticks, args.keep))
        return
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args.incidents, args.ticks, Path(folder) / "bench.db"))


if __name__ == "__main__":
    main()
