"""What goes into the store and comes out of it: our own types, whatever the backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from common.fingerprints import Fingerprint
from connectors.base import Item


class StorageError(Exception):
    """The store could not be opened, read or written (the backend's own error is the cause)."""


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


@dataclass(slots=True)
class PollResult:
    """What one saved poll changed."""

    new_items: int = 0
    new_versions: int = 0
    incidents: list[int] = field(default_factory=list)
    repeats: list[int] = field(default_factory=list)
    """Incidents that a repeat joined, once per repeat."""
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

    def as_json(self) -> dict[str, object]:
        """Return the incident as the JSON the CLI prints (ISO 8601 with offset)."""
        return {
            "id": self.id, "source": self.source_id, "group": self.group_name,
            "topic": self.topic, "topic_name": self.topic_name,
            "organisation": self.organisation, "priority": self.priority, "status": self.status,
            "opened_at": self.opened_at.isoformat(), "warn_at": self.warn_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
            "url": self.url, "text": self.text, "settlement": self.settlement,
            "repeats": self.repeats,
        }


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
    """One alert to one chat (chat 0 means the log)."""

    chat_id: int
    text: str
    link: str | None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An alert waiting to be sent."""

    id: int
    incident_id: int
    reason: str
    chat_id: int
    text: str
    link: str | None
    attempts: int


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
