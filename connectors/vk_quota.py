"""How much of VK's daily caps and per-second rate the configured sources use, per token.

A pure estimate from the settings (nothing is called), for `monitor check-config` and the
daemon's start-up log: one Russian line per `token_env`, then one line of assumptions.

What our strategy calls (connectors/vk.py):
- a `wall` source: one `wall.get` each time it reads the wall (one page: a community seldom
  posts 100 times between polls), plus `wall.getComments` for each post whose comment count
  changed since. A quiet wall is read only every other or every third interval, so the reads
  per scheduled poll (`reads_per_poll`) and the changed posts per scheduled poll
  (`changed_per_poll`) depend on the traffic: they are assumptions, READS_PER_POLL and
  CHANGED_PER_POLL by default (what bench/vk_day.py measures on a realistic day of 100
  communities at 5-minute polls), and the output says them. A busy day reads every wall at
  every poll: the line gives that bound too, and the interval it suggests fits even then.
  Thread pages and `wall.getById` (recent posts off the first page of a very busy wall) are
  rare and left out;
- a `search` source: one `newsfeed.search` page per phrase per poll (`search_pages`);
- any other mode (the Bots Long Poll of our own community) spends no daily cap: its token is
  a community token (20 calls/s) and the service token it may back-fill with is used after
  a gap in the events only.

Going over a cap is said on the line («превышение», or «возможно превышение» when only a
busy day would, with the interval and the number of tokens that fit even then) and is not an
error: `check-config` still succeeds, because the daemon stays safe (the per-token limiter
keeps the rate, and after VK's error 29 the method rests for an hour instead of hammering
VK); what suffers is freshness, since the capped method then fails until VK's day turns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from connectors.base import SourceSettings
from connectors.vk import VkSettings
from connectors.vk_client import RATES, TokenKind

DAILY_CAPS = {"wall.get": 5000, "newsfeed.search": 1000}
"""Calls per day VK allows each token (vk.com/dev/data_limits); wall.getComments has none."""
READS_PER_POLL = 0.5
"""Assumed wall reads (one wall.get each) per scheduled poll of a wall source: bench/vk_day.py
measures 0.49 at 5-minute polls, 0.62 at 15, 0.72 at 30 (more of the walls are busy)."""
CHANGED_PER_POLL = 0.1
"""Assumed posts with new comments (one wall.getComments each) per scheduled poll: measured
0.10 at 5-minute polls, 0.23 at 15, 0.38 at 30."""
SEARCH_PAGES = 1
"""Assumed newsfeed.search pages per phrase per poll."""
QUIET_EVERY = 3
"""A quiet wall is read at least every this many intervals (VkWallSource)."""
METHODS = ("wall.get", "wall.getComments", "newsfeed.search")
"""The order the line names them in."""
DAY = 86_400
LONGEST = timedelta(days=1)


@dataclass(frozen=True)
class TokenQuota:
    """One token's estimated day: calls per method, the rate it needs, what would fit."""

    token_env: str
    kind: TokenKind
    sources: int
    realtime: int
    calls: dict[str, float]
    """Expected calls per day by method."""
    most: dict[str, float]
    """Calls per day by capped method on a busy day: every wall read at every poll."""
    freshness: timedelta | None
    """The longest polling interval of the token's polled sources."""
    quiet_freshness: timedelta | None
    """The longest time a comment on a quiet wall waits: QUIET_EVERY intervals."""
    fits: dict[str, timedelta] = field(default_factory=dict)
    """For each capped method that may go over its cap: the least interval of its sources that
    keeps even a busy day within it."""
    tokens_needed: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        """Average calls per second over the day."""
        return sum(self.calls.values()) / DAY

    @property
    def rate(self) -> int:
        """What VK allows this kind of token per second."""
        return RATES[self.kind]

    def over(self) -> list[str]:
        """The capped methods whose expected calls are above the cap."""
        return [m for m, cap in DAILY_CAPS.items() if self.calls.get(m, 0.0) > cap]

    def line(self) -> str:
        """«токен $VK: 12 источников; wall.get ≈ 3 456 в сутки из 5 000 (69%); …»."""
        head = f"токен ${self.token_env}: {_sources(self.sources)}"
        if self.realtime:
            head += f" (Long Poll: {self.realtime})"
        parts = [head, *(self._method(m) for m in METHODS if m in self.calls)]
        if self.freshness is None:
            return "; ".join([*parts, "дневных лимитов не расходует"])
        return "; ".join([*parts, self._speed(), self._freshness(self.freshness)])

    def _method(self, method: str) -> str:
        used, cap = self.calls[method], DAILY_CAPS.get(method)
        if cap is None:
            return f"{method} ≈ {_n(used)} (без дневного лимита)"
        text = f"{method} ≈ {_n(used)} в сутки из {_n(cap)} ({used / cap:.0%})"
        if self.most[method] > used:
            text += f", в оживлённый день до {_n(self.most[method])}"
        if method in self.fits:
            what = "стен" if method == "wall.get" else "поиска"
            text += (f" — {'превышение' if used > cap else 'возможно превышение'}: "
                     f"чтобы уложиться наверняка, интервал {what} не меньше "
                     f"{_minutes(self.fits[method])} или токенов не меньше "
                     f"{self.tokens_needed[method]}")
        return text

    def _speed(self) -> str:
        speed = f"≈ {_decimal(round(self.per_second, 2))}" if self.per_second >= 0.01 \
            else "< 0,01"
        late = " — превышение: опросы будут опаздывать" if self.per_second > self.rate else ""
        return f"{speed} вызова/с из {self.rate}{late}"

    def _freshness(self, longest: timedelta) -> str:
        text = f"при таких интервалах свежесть ≤ {_minutes(longest)}"
        if self.quiet_freshness is not None and self.quiet_freshness > longest:
            text += f", у тихой стены ≤ {_minutes(self.quiet_freshness)}"
        return text + (", пока лимит не исчерпан" if self.over() else "")


