"""Poll a simulated day of VK comments on many communities, our way and the naive way.

Usage: python bench/vk_day.py [--communities 100] [--hours 24] [--interval 5m]
                              [--naive-communities 10] [--seed 20261125]

A day of traffic (each community 5–15 posts a day, 70% of posts never commented, the rest a
long tail of up to 200 comments with threads, a few comments days late) is fed into the fake
VK API (fakes/vk.py) at its simulated times, and the real `VkWallSource` objects
(`connectors.registry()["vk"]`) poll every `--interval` through vk-api, one service token
for all, its rate limiter running on the same simulated clock: no real time is waited.
Polling starts an hour before the measured day (3 days of history are on the walls) and goes
on an hour after it (calls not counted) for the day's last comments, so the day is counted in
a steady state.

The naive strategy reads every recent post's comments on every poll (a subclass of the
connector reusing its parsing); it makes some thirty times the calls, so it polls the first
`--naive-communities` only (same traffic), and the ratio compares the same communities. The
two strategies run side by side in two processes, each on its own simulated clock and fake.

Targets: inside one service token's daily caps (wall.get 5,000, newsfeed.search 1,000); every
comment caught; calls per comment ≥ 10× fewer than naive; median delay from comment to the
poll that caught it ≤ 15 min; at most 3 calls in any simulated second per token. The fake's
own caps are lifted, so the whole day's demand is measured and then compared with VK's.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
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

from daybench import Outcome, SimulatedCalls, print_command, print_targets  # noqa: E402
from tests.fakes.vk import FakeVk  # noqa: E402

import connectors  # noqa: E402
from common.clock import ManualClock  # noqa: E402
from common.durations import format_duration, parse_duration  # noqa: E402
from connectors.base import Cursor, Page, SourceContext, SourceError  # noqa: E402
from connectors.vk import VkWallSource, _tracked  # noqa: E402
from connectors.vk_client import RATES, RateLimiter, share_limiter  # noqa: E402
from connectors.vk_quota import (  # noqa: E402
    CHANGED_PER_POLL,
    DAILY_CAPS,
    READS_PER_POLL,
    quota_lines,
)

START = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)  # Moscow midnight: the fake's day
DAY = 86_400
HISTORY = timedelta(days=3)
WARM_UP = timedelta(hours=1)
DRAIN = timedelta(hours=1)
"""Polling goes on this long after the day (calls not counted), for its last comments: a quiet
wall is read only every third interval."""
FIRST_GROUP = 10_000
SEED = 20261125
TARGETS = {"ratio": 10.0, "median_min": 15.0}
LIFTED_CAPS = {"wall.get": 10**9, "wall.search": 10**9, "newsfeed.search": 10**9,
               "wall.getComments": 10**9}


@dataclass(frozen=True)
class Event:
    """A post or a comment appearing at `at` (unix seconds)."""

    at: int
    group: int
    key: int
    post: int | None = None
    """For a comment: the key of its post."""
    parent: int | None = None
    """For a reply: the key of the comment it answers."""
    author: int = 0


def traffic(groups: Sequence[int], start: datetime, end: datetime, seed: int) -> list[Event]:
    """Every post and comment from HISTORY before `start` to `end`, oldest first."""
    rng = random.Random(seed)
    events: list[Event] = []
    first, last = int((start - HISTORY).timestamp()), int(end.timestamp())
    for group in groups:
        for day in range(first, last, DAY):
            for _ in range(rng.randint(5, 15)):
                at = day + int(rng.triangular(6, 23, 13) * 3600)  # Moscow daytime
                if at < last:
                    events += _post(rng, group, len(events), at, last)
    events.sort(key=lambda e: (e.at, e.key))
    return events


def _post(rng: random.Random, group: int, key: int, at: int, last: int) -> list[Event]:
    """A post and its comments: 70% none, else a log-normal tail up to 200, some in threads."""
    post = Event(at, group, key, author=-group)
    if rng.random() < 0.7:
        return [post]
    count = min(200, math.ceil(rng.lognormvariate(1.5, 1.5)))
    # Most comments come within hours; one in seven days later, inside the 3-day re-scan.
    delays = sorted(int(rng.expovariate(1 / 5400)) if rng.random() < 6 / 7
                    else rng.randint(0, int(2.5 * DAY)) for _ in range(count))
    comments: list[Event] = []
    for n, delay in enumerate(d for d in delays if at + d + 1 < last):
        parent = None if n == 0 or rng.random() < 0.65 else rng.choice(comments).key
        official = parent is not None and rng.random() < 0.05
        author = -group if official else rng.randint(1, 10**8)
        comments.append(Event(at + delay + 1, group, key + 1 + n, key, parent, author))
    return [post, *comments]


class Feeder:
    """Puts the traffic into the fake as simulated time reaches it; knows every comment's id."""

    def __init__(self, fake: FakeVk, events: list[Event], start: datetime, end: datetime):
        self.fake, self.events, self.next = fake, events, 0
        self.ids: dict[int, int] = {}
        self.window = (int(start.timestamp()), int(end.timestamp()))
        self.expected: dict[str, tuple[int, int]] = {}
        """Comments of the measured day: external id → (published, group)."""

    def until(self, now: datetime) -> None:
        """Add everything published up to `now`."""
        self.fake.now = now
        limit = now.timestamp()
        while self.next < len(self.events) and self.events[self.next].at <= limit:
            self._add(self.events[self.next])
            self.next += 1

    def _add(self, e: Event) -> None:
        if e.post is None:
            self.ids[e.key] = self.fake.add_post(e.group, f"Новость {e.key}", date=e.at,
                                                 from_id=e.author)
            return
        post = self.ids[e.post]
        parent = None if e.parent is None else self.ids[e.parent]
        self.ids[e.key] = self.fake.add_comment(e.group, post, f"Комментарий {e.key}",
                                                from_id=e.author, date=e.at,
                                                reply_to_comment=parent)
        if self.window[0] <= e.at < self.window[1]:
            self.expected[f"wall-{e.group}_{post}_r{self.ids[e.key]}"] = (e.at, e.group)


