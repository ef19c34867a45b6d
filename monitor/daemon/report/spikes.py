"""Spikes: a group's complaints in one settlement well above that pair's own recent baseline.

Method (docs/report.md): weeks run Monday to Sunday in local time and belong to the period
their Thursday falls in. For each (group, settlement) pair and week, the week's incidents `c`
are compared with the baseline `b`, the mean of the same pair's weekly incidents over the
`BASELINE_WEEKS` weeks before it. A spike is `c ≥ MIN_INCIDENTS` and `c ≥ FACTOR · max(b, 1)`.
Incidents without a group or a settlement take part in no spike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from storage import ReportIncident

BASELINE_WEEKS = 8
MIN_INCIDENTS = 5
FACTOR = 3.0
_WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Spike:
    """One week in which a group's complaints in a settlement were well above its baseline."""

    group: str
    settlement: str
    week: date
    """The week's Monday."""
    incidents: int
    baseline: float


def monday(day: date) -> date:
    """The Monday of a date's week."""
    return day - timedelta(days=day.weekday())


def period_weeks(first: date, last: date) -> list[date]:
    """Mondays of the weeks whose Thursday falls within [first, last]."""
    week = monday(first)
    if week + timedelta(days=3) < first:
        week += _WEEK
    weeks = []
    while week + timedelta(days=3) <= last:
        weeks.append(week)
        week += _WEEK
    return weeks


def weekly_counts(
    incidents: Iterable[ReportIncident], zone: ZoneInfo
) -> Counter[tuple[str, str, date]]:
    """Incidents per (group, settlement, Monday of the local week they were opened)."""
    counts: Counter[tuple[str, str, date]] = Counter()
    for incident in incidents:
        if incident.group_name and incident.settlement:
            day = incident.opened_at.astimezone(zone).date()
            counts[(incident.group_name, incident.settlement, monday(day))] += 1
    return counts


def find_spikes(counts: Counter[tuple[str, str, date]], first: date, last: date) -> list[Spike]:
    """Spikes in the weeks of [first, last], from `weekly_counts` reaching `BASELINE_WEEKS`
    weeks further back."""
    weeks = set(period_weeks(first, last))
    spikes = []
    for (group, settlement, week), count in counts.items():
        if week not in weeks or count < MIN_INCIDENTS:
            continue
        before = sum(counts.get((group, settlement, week - _WEEK * k), 0)
                     for k in range(1, BASELINE_WEEKS + 1))
        baseline = before / BASELINE_WEEKS
        if count >= FACTOR * max(baseline, 1.0):
            spikes.append(Spike(group, settlement, week, count, baseline))
    spikes.sort(key=lambda s: (s.week, -s.incidents, s.group, s.settlement))
    return spikes


def baseline_start(first: date) -> date:
    """The first day the spike baseline of a period starting on `first` needs."""
    return monday(first) - _WEEK * (BASELINE_WEEKS + 1)
