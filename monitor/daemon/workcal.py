"""Working-time arithmetic over a municipality's hours and the Russian production calendar."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from monitor.config.settings import WEEKDAYS, CalendarConfig, Clock, SlaPolicy, WeekHours

Interval = tuple[datetime, datetime]
"""A half-open span of working time [start, end) between two aware instants."""

_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_SEARCH_DAYS = 366 * 3
_ANCHOR_MARGIN = timedelta(days=31)
"""How far before the first day asked for the running sums of working time begin."""


@dataclass(frozen=True)
class _RussianYear:
    """What the production calendar says about one year (and the days next to it)."""

    days_off: frozenset[date]
    holidays: frozenset[date]
    workdays: frozenset[date]
    pre_holiday: frozenset[date]


@lru_cache(maxsize=32)
def _russian_year(year: int) -> _RussianYear:
    """Read the Russian production calendar for a year, once per process."""
    # Neighbouring years: Dec 31 may precede a holiday, a transfer may cross New Year.
    years = (year - 1, year, year + 1)
    listed = holidays.country_holidays("RU", years=years)
    unobserved = holidays.country_holidays("RU", years=years, observed=False)
    moved = _substituted_days_off(listed, years)
    official = frozenset(day for day in unobserved if day not in moved)
    workdays = frozenset(listed.weekend_workdays)
    pre_holiday = {day - _DAY for day in official}
    # Art. 95: when the day before a holiday is moved off, its shortening moves with its work
    # to the weekend day (2025-11-03 -> 2025-11-01, 2024-04-30 -> 2024-11-02).
    pre_holiday |= {
        origin for day, origin in moved.items() if day + _DAY in official and origin in workdays
    }
    return _RussianYear(frozenset(listed), official, workdays, frozenset(pre_holiday))


def _substituted_days_off(calendar: holidays.HolidayBase, years: Iterable[int]) -> dict[date, date]:
    """Map each substituted day off to the date it was moved from, read from the package's data."""
    # Keyed on the package's transfer table, not on holiday names: names follow the locale.
    table = getattr(calendar, "special_public_holidays", {})
    moved: dict[date, date] = {}
    for year in years:
        entries = table.get(year, ())
        if entries and not isinstance(entries[0], tuple):
            entries = (entries,)
        for entry in entries:
            if len(entry) >= 4:
                to_month, to_day, from_month, from_day, *rest = entry
                origin = date(rest[0] if rest else year, from_month, from_day)
                moved[date(year, to_month, to_day)] = origin
    return moved


def known_transfer_years() -> frozenset[int]:
    """Years whose moved days off the `holidays` package knows (a later year may lack them)."""
    calendar = holidays.country_holidays("RU")
    return frozenset(getattr(calendar, "special_public_holidays", {}))


@dataclass(frozen=True, slots=True)
class MonthNorm:
    """What the calendar gives one month: working days and working time."""

    month: int
    working_days: int
    working_time: timedelta


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = f"{name} must be a time-zone aware datetime, got naive {moment!r}"
        raise ValueError(msg)


def _cut_end(spans: list[Interval], amount: timedelta) -> list[Interval]:
    """Remove `amount` of time from the end of the last spans."""
    kept = list(spans)
    while amount > _ZERO and kept:
        start, end = kept[-1]
        if end - start > amount:
            kept[-1] = (start, end - amount)
            break
        amount -= end - start
        kept.pop()
    return kept


