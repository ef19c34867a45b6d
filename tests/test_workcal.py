"""Tests for working-time arithmetic over the municipal and Russian production calendars."""

from __future__ import annotations

import time as host_time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.config.settings import CalendarConfig, SlaPolicy
from monitor.daemon.workcal import WorkingCalendar, deadline

EKB = ZoneInfo("Asia/Yekaterinburg")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
NO_HOURS = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), [])


def ekb(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=EKB)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def calendar(**overrides: Any) -> WorkingCalendar:
    return WorkingCalendar(CalendarConfig.model_validate(overrides))


def worked(cal: WorkingCalendar, day: date) -> timedelta:
    # Via UTC: subtracting datetimes that share a tzinfo gives wall-clock, not elapsed, time.
    spans = cal.intervals(day)
    return sum((e.astimezone(UTC) - s.astimezone(UTC) for s, e in spans), timedelta())


@pytest.fixture
def host_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    host_time.tzset()
    yield
    monkeypatch.undo()
    host_time.tzset()


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 19), True),  # ordinary Friday
        (date(2025, 9, 20), False),  # ordinary Saturday
        (date(2025, 3, 7), True),
        (date(2025, 3, 8), False),  # Women's Day on a Saturday
        (date(2025, 5, 2), False),  # substituted day off
        (date(2025, 11, 1), True),  # Saturday worked by transfer
        (date(2025, 11, 3), False),  # substituted day off
        (date(2025, 11, 4), False),  # Unity Day
        (date(2025, 12, 31), False),
        (date(2026, 1, 9), False),
        (date(2026, 1, 12), True),
        (date(2026, 3, 9), False),  # Women's Day on a Sunday, observed on Monday
    ],
)
def test_is_working_day_follows_the_production_calendar(day: date, working: bool) -> None:
    assert calendar().is_working_day(day) is working


@pytest.mark.parametrize(
    ("year", "shortened", "norm_hours"),
    [
        (2022, ["02-22", "03-05", "11-03"], 1973),
        (2024, ["02-22", "03-07", "05-08", "06-11", "11-02"], 1979),
        (2025, ["03-07", "04-30", "06-11", "11-01"], 1972),
        (2026, ["04-30", "05-08", "06-11", "11-03"], 1972),
    ],
)
def test_pre_holiday_days_and_annual_norm_match_the_official_calendar(
    year: int, shortened: list[str], norm_hours: int
) -> None:
    cal = calendar()
    days = [date(year, 1, 1) + timedelta(days=n) for n in range(366)]
    days = [day for day in days if day.year == year]
    found = [f"{day:%m-%d}" for day in days if cal.is_working_day(day) and worked(cal, day) < 8 * H]
    assert found == shortened
    assert sum((worked(cal, day) for day in days), timedelta()) == norm_hours * H


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 9, 19), [((9, 0), (13, 0)), ((14, 0), (18, 0))]),
        (date(2025, 3, 7), [((9, 0), (13, 0)), ((14, 0), (17, 0))]),
        (date(2025, 11, 1), [((9, 0), (13, 0)), ((14, 0), (17, 0))]),
        (date(2025, 11, 3), []),
        (date(2025, 11, 4), []),
        (date(2025, 9, 20), []),
    ],
)
def test_intervals_are_local_and_shortened_before_holidays(
    day: date, expected: list[tuple[tuple[int, int], tuple[int, int]]]
) -> None:
    spans = calendar().intervals(day)
    assert [((s.hour, s.minute), (e.hour, e.minute)) for s, e in spans] == expected
    assert all(s.tzinfo == EKB and s.date() == day for s, _ in spans)


def test_shortening_longer_than_the_last_interval_eats_into_the_previous_one() -> None:
    cal = calendar(pre_holiday_shortening="5h")
    assert [(s.hour, e.hour) for s, e in cal.intervals(date(2025, 4, 30))] == [(9, 12)]


def test_moved_day_uses_the_configured_weekday_hours() -> None:
    cal = calendar(moved_working_day_hours="fri", hours={"fri": ["10:00-15:00"]})
    assert [(s.hour, e.hour) for s, e in cal.intervals(date(2025, 11, 1))] == [(10, 14)]


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (ekb(2025, 9, 15, 12, 30), H, ekb(2025, 9, 15, 14, 30)),  # across lunch
        (ekb(2025, 9, 15, 13, 30), H, ekb(2025, 9, 15, 15, 0)),  # opened during lunch
        (ekb(2025, 9, 19, 17, 30), H, ekb(2025, 9, 22, 9, 30)),  # across a weekend
        (ekb(2025, 9, 19, 17, 0), H, ekb(2025, 9, 19, 18, 0)),  # ends exactly at closing
        (ekb(2025, 9, 20, 12, 0), H, ekb(2025, 9, 22, 10, 0)),  # opened on a Saturday
        (ekb(2025, 9, 15, 3, 0), 8 * H, ekb(2025, 9, 15, 18, 0)),  # opened at night
        (ekb(2025, 3, 7, 16, 30), H, ekb(2025, 3, 10, 9, 30)),  # shortened Friday
        (ekb(2025, 10, 31, 17, 30), H, ekb(2025, 11, 1, 9, 30)),  # into the moved Saturday
        (ekb(2025, 11, 1, 16, 30), H, ekb(2025, 11, 5, 9, 30)),  # over Nov 2-4
        (ekb(2025, 12, 30, 15, 0), 8 * H, ekb(2026, 1, 12, 15, 0)),  # New Year holidays
        (ekb(2025, 1, 1), 1972 * H, ekb(2025, 12, 30, 18, 0)),  # a whole year's norm
        (ekb(2025, 9, 15, 10, 0), timedelta(0), ekb(2025, 9, 15, 10, 0)),
    ],
)
def test_add_working_time(start: datetime, duration: timedelta, expected: datetime) -> None:
    result = calendar().add_working_time(start, duration)
    assert result == expected
    assert result.tzinfo is UTC


