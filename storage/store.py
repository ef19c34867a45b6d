"""The store's interface: what the daemon and the commands call, with our own types and error.

A backend implements `Store` (and `ReadOnlyStore` for `monitor rules test`); `monitor/` and
`connectors/` never see SQL, connections or a backend's errors. What a second backend must do is
written down in docs/storage.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol

from connectors.base import Cursor
from storage.types import (
    AlertMessage,
    ClassifiedItem,
    IncidentRow,
    OutboxRow,
    PollResult,
    Repeat,
    RepeatRule,
    StoredItem,
)


class Store(Protocol):
    """Items, cursors, incidents, repeats and the alert outbox; every write is one transaction.

    Every method raises `StorageError` when the backend fails; nothing half-written stays.
    """

    async def close(self) -> None:
        """Finish the running unit of work and release the backend."""
        ...

    async def load_cursor(self, source_id: str) -> Cursor | None:
        """The stored cursor of a source, or None before its first poll."""
        ...

    async def save_items_and_cursor(
        self, source_id: str, entries: Sequence[ClassifiedItem], cursor: Cursor,
        now: datetime, repeats: RepeatRule | None = None,
    ) -> PollResult:
        """Store one poll atomically: items (edits as new versions), their incidents (or, with
        `repeats` that join, the open incidents they repeat) and the source's new cursor."""
        ...

    async def item_versions(self, source_id: str, external_id: str) -> list[str]:
        """The texts of every stored version of an item, oldest first."""
        ...

    async def list_incidents(self, overdue_at: datetime | None = None) -> list[IncidentRow]:
        """Incidents, oldest first; with `overdue_at`, only open ones past due then."""
        ...

    async def repeats_of(self, incident_id: int) -> list[Repeat]:
        """The items that joined an incident as repeats, in the order they joined."""
        ...

    async def incidents_needing_alert(self, now: datetime) -> list[IncidentRow]:
        """Open incidents whose warning or overdue alert is due and not yet queued."""
        ...

    async def queue_alert(
        self, incident_id: int, reason: str, messages: Sequence[AlertMessage], now: datetime
    ) -> int:
        """Write alerts to the outbox and mark the incident, atomically; return rows added."""
        ...

    async def mark_answered(self, incident_id: int, now: datetime) -> bool:
        """Close an open incident as answered; False if it was not open."""
        ...

    async def pending_alerts(self, now: datetime, limit: int = 50) -> list[OutboxRow]:
        """Unsent alerts whose next attempt is due, oldest first."""
        ...

    async def mark_sent(self, row_id: int, message_id: int | None, now: datetime) -> None:
        """Record a delivered alert."""
        ...

    async def mark_retry(self, row_id: int, next_attempt_at: datetime, error: str) -> None:
        """Record a failed attempt to be retried later."""
        ...

    async def mark_failed(self, row_id: int, error: str) -> None:
        """Give up on an alert for good."""
        ...

    async def outbox_counts(self) -> dict[str, int]:
        """How many alerts are pending, sent and failed."""
        ...

    async def forget_before(self, moment: datetime) -> None:
        """Drop incidents opened before `moment`, their repeats, and items nothing refers to:
        for scratch stores (`monitor rules test`), never the daemon's."""
        ...


class ReadOnlyStore(Protocol):
    """A store opened for reading only: `monitor rules test` replays what the daemon saved."""

    damaged: int
    """Stored rows that could not be read and were skipped."""

    def stored_items(self) -> AsyncIterator[StoredItem]:
        """Every stored item with its latest text, in the order the daemon saved them."""
        ...