@dataclass
class NaiveWallSource(VkWallSource):
    """Every recent post's comments on every poll, whatever its comment count."""

    async def fetch(self, cursor: Cursor | None) -> Page:
        """New posts, and every comment of every post inside the re-scan window."""
        last_post = int((cursor or {}).get("last_post") or 0)
        now, owner, notices = self.context.clock.now(), -(self.settings.group_id or 0), []
        since = now - self.settings.lookback
        posts = await self._new_posts(owner, last_post, since, notices)
        items = [item for raw in posts if int(raw.get("id") or 0) > last_post
                 if (item := self.post_item(raw, notices)) is not None
                 and item.published_at >= since]
        counts = await self._counts(owner, posts, _tracked(cursor), now - self.settings.rescan)
        for post in sorted(counts):
            items += await self._comments(owner, post, notices)
        newest = max([last_post, *(int(p.get("id") or 0) for p in posts)])
        tracked = {str(k): [date, count] for k, (date, count) in counts.items()}
        return Page(sorted(items, key=lambda i: i.published_at),
                    {"last_post": newest, "posts": tracked}, notices)


async def simulate(
    name: str, kind: type[VkWallSource], groups: list[int], events: list[Event],
    interval: timedelta, start: datetime, end: datetime,
) -> Outcome:
    """Poll `groups` through the fake from WARM_UP before `start` to one interval after `end`."""
    clock = ManualClock(start - WARM_UP)
    epoch = clock.now()

    def seconds() -> float:
        return (clock.now() - epoch).total_seconds()

    async def sleep(delay: float) -> None:
        clock.advance(timedelta(seconds=delay))

    token = f"bench-{name}"
    outcome = Outcome(name, groups)
    wanted = set(groups)
    async with FakeVk(now=epoch.timestamp(), daily_caps=LIFTED_CAPS) as fake, \
            aiohttp.ClientSession() as http:
        fake.calls = SimulatedCalls(seconds)
        fake.add_token(token, kind="service")
        for group in groups:
            fake.add_community(group)
        share_limiter(token, "service", RateLimiter(RATES["service"], seconds, sleep))
        sources = [_source(kind, group, fake, http, clock, token, interval) for group in groups]
        feeder = Feeder(fake, [e for e in events if e.group in wanted], start, end)
        await _poll_day(sources, feeder, clock, interval, (start, end), outcome)
        day = ((start - epoch).total_seconds(), (end - epoch).total_seconds())
        outcome.calls = Counter(c.method for c in fake.calls if day[0] <= c.at < day[1])
        outcome.max_per_second = fake.max_calls_per_second(token)
        outcome.expected = feeder.expected
    return outcome