def test_result_does_not_depend_on_the_start_time_zone() -> None:
    start = ekb(2025, 12, 30, 15, 0)
    cal = calendar()
    assert cal.add_working_time(start.astimezone(ZoneInfo("Pacific/Auckland")), 8 * H) == (
        cal.add_working_time(start, 8 * H)
    )


@pytest.mark.parametrize(
    ("overrides", "day", "working"),
    [
        ({"days_off": ["2025-09-22"]}, date(2025, 9, 22), False),
        ({"working_days": ["2025-09-20"]}, date(2025, 9, 20), True),
        ({"days_off": ["2025-11-01"]}, date(2025, 11, 1), False),  # local beats the package
        ({"working_days": ["2025-11-04"]}, date(2025, 11, 4), True),
        ({"russian_holidays": False}, date(2025, 11, 1), False),
        ({"russian_holidays": False}, date(2025, 11, 4), True),
    ],
)
def test_local_overrides(overrides: dict[str, Any], day: date, working: bool) -> None:
    assert calendar(**overrides).is_working_day(day) is working


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, ekb(2025, 9, 22, 9, 30)),
        ({"days_off": ["2025-09-22"]}, ekb(2025, 9, 23, 9, 30)),
        ({"working_days": ["2025-09-20"]}, ekb(2025, 9, 20, 9, 30)),  # Monday's hours
    ],
)
def test_overrides_move_deadlines(overrides: dict[str, Any], expected: datetime) -> None:
    assert calendar(**overrides).add_working_time(ekb(2025, 9, 19, 17, 30), H) == expected


def test_without_russian_holidays_nothing_is_shortened() -> None:
    cal = calendar(russian_holidays=False)
    assert worked(cal, date(2025, 3, 7)) == 8 * H
    assert not cal.is_pre_holiday(date(2025, 3, 7))


@pytest.mark.parametrize(
    ("clock", "warn_before", "expected_warn", "expected_due"),
    [
        ("working", "1h", ekb(2025, 9, 22, 16, 30), ekb(2025, 9, 22, 17, 30)),
        ("calendar", "1h", ekb(2025, 9, 20, 0, 30), ekb(2025, 9, 20, 1, 30)),
        ("working", "10h", ekb(2025, 9, 19, 17, 30), ekb(2025, 9, 22, 17, 30)),
        ("calendar", "10h", ekb(2025, 9, 19, 17, 30), ekb(2025, 9, 20, 1, 30)),
    ],
)
def test_deadline(
    clock: str, warn_before: str, expected_warn: datetime, expected_due: datetime
) -> None:
    policy = SlaPolicy.model_validate(
        {"first_response": "8h", "clock": clock, "warn_before": warn_before}
    )
    warn_at, due_at = deadline(ekb(2025, 9, 19, 17, 30), policy, calendar())
    assert (warn_at, due_at) == (expected_warn, expected_due)
    assert warn_at.tzinfo is UTC and due_at.tzinfo is UTC


def _host_sensitive_results() -> list[object]:
    cal = calendar()
    policy = SlaPolicy()
    return [
        cal.add_working_time(ekb(2025, 12, 30, 15, 0), 8 * H),
        cal.add_working_time(datetime(2025, 3, 7, 11, 30, tzinfo=UTC), H),
        cal.intervals(date(2025, 11, 1)),
        cal.working_time_between(ekb(2025, 10, 31, 12, 0), ekb(2025, 11, 5, 12, 0)),
        deadline(ekb(2025, 10, 31, 17, 30), policy, cal),
    ]


def test_results_do_not_depend_on_the_host_time_zone(host_in_new_york: None) -> None:
    in_new_york = _host_sensitive_results()
    assert host_time.tzname[0] == "EST"
    assert in_new_york[0] == ekb(2026, 1, 12, 15, 0)
    assert in_new_york[1] == ekb(2025, 3, 10, 9, 30)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "UTC")
        host_time.tzset()
        in_utc = _host_sensitive_results()
    host_time.tzset()
    assert in_new_york == in_utc


