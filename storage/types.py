"""What goes into the store and comes out of it: our own types, whatever the backend."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from common.fingerprints import Fingerprint
from connectors.base import Item


class StorageError(Exception):
    """The store could not be opened, read or written (the backend's own error is the cause)."""


OPEN_STATUSES = ("open", "in_work")
"""Statuses of an incident that still waits for an answer: deadlines and repeats apply."""

Status = Literal["open", "in_work", "answered", "closed"]
"""open: nobody has it yet; in_work: taken by a staff member; answered: an answer was given
(by staff, from the command line, or an official reply in the thread); closed: no answer
needed (dismissed, with a reason; left out of the on-time share)."""


@dataclass(frozen=True, slots=True)
class RepeatRule:
    """When a new complaint joins an open incident as a repeat: opened within `window`, this
    similar. With `join` off, repeats open incidents of their own, but every incident is still
    fingerprinted, so that repeats can join it once `join` is turned on."""

    window: timedelta
    similarity: float
    join: bool = True


@dataclass(frozen=True, slots=True)
class NewIncident:
    """What to open when an item that needs a reaction is stored; `fingerprint` finds its
    repeats (None: the text has no words to compare)."""

    topic_name: str | None
    organisation: str | None
    priority: str
    warn_at: datetime
    due_at: datetime
    fingerprint: Fingerprint | None = None
    policy: str | None = None
    """The name of the SLA policy it is under."""
    policy_terms: Mapping[str, str | None] | None = None
    """That policy's deadlines as written in the config (durations and clocks)."""
    clock_started_at: datetime | None = None
    """When its clock started (publication or detection, as the policy says); None: opening."""
    resolution_due_at: datetime | None = None
    """When a final answer is due, if the policy sets a resolution deadline."""
    municipality: str | None = None
    """The municipality it belongs to (`[[municipalities]]`); None with none configured."""
    im_topic: str | None = None
    """The «Инцидент Менеджмент» theme of its topic (`TopicConfig.im_topic`)."""
    address: str | None = None
    """The street and house of the gazetteer the text names («Бажова, 5»), if any."""


FollowUpKind = Literal["interim", "final", "reopen", "satisfied"]


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What an item means for the incident of its thread: an official answer that is interim or
    final, or a citizen's message after the final answer that reopens it or thanks.

    `terms` gives, per policy name, the `(warn_at, due_at)` of the new term an interim answer
    or a reopening starts (the store picks the incident's policy, or `default`); `within` is how
    long after the final answer a citizen's message still counts (None: always)."""

    kind: FollowUpKind
    terms: Mapping[str, tuple[datetime, datetime]] = field(default_factory=dict)
    within: timedelta | None = None


@dataclass(frozen=True, slots=True)
class ClassifiedItem:
    """An item with its content hash, classification and, if it needs one, an incident."""

    item: Item
    network: str
    content_hash: str
    group: str | None
    topic: str | None
    actionable: bool
    score: float
    why: tuple[str, ...]
    incident: NewIncident | None = None
    settlement: str | None = None
    answers: str | None = None
    """For an official account's item: the external id (same source) of the citizen's item it
    answers; that item's incident is marked answered at this item's publication time."""
    follow_up: FollowUp | None = None
    """For an item in a thread (an official answer, a citizen's reply): what it means for the
    thread's incident. An official answer without it is final."""


@dataclass(slots=True)
class PollResult:
    """What one saved poll changed."""

    new_items: int = 0
    new_versions: int = 0
    incidents: list[int] = field(default_factory=list)
    repeats: list[int] = field(default_factory=list)
    """Incidents that a repeat joined, once per repeat."""
    answered: list[int] = field(default_factory=list)
    """Incidents an official answer in this poll marked answered."""
    interim: list[int] = field(default_factory=list)
    """Incidents an interim official answer in this poll gave a follow-up term."""
    reopened: list[int] = field(default_factory=list)
    """Incidents a citizen's message after the final answer reopened."""
    satisfied: list[int] = field(default_factory=list)
    """Incidents whose citizen thanked after the final answer."""
    by_item: dict[str, tuple[bool, int]] = field(default_factory=dict)
    """External id of each item that opened or joined an incident → (joined, incident id)."""


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """An incident as stored."""

    id: int
    source_id: str
    group_name: str | None
    topic: str | None
    topic_name: str | None
    organisation: str | None
    priority: str
    status: str
    opened_at: datetime
    warn_at: datetime
    due_at: datetime
    warned_at: datetime | None
    overdue_at: datetime | None
    answered_at: datetime | None
    url: str
    text: str
    settlement: str | None = None
    repeats: int = 0
    assignee: str | None = None
    """Who took it in work (a staff member's name)."""
    snoozed_until: datetime | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    answered_by: str | None = None
    answer_url: str | None = None
    answer_text: str | None = None
    policy: str | None = None
    """The SLA policy it is under (None: opened before policies, until recomputed)."""
    policy_terms: Mapping[str, str | None] | None = None
    """The policy's deadlines: first_response, clock, resolution, resolution_clock, follow_up,
    follow_up_clock, clock_start (durations as the config writes them)."""
    clock_started_at: datetime | None = None
    resolution_due_at: datetime | None = None
    """When a final answer is due (a policy with a resolution deadline), else None."""
    deadline_round: int = 0
    """0 for the first-response deadline; +1 each time an interim answer or a reopening sets a
    new `due_at` (alerts of a new round are new alerts)."""
    round_started_at: datetime | None = None
    """When the running follow-up term started (an interim answer, a reopening); None while
    the first response is awaited."""
    municipality: str | None = None
    """The municipality it belongs to (`[[municipalities]]`); None with none configured."""
    im_topic: str | None = None
    """The «Инцидент Менеджмент» theme of its topic (None: a topic without one, or opened
    before themes were stored)."""
    address: str | None = None
    """The street and house the text names («Бажова, 5»), when the gazetteer knows it."""

    @property
    def is_open(self) -> bool:
        """Whether it still waits for an answer (open or in work)."""
        return self.status in OPEN_STATUSES

    def as_json(self) -> dict[str, object]:
        """Return the incident as the JSON the CLI prints (ISO 8601 with offset)."""
        return {
            "id": self.id, "source": self.source_id, "group": self.group_name,
            "topic": self.topic, "topic_name": self.topic_name,
            "organisation": self.organisation, "priority": self.priority, "status": self.status,
            "opened_at": self.opened_at.isoformat(), "warn_at": self.warn_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "answered_at": _iso(self.answered_at), "answered_by": self.answered_by,
            "answer_url": self.answer_url, "answer_text": self.answer_text,
            "closed_at": _iso(self.closed_at), "close_reason": self.close_reason,
            "assignee": self.assignee, "snoozed_until": _iso(self.snoozed_until),
            "url": self.url, "text": self.text, "settlement": self.settlement,
            "repeats": self.repeats, "policy": self.policy,
            "policy_terms": None if self.policy_terms is None else dict(self.policy_terms),
            "clock_started_at": _iso(self.clock_started_at),
            "resolution_due_at": _iso(self.resolution_due_at),
            "deadline_round": self.deadline_round, "municipality": self.municipality,
            "im_topic": self.im_topic, "address": self.address,
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


ActorKind = Literal["system", "staff", "cli", "official", "citizen"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something to an incident: the daemon itself, a staff member in Telegram, the
    command line, an official account answering in the thread, or the citizen writing again
    after the answer."""

    kind: ActorKind
    name: str | None = None
    """A person's or account's name, as it is shown."""
    ref: str | None = None
    """Their id where they have one (a Telegram user id, an account id)."""


SYSTEM = Actor("system")

EventKind = Literal["opened", "repeat", "alerted", "taken", "answered", "dismissed", "snoozed",
                    "reclassified", "recomputed", "interim", "reopened", "satisfied"]
"""recomputed: its deadlines changed with the calendar or the policies (detail: from_* and the
new values); interim: an answer that only promises (the incident stays open with a follow-up
deadline); reopened: the citizen wrote again after the final answer; satisfied: the citizen
thanked after it."""


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One line of an incident's event log."""

    at: datetime
    kind: EventKind
    actor: Actor
    detail: dict[str, object] = field(default_factory=dict)


ActionKind = Literal["take", "answer", "dismiss", "snooze", "reclassify", "interim", "reopen",
                     "satisfied"]


@dataclass(frozen=True, slots=True)
class Action:
    """Something staff, the command line or an official reply does to an incident.

    take: assign it to the actor (status in_work); answer: answered at `at` (default: now),
    with `link` and `text` of the answer when known; dismiss: closed, no answer needed, with
    `reason`; snooze: no alerts until `until`, then a reminder; reclassify: `topic` (with its
    group, name and organisation) replaces the stored one; interim: an answer that only
    promises, at `at`: the incident stays open with the new term `term`; reopen (an answered
    incident): the citizen wrote again at `at`, it is open again with the new term `term`;
    satisfied (an answered incident): the citizen thanked.
    """

    kind: ActionKind
    actor: Actor
    at: datetime | None = None
    until: datetime | None = None
    reason: str | None = None
    link: str | None = None
    text: str | None = None
    topic: TopicRef | None = None
    term: tuple[datetime, datetime] | None = None
    """`(warn_at, due_at)` of the new term an interim answer or a reopening starts."""


@dataclass(frozen=True, slots=True)
class TopicRef:
    """A topic as an incident stores it."""

    id: str
    group: str | None
    name: str | None
    organisation: str | None
    im_topic: str | None = None


ActionOutcome = Literal["done", "unknown", "not_open", "not_answered"]


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action did: done, the incident is unknown, it no longer waits for an answer
    (answered or closed already: nothing changed), or (reopen, satisfied) it has no final
    answer to follow. `incident` is as it stands afterwards."""

    outcome: ActionOutcome
    incident: IncidentRow | None = None
    event: IncidentEvent | None = None
    """The event the action wrote, when it was done."""


@dataclass(frozen=True, slots=True)
class Repeat:
    """An item that repeated an incident's complaint and joined it instead of opening one."""

    item_id: int
    source_id: str
    external_id: str
    url: str
    joined_at: datetime
    similarity: float


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One alert to one chat (chat 0 means the log), in a forum topic with `thread_id`."""

    chat_id: int
    text: str
    link: str | None
    thread_id: int | None = None


AlertKind = Literal["opened", "warning", "overdue", "reminder", "escalation"]
"""opened: a new incident; warning: the deadline is near; overdue: it has passed; reminder:
it is still overdue, or a snooze has ended; escalation: told to someone higher."""


@dataclass(frozen=True, slots=True)
class DueAlert:
    """An open incident whose next alert step is due: `next_alert_at` as stored (the token that
    `queue_alerts` checks), the moment up to which its steps have fired, and whether it stands
    announced (a reopening clears that: staff hear of it again)."""

    incident: IncidentRow
    next_alert_at: datetime
    alerted_until: datetime | None
    announced: bool = True


@dataclass(frozen=True, slots=True)
class QueuedStep:
    """One alert step of an incident: its kind, its reason (unique per incident: the outbox
    keeps one row per reason and chat) and its messages."""

    kind: AlertKind
    reason: str
    messages: tuple[AlertMessage, ...]
    not_before: datetime | None = None
    """Held until then (quiet hours); None: send at once."""


@dataclass(frozen=True, slots=True)
class AlertProgress:
    """What one tick does to an incident's alerts: the steps it queues, the moment up to which
    its steps have now fired, when to look at it next (None: no step left) and whether its
    snooze ended; `seen` is its `next_alert_at` as the tick read it."""

    incident_id: int
    seen: datetime
    alerted_until: datetime | None
    next_alert_at: datetime | None
    steps: tuple[QueuedStep, ...] = ()
    snooze_ended: bool = False


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An alert waiting to be sent; `incident_id` is None for a digest or a system alert."""

    id: int
    incident_id: int | None
    reason: str
    chat_id: int
    text: str
    link: str | None
    attempts: int
    thread_id: int | None = None
    """The forum topic of the chat, if any."""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as last stored (latest text), its stored verdict and its incident, if any."""

    id: int
    item: Item
    network: str
    first_seen_at: datetime
    group: str | None
    topic: str | None
    actionable: bool
    incident_id: int | None
    incident_status: str | None
    answered_at: datetime | None = None
    """When its incident, or the incident it joined, was answered."""


@dataclass(frozen=True, slots=True)
class DeadlineHistory:
    """What an open incident's deadlines are computed from, and what they are now."""

    incident_id: int
    topic: str | None
    group: str | None
    priority: str
    source_id: str
    network: str
    settlement: str | None
    opened_at: datetime
    published_at: datetime
    round_started_at: datetime | None
    """When the running follow-up term started (an interim answer, a reopening); None while
    the first response is awaited."""
    policy: str | None
    clock_started_at: datetime | None
    warn_at: datetime
    due_at: datetime
    resolution_due_at: datetime | None
    municipality: str | None = None


@dataclass(frozen=True, slots=True)
class Deadlines:
    """An incident's deadlines under a policy: warning, the running term, the resolution."""

    policy: str
    policy_terms: Mapping[str, str | None]
    clock_started_at: datetime
    warn_at: datetime
    due_at: datetime
    resolution_due_at: datetime | None = None