def _source(kind: type[VkWallSource], group: int, fake: FakeVk, http: aiohttp.ClientSession,
            clock: ManualClock, token: str, interval: timedelta) -> VkWallSource:
    spec = connectors.registry()["vk"]
    settings = spec.settings_model.model_validate(
        {"id": f"vk-{group}", "network": "vk", "group_id": group, "base_url": fake.base_url,
         "interval": interval, "token_env": "VK_SERVICE_TOKEN"})
    context = SourceContext(http, clock, token, {})
    source = spec.create(settings, context) if kind is VkWallSource else kind(settings, context)
    assert isinstance(source, VkWallSource)
    return source


async def _poll_day(
    sources: list[VkWallSource], feeder: Feeder, clock: ManualClock, interval: timedelta,
    day: tuple[datetime, datetime], outcome: Outcome,
) -> None:
    """Each source on its own phase of the interval, late polls coalesced as the scheduler
    does; the traffic is fed up to the moment each poll starts."""
    first = clock.now()
    queue = [(first + interval * n / len(sources), n) for n in range(len(sources))]
    cursors: list[Cursor | None] = [None] * len(sources)
    while queue:
        due, n = heapq.heappop(queue)
        clock.set(max(clock.now(), due))
        started, before = clock.now(), sources[n].client.calls
        feeder.until(started)
        try:
            page = await sources[n].fetch(cursors[n])
        except SourceError:
            outcome.failures += day[0] <= started < day[1]
        else:
            cursors[n] = page.next_cursor
            for item in page.items:
                if item.kind != "post":
                    outcome.caught.setdefault(item.external_id, clock.now().timestamp())
        if day[0] <= started < day[1]:
            outcome.polls += 1
            outcome.source_calls[outcome.groups[n]] += sources[n].client.calls - before
        following = due + interval
        while following + interval <= clock.now():
            following += interval
        if following < day[1] + max(DRAIN, 3 * interval):
            heapq.heappush(queue, (following, n))


def report(ours: Outcome, naive: Outcome, interval: timedelta, communities: int,
           events: list[Event], start: datetime, end: datetime) -> list[tuple[str, bool]]:
    """Print both strategies' figures; return the targets with whether each is met."""
    hours = (end - start).total_seconds() / 3600
    posts = [e for e in events if e.post is None and start.timestamp() <= e.at < end.timestamp()]
    counts = Counter(e.post for e in events if e.post is not None)
    silent = sum(1 for e in events if e.post is None and not counts[e.key]) / max(
        sum(1 for e in events if e.post is None), 1)
    print(f"traffic:                       {communities} communities, {len(posts):,} posts and "
          f"{len(ours.expected):,} comments in {hours:g} h; {silent:.0%} of posts never "
          f"commented, the busiest {max(counts.values(), default=0)} comments; 3 days of "
          "history on the walls")
    print(f"interval:                      {format_duration(interval)}")
    _print_outcome(ours, interval, hours, communities)
    _print_outcome(naive, interval, hours, communities)
    subset = set(naive.groups)
    ratio = naive.per_comment(subset) / max(ours.per_comment(subset), 1e-9)
    print(f"calls per comment, naive / ours on the same {len(subset)} communities: "
          f"{naive.per_comment(subset):.1f} / {ours.per_comment(subset):.2f} = {ratio:.1f}×")
    scale = 24 / hours
    over = {m: ours.calls[m] * scale for m, cap in DAILY_CAPS.items()
            if ours.calls[m] * scale > cap}
    caught = len(ours.delays())
    delays = ours.delays()
    median = statistics.median(delays) / 60 if delays else math.inf
    rate = RATES["service"]
    return [
        ("ours inside one service token's daily caps: " + ", ".join(
            f"{m} {_n(ours.calls[m] * scale)} of {_n(cap)}" for m, cap in DAILY_CAPS.items()),
         not over),
        (f"every comment caught: {caught:,} of {len(ours.expected):,}",
         caught == len(ours.expected)),
        (f"calls per comment naive / ours ≥ {TARGETS['ratio']:g}: {ratio:.1f}",
         ratio >= TARGETS["ratio"]),
        (f"median delay ≤ {TARGETS['median_min']:g} min: {median:.1f} min",
         median <= TARGETS["median_min"]),
        (f"≤ {rate} calls in any simulated second per token: ours {ours.max_per_second}, "
         f"naive {naive.max_per_second}", max(ours.max_per_second, naive.max_per_second) <= rate),
    ]


