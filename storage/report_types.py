"""What the store hands the quarterly report: plain rows, no figures (those are the report's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MessageCount:
    """Residents' messages (items not by an official account) of one source, by network."""

    network: str
    source_id: str
    messages: int


@dataclass(frozen=True, slots=True)
class ResponseEvent:
    """One event of a kind the report counts as a response (final or interim answer)."""

    kind: str
    at: datetime
    """When the answer was given: the event's `answered_at` detail if it has one (an official
    reply found later carries its publication time), else when the event was written."""


@dataclass(frozen=True, slots=True)
class ReportIncident:
    """An incident as the report reads it, with its event log tallied by kind."""

    id: int
    group_name: str | None
    topic: str | None
    topic_name: str | None
    organisation: str | None
    settlement: str | None
    priority: str
    status: str
    opened_at: datetime
    due_at: datetime
    url: str
    assignee: str | None = None
    close_reason: str | None = None
    repeats: int = 0
    events: tuple[tuple[str, int], ...] = ()
    """How many events of each kind its log holds (every kind, known to this release or not)."""
    responses: tuple[ResponseEvent, ...] = field(default=())
    """Its response events, in the order they were written."""
    first_due: datetime | None = None
    """The first-response deadline when a later term (an interim answer, a reopening) replaced
    it: the `due_before` of the first such event; None when `due_at` is still that deadline."""
    municipality: str | None = None
    """The municipality it belongs to (`[[municipalities]]`); None with none configured."""
    im_topic: str | None = None
    """The «Инцидент Менеджмент» theme stored with it (None: opened before themes were stored,
    or a topic without one)."""

    def count(self, kind: str) -> int:
        """How many events of `kind` its log holds."""
        return next((n for k, n in self.events if k == kind), 0)
