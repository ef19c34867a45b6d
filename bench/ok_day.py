"""Poll a simulated day of Odnoklassniki topics and comments on many groups, our way and naively.

Usage: python bench/ok_day.py [--groups 30] [--hours 24] [--interval 10m]
                              [--naive-groups 2] [--seed 20261125]

A day of traffic (each group 3–10 topics a day, 70% of topics never commented, the rest a long
tail of up to 250 comments with replies, some by the group, a few comments days late) is fed
into the fake OK API (fakes/ok.py) at its simulated times, and the real `OkGroupSource`
objects (`connectors.registry()["ok"]`) poll every `--interval` through it, one token for all.
Polling starts two intervals before the measured day (3 days of history are in the groups) and
goes on two intervals after it (calls not counted), so the day is counted in a steady state.

Simulated time and OK's limiter: the token's pacer (`connectors.ok_client.Pacer`) waits with
`asyncio.sleep` on `time.monotonic()` and takes no clock, so it cannot run on a manual clock, and
the bench patches nothing of ours. Instead the sources run with `rate = 100` (the most the config
allows) and the simulated clock runs 100× faster than real time (100 = 100 / OK's 1 call a
second) while a poll is running, and jumps to the next poll when none is: the pacer's real gaps
of 1.05/100 s are exactly its 1.05 s gaps at `rate = 1`, in simulated seconds. The fake's call log
is stamped with that simulated time, and so are the calls as they leave the client (aiohttp's
`on_request_start`, right after the pacer lets a call go); the calls per simulated second per
token are counted from both. At this scale a millisecond of real time is a tenth of a simulated
second and the pacer's 5% margin is half a millisecond: the machine's scheduling noise (the
process preempted for a few ms while a call is on its way) now and then brings two calls closer
than a simulated second, at the fake more often than leaving the client. So the per-second
figures are printed with how many calls came closer than a second after the previous one and how
close, not made a target: a limiter that ignored its rate would show on most calls of a poll,
not on one in thousands. Polls due together run concurrently, as in the daemon, sharing the
token's pacer.

The naive strategy reads the comments of every tracked topic (every topic of the last 3 days,
commented or not) on every poll, from the first comment (a subclass of the connector reusing its
paging and parsing). It makes tens of times the calls, and each call costs real time, so it
polls the first `--naive-groups` only (same traffic, its own token, in a second process), and
the ratio compares the same groups.

Targets (the exit status is 1 if one is missed): every comment of the day caught; calls per
stored comment ≥ 10× fewer than naive.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import itertools
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import daybench  # noqa: E402
from daybench import SimulatedCalls  # noqa: E402
from tests.fakes.ok import FakeOk  # noqa: E402

import connectors  # noqa: E402
from common.durations import format_duration, parse_duration  # noqa: E402
from connectors.base import Cursor, Item, SourceContext, SourceError  # noqa: E402
from connectors.ok import OkGroupSource, OkSettings, _Tracked  # noqa: E402
from connectors.ok_client import MARGIN, Topic  # noqa: E402
from fakes.local import most_in_a_second  # noqa: E402

START = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)  # Moscow midnight
DAY = 86_400
HISTORY = timedelta(days=3)
FIRST_GROUP = 70_000_000_000_000
SEED = 20261125
RUN_RATE = 100.0
"""The `rate` the sources run with: the most OkSettings accepts."""
OK_RATE = float(OkSettings.model_fields["rate"].default)
"""What OK is taken to allow per token (the connector's default): 1 call a second."""
SCALE = RUN_RATE / OK_RATE
"""Simulated seconds per real second while a poll runs."""
TARGET_RATIO = 10.0
APP_KEY, APP_SECRET = "CBABENCHAPPKEY", "bench-app-secret"
SECRETS = {"OK_APP_KEY": APP_KEY, "OK_APP_SECRET": APP_SECRET}


@dataclass(frozen=True)
class Event:
    """A topic or a comment appearing at `at` (unix seconds)."""

    at: int
    group: int
    key: int
    topic: int | None = None
    """For a comment: the key of its topic."""
    parent: int | None = None
    """For a reply: the key of the comment it answers."""
    user: str | None = None
    """A resident's uid; None: written by the group."""


def traffic(groups: Sequence[int], start: datetime, end: datetime, seed: int) -> list[Event]:
    """Every topic and comment from HISTORY before `start` to `end`, oldest first."""
    rng = random.Random(seed)
    events: list[Event] = []
    first, last = int((start - HISTORY).timestamp()), int(end.timestamp())
    for group in groups:
        for day in range(first, last, DAY):
            for _ in range(rng.randint(3, 10)):
                at = day + int(rng.triangular(6, 23, 12) * 3600)  # Moscow daytime
                if at < last:
                    events += _topic(rng, group, len(events), at, last)
    events.sort(key=lambda e: (e.at, e.key))
    return events


def _topic(rng: random.Random, group: int, key: int, at: int, last: int) -> list[Event]:
    """A topic and its comments: 70% none, else a log-normal tail up to 250, some replies."""
    topic = Event(at, group, key)
    if rng.random() < 0.7:
        return [topic]
    count = min(250, math.ceil(rng.lognormvariate(1.4, 1.5)))
    # Most comments come within hours; one in eight days later, inside the 3-day re-scan.
    delays = sorted(int(rng.expovariate(1 / 5400)) if rng.random() < 7 / 8
                    else rng.randint(0, int(2.5 * DAY)) for _ in range(count))
    comments: list[Event] = []
    for n, delay in enumerate(d for d in delays if at + d + 1 < last):
        parent = None if n == 0 or rng.random() < 0.65 else rng.choice(comments).key
        official = parent is not None and rng.random() < 0.08
        user = None if official else str(570_000_000_000 + rng.randint(1, 10**8))
        comments.append(Event(at + delay + 1, group, key + 1 + n, key, parent, user))
    return [topic, *comments]


class Feeder:
    """Puts the traffic into the fake as simulated time reaches it; knows every comment's id."""

    def __init__(self, fake: FakeOk, events: list[Event], start: datetime, end: datetime):
        self.fake, self.events, self.next = fake, events, 0
        self.ids: dict[int, str] = {}
        self.window = (int(start.timestamp()), int(end.timestamp()))
        self.expected: dict[str, tuple[int, int]] = {}
        """Comments of the measured day: external id → (published, group)."""

    def until(self, now: datetime) -> None:
        """Add everything published up to `now`."""
        limit = now.timestamp()
        while self.next < len(self.events) and self.events[self.next].at <= limit:
            self._add(self.events[self.next])
            self.next += 1

    def _add(self, e: Event) -> None:
        if e.topic is None:
            self.ids[e.key] = self.fake.add_topic(str(e.group), f"Новость {e.key}",
                                                  date=e.at * 1000)
            return
        topic = self.ids[e.topic]
        parent = None if e.parent is None else self.ids[e.parent]
        self.ids[e.key] = self.fake.add_comment(topic, f"Комментарий {e.key}", user=e.user,
                                                date=e.at * 1000, reply_to=parent)
        if self.window[0] <= e.at < self.window[1]:
            self.expected[f"comment:{topic}:{self.ids[e.key]}"] = (e.at, e.group)


class WarpClock:
    """Simulated time: it passes SCALE times faster than real time, and `jump` moves it ahead
    (when no poll is running). The sources read it as their clock."""

    def __init__(self, start: datetime, scale: float) -> None:
        self.scale = scale
        self._base, self._real = start, time.monotonic()

    def now(self) -> datetime:
        return self._base + timedelta(seconds=(time.monotonic() - self._real) * self.scale)

    def jump(self, moment: datetime) -> None:
        """Move to `moment` unless time is already past it."""
        if moment > self.now():
            self._base, self._real = moment, time.monotonic()


@dataclass
class NaiveGroupSource(OkGroupSource):
    """Every tracked topic's comments on every poll, from the first, whatever its count."""

    async def _follow(
        self, topic: Topic, old: _Tracked | None, items: list[Item], notices: list[str]
    ) -> _Tracked:
        anchor, complete = await self._comments(topic, None, items, notices)
        return _Tracked(topic.created_ms // 1000, topic.comments if complete else -1, anchor,
                        topic.fingerprint)


@dataclass
class Outcome(daybench.Outcome):
    """What one strategy did in the measured day, with the pacing figures OK needs."""

    max_leaving: int = 0
    """The most calls of the token leaving the client (the pacer's doing) in any simulated
    second."""
    concurrent: int = 0
    """The most polls running at once."""
    longest_poll: float = 0.0
    """Simulated seconds of the longest poll of the day."""
    cold_calls: int = 0
    """Calls of each source's first poll (no cursor: 3 days of comments to read)."""
    closest: float = math.inf
    """The shortest simulated gap between two calls of the token reaching the fake."""
    closest_leaving: float = math.inf
    """The same for calls leaving the client."""
    short: int = 0
    """Calls reaching the fake less than a simulated second after the token's previous one."""
    short_leaving: int = 0
    """The same for calls leaving the client."""
    token_calls: int = 0
    """All calls of the token, the warm-up and the drain included."""


async def simulate(
    name: str, kind: type[OkGroupSource], groups: list[int], events: list[Event],
    interval: timedelta, start: datetime, end: datetime,
) -> Outcome:
    """Poll `groups` through the fake from two intervals before `start` to two after `end`."""
    clock = WarpClock(start - 2 * interval, SCALE)
    epoch = clock.now()

    def seconds() -> float:
        return (clock.now() - epoch).total_seconds()

    token = f"bench-{name}"
    outcome = Outcome(name, groups)
    wanted = set(groups)
    leaving: list[float] = []

    async def sent(*_: object) -> None:
        leaving.append(seconds())

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(sent)
    async with FakeOk() as fake, aiohttp.ClientSession(trace_configs=[trace]) as http:
        # One unsigned call before the day, not logged, opens the session's connection and
        # runs the client's and the fake's code once: at SCALE a first call's extra
        # millisecond (a connect, first-time setup) would be a tenth of a simulated second.
        async with http.post(f"{fake.base_url}/fb.do", data={"method": "group.getInfo"}) as r:
            await r.read()
        leaving.clear()
        fake.calls = SimulatedCalls(seconds)
        fake.add_application(APP_KEY, APP_SECRET)
        fake.add_token(token)
        for group in groups:
            fake.add_group(str(group), name=f"Администрация {group}")
        sources = [_source(kind, group, fake, http, clock, token, interval) for group in groups]
        feeder = Feeder(fake, [e for e in events if e.group in wanted], start, end)
        await _poll_day(sources, feeder, clock, interval, (start, end), outcome)
        day = ((start - epoch).total_seconds(), (end - epoch).total_seconds())
        outcome.calls = Counter(c.method for c in fake.calls if day[0] <= c.at < day[1])
        reaching = sorted(c.at for c in fake.calls if c.token == token)
        outcome.max_per_second = fake.max_calls_per_second(token)
        outcome.max_leaving = most_in_a_second(leaving)
        outcome.closest, outcome.short = closest(reaching), short(reaching)
        outcome.closest_leaving, outcome.short_leaving = closest(leaving), short(leaving)
        outcome.token_calls = len(reaching)
        outcome.expected = feeder.expected
    return outcome


def short(times: list[float]) -> int:
    """How many of `times` (sorted) come less than a second after the one before."""
    return sum(1 for a, b in itertools.pairwise(times) if b - a < 1.0)


def closest(times: list[float]) -> float:
    """The shortest gap between neighbours of `times` (sorted)."""
    return min((b - a for a, b in itertools.pairwise(times)), default=math.inf)


def _source(kind: type[OkGroupSource], group: int, fake: FakeOk, http: aiohttp.ClientSession,
            clock: WarpClock, token: str, interval: timedelta) -> OkGroupSource:
    spec = connectors.registry()["ok"]
    settings = spec.settings_model.model_validate(
        {"id": f"ok-{group}", "network": "ok", "group_id": str(group), "base_url": fake.base_url,
         "interval": interval, "token_env": "OK_TOKEN", "application_key_env": "OK_APP_KEY",
         "application_secret_env": "OK_APP_SECRET", "rate": RUN_RATE})
    assert isinstance(settings, OkSettings)
    context = SourceContext(http, clock, token, {}, SECRETS)
    source = spec.create(settings, context) if kind is OkGroupSource else kind(settings, context)
    assert isinstance(source, OkGroupSource)
    return source


async def _poll_day(
    sources: list[OkGroupSource], feeder: Feeder, clock: WarpClock, interval: timedelta,
    day: tuple[datetime, datetime], outcome: Outcome,
) -> None:
    """Each source on its own phase of the interval, late polls coalesced as the scheduler
    does, polls due together running concurrently; the traffic is fed up to the moment each
    poll starts. With no poll running, time jumps to the next one due."""
    first = clock.now()
    queue = [(first + interval * n / len(sources), n) for n in range(len(sources))]
    heapq.heapify(queue)
    cursors: list[Cursor | None] = [None] * len(sources)
    stop = day[1] + 2 * interval
    running: set[asyncio.Task[None]] = set()

    async def poll(n: int, due: datetime) -> None:
        started = clock.now()
        client = sources[n].client()
        before = client.calls
        feeder.until(started)
        cold = cursors[n] is None
        try:
            page = await sources[n].fetch(cursors[n])
        except SourceError:
            outcome.failures += day[0] <= started < day[1]
        else:
            cursors[n] = page.next_cursor
            ended = clock.now().timestamp()
            for item in page.items:
                if item.kind != "post":
                    outcome.caught.setdefault(item.external_id, ended)
        outcome.cold_calls += (client.calls - before) * cold
        if day[0] <= started < day[1]:
            outcome.polls += 1
            outcome.source_calls[outcome.groups[n]] += client.calls - before
            outcome.longest_poll = max(outcome.longest_poll,
                                       (clock.now() - started).total_seconds())
        following = due + interval
        while following + interval <= clock.now():
            following += interval
        if following < stop:
            heapq.heappush(queue, (following, n))

    while queue or running:
        while queue and queue[0][0] <= clock.now():
            due, n = heapq.heappop(queue)
            running.add(asyncio.create_task(poll(n, due)))
        outcome.concurrent = max(outcome.concurrent, len(running))
        if not running:
            clock.jump(queue[0][0])
            continue
        wait = ((queue[0][0] - clock.now()).total_seconds() / clock.scale) if queue else None
        done, _ = await asyncio.wait(running, timeout=None if wait is None else max(wait, 0),
                                     return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            running.discard(task)
            task.result()


def report(ours: Outcome, naive: Outcome, interval: timedelta, events: list[Event],
           start: datetime, end: datetime, real: float) -> list[tuple[str, bool]]:
    """Print both strategies' figures; return the targets with whether each is met."""
    hours = (end - start).total_seconds() / 3600
    groups = len(ours.groups)
    topics = [e for e in events if e.topic is None and start.timestamp() <= e.at < end.timestamp()]
    counts = Counter(e.topic for e in events if e.topic is not None)
    all_topics = [e for e in events if e.topic is None]
    silent = sum(1 for e in all_topics if not counts[e.key]) / max(len(all_topics), 1)
    replies = sum(1 for e in events if e.parent is not None)
    by_group = sum(1 for e in events if e.topic is not None and e.user is None)
    print(f"traffic:                       {groups} groups, {len(topics):,} topics and "
          f"{len(ours.expected):,} comments in {hours:g} h; {silent:.0%} of topics never "
          f"commented, the busiest {max(counts.values(), default=0)} comments; "
          f"{replies / max(sum(counts.values()), 1):.0%} of comments are replies, "
          f"{by_group:,} by the group; 3 days of history in the groups")
    print(f"interval:                      {format_duration(interval)}")
    _print_outcome(ours, interval, hours, groups)
    _print_outcome(naive, interval, hours, groups)
    subset = set(naive.groups)
    ratio = naive.per_comment(subset) / max(ours.per_comment(subset), 1e-9)
    print(f"calls per comment, naive / ours on the same {len(subset)} groups: "
          f"{naive.per_comment(subset):.1f} / {ours.per_comment(subset):.2f} = {ratio:.1f}×")
    _print_scale(ours, naive, hours, real)
    caught = len(ours.delays())
    _print_rate(ours, naive)
    return [
        (f"every comment caught: {caught:,} of {len(ours.expected):,}",
         caught == len(ours.expected)),
        (f"calls per comment naive / ours ≥ {TARGET_RATIO:g}: {ratio:.1f}",
         ratio >= TARGET_RATIO),
    ]


def _print_rate(ours: Outcome, naive: Outcome) -> None:
    """The calls per simulated second per token, with what the figures can and cannot say."""
    limit, slack = int(OK_RATE), (MARGIN - 1) / RUN_RATE * 1000
    print(f"calls per simulated second per token (OK: {limit}), not a target:")
    for o in (ours, naive):
        print(f"  {o.name + ':':<7} most {o.max_leaving} leaving the client, {o.max_per_second} "
              f"reaching the fake; closer than 1 s to the previous call: {o.short_leaving} "
              f"leaving (closest {o.closest_leaving:.2f} s), {o.short} reaching (closest "
              f"{o.closest:.2f} s), of {o.token_calls:,} calls")
    print("  leaving: as the pacer lets a call go (aiohttp's on_request_start); reaching: the "
          f"fake's call log. The pacer keeps {MARGIN:g} s between calls; {MARGIN - 1:.2f} s is "
          f"{slack:g} ms of real time here, and the process preempted for longer than that "
          "while a call is on its way (this machine's other load) shows as two calls in one "
          "simulated second; a limiter that ignored its rate would show on most calls")


def _print_outcome(o: Outcome, interval: timedelta, hours: float, groups: int) -> None:
    title = {"ours": "ours (comments of topics whose count changed, from the stored anchor)",
             "naive": "naive (every tracked topic's comments from the first, every poll)"}[o.name]
    print(f"{title}, {len(o.groups)} groups:")
    delays = sorted(o.delays())
    total = sum(o.calls.values())
    within = sum(1 for d in delays if d <= interval.total_seconds()) / max(len(o.expected), 1)
    print(f"  polls / failed:              {o.polls:,} / {o.failures:,} (at most {o.concurrent} "
          f"at once; the longest {o.longest_poll:.0f} simulated s)")
    print(f"  API calls:                   {total:,} ("
          + ", ".join(f"{m} {n:,}" for m, n in sorted(o.calls.items())) + ")")
    print(f"  calls per stored comment:    {total / max(len(delays), 1):.2f}")
    print(f"  comments caught:             {len(delays):,} of {len(o.expected):,}; "
          f"within one interval {within:.1%}")
    if delays:
        print(f"  delay, comment → its poll:   median {statistics.median(delays) / 60:.1f} min, "
              f"90% {delays[int(0.9 * (len(delays) - 1))] / 60:.1f} min, max "
              f"{delays[-1] / 60:.1f} min")
    per_second = total / (hours * 3600)
    print(f"  token load:                  {per_second:.3f} calls/s on average of {OK_RATE:g} "
          f"({per_second / OK_RATE:.0%}); scaled to {groups} groups "
          f"{per_second * groups / len(o.groups):.3f} calls/s")
    print(f"  most calls in 1 sim. second: {o.max_leaving} leaving the client, "
          f"{o.max_per_second} reaching the fake, per token (OK: {OK_RATE:g}; see below)")


def _print_scale(ours: Outcome, naive: Outcome, hours: float, real: float) -> None:
    """What one token carries at OK's rate, and why the bench does not run 100 groups."""
    per_group = sum(ours.calls.values()) / len(ours.groups) * 24 / hours
    naive_group = sum(naive.calls.values()) / max(len(naive.groups), 1) * 24 / hours
    capacity = DAY * OK_RATE / MARGIN
    cold = ours.cold_calls / len(ours.groups) * 100 * MARGIN / OK_RATE / 60
    print(f"one token at {OK_RATE:g} call/s (≈ {capacity:,.0f} calls a day with the pacer's "
          f"{MARGIN:g} margin), for 100 groups:")
    print(f"  ours ≈ {per_group:,.0f} calls a group a day: ≈ {per_group * 100 / DAY:.2f} calls/s, "
          f"{per_group * 100 / capacity:.0%} of the token; but its first round after a start "
          f"(no cursors, 3 days of comments: {ours.cold_calls / len(ours.groups):.1f} calls a "
          f"group here) takes ≈ {cold:.0f} min of the token, and any day busier than this one "
          "leaves less room")
    print(f"  naive ≈ {naive_group:,.0f} calls a group a day: ≈ "
          f"{naive_group * 100 / DAY:.2f} calls/s, {naive_group * 100 / capacity:.0%} of the "
          f"token (one token carries it up to {math.floor(capacity / naive_group)} groups)")
    print(f"  the default is {len(ours.groups)} groups: at OK's conservative 1 call/s (OK "
          "publishes no figure) 100 groups are impractical to simulate here, since every call "
          f"costs real time ({MARGIN / RUN_RATE * 1000:.1f} ms at rate = {RUN_RATE:g}, the most "
          f"the config accepts): ≈ {real * 100 / len(ours.groups) / 60:.0f} min; "
          "--groups 100 runs it")


STRATEGIES: dict[str, type[OkGroupSource]] = {"ours": OkGroupSource, "naive": NaiveGroupSource}


def simulated(name: str, groups: list[int], events: list[Event], interval: timedelta,
              start: datetime, end: datetime) -> Outcome:
    """One strategy's day in its own event loop (and process)."""
    began = time.perf_counter()
    # No collector pauses inside the run: at SCALE a 5 ms pause is half a simulated second
    # (the day's garbage is some hundreds of MB at most).
    gc.collect()
    gc.disable()
    try:
        outcome = asyncio.run(simulate(name, STRATEGIES[name], groups, events, interval, start,
                                       end))
    finally:
        gc.enable()
    outcome.seconds = time.perf_counter() - began
    return outcome


def run(args: argparse.Namespace) -> int:
    """Generate the day, run both strategies, print, check the targets."""
    interval = parse_duration(args.interval)
    start = START
    end = start + timedelta(hours=args.hours)
    groups = [FIRST_GROUP + n for n in range(args.groups)]
    events = traffic(groups, start, end, args.seed)
    naive_groups = groups[: min(args.naive_groups, len(groups))]
    few = set(naive_groups)
    print(f"simulated time:                the pacer sleeps on time.monotonic() and takes no "
          f"clock, so the sources run with rate = {RUN_RATE:g} and simulated time runs "
          f"{SCALE:g}× faster than real time while polls run (jumping ahead between them): the "
          f"pacer's real {MARGIN / RUN_RATE * 1000:.1f} ms gaps are {MARGIN / OK_RATE:g} s of "
          "simulated time, as at rate = 1; the fake's call log and the calls leaving the "
          "client are stamped with it; nothing of ours is patched")
    began = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(simulated, "ours", groups, events, interval, start, end),
                pool.submit(simulated, "naive", naive_groups,
                            [e for e in events if e.group in few], interval, start, end)]
        ours, naive = (job.result() for job in runs)
    real = time.perf_counter() - began
    print(f"real time:                     {real:.0f} s (ours {ours.seconds:.0f} s and naive "
          f"{naive.seconds:.0f} s side by side)")
    results = report(ours, naive, interval, events, start, end, ours.seconds)
    return daybench.print_targets(results)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--groups", type=int, default=30, help="groups polled")
    parser.add_argument("--hours", type=float, default=24.0, help="length of the measured day")
    parser.add_argument("--interval", default="10m", help='polling interval ("10m", "30m")')
    parser.add_argument("--naive-groups", type=int, default=2,
                        help="groups the naive strategy polls (the first N)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    daybench.print_command(argv)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
