"""The store on any SQL backend: every method runs the shared queries of `storage/sql/`.

A backend gives a `storage.sql.db.Database` (its connection adapter) and subclasses `SqlStore`
with its openers: a method added here works on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from connectors.base import Cursor
from storage.fleet import DaemonInfo
from storage.report_types import MessageCount, ReportIncident
from storage.sql import actions, conditions, deadlines, incidents, items, outbox, reports
from storage.sql.db import Database, Tx
from storage.sql.events import events_of
from storage.sql.repeats import REPEATS_OF, repeat_from
from storage.sql.replay import forget_before
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
)


class SqlStore:
    """`storage.Store` on a backend's `Database`."""

    due_index = ""
    """The backend's hint for the due-alert query (`storage.sql.incidents.DUE_ALERTS`)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        """The connection itself: for the storage tests, never for `monitor/`."""
        host = socket.gethostname()
        self.daemon = DaemonInfo(f"{host}:{os.getpid()}:{uuid.uuid4().hex[:6]}", host,
                                 os.getpid())
        """This process as the fleet knows it: its leases and claims carry its id."""

    @property
    def claimer(self) -> str:
        """Who this store's claims (of outbox rows, of once-only jobs) are recorded as."""
        return self.daemon.id

    async def close(self) -> None:
        """Wait for the running unit of work and release the backend."""
        await self.database.close()

    async def load_cursor(self, source_id: str) -> Cursor | None:
        """The stored cursor of a source, or None before its first poll."""
        return await items.load_cursor(self.database, source_id)

    async def save_items_and_cursor(
        self, source_id: str, entries: Sequence[ClassifiedItem], cursor: Cursor,
        now: datetime, repeats: RepeatRule | None = None,
    ) -> PollResult:
        """Store one poll atomically (see `storage.Store`)."""
        return await items.save_items_and_cursor(self.database, source_id, entries, cursor,
                                                 now, repeats)

    async def item_versions(self, source_id: str, external_id: str) -> list[str]:
        """The texts of every stored version of an item, oldest first."""
        return await items.item_versions(self.database, source_id, external_id)

    async def list_incidents(
        self, overdue_at: datetime | None = None, open_only: bool = False
    ) -> list[IncidentRow]:
        """Incidents, oldest first (see `storage.Store`)."""
        return await incidents.list_incidents(self.database, overdue_at, open_only)

    async def open_counts(self, now: datetime) -> dict[str | None, tuple[int, int]]:
        """Open incidents per group, and how many are past due (see `storage.Store`)."""
        return await incidents.open_counts(self.database, now)

    async def incident(self, incident_id: int) -> IncidentRow | None:
        """One incident by its number, or None."""
        return await incidents.incident(self.database, incident_id)

    async def problem_incidents(
        self, group: str, settlement: str, municipality: str | None, start: datetime,
        end: datetime,
    ) -> list[IncidentRow]:
        """Incidents of one group in one settlement opened in a span (see `storage.Store`)."""
        return await incidents.problem_incidents(self.database, group, settlement, municipality,
                                                 start, end)

    async def events_of(self, incident_id: int) -> list[IncidentEvent]:
        """An incident's event log, in the order it was written."""
        return await events_of(self.database, incident_id)

    async def act(
        self, incident_id: int, action: Action, now: datetime, bot_update: int | None = None
    ) -> ActionResult:
        """Apply one action with its event, atomically (see `storage.Store`)."""
        return await actions.act(self.database, incident_id, action, now, bot_update)

    async def last_bot_update(self) -> tuple[int, datetime] | None:
        """The id of the last Telegram update handled and when, or None."""
        return await actions.last_bot_update(self.database)

    async def save_bot_update(self, update_id: int, now: datetime) -> None:
        """Record a handled Telegram update that changed nothing."""
        async with self.database.transaction() as tx:
            await actions.save_bot_update(tx, update_id, now)

    async def keep_bot_update(
        self, update_id: int, chat_id: int, payload: str, now: datetime
    ) -> None:
        """Keep a source chat's update and mark it handled, atomically."""
        await actions.keep_bot_update(self.database, update_id, chat_id, payload, now)

    async def kept_bot_updates(
        self, chat_ids: list[int], after: int, limit: int = 500
    ) -> list[tuple[int, str]]:
        """Kept updates of these chats after an inbox position, oldest first."""
        return await actions.kept_bot_updates(self.database, chat_ids, after, limit)

    async def repeats_of(self, incident_id: int) -> list[Repeat]:
        """The items that joined an incident as repeats, in the order they joined."""
        return [repeat_from(r) for r in await self.database.fetchall(REPEATS_OF, (incident_id,))]

    async def due_alerts(self, now: datetime, limit: int = 1000) -> list[DueAlert]:
        """Open incidents whose next alert step is due now, the longest waiting first."""
        return await incidents.due_alerts(self.database, now, limit, self.due_index)

    async def queue_alerts(self, progress: Sequence[AlertProgress], now: datetime) -> int:
        """Queue incidents' due alert steps and move their schedules on, atomically."""
        return await incidents.queue_alerts(self.database, progress, now)

    async def queue_notices(
        self, reason: str, messages: Sequence[AlertMessage], now: datetime,
        not_before: datetime | None = None,
    ) -> int:
        """Queue a message about no one incident, once per reason and chat."""
        return await outbox.queue_notices(self.database, reason, messages, now, not_before)

    async def open_conditions(self) -> dict[str, datetime]:
        """System conditions raised and not cleared: key → since when."""
        return await conditions.open_conditions(self.database)

    async def set_condition(
        self, key: str, raised: bool, messages: Sequence[AlertMessage], now: datetime
    ) -> bool:
        """Raise or clear a system condition with its alert, atomically."""
        return await conditions.set_condition(self.database, key, raised, messages, now)

    async def last_items(self, source_ids: Sequence[str]) -> dict[str, datetime]:
        """When each source's newest item was first seen."""
        return await conditions.last_items(self.database, source_ids)

    async def pending_alerts(self, now: datetime, limit: int = 50) -> list[OutboxRow]:
        """Unsent alerts whose next attempt is due, oldest first."""
        return await outbox.pending_alerts(self.database, now, limit)

    async def mark_sent(self, row_id: int, message_id: int | None, now: datetime) -> None:
        """Record a delivered alert."""
        await outbox.mark_sent(self.database, row_id, message_id, now)

    async def mark_retry(
        self, row_id: int, next_attempt_at: datetime, error: str, count: bool = True
    ) -> None:
        """Record a failed attempt to be retried later."""
        await outbox.mark_retry(self.database, row_id, next_attempt_at, error, count)

    async def mark_failed(self, row_id: int, error: str) -> None:
        """Give up on an alert for good."""
        await outbox.mark_failed(self.database, row_id, error)

    async def oldest_waiting_alert(self, now: datetime) -> datetime | None:
        """When the oldest alert still waiting to go out was queued (see `storage.Store`)."""
        return await outbox.oldest_waiting_alert(self.database, now)

    async def outbox_counts(self) -> dict[str, int]:
        """How many alerts are pending, sent, failed and cancelled."""
        return await outbox.outbox_counts(self.database)

    async def claim_alert(self, row_id: int, now: datetime) -> bool:
        """Whether this daemon sends an alert now: it still waits (one daemon: nobody else)."""
        return await self.alert_pending(row_id)

    async def alert_pending(self, row_id: int) -> bool:
        """Whether an outbox row still waits to be sent (not cancelled meanwhile)."""
        row = await self.database.fetchone("SELECT status FROM outbox WHERE id = ?", (row_id,))
        return row is not None and row["status"] == "pending"

    async def sent_alert(self, chat_id: int, message_id: int) -> OutboxRow | None:
        """The alert that became a given Telegram message, or None."""
        return await outbox.sent_alert(self.database, chat_id, message_id)

    async def deadline_histories(self, after: int = 0, limit: int = 5000
                                 ) -> list[DeadlineHistory]:
        """Incidents still waiting numbered after `after` (at most `limit`, by number), with
        what their deadlines are computed from."""
        return await deadlines.deadline_histories(self.database, after, limit)

    async def deadline_basis(self) -> str | None:
        """The fingerprint of the calendar and policies the stored deadlines follow."""
        return await deadlines.deadline_basis(self.database)

    async def save_recomputed(
        self, changes: Sequence[tuple[DeadlineHistory, Deadlines]], basis: str | None,
        now: datetime,
    ) -> int:
        """Write recomputed deadlines with their events and the new basis, atomically."""
        return await deadlines.save_recomputed(self.database, changes, basis, now)

    async def forget_before(self, moment: datetime) -> None:
        """Drop what no item from `moment` on can join (scratch stores only)."""
        await forget_before(self.database, moment)

    async def message_counts(self, start: datetime, end: datetime) -> list[MessageCount]:
        """Residents' messages published in [start, end), per network and source."""
        return await reports.message_counts(self.database, start, end)

    async def report_incidents(
        self, start: datetime, end: datetime, response_kinds: Sequence[str],
        municipality: str | None = None,
    ) -> list[ReportIncident]:
        """Incidents opened in [start, end) with their event logs tallied (see `Store`)."""
        return await reports.report_incidents(self.database, start, end, response_kinds,
                                              municipality)

    async def queue_spike_alert(
        self, key: str, messages: Sequence[AlertMessage], since: datetime, now: datetime,
    ) -> int:
        """Queue a spike's alert unless one of the same key was queued since `since`."""
        return await reports.queue_spike_alert(self.database, key, messages, since, now)

    async def job_done(self, key: str) -> bool:
        """Whether a once-only job has been recorded done."""
        return await reports.job_done(self.database, key)

    async def mark_job_done(self, key: str, now: datetime) -> None:
        """Record a once-only job as done."""
        await reports.mark_job_done(self.database, key, now)

    async def claim_job(self, key: str, now: datetime, hold: timedelta) -> bool:
        """Claim a once-only job right before running it (see `storage.Store`)."""
        return await reports.claim_job(self.database, key, self.claimer, now, hold,
                                       self._claim_alive)

    async def release_job(self, key: str) -> None:
        """Give back this store's claim of a job that did not run through."""
        await reports.release_job(self.database, key, self.claimer)

    async def _claim_alive(
        self, tx: Tx, holder: str | None, until: datetime | None, now: datetime
    ) -> bool:
        """Whether another claimer's claim still holds: on SQLite (one daemon at a time, the
        instance lock) until the claim's own term ends: a daemon killed while sending leaves
        its claim to lapse."""
        return until is not None and until > now
