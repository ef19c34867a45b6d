"""Read a period (and the one before it) from the store and compute the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time

from monitor.daemon.report.figures import RESPONSE_KINDS, PeriodFigures, period_figures
from monitor.daemon.report.period import Period
from monitor.daemon.report.spikes import Spike, baseline_start, find_spikes
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
    rows = await store.report_incidents(since, end, RESPONSE_KINDS)
    now_rows = [r for r in rows if start <= r.opened_at < end]
    before_rows = [r for r in rows if before_start <= r.opened_at < start]
    now = period_figures(now_rows, await store.message_counts(start, end), calendar, as_of,
                         theme_of)
    before = period_figures(before_rows, await store.message_counts(before_start, start),
                            calendar, as_of, theme_of)
    return Report(period, previous, as_of.astimezone(zone), now, before,
                  find_spikes(rows, zone, period.first, period.last),
                  find_spikes(rows, zone, previous.first, previous.last))
