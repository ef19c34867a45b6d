"""Read a period (and the one before it) from the store and compute the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time

from monitor.daemon.report.figures import RESPONSE_KINDS, PeriodFigures, period_figures
from monitor.daemon.report.period import Period
from monitor.daemon.report.spikes import Spike, baseline_start, find_spikes, weekly_counts
from monitor.daemon.workcal import WorkingCalendar
from storage import Store


@dataclass(frozen=True, slots=True)
class Report:
    """A period's figures beside the previous period's, and the spikes of both."""

    period: Period
    previous: Period
    made_at: datetime
    now: PeriodFigures
    before: PeriodFigures
    spikes: list[Spike]
    spikes_before: list[Spike]


async def build_report(
    store: Store, calendar: WorkingCalendar, period: Period, as_of: datetime,
    theme_of: Mapping[str, str] | None = None,
) -> Report:
    """The report of `period` as of `as_of`, with the previous period for comparison."""
    zone = calendar.zone
    previous = period.previous()
    start, end = period.bounds(zone)
    before_start, _ = previous.bounds(zone)
    since = min(before_start, datetime.combine(baseline_start(previous.first), time(), zone))
    # One period's rows at a time: a region's quarter is 10⁵ incidents.
    weekly = weekly_counts(await store.report_incidents(since, before_start, ()), zone)
    rows = await store.report_incidents(before_start, start, RESPONSE_KINDS)
    weekly.update(weekly_counts(rows, zone))
    before = period_figures(rows, await store.message_counts(before_start, start), calendar,
                            as_of, theme_of)
    rows = await store.report_incidents(start, end, RESPONSE_KINDS)
    weekly.update(weekly_counts(rows, zone))
    now = period_figures(rows, await store.message_counts(start, end), calendar, as_of,
                         theme_of)
    del rows
    return Report(period, previous, as_of.astimezone(zone), now, before,
                  find_spikes(weekly, period.first, period.last),
                  find_spikes(weekly, previous.first, previous.last))
