"""The quarterly reports of a region's municipalities: one store, 94 municipalities.

Usage: python bench/municipality_reports.py [--items 1000000] [--incidents 100000]
                                            [--municipalities 94] [--drawn 3] [--keep DIR]

The store is `bench/report.py`'s (10⁶ items, 10⁵ incidents over 2026Q2–Q3, built the same way),
its incidents spread over the municipalities by number. Then, in this process, as the daemon's
quarterly check does on the first working day: the region's report (whole store, with its
table by municipality), and every municipality's report one after another (its incidents by
the `incidents (municipality, opened_at)` index, its sources' messages). Reading and computing
are timed for all of them; drawing and writing (XLSX with charts, as sent to Telegram) for the
region and `--drawn` municipalities, from which the whole send is estimated. Wall and CPU
seconds are printed with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from monitor.config.settings import CalendarConfig  # noqa: E402
from monitor.daemon.report.build import Report, Scope, build_report  # noqa: E402
from monitor.daemon.report.output import write_report  # noqa: E402
from monitor.daemon.report.period import parse_period  # noqa: E402
from monitor.daemon.workcal import WorkingCalendar  # noqa: E402
from storage.sqlite.store import SqliteStore  # noqa: E402

AS_OF = datetime(2026, 10, 5, 4, 0, tzinfo=UTC)


def tag(db: Path, municipalities: int) -> None:
    """Give every incident a municipality by its number (the store is bench/report.py's)."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE incidents SET municipality = 'm' || (id % ?)", (municipalities,))
    conn.close()


def timed(label: str, started: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    print(f"{label}: {wall:.2f} s wall, {cpu:.2f} s CPU; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return wall, cpu


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


async def run(db: Path, municipalities: int, drawn: int) -> None:
    calendar = WorkingCalendar(CalendarConfig())
    period = parse_period("2026Q3")
    names = {f"m{n}": f"Муниципалитет {n}" for n in range(municipalities)}
    store = await SqliteStore.open(db)
    try:
        started = clock()
        region = await build_report(store, calendar, period, AS_OF, None, None, names)
        timed(f"region: read and compute ({region.now.incidents} incidents in Q3)", started)
        reports: list[Report] = []
        started = clock()
        for key, name in names.items():
            # The bench's sources are not tagged: each municipality's messages are then none,
            # which costs the same read (every source's count is read and filtered).
            scope = Scope(key, name, frozenset())
            reports.append(await build_report(store, calendar, period, AS_OF, None, scope))
        wall, _ = timed(f"{municipalities} municipalities: read and compute, one after another",
                        started)
        print(f"  per municipality {wall / municipalities:.3f} s; incidents in Q3 each "
              f"{min(r.now.incidents for r in reports)}–{max(r.now.incidents for r in reports)}")
    finally:
        await store.close()
    with tempfile.TemporaryDirectory() as out:
        started = clock()
        write_report(region, Path(out) / "region", calendar.zone, ("xlsx", "png"))
        timed("region: draw and write XLSX + charts", started)
        started = clock()
        for report in reports[:drawn]:
            write_report(report, Path(out) / report.scope.municipality,  # type: ignore[union-attr]
                         calendar.zone, ("xlsx", "png"))
        wall, cpu = timed(f"{drawn} municipalities: draw and write XLSX + charts", started)
        print(f"  estimated for all {municipalities}: {wall / drawn * municipalities:.0f} s "
              f"wall, {cpu / drawn * municipalities:.0f} s CPU of drawing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--municipalities", type=int, default=94)
    parser.add_argument("--drawn", type=int, default=3)
    parser.add_argument("--keep", help="build the store in this folder and keep it")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="municipality-bench-"))
    db = folder / "monitor.db"
    print(f"command: python bench/municipality_reports.py --items {args.items} --incidents "
          f"{args.incidents} --municipalities {args.municipalities} --drawn {args.drawn}")
    if not db.exists():
        subprocess.run([sys.executable, str(REPO / "bench" / "report.py"), "--fill-only",
                        "--keep", str(folder), "--items", str(args.items), "--incidents",
                        str(args.incidents)], check=True)
    tag(db, args.municipalities)
    asyncio.run(run(db, args.municipalities, max(args.drawn, 1)))


if __name__ == "__main__":
    main()
