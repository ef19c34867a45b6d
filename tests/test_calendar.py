"""`monitor calendar` against the official production calendar, and properties of deadline
arithmetic on the working clock (hypothesis)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.cli import main
from monitor.config.settings import CalendarConfig
from monitor.daemon.workcal import WorkingCalendar
from tests.conftest import EXAMPLE_CONFIG

EKB = ZoneInfo("Asia/Yekaterinburg")

# The official production calendar for a five-day 40-hour week, month by month:
# (working days, working hours). 2025: Постановление Правительства РФ от 04.10.2024 № 1335
# (transfers), figures as published e.g. at https://findh.org/4764-proizvodstvennyj-kalendar-rf-
# na-vse-goda.html?y=2025 (quarters 463/470/528/511, year 247 days, 1972 h). 2026: Постановление
# Правительства РФ о переносе выходных дней в 2026 году, figures as published at
# https://glavaudit.org/situations/k518956 («Производственный календарь 2026», Актион) and
# https://www.4dk.ru/s/calendar (quarters 440/493/528/511, year 247 days, 1972 h).
OFFICIAL = {
    2025: [(17, 136), (20, 160), (21, 167), (22, 175), (18, 144), (19, 151),
           (23, 184), (21, 168), (22, 176), (23, 184), (19, 151), (22, 176)],
    2026: [(15, 120), (19, 152), (21, 168), (22, 175), (19, 151), (21, 167),
           (23, 184), (21, 168), (22, 176), (22, 176), (20, 159), (22, 176)],
}


@pytest.mark.parametrize("year", sorted(OFFICIAL))
def test_calendar_json_matches_the_official_production_calendar(
    year: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calendar", "--config", str(EXAMPLE_CONFIG), "--year", str(year),
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    expected = [{"month": m, "working_days": d, "working_hours": h}
                for m, (d, h) in enumerate(OFFICIAL[year], start=1)]
    assert rows == expected
    assert sum(r["working_hours"] for r in rows) == 1972


def test_calendar_text_table_has_months_and_year(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "--config", str(EXAMPLE_CONFIG), "--year", "2026"]) == 0
    out = capsys.readouterr().out
    assert "январь" in out and "декабрь" in out
    assert out.splitlines()[-1].split() == ["год", "247", "1972"]


def test_calendar_of_a_shorter_week_and_lunchless_hours(
    write_config, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    path = write_config('[calendar]\nhours = { fri = ["09:00-13:00", "14:00-16:45"] }\n')
    assert main(["calendar", "--config", str(path), "--year", "2026", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {"month": 1, "working_days": 15, "working_hours": 116.25}


@pytest.mark.parametrize("year", ["abc", "1800", "99999", "-1", ""])
def test_calendar_rejects_a_bad_year_clearly(
    year: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["calendar", "--config", str(EXAMPLE_CONFIG), "--year", year])
    assert exc.value.code == 2
    assert "год должен быть числом" in capsys.readouterr().err


def test_calendar_warns_of_a_year_whose_transfers_are_unknown(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calendar", "--config", str(EXAMPLE_CONFIG), "--year", "2150",
                 "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "переносы выходных на 2150 год" in captured.err
    assert len(json.loads(captured.out)) == 12


def test_calendar_without_working_hours_says_zero(
    write_config, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    days = ", ".join(f"{d} = []" for d in ("mon", "tue", "wed", "thu", "fri"))
    path = write_config(f"[calendar]\nhours = {{ {days} }}\n")
    assert main(["calendar", "--config", str(path), "--year", "2025", "--format", "json"]) == 0
    assert {r["working_hours"] for r in json.loads(capsys.readouterr().out)} == {0}


# Every holiday and moved day of 2025 and 2026 (Постановления Правительства РФ № 1335 of
# 04.10.2024 and of 2025 on 2026): what is off, what is worked, what is an hour shorter.
DAYS_OFF = {
    2025: ["01-01", "01-02", "01-03", "01-06", "01-07", "01-08", "05-01", "05-02", "05-08",
           "05-09", "06-12", "06-13", "11-03", "11-04", "12-31"],
    2026: ["01-01", "01-02", "01-05", "01-06", "01-07", "01-08", "01-09", "02-23", "03-09",
           "05-01", "05-11", "06-12", "11-04", "12-31"],
}
WORKED_WEEKENDS = {2025: ["11-01"], 2026: []}
SHORTENED = {2025: ["03-07", "04-30", "06-11", "11-01"], 2026: ["04-30", "05-08", "06-11",
                                                             "11-03"]}


@pytest.mark.parametrize("year", [2025, 2026])
def test_holidays_moved_days_and_shortened_days(year: int) -> None:
    cal = WorkingCalendar(CalendarConfig())
    days = [date(year, 1, 1) + timedelta(days=n) for n in range(365)]
    weekday_off = [f"{d:%m-%d}" for d in days if d.weekday() < 5 and not cal.is_working_day(d)]
    weekend_on = [f"{d:%m-%d}" for d in days if d.weekday() >= 5 and cal.is_working_day(d)]
    shortened = [f"{d:%m-%d}" for d in days if cal.is_pre_holiday(d)]
    assert weekday_off == DAYS_OFF[year]
    assert weekend_on == WORKED_WEEKENDS[year]
    assert shortened == SHORTENED[year]


# Properties of the working clock, on the example's calendar over 2025-2026.
CAL = WorkingCalendar(CalendarConfig())
LUNCH = WorkingCalendar(CalendarConfig.model_validate(
    {"hours": {"mon": ["08:00-12:00", "12:45-17:00"], "sat": ["10:00-12:00"]},
     "days_off": ["2025-09-22"], "working_days": ["2025-11-02"]}))
starts = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 1),  # noqa: DTZ001
                      timezones=st.just(UTC))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=400))
calendars = st.sampled_from([CAL, LUNCH])


def _inside_working_time(cal: WorkingCalendar, moment: datetime) -> bool:
    day = moment.astimezone(cal.zone).date()
    return any(start < moment <= end for start, end in cal.intervals(day))


@settings(max_examples=300, deadline=None)
@given(calendars, starts, durations.filter(lambda d: d > timedelta(0)))
def test_a_deadline_never_falls_in_non_working_time(
    cal: WorkingCalendar, start: datetime, duration: timedelta
) -> None:
    due = cal.add_working_time(start, duration)
    assert _inside_working_time(cal, due)
    assert cal.working_time_between(start, due) == duration


@settings(max_examples=300, deadline=None)
@given(calendars, starts, starts, durations, durations)
def test_adding_working_time_is_monotonic(
    cal: WorkingCalendar, a: datetime, b: datetime, d1: timedelta, d2: timedelta
) -> None:
    (a, b), (d1, d2) = sorted((a, b)), sorted((d1, d2))
    assert cal.add_working_time(a, d1) <= cal.add_working_time(a, d2)
    assert cal.add_working_time(a, d1) <= cal.add_working_time(b, d1)
    assert cal.add_working_time(a, d1) >= a


@settings(max_examples=200, deadline=None)
@given(calendars, starts, durations, durations)
def test_working_time_adds_up(
    cal: WorkingCalendar, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    # Counting in two steps lands at the same instant as counting at once (when d2 > 0: a
    # zero second step from the end of a day stays at that end).
    if d2 > timedelta(0):
        assert cal.add_working_time(cal.add_working_time(start, d1), d2) == (
            cal.add_working_time(start, d1 + d2))


def test_example_config_is_the_standard_week() -> None:
    text = Path(EXAMPLE_CONFIG).read_text(encoding="utf-8")
    assert 'fri = ["09:00-13:00", "14:00-18:00"]' in text


def _working_time_day_by_day(cal: WorkingCalendar, a: datetime, b: datetime) -> timedelta:
    """The working time between two moments summed over every day's intervals (the reference
    the running sums of WorkingCalendar must agree with)."""
    total, day = timedelta(0), a.astimezone(cal.zone).date()
    while a < b and day <= b.astimezone(cal.zone).date():
        for start, end in cal.intervals(day):
            total += max(min(end, b) - max(start, a), timedelta(0))
        day += timedelta(days=1)
    return total


@settings(max_examples=300, deadline=None)
@given(calendars, starts, starts)
def test_working_time_between_agrees_with_a_day_by_day_sum(
    cal: WorkingCalendar, a: datetime, b: datetime
) -> None:
    # The shared calendars' running sums start wherever earlier examples left their anchor;
    # a fresh calendar asked the later span first must move its anchor back and agree too.
    fresh = WorkingCalendar(CalendarConfig())
    assert fresh.working_time_between(b, b + timedelta(days=40)) == (
        _working_time_day_by_day(fresh, b, b + timedelta(days=40)))
    assert cal.working_time_between(a, b) == _working_time_day_by_day(cal, a, b)
    assert fresh.working_time_between(a, b) == _working_time_day_by_day(fresh, a, b)
