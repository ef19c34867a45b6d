"""The report's figures for one period, computed from the store's rows (docs/report.md defines
each in the regional centre's terms). Pure: no I/O."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from monitor.daemon.report.spikes import monday
from monitor.daemon.workcal import WorkingCalendar
from storage import MessageCount, ReportIncident, ResponseEvent

FINAL = "answered"
INTERIM = "interim"
REOPENED = "reopened"
RESPONSE_KINDS = (FINAL, INTERIM)
"""Event kinds that are a response to the resident: the final answer and an interim one."""
DISMISSED_STATUS = "closed"
WAITING = ("open", "in_work")
NO_GROUP, NO_TOPIC, NO_ORGANISATION, NO_SETTLEMENT = (
    "без группы", "без темы", "не назначена", "не определён")


@dataclass(frozen=True, slots=True)
class Late:
    """An incident answered after its deadline, or still unanswered past it."""

    incident: ReportIncident
    responded_at: datetime | None
    late_calendar: timedelta
    late_working: timedelta


@dataclass(slots=True)
class PeriodFigures:
    """Every figure of one period."""

    messages: int = 0
    by_network: Counter[str] = field(default_factory=Counter)
    by_source: Counter[tuple[str, str]] = field(default_factory=Counter)
    incidents: int = 0
    by_group: Counter[str] = field(default_factory=Counter)
    by_theme: Counter[str] = field(default_factory=Counter)
    by_organisation: Counter[str] = field(default_factory=Counter)
    by_settlement: Counter[str] = field(default_factory=Counter)
    by_group_settlement: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_problem: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(group, theme, settlement) → incidents."""
    by_week_group: Counter[tuple[date, str]] = field(default_factory=Counter)
    """(Monday of the local week it was opened, group) → incidents."""
    dismissed: list[ReportIncident] = field(default_factory=list)
    answered: int = 0
    responded: int = 0
    pending: int = 0
    on_time: int = 0
    on_time_base: int = 0
    on_time_by_organisation: dict[str, tuple[int, int]] = field(default_factory=dict)
    """organisation → (on time, base)."""
    by_municipality: Counter[str] = field(default_factory=Counter)
    """Municipality id → incidents (only those with a municipality: `[[municipalities]]`)."""
    on_time_by_municipality: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Municipality id → (on time, base)."""
    first_working: list[timedelta] = field(default_factory=list)
    first_calendar: list[timedelta] = field(default_factory=list)
    interim_incidents: int = 0
    interim_first: int = 0
    final_only: int = 0
    reopened_incidents: int = 0
    events: Counter[str] = field(default_factory=Counter)
    late: list[Late] = field(default_factory=list)

    @property
    def considered(self) -> int:
        """Incidents that needed an answer: all but the dismissed."""
        return self.incidents - len(self.dismissed)


def first_response(incident: ReportIncident) -> ResponseEvent | None:
    """The earliest response (interim or final) by its answer time, or None."""
    responses = incident.responses
    if len(responses) < 2:  # most have one: no key function to call
        return responses[0] if responses else None
    return min(responses, key=_answer_time)


def _answer_time(response: ResponseEvent) -> datetime:
    return response.at


def period_figures(
    incidents: Iterable[ReportIncident], messages: Iterable[MessageCount],
    calendar: WorkingCalendar, as_of: datetime, theme_of: Mapping[str, str] | None = None,
) -> PeriodFigures:
    """Compute one period's figures; `as_of` is when the report is made (what still waits)."""
    figures = PeriodFigures()
    for m in messages:
        figures.messages += m.messages
        figures.by_network[m.network] += m.messages
        figures.by_source[(m.network, m.source_id)] += m.messages
    theme = _theme_namer(theme_of or {})
    by_org: dict[str, list[int]] = {}
    by_municipality: dict[str, list[int]] = {}
    # Incidents per (group, theme, organisation, settlement, week), the tables summed from it:
    # one count per incident instead of seven.
    kinds: dict[_Kind, int] = {}
    for incident in incidents:
        kind = (incident.group_name or NO_GROUP, theme(incident),
                incident.organisation or NO_ORGANISATION, incident.settlement or NO_SETTLEMENT,
                monday(incident.opened_at.astimezone(calendar.zone).date()))
        kinds[kind] = kinds.get(kind, 0) + 1
        if incident.municipality is not None:
            figures.by_municipality[incident.municipality] += 1
        for event, n in incident.events:
            figures.events[event] += n
            figures.reopened_incidents += event == REOPENED
        if incident.status == DISMISSED_STATUS:
            figures.dismissed.append(incident)
            continue
        on_time = _count_response(figures, incident, calendar, as_of)
        if on_time is not None:
            _tally(by_org, incident.organisation or NO_ORGANISATION, on_time)
            if incident.municipality is not None:
                _tally(by_municipality, incident.municipality, on_time)
    _count_kinds(figures, kinds)
    figures.first_working.sort()
    figures.first_calendar.sort()
    figures.on_time_by_organisation = {k: (v[0], v[1]) for k, v in sorted(by_org.items())}
    figures.on_time_by_municipality = {k: (v[0], v[1])
                                       for k, v in sorted(by_municipality.items())}
    figures.late.sort(key=lambda x: x.late_calendar, reverse=True)
    return figures


