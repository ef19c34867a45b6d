"""Schema migrations: registered steps, each applied with its bookkeeping row in one transaction.

A step is an SQL statement or an async Python function of the transaction (a data backfill):
either way it runs once, and its migration is recorded as applied in the same transaction. Each
backend keeps its own list (its own DDL); this is how any list is applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from storage.sql.db import Tx

Step = str | Callable[[Tx], Awaitable[object]]
Migration = tuple[str, Sequence[Step]]

BOOKKEEPING = ("CREATE TABLE IF NOT EXISTS schema_migrations"
               " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")


def check_names(migrations: Sequence[Migration]) -> None:
    """Refuse a list of migrations that names one twice: the second would never run."""
    seen: set[str] = set()
    for name, _ in migrations:
        if name in seen:
            msg = f"migration {name!r} is listed twice"
            raise ValueError(msg)
        seen.add(name)


async def applied_migrations(tx: Tx) -> set[str]:
    """Names of the migrations a database has recorded (its bookkeeping table must exist)."""
    return {row[0] for row in await tx.fetchall("SELECT name FROM schema_migrations")}


async def apply_pending(tx: Tx, migrations: Sequence[Migration]) -> list[str]:
    """Apply every migration not yet recorded, inside the caller's transaction."""
    check_names(migrations)
    await tx.execute(BOOKKEEPING)
    done = await applied_migrations(tx)
    applied = []
    for name, steps in migrations:
        if name in done:
            continue
        for step in steps:
            if isinstance(step, str):
                await tx.execute(step)
            else:
                await step(tx)
        await tx.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                         (name, datetime.now(UTC).isoformat()))
        applied.append(name)
    return applied
