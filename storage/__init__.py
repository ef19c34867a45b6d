"""The store: the only package that speaks SQL. `monitor/` uses the `Store` interface only."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

from storage.report_types import MessageCount, ReportIncident, ResponseEvent
from storage.sqlite.store import SqliteStore, open_read_only
from storage.store import ReadOnlyStore, Store
from storage.types import (
    OPEN_STATUSES,
    SYSTEM,
    Action,
    ActionOutcome,
    ActionResult,
    Actor,
    AlertKind,
    AlertMessage,
    ClassifiedItem,
    DueAlert,
    IncidentEvent,
    IncidentRow,
    NewIncident,
    OutboxRow,
    PollResult,
    Repeat,
    RepeatRule,
    StorageError,
    StoredItem,
    TopicRef,
)


async def open_store(path: str | Path) -> Store:
    """Open the configured store (today: the SQLite file at `path`), migrated and ready."""
    return await SqliteStore.open(path)


async def open_scratch_store() -> Store:
    """An empty store in memory, gone when closed: for replays that must not touch the real one."""
    return await SqliteStore.scratch()


def open_read_only_store(path: Path) -> AbstractAsyncContextManager[ReadOnlyStore]:
    """Open an existing store for reading only; it is never created, migrated or written."""
    return open_read_only(path)


__all__ = [
    "OPEN_STATUSES", "SYSTEM", "Action", "ActionOutcome", "ActionResult", "Actor", "AlertKind",
    "DueAlert", "IncidentEvent", "TopicRef",
    "AlertMessage", "ClassifiedItem", "IncidentRow", "NewIncident", "OutboxRow", "PollResult",
    "ReadOnlyStore", "Repeat", "RepeatRule", "StorageError", "Store", "StoredItem",
    "open_read_only_store", "open_scratch_store", "open_store",
    "MessageCount", "ReportIncident", "ResponseEvent",
]
