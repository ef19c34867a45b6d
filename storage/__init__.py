"""The store: the only package that speaks SQL. `monitor/` uses the `Store` interface only."""

from __future__ import annotations

import asyncio
import os
import socket
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from storage.fleet import DaemonInfo, DaemonStatus, Fleet, FleetStatus, Grant, SoloFleet
from storage.location import PostgresLocation, StoreLocation, dsn_problem
from storage.postgresql.fleet import PostgresFleet
from storage.postgresql.replay import ReadOnlyPostgres
from storage.postgresql.store import PostgresStore
from storage.report_types import MessageCount, ReportIncident, ResponseEvent
from storage.sqlite.backup import backup_file
from storage.sqlite.store import SqliteStore, open_read_only
from storage.store import ReadOnlyStore, Store
from storage.transfer import Counts, move_sqlite_store
from storage.types import (
    OPEN_STATUSES,
    SYSTEM,
    Action,
    ActionOutcome,
    ActionResult,
    Actor,
    AlertKind,
    AlertMessage,
    AlertProgress,
    ClassifiedItem,
    DeadlineHistory,
    Deadlines,
    DueAlert,
    FollowUp,
    IncidentEvent,
    IncidentRow,
    NewIncident,
    OutboxRow,
    PollResult,
    QueuedStep,
    Repeat,
    RepeatRule,
    StorageError,
    StoredItem,
    TopicRef,
)


async def open_store(location: str | StoreLocation) -> Store:
    """Open the configured store (a SQLite file or a PostgreSQL database), migrated and ready."""
    if isinstance(location, PostgresLocation):
        problem = dsn_problem(location.dsn, location.dsn_env)
        if problem is not None or location.dsn is None:
            raise StorageError(problem or "")
        return await PostgresStore.open(location.dsn)
    return await SqliteStore.open(location)


async def open_postgres_store(location: PostgresLocation) -> PostgresStore:
    """Open a PostgreSQL store (the target of `monitor migrate`), migrated and ready."""
    store = await open_store(location)
    assert isinstance(store, PostgresStore)
    return store


def fleet_of(store: Store) -> tuple[Fleet, DaemonInfo]:
    """The daemons sharing this store, and this process among them (alone on SQLite)."""
    if isinstance(store, PostgresStore):
        return PostgresFleet(store.pg), store.daemon
    return SoloFleet(), DaemonInfo(f"{socket.gethostname()}:{os.getpid()}",
                                   socket.gethostname(), os.getpid())


async def open_scratch_store() -> Store:
    """An empty store in memory, gone when closed: for replays that must not touch the real one."""
    return await SqliteStore.scratch()


async def backup_store(location: StoreLocation, target: Path) -> int:
    """Copy the live store to `target` consistently while the daemon runs; return the copy's
    size. StorageError (in Russian) when it cannot, and for PostgreSQL, whose copies are
    pg_dump's (docs/region.md)."""
    if isinstance(location, PostgresLocation):
        raise StorageError(
            f"хранилище — PostgreSQL ({location}): monitor backup копирует только файл SQLite. "
            f"Копию базы PostgreSQL снимает pg_dump: pg_dump -Fc \"${location.dsn_env}\" > "
            "monitor-ДАТА.dump, восстанавливает pg_restore (docs/region.md, раздел Backups)")
    return await asyncio.to_thread(backup_file, location, target)


def open_read_only_store(
    location: StoreLocation,
) -> AbstractAsyncContextManager[ReadOnlyStore]:
    """Open an existing store for reading only; it is never created, migrated or written."""
    if isinstance(location, PostgresLocation):
        problem = dsn_problem(location.dsn, location.dsn_env)
        if problem is not None or location.dsn is None:
            raise StorageError(problem or "")
        return ReadOnlyPostgres.open(location.dsn)
    return open_read_only(location)


__all__ = [
    "OPEN_STATUSES", "SYSTEM", "PostgresLocation", "StoreLocation", "dsn_problem",
    "Action", "DaemonInfo", "DaemonStatus", "Fleet", "FleetStatus", "Grant", "fleet_of",
    "ActionOutcome", "Counts", "move_sqlite_store", "open_postgres_store",
    "ActionResult", "Actor", "AlertKind",
    "DeadlineHistory", "Deadlines", "DueAlert", "FollowUp", "IncidentEvent", "TopicRef",
    "AlertProgress", "QueuedStep",
    "AlertMessage", "ClassifiedItem", "IncidentRow", "NewIncident", "OutboxRow", "PollResult",
    "ReadOnlyStore", "Repeat", "RepeatRule", "StorageError", "Store", "StoredItem",
    "backup_store", "open_read_only_store", "open_scratch_store", "open_store",
    "MessageCount", "ReportIncident", "ResponseEvent",
]
