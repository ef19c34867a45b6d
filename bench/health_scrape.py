"""Measure `/metrics` and `/healthz` over a region-sized store.

Usage: python bench/health_scrape.py [--incidents N] [--scrapes N]
       python bench/health_scrape.py --cold PATH   (one scrape in a fresh process)

Fills a fresh SQLite file through the store with N open incidents (a quarter of them past
their deadline) in five groups, opens the app with `[daemon] http` on a free local port and
scrapes both pages over HTTP as Prometheus and a health checker would. Printed: the fill rate,
per scrape the median and worst wall time (warm), the process's peak RSS; then a fresh process
opens the same file and scrapes once (cold: imports, opening, first scrape).
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

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common.clock import ManualClock  # noqa: E402
from connectors.base import Item  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.daemon.app import App  # noqa: E402
from storage import ClassifiedItem, NewIncident, open_store  # noqa: E402

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
GROUPS = ("Дороги", "ЖКХ", "Благоустройство", "Общественный транспорт", "Обращение с отходами")
BATCH = 2000


def batch(start: int, count: int, rng: random.Random) -> list[ClassifiedItem]:
    found = []
    for number in range(start, start + count):
        opened = NOW - timedelta(seconds=rng.uniform(0, 5 * 86400))
        due = opened + timedelta(hours=rng.choice((8, 24, 48, 96, 160)))
        item = Item("news", str(number), f"https://t.me/news/{number}", f"Жалоба №{number}",
                    opened)
        incident = NewIncident("Тема", "Организация", "normal", due - timedelta(hours=1), due)
        group = GROUPS[number % len(GROUPS)]
        found.append(ClassifiedItem(item, "telegram_web", str(number), group, "topic", True,
                                    1.0, ("«жалоба»",), incident))
    return found


async def fill(path: Path, total: int) -> float:
    rng = random.Random(13)  # noqa: S311 - a reproducible load, not a secret
    store = await open_store(path)
    started = time.perf_counter()
    try:
        for start in range(0, total, BATCH):
            await store.save_items_and_cursor("news", batch(start, min(BATCH, total - start),
                                                            rng), {"n": start}, NOW)
    finally:
        await store.close()
    return time.perf_counter() - started


def config_file(folder: Path, database: Path) -> Path:
    path = folder / "bench.toml"
    path.write_text(f'[storage]\npath = "{database}"\n\n[daemon]\nhttp = "127.0.0.1:0"\n',
                    encoding="utf-8")
    return path


async def scrape(app: App, page: str) -> float:
    assert app.http_address is not None
    host, port = app.http_address
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}{page}") as r:
        await r.read()
    return time.perf_counter() - started


async def warm(config: Path, scrapes: int) -> dict[str, list[float]]:
    loaded = load_config(config, env={})
    async with App(loaded.config, clock=ManualClock(NOW), env={}) as app:
        return {page: [await scrape(app, page) for _ in range(scrapes)]
                for page in ("/metrics", "/healthz")}


async def cold(config: Path) -> None:
    started = time.perf_counter()
    loaded = load_config(config, env={})
    async with App(loaded.config, clock=ManualClock(NOW), env={}) as app:
        first = await scrape(app, "/metrics")
    print(f"{time.perf_counter() - started:.3f} {first:.3f} "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--cold", type=Path)
    args = parser.parse_args()
    if args.cold:
        asyncio.run(cold(args.cold))
        return
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.db"
        seconds = asyncio.run(fill(database, args.incidents))
        print(f"filled {args.incidents} open incidents in {seconds:.1f} s")
        config = config_file(Path(folder), database)
        times = asyncio.run(warm(config, args.scrapes))
        for page, found in times.items():
            print(f"{page} warm: median {statistics.median(found) * 1000:.0f} ms, worst "
                  f"{max(found) * 1000:.0f} ms over {len(found)} scrapes")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {rss:.0f} MB")
        started = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--cold", str(config)], check=True,
                             capture_output=True, text=True).stdout.split()
        whole = time.perf_counter() - started
        print(f"cold (fresh process): {whole:.2f} s in all (interpreter, imports, opening the "
              f"app {float(out[0]):.2f} s with its first /metrics {float(out[1]) * 1000:.0f} "
              f"ms), peak RSS {out[2]} MB")


if __name__ == "__main__":
    main()