def _theme_namer(theme_of: Mapping[str, str]) -> Callable[[ReportIncident], str]:
    def name(incident: ReportIncident) -> str:
        if incident.im_topic:  # the theme stored when it opened (or staff reclassified it)
            return incident.im_topic
        own = theme_of.get(incident.topic or "")
        return own or incident.topic_name or NO_TOPIC

    return name


_Kind = tuple[str, str, str, str, date]
"""(group, theme, organisation, settlement, Monday of the local week it was opened)."""


def _count_kinds(figures: PeriodFigures, kinds: dict[_Kind, int]) -> None:
    """Sum the incidents per kind into the tables (each table's keys in the order the
    incidents first showed them, as if counted one by one)."""
    for (group, theme, organisation, settlement, week), n in kinds.items():
        figures.incidents += n
        figures.by_group[group] += n
        figures.by_theme[theme] += n
        figures.by_organisation[organisation] += n
        figures.by_settlement[settlement] += n
        figures.by_group_settlement[(group, settlement)] += n
        figures.by_problem[(group, theme, settlement)] += n
        figures.by_week_group[(week, group)] += n


def _tally(table: dict[str, list[int]], key: str, on_time: bool) -> None:
    """Count one incident of the on-time base under `key`: [on time, base]."""
    counts = table.setdefault(key, [0, 0])
    counts[0] += on_time
    counts[1] += 1


def _count_response(
    figures: PeriodFigures, incident: ReportIncident, calendar: WorkingCalendar,
    as_of: datetime,
) -> bool | None:
    """Count an incident's response; whether it was on time (None: not due yet)."""
    first = first_response(incident)
    kinds = dict(incident.events)
    if FINAL in kinds:
        figures.answered += 1
    if INTERIM in kinds:
        figures.interim_incidents += 1
    elif FINAL in kinds:
        figures.final_only += 1
    due = incident.first_due or incident.due_at  # the deadline of the first response
    if first is None and due > as_of:
        figures.pending += 1  # not late yet: neither on time nor late
        return None
    figures.on_time_base += 1
    if first is not None:
        figures.responded += 1
        figures.interim_first += first.kind == INTERIM
        figures.first_calendar.append(max(first.at - incident.opened_at, timedelta(0)))
        figures.first_working.append(calendar.working_time_between(incident.opened_at, first.at))
        if first.at <= due:
            figures.on_time += 1
            return True
    until = first.at if first is not None else as_of
    figures.late.append(Late(incident, None if first is None else first.at,
                             until - due, calendar.working_time_between(due, until)))
    return False


def percentile(values: list[timedelta], share: float) -> timedelta | None:
    """Nearest-rank percentile of sorted values: the ⌈share·n⌉-th smallest; None if empty."""
    if not values:
        return None
    return values[max(math.ceil(share * len(values)), 1) - 1]


def ratio(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to divide."""
    return None if whole == 0 else part / whole