class WorkingCalendar:
    """A municipality's working hours, holidays and transfers, with working-time arithmetic."""

    def __init__(self, config: CalendarConfig) -> None:
        self._config = config
        self._zone = config.zone
        # Re-validated: pydantic leaves WeekHours defaults as unparsed "09:00-13:00" strings.
        self._hours = WeekHours.model_validate({d: getattr(config.hours, d) for d in WEEKDAYS})
        self._days_off = frozenset(config.days_off)
        self._working_days = frozenset(config.working_days)
        self._moved_hours = self._hours.for_weekday(WEEKDAYS.index(config.moved_working_day_hours))
        self._spans: dict[date, tuple[Interval, ...]] = {}
        self._anchor: date | None = None
        self._sums: list[timedelta] = [_ZERO]
        """Working time of the days from `_anchor` on: `_sums[k]` is that of the first k days."""

    @property
    def zone(self) -> ZoneInfo:
        """Return the calendar's time zone."""
        return self._zone

    def is_working_day(self, day: date) -> bool:
        """Tell whether a local date is a working day; local overrides win over the package."""
        if day in self._days_off:
            return False
        if day in self._working_days:
            return True
        if self._config.russian_holidays:
            russian = _russian_year(day.year)
            if day in russian.workdays:
                return True
            if day in russian.days_off:
                return False
        return bool(self._hours.for_weekday(day.weekday()))

    def is_pre_holiday(self, day: date) -> bool:
        """Tell whether a local date is a working day shortened before a public holiday."""
        if not self._config.russian_holidays or not self.is_working_day(day):
            return False
        return day in _russian_year(day.year).pre_holiday

    def intervals(self, day: date) -> list[Interval]:
        """Return the working intervals of a local date, aware in the calendar's time zone."""
        return [(s.astimezone(self._zone), e.astimezone(self._zone)) for s, e in self._utc(day)]

    def month_norms(self, year: int) -> list[MonthNorm]:
        """Working days and working time of each month of a year (the production calendar)."""
        norms = []
        for month in range(1, 13):
            day, days, total = date(year, month, 1), 0, _ZERO
            while day.month == month:
                spans = self._utc(day)
                days += bool(spans)
                total += sum((end - start for start, end in spans), _ZERO)
                day += _DAY
            norms.append(MonthNorm(month, days, total))
        return norms

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """Return the UTC instant when `duration` of working time has elapsed since `start`."""
        _require_aware(start, "start")
        if duration < _ZERO:
            msg = f"duration must not be negative, got {duration}"
            raise ValueError(msg)
        moment = start.astimezone(UTC)
        remaining = duration
        day = moment.astimezone(self._zone).date()
        idle_days = 0
        while remaining > _ZERO:
            spans = self._utc(day)
            idle_days = 0 if spans else idle_days + 1
            if idle_days > _SEARCH_DAYS:
                raise ValueError(self._no_hours_message(moment))
            for begin, end in spans:
                if end <= moment:
                    continue
                begin = max(begin, moment)
                if remaining <= end - begin:
                    return begin + remaining
                remaining -= end - begin
            day += _DAY
        return moment

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """Return the UTC close of the `days`-th working day after the local date of `start`.

        A term of N working days starts the next day and ends when the last day's work ends
        (ТК РФ ст. 14): an interim answer on Monday with 7 working days is due on the close of
        the next week's Tuesday (or later, over holidays).
        """
        _require_aware(start, "start")
        if days < 0:
            msg = f"days must not be negative, got {days}"
            raise ValueError(msg)
        moment = start.astimezone(UTC)
        if days == 0:
            return moment
        day = moment.astimezone(self._zone).date()
        for _ in range(_SEARCH_DAYS):
            day += _DAY
            spans = self._utc(day)
            if spans:
                days -= 1
                if days == 0:
                    return spans[-1][1]
        raise ValueError(self._no_hours_message(moment))

    def due(self, start: datetime, amount: timedelta, clock: Clock) -> datetime:
        """Return the UTC instant `amount` after `start` on a clock (see `Clock`)."""
        _require_aware(start, "start")
        if clock == "calendar":
            return start.astimezone(UTC) + amount
        if clock == "working_days":
            return self.add_working_days(start, amount.days)
        return self.add_working_time(start, amount)

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Return the working time elapsed from `a` to `b`; zero if `b` is not after `a`."""
        _require_aware(a, "a")
        _require_aware(b, "b")
        start, end = a.astimezone(UTC), b.astimezone(UTC)
        if end <= start:
            return _ZERO
        first, last = start.astimezone(self._zone).date(), end.astimezone(self._zone).date()
        if first == last:
            return self._overlap(first, start, end)
        # The days in between lie wholly inside [start, end]: their working time is a difference
        # of running sums (a quarter's report asks this for every incident).
        since = self._before(first + _DAY)  # the earlier day first: it may move the anchor
        between = self._before(last) - since
        return self._overlap(first, start, end) + between + self._overlap(last, start, end)

    def _overlap(self, day: date, start: datetime, end: datetime) -> timedelta:
        """Working time of one local date that falls within [start, end] (UTC)."""
        total = _ZERO
        for begin, finish in self._utc(day):
            overlap = min(finish, end) - max(begin, start)
            if overlap > _ZERO:
                total += overlap
        return total

    def _before(self, day: date) -> timedelta:
        """Working time of the days from the anchor date up to, not including, `day`; the
        anchor moves back (and the sums start again) when an earlier day is asked for."""
        if self._anchor is None or day < self._anchor:
            self._anchor, self._sums = day - _ANCHOR_MARGIN, [_ZERO]
        index, sums = (day - self._anchor).days, self._sums
        while len(sums) <= index:
            spans = self._utc(self._anchor + timedelta(days=len(sums) - 1))
            sums.append(sums[-1] + sum((finish - begin for begin, finish in spans), _ZERO))
        return sums[index]

    def _utc(self, day: date) -> tuple[Interval, ...]:
        """Return the working intervals of a local date in UTC, computed once per date."""
        spans = self._spans.get(day)
        if spans is None:
            spans = self._spans[day] = self._build(day)
        return spans

    def _build(self, day: date) -> tuple[Interval, ...]:
        if not self.is_working_day(day):
            return ()
        spans: list[Interval] = []
        for start, end in self._hours_for(day):
            # Wall time through ZoneInfo, then UTC, so DST-shortened days are really shorter.
            begin = datetime.combine(day, start, tzinfo=self._zone).astimezone(UTC)
            finish = datetime.combine(day, end, tzinfo=self._zone).astimezone(UTC)
            if finish > begin:
                spans.append((begin, finish))
        if self.is_pre_holiday(day):
            spans = _cut_end(spans, self._config.pre_holiday_shortening)
        return tuple(spans)

    def _hours_for(self, day: date) -> tuple[tuple[time, time], ...]:
        if self._config.russian_holidays and day in _russian_year(day.year).workdays:
            return self._moved_hours
        return self._hours.for_weekday(day.weekday()) or self._moved_hours

    def _no_hours_message(self, since: datetime) -> str:
        return (
            f"в календаре нет рабочего времени: за {_SEARCH_DAYS} дней после "
            f"{since.astimezone(self._zone):%Y-%m-%d} не нашлось ни одного рабочего интервала; "
            "проверьте [calendar.hours], moved_working_day_hours и days_off"
        )


def deadline(
    opened_at: datetime, policy: SlaPolicy, calendar: WorkingCalendar,
    amount: timedelta | None = None, clock: Clock | None = None,
) -> tuple[datetime, datetime]:
    """Return `(warn_at, due_at)` in UTC for a term starting at `opened_at`: by default the
    policy's first response, else `amount` on `clock` (a follow-up)."""
    _require_aware(opened_at, "opened_at")
    opened = opened_at.astimezone(UTC)
    amount = policy.first_response if amount is None else amount
    clock = policy.clock if clock is None else clock
    due = calendar.due(opened, amount, clock)
    if clock == "calendar":
        return max(due - policy.warn_before, opened), due
    # Warn when the remaining working time equals warn_before.
    lead = max(calendar.working_time_between(opened, due) - policy.warn_before, _ZERO)
    return max(calendar.add_working_time(opened, lead), opened), due


def resolution_due(
    start: datetime, policy: SlaPolicy, calendar: WorkingCalendar
) -> datetime | None:
    """Return when a final answer is due under the policy, or None when it sets no such term."""
    if policy.resolution is None:
        return None
    return calendar.due(start, policy.resolution, policy.resolution_clock or policy.clock)