@dataclass(frozen=True)
class Assumptions:
    """What the estimate cannot know from the config (see the module's docstring)."""

    reads_per_poll: float = READS_PER_POLL
    changed_per_poll: float = CHANGED_PER_POLL
    search_pages: int = SEARCH_PAGES

    def line(self) -> str:
        """The assumptions in Russian, for under the tokens' lines."""
        reads, changed = _decimal(self.reads_per_poll), _decimal(self.changed_per_poll)
        return (f"оценка: на опрос стены в среднем {reads} wall.get (тихую стену читают через "
                "раз или реже; при редких опросах и в оживлённый день — чаще, до каждого "
                f"опроса) и {changed} wall.getComments (посты с новыми комментариями), на опрос "
                f"поиска {self.search_pages} стр. newsfeed.search на фразу; превышение не "
                "ломает демон: после ошибки 29 метод отдыхает час, страдает только свежесть")


def plan(
    sources: Iterable[SourceSettings], assumed: Assumptions | None = None
) -> list[TokenQuota]:
    """Each token's estimate, in the order tokens first appear; enabled VK sources with a
    token_env only (the daemon skips the others)."""
    groups: dict[str, list[VkSettings]] = {}
    for source in sources:
        if isinstance(source, VkSettings) and source.enabled and source.token_env:
            groups.setdefault(source.token_env, []).append(source)
    return [_token(name, group, assumed or Assumptions()) for name, group in groups.items()]


def quota_lines(
    sources: Iterable[SourceSettings], assumed: Assumptions | None = None
) -> list[str]:
    """One line per token and a line of the assumptions; empty without VK sources."""
    assumed = assumed or Assumptions()
    quotas = plan(sources, assumed)
    return [*(quota.line() for quota in quotas), assumed.line()] if quotas else []


def _token(name: str, group: list[VkSettings], assumed: Assumptions) -> TokenQuota:
    walls = [(s.interval.total_seconds(), 1) for s in group if s.mode == "wall"]
    searches = [(s.interval.total_seconds(), _phrases(s) * assumed.search_pages)
                for s in group if s.mode == "search"]
    realtime = len(group) - len(walls) - len(searches)
    calls: dict[str, float] = {}
    most: dict[str, float] = {}
    if walls:
        polls = _per_day(walls)
        most["wall.get"] = polls
        calls["wall.get"] = polls * assumed.reads_per_poll
        calls["wall.getComments"] = polls * assumed.changed_per_poll
    if searches:
        calls["newsfeed.search"] = most["newsfeed.search"] = _per_day(searches)
    fits, needed = {}, {}
    for method, polled in (("wall.get", walls), ("newsfeed.search", searches)):
        if most.get(method, 0.0) > DAILY_CAPS[method]:
            fits[method] = _least_interval(polled, DAILY_CAPS[method])
            needed[method] = math.ceil(most[method] / DAILY_CAPS[method])
    intervals = [i for i, _ in walls + searches]
    kind: TokenKind = "community" if realtime == len(group) else "service"
    longest = timedelta(seconds=max(intervals)) if intervals else None
    quiet = timedelta(seconds=max(i for i, _ in walls)) * QUIET_EVERY if walls else None
    return TokenQuota(name, kind, len(group), realtime, calls, most, longest, quiet, fits,
                      needed)


def _per_day(polled: list[tuple[float, int]], floor: float = 0.0) -> float:
    """Calls a day of sources polled every `interval` seconds (at least `floor`), `calls`
    each time."""
    return sum(DAY / max(interval, floor) * calls for interval, calls in polled)


def _least_interval(polled: list[tuple[float, int]], cap: int) -> timedelta:
    """The least whole-minute interval that, given to every source polled more often, keeps
    the calls within `cap` (a day, or more, when even that is too many)."""
    for minutes in range(1, int(LONGEST.total_seconds() // 60) + 1):
        if _per_day(polled, minutes * 60.0) <= cap:
            return timedelta(minutes=minutes)
    return LONGEST


def _phrases(source: VkSettings) -> int:
    """Distinct phrases (VK ignores case), as VkSearchSource searches them."""
    return len({q.strip().casefold() for q in source.query if q.strip()})


def _decimal(value: float) -> str:
    """0.5 → «0,5»."""
    return f"{value:g}".replace(".", ",")


def _n(value: float) -> str:
    """3456 → «3 456»."""
    return f"{round(value):,}".replace(",", " ")


def _minutes(delta: timedelta) -> str:
    """«45 с», «5 мин», «1 ч 30 мин»."""
    if delta < timedelta(minutes=1):
        return f"{math.ceil(delta.total_seconds())} с"
    minutes = math.ceil(delta.total_seconds() / 60)
    if minutes < 60:
        return f"{minutes} мин"
    hours, rest = divmod(minutes, 60)
    return f"{hours} ч {rest} мин" if rest else f"{hours} ч"


def _sources(count: int) -> str:
    if count % 10 == 1 and count % 100 != 11:
        return f"{count} источник"
    if 2 <= count % 10 <= 4 and not 12 <= count % 100 <= 14:
        return f"{count} источника"
    return f"{count} источников"