def _print_outcome(o: Outcome, interval: timedelta, hours: float, communities: int) -> None:
    title = {"ours": "ours (comments of posts whose count changed)",
             "naive": "naive (every recent post's comments, every poll)"}[o.name]
    print(f"{title}, {len(o.groups)} communities:")
    delays = sorted(o.delays())
    total = sum(o.calls.values())
    within = sum(1 for d in delays if d <= interval.total_seconds()) / max(len(o.expected), 1)
    print(f"  polls / failed:              {o.polls:,} / {o.failures:,}")
    print(f"  API calls:                   {total:,} ("
          + ", ".join(f"{m} {n:,}" for m, n in sorted(o.calls.items())) + ")")
    print(f"  calls per stored comment:    {total / max(len(delays), 1):.2f}")
    print(f"  comments caught:             {len(delays):,} of {len(o.expected):,}; "
          f"within one interval {within:.1%}")
    if delays:
        print(f"  delay, comment → its poll:   median {statistics.median(delays) / 60:.1f} min, "
              f"90% {delays[int(0.9 * (len(delays) - 1))] / 60:.1f} min, max "
              f"{delays[-1] / 60:.1f} min")
    scale = 24 / hours * communities / len(o.groups)
    what = "per day" if scale == 1 else f"per day, scaled to {communities}"
    print(f"  {what + ':':<29}" + "; ".join(
        f"{m} {_n(o.calls[m] * scale)} of {_n(cap)} ({o.calls[m] * scale / cap:.0%})"
        for m, cap in DAILY_CAPS.items())
        + f"; all methods ≈ {total * scale / DAY:.2f} calls/s of {RATES['service']}")
    polls = max(o.polls, 1)
    print(f"  per scheduled poll:          wall.get {o.calls['wall.get'] / polls:.3f}, "
          f"wall.getComments {o.calls['wall.getComments'] / polls:.3f} (the quota planner "
          f"assumes {READS_PER_POLL:g} and {CHANGED_PER_POLL:g} for ours)")
    print(f"  most calls in 1 sim. second: {o.max_per_second} (VK allows {RATES['service']})")


def _n(value: float) -> str:
    return f"{round(value):,}"


def planner_lines(communities: int, interval: timedelta) -> list[str]:
    """What `monitor check-config` would say for this many wall sources on one token."""
    spec = connectors.registry()["vk"]
    sources = [spec.settings_model.model_validate(
        {"id": f"vk-{n}", "network": "vk", "group_id": FIRST_GROUP + n, "interval": interval,
         "token_env": "VK_SERVICE_TOKEN"}) for n in range(communities)]
    return quota_lines(sources)


STRATEGIES: dict[str, type[VkWallSource]] = {"ours": VkWallSource, "naive": NaiveWallSource}


def simulated(name: str, groups: list[int], events: list[Event], interval: timedelta,
              start: datetime, end: datetime) -> Outcome:
    """One strategy's day in its own event loop (and process)."""
    began = time.perf_counter()
    outcome = asyncio.run(simulate(name, STRATEGIES[name], groups, events, interval, start, end))
    outcome.seconds = time.perf_counter() - began
    return outcome


def run(args: argparse.Namespace) -> int:
    """Generate the day, run both strategies, print, check the targets."""
    interval = parse_duration(args.interval)
    start = START
    end = start + timedelta(hours=args.hours)
    groups = [FIRST_GROUP + n for n in range(args.communities)]
    events = traffic(groups, start, end, args.seed)
    naive_groups = groups[: min(args.naive_communities, len(groups))]
    few = set(naive_groups)
    began = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(simulated, "ours", groups, events, interval, start, end),
                pool.submit(simulated, "naive", naive_groups,
                            [e for e in events if e.group in few], interval, start, end)]
        ours, naive = (job.result() for job in runs)
    print(f"real time:                     {time.perf_counter() - began:.0f} s (ours "
          f"{ours.seconds:.0f} s and naive {naive.seconds:.0f} s side by side)")
    results = report(ours, naive, interval, len(groups), events, start, end)
    print("quota planner (monitor check-config) for the same sources:")
    for line in planner_lines(len(groups), interval):
        print(f"  {line}")
    return print_targets(results)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--communities", type=int, default=100, help="communities polled")
    parser.add_argument("--hours", type=float, default=24.0, help="length of the measured day")
    # 20 minutes: what the quota planner advises for 100 walls on one service token (at 5 the
    # day needs ~14,000 wall.get calls against VK's cap of 5,000).
    parser.add_argument("--interval", default="20m", help='polling interval ("5m", "30m")')
    parser.add_argument("--naive-communities", type=int, default=10,
                        help="communities the naive strategy polls (the first N)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    print_command(argv)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
