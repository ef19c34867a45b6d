"""A regional fleet for a simulated day: many Telegram channels on the fake t.me, three `monitor
run` processes on one PostgreSQL database with one SIGKILLed (and restarted, as systemd would)
every simulated hour; then the same load on one daemon with SQLite. Printed side by side:
items per second (the cold backlog, whole processes from their start, and over the day), lease
take-over time, items lost, incidents and alerts sent twice.

Time: the daemons run on a file clock this script moves at `3600 / --hour-seconds` simulated
seconds per real second; lease TTL and renewal scale with it (renewal every real second, TTL
three renewals). Posts appear on the fake at their simulated minute.

    .venv/bin/python bench/pg_fleet.py --sources 200 --hours 24 --hour-seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from daybench import print_command  # noqa: E402
from tests.fakes.bot_api import FakeBotApi  # noqa: E402
from tests.fakes.tme import FakeTme  # noqa: E402

from storage.postgresql.store import PostgresStore  # noqa: E402
from storage.sql.store import SqlStore  # noqa: E402
from storage.sqlite.store import SqliteStore  # noqa: E402
from tests.conftest import DUTY_TELEGRAM, PITS_TOPIC, TME_SOURCE  # noqa: E402
from tests.postgres import fresh_schema  # noqa: E402

START = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
CHAT = -1001234567890
STREETS = ("Ленина", "Мира", "Садовая", "Кирова", "Гагарина", "Победы", "Школьная", "Лесная")

CONFIG = """
[storage]
{storage}

[daemon]
deadline_tick = "1s"
outbox_interval = "1s"
first_poll_spread = "{interval}s"
""" + DUTY_TELEGRAM + PITS_TOPIC


@dataclass
class Result:
    """What one run measured."""

    label: str
    posts: int = 0
    items: int = 0
    incidents: int = 0
    alerts: int = 0
    duplicate_alerts: int = 0
    backlog_items: int = 0
    backlog_seconds: float = 0.0
    day_items: int = 0
    day_seconds: float = 0.0
    takeovers: list[float] = field(default_factory=list)
    """Real seconds from a SIGKILL until every lease of the killed daemon was held again."""
    kills: int = 0
    drain_seconds: float = 0.0
    """Real seconds after the day until every incident was announced and every alert sent."""
    lags: list[float] = field(default_factory=list)
    """Real seconds from a day's post appearing to its item being stored."""
    waits: Counter[str] = field(default_factory=Counter)
    """What the daemons' PostgreSQL connections were doing, sampled 4 times a second."""
    samples: int = 0


