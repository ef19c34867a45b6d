"""The quarterly report on a regional store: 10⁶ items and 10⁵ incidents.

Usage: python bench/report.py [--items 1000000] [--incidents 100000] [--seed 20261125]
                              [--keep DIR]

A store is built with the real migrations (storage.sqlite), then filled in bulk: items over
the second and third quarters of 2026 across 60 sources of VK, OK and Telegram (one in ten
needs an answer and has an incident; 3 % are the administration's own posts), incidents over
groups, 40 settlements and 12 organisations, each with its event log (opened, taken for a
third, answered for 85 %, an interim answer for 10 %, reopened for 2 %, dismissed for 5 %).
Most incidents fall in 2026Q3, the rest in Q2 (the previous period and the spike baseline).

Then `python -m monitor report --period 2026Q3 --format xlsx,csv,md,png` runs as a whole
process, twice: the first run is cold (a new process, the store's pages just written, so in
the OS cache but not in SQLite's), the second is warm. Each run's wall and CPU time and peak
RSS (getrusage of the child, its chart-drawing process included) are printed; the targets are
< 10 s and < 300 MB. An in-process run then splits the time (wall and CPU) into reading the
store, computing and writing each file (the command draws the charts in a process of its own,
beside the rest; here they are drawn in turn).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from storage.sqlite.store import SqliteStore  # noqa: E402

GROUPS = ("ЖКХ", "Дороги", "Благоустройство", "Общественный транспорт", "Образование",
          "Здравоохранение", "Обращение с отходами", "Энергетика")
NETWORKS = ("vk", "ok", "telegram_web")
START = datetime(2026, 4, 1, tzinfo=UTC)
SPAN = timedelta(days=183)
Q3 = datetime(2026, 7, 1, tzinfo=UTC)


def _ts(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _moment(rng: random.Random) -> datetime:
    # Two thirds in Q3: the reported quarter is the busier one.
    if rng.random() < 0.67:
        return Q3 + timedelta(seconds=rng.uniform(0, 91 * 86400))
    return START + timedelta(seconds=rng.uniform(0, 90 * 86400))


def fill(path: Path, items: int, incidents: int, seed: int) -> None:
    """Fill a migrated store in bulk with random but plausible rows."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        item_rows = []
        for n in range(1, items + 1):
            network = NETWORKS[n % 3]
            when = _ts(_moment(rng))
            item_rows.append((n, f"{network}_{n % 60}", str(n), network, "comment",
                              f"https://example.org/{n}", int(rng.random() < 0.03), when, when,
                              when, f"сообщение жителя номер {n} о проблеме во дворе", str(n),
                              1, 1, 1.0, "[]"))
        conn.executemany(
            "INSERT INTO items (id, source_id, external_id, network, kind, url, is_official,"
            " published_at, first_seen_at, last_seen_at, text, content_hash, version,"
            " actionable, score, why) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", item_rows)
        del item_rows
        step = max(items // incidents, 1)
        incident_rows, events = [], []
        for n in range(1, incidents + 1):
            item_id = n * step
            row = conn.execute("SELECT source_id, published_at, url, text FROM items"
                               " WHERE id = ?", (item_id,)).fetchone()
            opened = datetime.fromisoformat(row[1])
            due = opened + timedelta(hours=rng.choice((8, 24, 48)))
            status, answered = _fate(rng, n, opened, due, events)
            group = rng.choice(GROUPS)
            incident_rows.append((
                n, item_id, row[0], group, f"t{rng.randrange(40)}", f"Тема {rng.randrange(40)}",
                f"Организация {rng.randrange(12)}", "normal", status, _ts(opened),
                _ts(due - timedelta(hours=1)), _ts(due), answered, row[2], row[3],
                f"Пункт {int(rng.paretovariate(1.2)) % 40}",
                "спам" if status == "closed" else None))
        conn.executemany(
            "INSERT INTO incidents (id, item_id, source_id, group_name, topic, topic_name,"
            " organisation, priority, status, opened_at, warn_at, due_at, answered_at, url,"
            " text, settlement, close_reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            incident_rows)
        conn.executemany("INSERT INTO incident_events (incident_id, at, kind, actor_kind,"
                         " detail) VALUES (?, ?, ?, ?, ?)", events)
    conn.close()


def _fate(
    rng: random.Random, n: int, opened: datetime, due: datetime, events: list[tuple[object, ...]]
) -> tuple[str, str | None]:
    """The incident's events; return its status and answer time."""
    events.append((n, _ts(opened), "opened", "system", "{}"))
    if rng.random() < 0.33:
        events.append((n, _ts(opened + timedelta(minutes=20)), "taken", "staff", "{}"))
    roll = rng.random()
    if roll < 0.05:
        events.append((n, _ts(opened + timedelta(hours=1)), "dismissed", "staff", "{}"))
        return "closed", None
    if roll > 0.90:
        return "open", None
    if rng.random() < 0.10:
        at = opened + timedelta(hours=rng.uniform(0.5, 6))
        events.append((n, _ts(at), "interim", "staff", json.dumps({"answered_at": _ts(at)})))
    at = opened + (due - opened) * rng.uniform(0.1, 1.4)
    events.append((n, _ts(at), "answered", "official", json.dumps({"answered_at": _ts(at)})))
    if rng.random() < 0.02:
        events.append((n, _ts(at + timedelta(hours=2)), "reopened", "staff", "{}"))
    return "answered", _ts(at)


def run_report(config: Path, out: Path) -> tuple[float, float, float]:
    """One whole-process `monitor report`: wall seconds, that child's CPU seconds (user +
    system: what the wall time is on an idle machine, the drawing thread included) and its
    own peak RSS in MB."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--log-level", "WARNING", "report", "--config",
         str(config), "--period", "2026Q3", "--out", str(out)],
        cwd=REPO, env={**os.environ, "MPLBACKEND": "Agg"}, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"monitor report failed with exit code {child.returncode}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # RSS in KiB


async def split(db: Path) -> None:
    """The same report in this process, its time (wall and CPU) split into phases: reading the
    store (both periods and the spike baseline), computing, and writing each kind of file."""
    from monitor.config.settings import CalendarConfig
    from monitor.daemon.report.build import build_report
    from monitor.daemon.report.figures import RESPONSE_KINDS, period_figures
    from monitor.daemon.report.period import parse_period
    from monitor.daemon.report.render import markdown, write_csv
    from monitor.daemon.report.tables import report_tables
    from monitor.daemon.workcal import WorkingCalendar

    gc.disable()  # as `monitor report` runs (monitor/cli/report.py)
    calendar = WorkingCalendar(CalendarConfig())
    as_of = datetime(2026, 10, 5, tzinfo=UTC)
    period = parse_period("2026Q3")
    phases: list[tuple[str, float, float]] = []
    clock = _Phase(phases)
    store = await SqliteStore.open(db)
    try:
        spans = [period.previous().bounds(calendar.zone), period.bounds(calendar.zone)]
        with clock("read Q2 and Q3 rows"):
            rows = [(await store.report_incidents(start, end, RESPONSE_KINDS),
                     await store.message_counts(start, end)) for start, end in spans]
        with clock("compute both periods' figures"):
            for incidents, messages in rows:
                period_figures(incidents, messages, calendar, as_of)
        count = sum(len(incidents) for incidents, _ in rows)
        del rows
        with clock("whole build (read + compute + spikes)"):
            report = await build_report(store, calendar, period, as_of)
    finally:
        await store.close()
    with tempfile.TemporaryDirectory() as out:
        folder = Path(out)
        with clock("tables"):
            tables = report_tables(report, calendar.zone)
        with clock("import matplotlib, draw 3 charts"):
            from monitor.daemon.report.charts import write_charts

            charts = write_charts(report, folder, "bench")
        with clock("xlsx"):
            from monitor.daemon.report.xlsx import write_xlsx

            write_xlsx(report, tables, folder / "bench.xlsx", calendar.zone, lambda: charts)
        with clock("csv"):
            for table in tables:
                write_csv(table, folder, "bench")
        with clock("md"):
            markdown(report, tables)
    print(f"in process ({count} incidents in Q2 and Q3):")
    for name, wall, cpu in phases:
        print(f"  {name:<40} {wall:5.2f} s wall {cpu:5.2f} s CPU")


class _Phase:
    """Times a `with` block: wall and this process's CPU (every thread)."""

    def __init__(self, phases: list[tuple[str, float, float]]) -> None:
        self._phases = phases

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self._phases.append((name, time.perf_counter() - wall, time.process_time() - cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--keep", help="build the store in this folder and keep it")
    parser.add_argument("--fill-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="report-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "monitor.db"
    if args.fill_only:
        asyncio.run(_migrate(db))
        fill(db, args.items, args.incidents, args.seed)
        return
    print(f"command: python bench/report.py --items {args.items} --incidents "
          f"{args.incidents} --seed {args.seed}")
    if not db.exists():
        # In a process of its own: a child forked from a big parent inherits its peak RSS.
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--fill-only", "--keep", str(folder),
                        "--items", str(args.items), "--incidents", str(args.incidents),
                        "--seed", str(args.seed)], check=True)
        print(f"store built in {time.perf_counter() - started:.1f} s: {db} "
              f"({db.stat().st_size / 1e6:.0f} MB)")
    config = folder / "config.toml"
    config.write_text('[storage]\npath = "monitor.db"\n', encoding="utf-8")
    clock = folder / "clock"
    clock.write_text("2026-10-05T09:00:00+05:00", encoding="utf-8")
    os.environ["MONITOR_CLOCK_FILE"] = str(clock)
    for label in ("cold", "warm"):
        seconds, cpu, peak = run_report(config, folder / f"out-{label}")
        print(f"whole process ({label}): {seconds:.2f} s wall, {cpu:.2f} s CPU, peak RSS "
              f"{peak:.0f} MB (targets < 10 s, < 300 MB); load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    asyncio.run(split(db))


async def _migrate(db: Path) -> None:
    store = await SqliteStore.open(db)
    await store.close()


if __name__ == "__main__":
    main()
