"""The store's interface: what the daemon and the commands call, with our own types and error.

A backend implements `Store` (and `ReadOnlyStore` for `monitor rules test`); `monitor/` and
`connectors/` never see SQL, connections or a backend's errors. What a second backend must do is
written down in docs/storage.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from connectors.base import Cursor
from storage.report_types import MessageCount, ReportIncident
from storage.types import (
    Action,
    ActionResult,
    AlertMessage,
    AlertProgress,
    ClassifiedItem,
    DeadlineHistory,
    Deadlines,
    DueAlert,
    IncidentEvent,
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

    async def list_incidents(
        self, overdue_at: datetime | None = None, open_only: bool = False
    ) -> list[IncidentRow]:
        """Incidents, oldest first; with `open_only`, those still waiting for an answer; with
        `overdue_at`, those waiting and past due then."""
        ...

    async def open_counts(self, now: datetime) -> dict[str | None, tuple[int, int]]:
        """Per group (None: no group), the incidents still open and how many of them are past
        their deadline at `now`; counted in the store (metrics scrape it every few seconds)."""
        ...

    async def incident(self, incident_id: int) -> IncidentRow | None:
        """One incident by its number, or None."""
        ...

    async def problem_incidents(
        self, group: str, settlement: str, municipality: str | None, start: datetime,
        end: datetime,
    ) -> list[IncidentRow]:
        """Incidents of `group` in `settlement` of `municipality` (None: none configured) opened
        in [start, end), oldest first: what a spike of one problem is counted from."""
        ...

    async def events_of(self, incident_id: int) -> list[IncidentEvent]:
        """An incident's event log, in the order it was written."""
        ...

    async def act(
        self, incident_id: int, action: Action, now: datetime, bot_update: int | None = None
    ) -> ActionResult:
        """Take, answer, dismiss, snooze or reclassify an incident with its event, atomically;
        `bot_update` (the Telegram update that asked) is recorded in the same transaction.
        Every answer path (a staff button, a command, an official reply) comes through here."""
        ...

    async def last_bot_update(self) -> tuple[int, datetime] | None:
        """The id of the last Telegram update handled and when, or None."""
        ...

    async def save_bot_update(self, update_id: int, now: datetime) -> None:
        """Record a handled Telegram update that changed nothing."""
        ...

    async def keep_bot_update(
        self, update_id: int, chat_id: int, payload: str, now: datetime
    ) -> None:
        """Keep an update from a source chat (JSON) for its source, marking it handled, in one
        transaction: what the bot received is never lost nor kept twice."""
        ...

    async def kept_bot_updates(
        self, chat_ids: list[int], after: int, limit: int = 500
    ) -> list[tuple[int, str]]:
        """Kept updates of these chats after an inbox position, oldest first."""
        ...

    async def repeats_of(self, incident_id: int) -> list[Repeat]:
        """The items that joined an incident as repeats, in the order they joined."""
        ...

    async def due_alerts(self, now: datetime, limit: int = 1000) -> list[DueAlert]:
        """Incidents still waiting whose next alert step is due (a new one, a moved deadline,
        a warning, overdue, a reminder, an escalation, the end of a snooze), longest waiting
        first, at most `limit`."""
        ...

    async def queue_alerts(self, progress: Sequence[AlertProgress], now: datetime) -> int:
        """Write incidents' due alert steps to the outbox (one row per step and chat, never
        twice) and move their alert schedules on, atomically; an incident that staff or another
        tick changed since `due_alerts` read it is left alone; return rows added."""
        ...

    async def queue_notices(
        self, reason: str, messages: Sequence[AlertMessage], now: datetime,
        not_before: datetime | None = None,
    ) -> int:
        """Queue a message about no one incident (a digest, a system alert) to chats, once per
        reason and chat (a second call with the same reason adds nothing); return rows added."""
        ...

    async def open_conditions(self) -> dict[str, datetime]:
        """System conditions raised and not cleared (a source refused or silent, a token near
        its cap): key → since when."""
        ...

    async def set_condition(
        self, key: str, raised: bool, messages: Sequence[AlertMessage], now: datetime
    ) -> bool:
        """Raise (or clear) a system condition and queue the alert that says so, atomically;
        False, queueing nothing, when it already stood so."""
        ...

    async def last_items(self, source_ids: Sequence[str]) -> dict[str, datetime]:
        """When each source's newest item was first seen (sources with none left out)."""
        ...

    async def pending_alerts(self, now: datetime, limit: int = 50) -> list[OutboxRow]:
        """Unsent alerts whose next attempt is due, oldest first."""
        ...

    async def mark_sent(self, row_id: int, message_id: int | None, now: datetime) -> None:
        """Record a delivered alert."""
        ...

    async def mark_retry(
        self, row_id: int, next_attempt_at: datetime, error: str, count: bool = True
    ) -> None:
        """Record a failed attempt to be retried later; with `count` off it does not use up
        the row's attempts (Telegram asked the bot to wait)."""
        ...

    async def mark_failed(self, row_id: int, error: str) -> None:
        """Give up on an alert for good."""
        ...

    async def oldest_waiting_alert(self, now: datetime) -> datetime | None:
        """When the oldest pending alert that is due or was already tried was queued; None if
        there is none (rows held for a later time, never tried, do not count)."""
        ...

    async def outbox_counts(self) -> dict[str, int]:
        """How many alerts are pending, sent, failed and cancelled."""
        ...

    async def claim_alert(self, row_id: int, now: datetime) -> bool:
        """Take an alert to send it now: False if it no longer waits (cancelled, sent) or, on a
        store several daemons share, another daemon has claimed it."""
        ...

    async def alert_pending(self, row_id: int) -> bool:
        """Whether an outbox row still waits to be sent (not cancelled meanwhile)."""
        ...

    async def sent_alert(self, chat_id: int, message_id: int) -> OutboxRow | None:
        """The alert that became a given Telegram message, or None."""
        ...

    async def deadline_histories(self, after: int = 0, limit: int = 5000
                                 ) -> list[DeadlineHistory]:
        """Incidents still waiting numbered after `after` (at most `limit`, by number), with
        what their deadlines are computed from."""
        ...

    async def deadline_basis(self) -> str | None:
        """The fingerprint of the calendar and policies the stored deadlines follow, or None."""
        ...

    async def save_recomputed(
        self, changes: Sequence[tuple[DeadlineHistory, Deadlines]], basis: str | None,
        now: datetime,
    ) -> int:
        """Write recomputed deadlines, a `recomputed` event for each, and (unless None) the new
        basis, in one transaction; an incident answered or given a new term meanwhile is left
        alone. Return how many incidents changed."""
        ...

    async def forget_before(self, moment: datetime) -> None:
        """Drop incidents opened before `moment`, their repeats, and items nothing refers to:
        for scratch stores (`monitor rules test`), never the daemon's."""
        ...

    # --- the quarterly report (docs/report.md) --------------------------------------------

    async def message_counts(self, start: datetime, end: datetime) -> list[MessageCount]:
        """Residents' messages (items not by an official account) published in [start, end),
        per network and source."""
        ...

    async def report_incidents(
        self, start: datetime, end: datetime, response_kinds: Sequence[str],
        municipality: str | None = None,
    ) -> list[ReportIncident]:
        """Incidents opened in [start, end), oldest first, each with how many events of every
        kind its log holds and its events of `response_kinds` (with their answer time); only
        those of `municipality` when it is given."""
        ...

    async def queue_spike_alert(
        self, key: str, messages: Sequence[AlertMessage], since: datetime, now: datetime,
    ) -> int:
        """Queue the alert of a spike as a notice (no one incident; outbox reason
        `key:<moment>`, see `queue_notices`), unless an alert of the same `key` was queued since
        `since`; atomically."""
        ...

    async def job_done(self, key: str) -> bool:
        """Whether a once-only scheduled job (a quarter's report) has been recorded done."""
        ...

    async def mark_job_done(self, key: str, now: datetime) -> None:
        """Record a once-only scheduled job as done."""
        ...

    async def claim_job(self, key: str, now: datetime, hold: timedelta) -> bool:
        """Claim a once-only job right before running it: False if it is done or another
        claimer's claim still holds (on PostgreSQL while that daemon lives, however slow its
        run; on SQLite, one daemon at a time, for `hold` from the claim). A claim is given
        back by `release_job` and ends with `mark_job_done`."""
        ...

    async def release_job(self, key: str) -> None:
        """Give back this store's claim of a job that did not run through."""
        ...


class ReadOnlyStore(Protocol):
    """A store opened for reading only: `monitor rules test` replays what the daemon saved."""

    damaged: int
    """Stored rows that could not be read and were skipped."""

    def stored_items(self) -> AsyncIterator[StoredItem]:
        """Every stored item with its latest text, in the order the daemon saved them."""
        ...
