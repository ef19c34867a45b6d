"""An incident's deadlines under its policy: first response, follow-up terms, resolution.

One place computes them, whether an incident opens, gets an interim answer, is reopened or has
its deadlines recomputed after the calendar or a policy changed: the same history always gives
the same deadlines.
"""

from __future__ import annotations

from datetime import datetime

from connectors.base import Item
from monitor.config.policies import DEFAULT, IncidentFacts, NamedPolicy, PolicyBook
from monitor.config.settings import SlaPolicy
from monitor.daemon.workcal import WorkingCalendar, deadline, resolution_due
from storage import DeadlineHistory, Deadlines


def clock_start(published_at: datetime, policy: SlaPolicy, detected_at: datetime) -> datetime:
    """When an incident's clock starts: detection, or publication if the policy says so (never
    later than detection: a clock ahead of ours buys no time)."""
    if policy.clock_start == "published":
        return min(published_at, detected_at)
    return detected_at


def first_deadlines(
    policy: NamedPolicy, calendar: WorkingCalendar, item: Item, detected_at: datetime
) -> Deadlines:
    """The deadlines of a new incident: its first response and, if set, its resolution."""
    started = clock_start(item.published_at, policy.terms, detected_at)
    warn_at, due_at = deadline(started, policy.terms, calendar)
    return Deadlines(policy.name, policy.describe(), started, warn_at, due_at,
                     resolution_due(started, policy.terms, calendar))


def follow_up(
    policy: SlaPolicy, calendar: WorkingCalendar, since: datetime
) -> tuple[datetime, datetime]:
    """`(warn_at, due_at)` of the term that starts with an interim answer or a reopening."""
    return deadline(since, policy, calendar, policy.follow_up, policy.follow_up_clock)


def interim_term(
    book: PolicyBook, calendar: WorkingCalendar, policy: str | None, since: datetime
) -> tuple[datetime, datetime]:
    """The term an interim answer given now starts for an incident under `policy` (its own
    policy, else the default one): what staff's and the command line's interim answers use."""
    chosen = book.by_name.get(policy or DEFAULT) or book.by_name[DEFAULT]
    return follow_up(chosen.terms, calendar, since)


def follow_up_terms(
    book: PolicyBook, calendar: WorkingCalendar, since: datetime
) -> dict[str, tuple[datetime, datetime]]:
    """The term an interim answer or a reopening at `since` starts, under every policy."""
    terms: dict[str, tuple[datetime, datetime]] = {}
    seen: dict[tuple[object, ...], tuple[datetime, datetime]] = {}
    for policy in book.chain:
        t = policy.terms
        key = (t.follow_up, t.follow_up_clock, t.warn_before)
        if key not in seen:
            seen[key] = follow_up(t, calendar, since)
        terms[policy.name] = seen[key]
    return terms


def recomputed(
    history: DeadlineHistory, book: PolicyBook, calendar: WorkingCalendar
) -> Deadlines | None:
    """The deadlines an open incident has under today's calendar and policies, or None when
    they are what it already has."""
    facts = IncidentFacts(history.topic, history.group, history.priority, history.source_id,
                          history.network, history.settlement, history.municipality)
    policy = book.choose(facts)
    started = clock_start(history.published_at, policy.terms, history.opened_at)
    if history.round_started_at is None:
        warn_at, due_at = deadline(started, policy.terms, calendar)
    else:
        warn_at, due_at = follow_up(policy.terms, calendar, history.round_started_at)
    fresh = Deadlines(policy.name, book.described[policy.name], started, warn_at, due_at,
                      resolution_due(started, policy.terms, calendar))
    same = (history.policy == fresh.policy and history.clock_started_at == started
            and history.warn_at == warn_at and history.due_at == due_at
            and history.resolution_due_at == fresh.resolution_due_at)
    return None if same else fresh
