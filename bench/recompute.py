"""Measure deadline recomputation over many open incidents in SQLite.

Usage: python bench/recompute.py [--incidents 100000] [--keep DB]
(the recomputation reads and writes 5,000 incidents a page: its memory does not grow with N)
Fills a fresh SQLite store with N open incidents (opened over the last weeks, under the
default policy of config.example.toml's calendar), then times, each in its own process-warm
state: the start-up check when nothing changed (one read of the basis), a full recomputation
after the SLA policy changed (every incident moves, one `recomputed` event each), and a forced
second pass (reads and computes everything, writes nothing: idempotent). Prints wall times and
the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from connectors.base import Item  # noqa: E402
from monitor.config import AppConfig  # noqa: E402
from monitor.config.policies import PolicyBook  # noqa: E402
from monitor.daemon.deadlines import first_deadlines  # noqa: E402
from monitor.daemon.recompute import recompute_deadlines  # noqa: E402
from monitor.daemon.workcal import WorkingCalendar  # noqa: E402
from storage import ClassifiedItem, NewIncident, open_store  # noqa: E402

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
BATCH = 5000


def entries(config: AppConfig, start: int, count: int) -> list[ClassifiedItem]:
    calendar = WorkingCalendar(config.calendar)
    policy = PolicyBook(config).by_name["default"]
    found = []
    for n in range(start, start + count):
        opened = NOW - timedelta(minutes=n % (60 * 24 * 20))
        item = Item("bench", str(n), f"https://t.me/bench/{n}", f"Яма номер {n}", opened)
        terms = first_deadlines(policy, calendar, item, opened)
        incident = NewIncident("Ямы", "УГХ", "normal", terms.warn_at, terms.due_at, None,
                               terms.policy, terms.policy_terms, terms.clock_started_at)
        found.append(ClassifiedItem(item, "telegram_web", str(n), "Дороги", "pits", True, 1.0,
                                    (), incident))
    return found


async def main(incidents: int, keep: Path | None) -> None:
    folder = Path(tempfile.mkdtemp())
    path = keep or folder / "bench.db"
    before = AppConfig.model_validate({})
    after = AppConfig.model_validate({"sla": {"first_response": "4h", "clock": "calendar"}})
    store = await open_store(path)
    try:
        began = time.perf_counter()
        for start in range(0, incidents, BATCH):
            await store.save_items_and_cursor(
                "bench", entries(before, start, min(BATCH, incidents - start)), {}, NOW)
        print(f"filled {incidents} open incidents in {time.perf_counter() - began:.1f} s "
              f"(peak RSS so far {_peak_mb():.0f} MB)")
        calendar = WorkingCalendar(before.calendar)
        await recompute_deadlines(store, before, calendar, NOW)  # records the basis
        for label, config, force in (("unchanged config (start-up check)", before, False),
                                     ("policy changed: every incident moves", after, False),
                                     ("forced second pass (idempotent)", after, True)):
            began = time.perf_counter()
            changed = await recompute_deadlines(store, config, WorkingCalendar(config.calendar),
                                                NOW, force)
            took = time.perf_counter() - began
            print(f"{label}: {changed} changed in {took * 1000:.0f} ms")
    finally:
        await store.close()
    print(f"peak RSS of the process: {_peak_mb():.0f} MB")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="write the database here and keep it")
    args = parser.parse_args()
    asyncio.run(main(args.incidents, args.keep))