@pytest.mark.parametrize(
    ("start", "expected_utc"),
    [
        # Fri 17:30 CET + 1h -> Mon 09:30 CEST, across the spring switch.
        (datetime(2025, 3, 28, 17, 30, tzinfo=BERLIN), utc(2025, 3, 31, 7, 30)),
        # Fri 17:30 CEST + 1h -> Mon 09:30 CET, across the autumn switch.
        (datetime(2025, 10, 24, 17, 30, tzinfo=BERLIN), utc(2025, 10, 27, 8, 30)),
    ],
)
def test_dst_zone_across_a_weekend_switch(start: datetime, expected_utc: datetime) -> None:
    cal = calendar(timezone="Europe/Berlin", russian_holidays=False)
    assert cal.add_working_time(start, H) == expected_utc


@pytest.mark.parametrize(
    ("start", "duration", "expected_utc"),
    [
        # Sunday 01:00-04:00 wall time lasts two real hours on the spring switch day...
        (datetime(2025, 3, 30, 1, 30, tzinfo=BERLIN), H, utc(2025, 3, 30, 1, 30)),
        (datetime(2025, 3, 30, 1, 0, tzinfo=BERLIN), 2 * H, utc(2025, 3, 30, 2, 0)),
        # ...and four real hours on the autumn switch day.
        (datetime(2025, 10, 26, 1, 0, tzinfo=BERLIN), 4 * H, utc(2025, 10, 26, 3, 0)),
    ],
)
def test_dst_zone_on_the_switch_day(
    start: datetime, duration: timedelta, expected_utc: datetime
) -> None:
    cal = calendar(timezone="Europe/Berlin", russian_holidays=False, hours={"sun": ["01:00-04:00"]})
    assert cal.add_working_time(start, duration) == expected_utc


def test_dst_day_lengths_are_real_elapsed_time() -> None:
    cal = calendar(timezone="Europe/Berlin", russian_holidays=False, hours={"sun": ["01:00-04:00"]})
    assert worked(cal, date(2025, 3, 30)) == 2 * H
    assert worked(cal, date(2025, 10, 26)) == 4 * H
    assert worked(cal, date(2025, 10, 19)) == 3 * H


def test_a_calendar_without_working_hours_is_rejected_clearly() -> None:
    cal = calendar(hours=NO_HOURS)
    with pytest.raises(ValueError, match=r"нет рабочего времени.*\[calendar\.hours\]"):
        cal.add_working_time(ekb(2025, 9, 15, 10, 0), H)
    with pytest.raises(ValueError, match="нет рабочего времени"):
        deadline(ekb(2025, 9, 15, 10, 0), SlaPolicy(), cal)
    assert cal.working_time_between(ekb(2025, 1, 1), ekb(2026, 1, 1)) == timedelta(0)


@pytest.mark.parametrize(
    "call",
    [
        lambda cal: cal.add_working_time(datetime(2025, 9, 15, 10, 0), H),  # noqa: DTZ001
        lambda cal: cal.working_time_between(datetime(2025, 9, 15), ekb(2025, 9, 16)),  # noqa: DTZ001
        lambda cal: cal.working_time_between(ekb(2025, 9, 15), datetime(2025, 9, 16)),  # noqa: DTZ001
        lambda cal: deadline(datetime(2025, 9, 15, 10, 0), SlaPolicy(), cal),  # noqa: DTZ001
        lambda cal: cal.add_working_time(ekb(2025, 9, 15, 10, 0), -H),
    ],
)
def test_bad_input_is_rejected(call: Any) -> None:
    with pytest.raises(ValueError, match="aware|negative"):
        call(calendar())


@pytest.mark.parametrize(
    ("start", "duration"),
    [
        (ekb(2025, 9, 15, 12, 30), H),
        (ekb(2025, 9, 19, 17, 30), 8 * H),
        (ekb(2025, 9, 20, 12, 0), 3 * H),  # starts outside working hours
        (ekb(2025, 10, 31, 16, 0), 9 * H),  # over the shortened moved Saturday
        (ekb(2025, 12, 30, 15, 0), 40 * H),
    ],
)
def test_working_time_between_inverts_add_working_time(
    start: datetime, duration: timedelta
) -> None:
    cal = calendar()
    end = cal.add_working_time(start, duration)
    assert cal.working_time_between(start, end) == duration
    assert cal.working_time_between(end, start) == timedelta(0)


def test_working_time_between_counts_only_working_hours() -> None:
    cal = calendar()
    # Fri 12:00 -> Wed 12:00 over Nov 2025: 5h Fri + 7h moved Saturday + 3h Wed.
    assert cal.working_time_between(ekb(2025, 10, 31, 12, 0), ekb(2025, 11, 5, 12, 0)) == 15 * H
    assert calendar().add_working_time(ekb(2025, 10, 31, 12, 0), 15 * H) == ekb(2025, 11, 5, 12, 0)
