"""Read a period (and the one before it) from the store and compute the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time

from monitor.daemon.report.figures import RESPONSE_KINDS, PeriodFigures, period_figures
from monitor.daemon.report.period import Period
from monitor.daemon.report.spikes import Spike, baseline_start, find_spikes, weekly_counts
from monitor.daemon.workcal import WorkingCalendar
from storage import MessageCount, Store


@dataclass(frozen=True, slots=True)
class Scope:
    """One municipality's report (`[[municipalities]]`): its incidents and the residents'
    messages of its own sources."""

    municipality: str
    name: str
    sources: frozenset[str]


def whose(scope: Scope | None) -> str:
    """« (<municipality>)» after a period in captions and messages; "" for the whole store."""
    return "" if scope is None else f" ({scope.name})"


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
    scope: Scope | None = None
    """One municipality's report; None: the whole store (with `[[municipalities]]`: the region)."""
    municipality_names: Mapping[str, str] = field(default_factory=dict)
    """Municipality id → name, for the region's table by municipality (empty: no table)."""

    @property
    def whose(self) -> str:
        """« — <municipality>» after the period in a title of one municipality's report."""
        return "" if self.scope is None else f" — {self.scope.name}"


async def build_report(
    store: Store, calendar: WorkingCalendar, period: Period, as_of: datetime,
    theme_of: Mapping[str, str] | None = None, scope: Scope | None = None,
    municipality_names: Mapping[str, str] | None = None,
) -> Report:
    """The report of `period` as of `as_of`, with the previous period for comparison; of one
    municipality with `scope`."""
    zone = calendar.zone
    previous = period.previous()
    start, end = period.bounds(zone)
    before_start, _ = previous.bounds(zone)
    since = min(before_start, datetime.combine(baseline_start(previous.first), time(), zone))
    # One period's rows at a time: a region's quarter is 10⁵ incidents.
    only = None if scope is None else scope.municipality
    weekly = weekly_counts(await store.report_incidents(since, before_start, (), only), zone)
    rows = await store.report_incidents(before_start, start, RESPONSE_KINDS, only)
    weekly.update(weekly_counts(rows, zone))
    before = period_figures(rows, _messages(await store.message_counts(before_start, start),
                                            scope), calendar, as_of, theme_of)
    rows = await store.report_incidents(start, end, RESPONSE_KINDS, only)
    weekly.update(weekly_counts(rows, zone))
    now = period_figures(rows, _messages(await store.message_counts(start, end), scope),
                         calendar, as_of, theme_of)
    del rows
    return Report(period, previous, as_of.astimezone(zone), now, before,
                  find_spikes(weekly, period.first, period.last),
                  find_spikes(weekly, previous.first, previous.last), scope,
                  municipality_names or {})


def _messages(counts: list[MessageCount], scope: Scope | None) -> list[MessageCount]:
    """The message counts a report takes: a municipality's, those of its own sources."""
    return counts if scope is None else [m for m in counts if m.source_id in scope.sources]