class Run:
    """One simulated day on one backend."""

    def __init__(self, args: argparse.Namespace, label: str, daemons: int) -> None:
        self.args = args
        self.daemons = daemons
        self.result = Result(label)
        self.speed = 3600 / args.hour_seconds
        self.started = 0.0
        self.processes: list[asyncio.subprocess.Process] = []
        self.names = [f"district{n:04}" for n in range(args.sources)]
        rng = random.Random(args.seed)
        day = args.hours * 3600
        self.schedule = sorted(
            (rng.uniform(0, day), name, 100 + k)
            for name in self.names for k in range(args.posts_per_day))

    def now(self) -> datetime:
        """The simulated time."""
        return START + timedelta(seconds=(time.monotonic() - self.started) * self.speed)

    async def clock(self, path: Path, stop: asyncio.Event) -> None:
        while not stop.is_set():
            path.write_text(self.now().isoformat(), encoding="utf-8")
            await asyncio.sleep(0.05)

    async def start_daemon(self, config: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "--log-level", "WARNING", "run", "--config",
            str(config), cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
        self.processes.append(process)
        return process

    async def go(self, storage: str, env: dict[str, str], store: SqlStore, folder: Path) -> None:
        args = self.args
        async with FakeTme(self.names[0], page_size=50) as tme, FakeBotApi() as api:
            for name in self.names[1:]:
                tme.add_channel(name, page_size=50)
            for name in self.names:
                for k in range(args.backlog):
                    tme.channels[name].add_post(
                        k + 1, START - timedelta(minutes=30 - k), _text(name, k))
            config = folder / "config.toml"
            config.write_text(CONFIG.format(storage=storage, bot=api.base_url, chat=CHAT,
                                            interval=args.interval) + "".join(
                TME_SOURCE.format(name=n, tme=tme.base_url, interval=f"{args.interval}s")
                for n in self.names), encoding="utf-8")
            clock_file = folder / "clock"
            env = {**env, "MONITOR_BOT_TOKEN": api.token, "MONITOR_CLOCK_FILE": str(clock_file)}
            stop = asyncio.Event()
            clock_file.write_text(START.isoformat(), encoding="utf-8")
            cold = time.monotonic()
            for _ in range(self.daemons):
                await self.start_daemon(config, env)
            backlog = args.sources * args.backlog
            await _until(lambda: _count(store, "items"), backlog, 600)
            self.result.backlog_items = backlog
            self.result.backlog_seconds = time.monotonic() - cold
            self.started = time.monotonic()
            ticking = asyncio.create_task(self.clock(clock_file, stop))
            try:
                await self.day(tme, store, config, env)
                total = backlog + len(self.schedule)
                await _until(lambda: _count(store, "items"), total, 300)
                drained = time.monotonic()
                await _until(lambda: _count(store, "incidents WHERE announced_at IS NOT NULL"),
                             total, 300)
                await _until(lambda: _count(store, "outbox WHERE status = 'sent'"),
                             await _count(store, "outbox"), 300)
                self.result.drain_seconds = time.monotonic() - drained
            finally:
                stop.set()
                await ticking
                for process in self.processes:
                    if process.returncode is None:
                        process.send_signal(signal.SIGTERM)
                await asyncio.gather(*(p.wait() for p in self.processes))
            self.result.lags = await self.lags(store)
            self.result.posts = backlog + len(self.schedule)
            self.result.items = await _count(store, "items")
            self.result.incidents = await _count(store, "incidents")
            sent = Counter((m["chat_id"], m["text"]) for m in api.sent)
            self.result.alerts = sum(sent.values())
            self.result.duplicate_alerts = sum(n - 1 for n in sent.values())

    async def day(self, tme: FakeTme, store: SqlStore, config: Path, env: dict[str, str]) -> None:
        """Publish the day's posts at their minute; kill a daemon every simulated hour."""
        pending = list(self.schedule)
        hour = 1
        day_start = time.monotonic()
        items_at_start = await _count(store, "items")
        end = self.args.hours * 3600
        while (elapsed := (self.now() - START).total_seconds()) < end:
            while pending and pending[0][0] <= elapsed:
                _, name, number = pending.pop(0)
                tme.channels[name].add_post(number, self.now(), _text(name, number))
            if self.daemons > 1 and elapsed >= hour * 3600:
                hour += 1
                await self.kill_one(store, config, env)
            await asyncio.sleep(0.05)
        self.result.day_seconds = time.monotonic() - day_start
        self.result.day_items = await _count(store, "items") - items_at_start

    async def lags(self, store: SqlStore) -> list[float]:
        """Publication to storage of the day's posts, in real seconds."""
        rows = await store.database.fetchall(
            "SELECT published_at, first_seen_at FROM items WHERE published_at >= ?",
            (START.isoformat(timespec="microseconds"),))
        return [(datetime.fromisoformat(r["first_seen_at"])
                 - datetime.fromisoformat(r["published_at"])).total_seconds() / self.speed
                for r in rows]

    async def kill_one(self, store: SqlStore, config: Path, env: dict[str, str]) -> None:
        """SIGKILL the oldest daemon, start another, and time the take-over of its leases."""
        victim = next(p for p in self.processes if p.returncode is None)
        rows = await store.database.fetchall("SELECT id FROM daemons WHERE id LIKE ?",
                                             (f"%:{victim.pid}:%",))
        victim.kill()
        await victim.wait()
        killed = time.monotonic()
        self.result.kills += 1
        await self.start_daemon(config, env)
        if not rows:
            return
        while await store.database.fetchone(
                "SELECT 1 FROM leases WHERE daemon_id = ?", (rows[0]["id"],)):
            await asyncio.sleep(0.05)
        self.result.takeovers.append(time.monotonic() - killed)


PLACES = ("двор", "подъезд", "остановка", "перекрёсток", "парковка", "школа", "рынок",
          "детская площадка", "мост", "проезд", "тротуар", "въезд", "поликлиника", "садик")
TROUBLES = ("яма", "огромная яма", "глубокая яма", "яма с водой", "провал асфальта и яма")
DETAILS = ("колесо пробили", "машины объезжают по встречке", "дети падают", "вода стоит",
           "уже месяц никто не чинит", "ночью не видно", "автобус еле проезжает",
           "писали в администрацию", "фото прикладываю", "сколько можно ждать",
           "коляску не провезти", "после дождя не пройти", "разбили подвеску", "заявка без ответа")


def _text(name: str, number: int) -> str:
    """A resident's complaint: words vary as real ones do (templated texts would all look alike
    to the repeat search and make every complaint a candidate for every other)."""
    rng = random.Random(f"{name}:{number}")
    street = rng.choice(STREETS)
    details = ", ".join(rng.sample(DETAILS, 3))
    return (f"{rng.choice(TROUBLES).capitalize()} у {rng.randint(1, 150)} дома на улице "
            f"{street}, {rng.choice(PLACES)}: {details}. Когда починят? ({name})")


async def _count(store: SqlStore, what: str) -> int:
    row = await store.database.fetchone(f"SELECT COUNT(*) FROM {what}")
    return int(row[0]) if row else 0


async def _until(count, target: int, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while (found := await count()) < target:
        if time.monotonic() > deadline:
            print(f"  (gave up waiting: {found} of {target})")
            return
        await asyncio.sleep(0.2)


APP = "pg_fleet_daemon"
"""The daemons' `application_name`: their connections in pg_stat_activity."""


async def sample_waits(dsn: str, result: Result, stop: asyncio.Event) -> None:
    """Count what the daemons' connections do (waiting on a lock, running a query, waiting for
    their own process between statements of a transaction), 4 times a second."""
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            for row in await conn.fetch(
                    "SELECT state, wait_event_type, wait_event, left(regexp_replace(query,"
                    " '\\s+', ' ', 'g'), 70) AS q FROM pg_stat_activity"
                    " WHERE application_name = $1 AND state <> 'idle'", APP):
                wait = f"{row['wait_event_type']}:{row['wait_event']}" if row["wait_event"] \
                    else "running"
                result.waits[f"{row['state']:<19} {wait:<24} {row['q']}"] += 1
            result.samples += 1
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


async def fleet(args: argparse.Namespace) -> Result:
    run = Run(args, f"PostgreSQL, {args.daemons} daemons", args.daemons)
    ttl = int(3 * run.speed)
    storage = f'backend = "postgresql"\nlease_ttl = "{ttl}s"\nlease_renew = "1s"'
    with tempfile.TemporaryDirectory() as folder:
        async with fresh_schema() as dsn:
            store = await PostgresStore.open(dsn)
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_waits(dsn, run.result, stop))
            daemons = f"{dsn}&application_name={APP}"
            try:
                await run.go(storage, {**os.environ, "MONITOR_PG_DSN": daemons}, store,
                             Path(folder))
            finally:
                stop.set()
                await sampler
                await store.close()
    return run.result


async def solo(args: argparse.Namespace) -> Result:
    run = Run(args, "SQLite, 1 daemon", 1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.db"
        store = await SqliteStore.open(path)
        try:
            await run.go(f'path = "{path}"', dict(os.environ), store, Path(folder))
        finally:
            await store.close()
    return run.result


def report(results: list[Result], args: argparse.Namespace) -> None:
    rows = [
        ("sources / posts of the day", lambda r: f"{args.sources} / {r.posts}"),
        ("backlog items/s (cold, whole processes)",
         lambda r: f"{r.backlog_items / max(r.backlog_seconds, 1e-9):.1f}"
                   f" ({r.backlog_items} in {r.backlog_seconds:.1f} s)"),
        ("day items/s (warm; posts arrive at that rate)",
         lambda r: f"{r.day_items / max(r.day_seconds, 1e-9):.1f}"
                   f" ({r.day_items} in {r.day_seconds:.1f} s)"),
        ("post to stored, s real (median / max)",
         lambda r: f"{statistics.median(r.lags):.1f} / {max(r.lags):.1f}" if r.lags else "-"),
        ("items lost", lambda r: str(r.posts - r.items)),
        ("after the day: all announced and sent, s", lambda r: f"{r.drain_seconds:.1f}"),
        ("incidents", lambda r: str(r.incidents)),
        ("alerts sent / sent twice", lambda r: f"{r.alerts} / {r.duplicate_alerts}"),
        ("daemons killed", lambda r: str(r.kills)),
        ("lease take-over, s real (median / max)",
         lambda r: f"{statistics.median(r.takeovers):.1f} / {max(r.takeovers):.1f}"
                   f" (= {statistics.median(r.takeovers) * 3600 / args.hour_seconds / 60:.0f}"
                   " simulated min)" if r.takeovers else "-"),
    ]
    width = max(len(label) for label, _ in rows) + 2
    print("".ljust(width) + "".join(r.label.ljust(44) for r in results))
    for label, value in rows:
        print(label.ljust(width) + "".join(value(r).ljust(44) for r in results))
    for result in results:
        if result.samples:
            print(f"\n{result.label}: the daemons' connections, mean busy per sample"
                  f" ({result.samples} samples of pg_stat_activity, 4/s):")
            for what, n in result.waits.most_common(12):
                print(f"  {n / result.samples:6.2f}  {what}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--daemons", type=int, default=3)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--hour-seconds", type=float, default=10.0,
                        help="real seconds per simulated hour")
    parser.add_argument("--interval", type=int, default=5, help="poll interval, real seconds")
    parser.add_argument("--backlog", type=int, default=5, help="posts per source before START")
    parser.add_argument("--posts-per-day", type=int, default=4)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args(argv)
    print_command(argv)
    results = [asyncio.run(fleet(args))]
    if not args.skip_sqlite:
        results.append(asyncio.run(solo(args)))
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
