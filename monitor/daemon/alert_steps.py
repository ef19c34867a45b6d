"""An incident's alert schedule: the steps that fire around its deadline, and which are due.

The schedule is derived from what the incident stores (its opening, `warn_at` and `due_at`),
so whatever deadline a policy gives it flows through. Steps: the announcement, warnings (at
shares of the time allowed or lead times before the deadline), the overdue alert, reminders at
growing gaps while it stays overdue, and escalations after the deadline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config.alerting import AlertClock, AlertsConfig, WarningPoint
from monitor.daemon.workcal import WorkingCalendar
from storage import AlertKind, IncidentRow
from storage.types import DueAlert

_ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class Step:
    """One alert step: when, what kind, its reason (unique per incident and deadline) and, for
    an escalation, who is told (`escalation` indexes `[[alerts.escalations]]`)."""

    at: datetime
    kind: AlertKind
    reason: str
    label: str = ""
    escalation: int | None = None


def term_start(incident: IncidentRow) -> datetime:
    """Where the time allowed for the incident's current deadline starts: what warnings at a
    share of it count from: the start of the running follow-up term (an interim answer, a
    reopening), else when the policy's clock started, else (an incident from before policies)
    the opening."""
    return incident.round_started_at or incident.clock_started_at or incident.opened_at


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


class AlertSchedule:
    """Works out incidents' alert steps under `[alerts]` and the working calendar."""

    def __init__(self, config: AlertsConfig, calendar: WorkingCalendar, announce: bool) -> None:
        self._config = config
        self._calendar = calendar
        self._announce = announce

    def steps(self, incident: IncidentRow) -> list[Step]:
        """Every step of an incident in time order (reminders up to `max_reminders`)."""
        due = incident.due_at
        deadline = _stamp(due)
        steps = [Step(incident.opened_at, "opened", "opened")] if self._announce else []
        steps += self._warnings(incident, deadline)
        steps.append(Step(due, "overdue", f"overdue:{deadline}"))
        at = due
        gaps = self._config.reminders
        for number in range(1, self._config.max_reminders + 1 if gaps else 1):
            at += gaps[min(number, len(gaps)) - 1]
            steps.append(Step(at, "reminder", f"reminder:{number}:{deadline}", str(number)))
        for index, escalation in enumerate(self._config.escalations):
            if escalation.municipality not in (None, incident.municipality):
                continue  # another municipality's chain
            at = self._after(due, escalation.after, escalation.clock)
            steps.append(Step(at, "escalation", f"escalation:{index}:{deadline}",
                              escalation.name, index))
        return sorted(steps, key=lambda s: (s.at, s.kind == "escalation"))

    def _warnings(self, incident: IncidentRow, deadline: str) -> list[Step]:
        points = self._config.warnings
        if points is None:  # the policy's warn_before, stored as warn_at
            if incident.warn_at >= incident.due_at:
                return []
            return [Step(incident.warn_at, "warning", f"warning::{deadline}")]
        found = []
        for point in points:
            start = term_start(incident)
            at = max(self._warning_at(start, incident.due_at, point), incident.opened_at)
            if at < incident.due_at:
                found.append(Step(at, "warning", f"warning:{point.label}:{deadline}",
                                  point.label))
        return found

    def _warning_at(self, start: datetime, due: datetime, point: WarningPoint) -> datetime:
        working = self._config.warning_clock == "working"
        allowed = self._calendar.working_time_between(start, due) if working else due - start
        if working and allowed <= _ZERO:  # a deadline inside non-working time: calendar time
            working, allowed = False, due - start
        if point.share is not None:
            elapsed = allowed * point.share
        else:
            assert point.lead is not None
            elapsed = max(allowed - point.lead, _ZERO)
        return self._calendar.add_working_time(start, elapsed) if working else start + elapsed

    def _after(self, moment: datetime, delta: timedelta, clock: AlertClock) -> datetime:
        if clock == "calendar":
            return moment + delta
        return self._calendar.add_working_time(moment, delta)


@dataclass(frozen=True, slots=True)
class DueSteps:
    """What a tick does to one incident: the steps to queue now, the moment up to which steps
    have then fired (or been passed over), and when the next step falls due (None: none
    left)."""

    steps: tuple[Step, ...]
    alerted_until: datetime | None
    next_at: datetime | None


def due_steps(steps: Sequence[Step], due: DueAlert, now: datetime) -> DueSteps:
    """The steps of an incident due at `now` and not fired yet. Of the steps that tell the duty
    chats (announcement, warnings, overdue, reminders) only the latest goes, so a tick after
    downtime sends one message, not a backlog; every due escalation goes (each tells another
    person). An incident alerted before that no longer stands announced (it was reopened) is
    announced again, once per deadline."""
    done = due.alerted_until
    fresh = [s for s in steps if (done is None or s.at > done) and s.at <= now]
    if done is not None and not due.announced and any(s.kind == "opened" for s in steps):
        fresh.append(Step(now, "opened", f"opened:{_stamp(due.incident.due_at)}"))
    later = [s.at for s in steps if s.at > now]
    chosen = [s for s in fresh if s.kind == "escalation"]
    routine = [s for s in fresh if s.kind != "escalation"]
    if routine:
        chosen.insert(0, routine[-1])
    return DueSteps(tuple(chosen), now, min(later, default=None))
