"""Moving a municipality's SQLite store into PostgreSQL: every table, batch by batch.

The first store moved into an empty database keeps its numbers (incident №, outbox and event
ids). A store moved into a database that already holds another municipality's rows takes new
numbers from the database's sequences; the old → new pairs are kept in `moved_ids`, written
in the same transaction as the rows, so every reference (an incident's item, an event's
incident, a version's item, a repeat, a thread, an outbox row, an event's `item_id`, an
`undelivered:<outbox id>` notice) points at the moved row, and a run interrupted anywhere goes
on where it stopped and a finished one run again changes nothing. Columns are copied by name:
a column a later release adds moves with no change here.

Two municipalities may name a source alike. Their posts then collide: it is the same source
only when the posts both stores have (same source, same post id) have the same links; then its
posts merge (one item, the incident already in the database gathers the other's events and
alerts). Otherwise the move stops before copying anything and says which sources to rename
(`rename`: the move stores them under the new name).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from storage.postgresql.store import PostgresStore
from storage.sql.db import Reader, Row, Tx
from storage.sql.deadlines import BASIS_KEY
from storage.sqlite.store import SqliteStore
from storage.transfer_ids import (
    IdMap,
    Move,
    begin_move,
    check_sources,
    finish_move,
    moved_counts,
    new_ids,
    undelivered,
)
from storage.types import StorageError

BATCH = 1000


@dataclass(frozen=True, slots=True)
class Table:
    """A table to move: its key (batches are read in its order) and, for a table with its own
    numbers, the columns that find the same row already in the database (None: none does)."""

    name: str
    key: tuple[str, ...]
    identity: bool = False
    same: tuple[str, ...] | None = None


TABLES = (
    Table("items", ("id",), True, ("source_id", "external_id")),
    Table("item_versions", ("item_id", "version")),
    Table("cursors", ("source_id",)),
    Table("incidents", ("id",), True, ("item_id",)),
    Table("incident_repeats", ("item_id",)),
    Table("incident_thread", ("source_id", "external_id")),
    Table("incident_bands", ("band", "opened_at", "incident_id")),
    Table("incident_events", ("id",), True),
    Table("outbox", ("id",), True, ("incident_id", "reason", "chat_id")),
    Table("bot_state", ("key",)),
    Table("bot_inbox", ("id",), True, ("update_id", "chat_id")),
    Table("system_conditions", ("key",)),
)
"""In the order their references need. A table another release adds is listed here too."""

REFERENCES = {"item_id": "items", "incident_id": "incidents"}
"""Columns holding another table's number, whatever table they are in."""


@dataclass
class Counts:
    """Rows per table: in the SQLite file, in PostgreSQL before the move and after it; for
    tables with numbers, the rows of this store the database now holds (`moved`), and the
    first and last incident numbers of the store before and after (when they changed)."""

    source: dict[str, int]
    before: dict[str, int]
    after: dict[str, int] = field(default_factory=dict)
    moved: dict[str, int] = field(default_factory=dict)
    renumbered: tuple[tuple[int, int], tuple[int, int]] | None = None

    def short(self) -> list[str]:
        """Tables with rows of the store that did not reach the database."""
        return [t.name for t in TABLES if t.identity
                and self.moved.get(t.name, 0) < self.source[t.name]]


async def count_rows(db: Reader) -> dict[str, int]:
    """Rows per table of a store."""
    found = {}
    for table in TABLES:
        row = await db.fetchone(f"SELECT COUNT(*) FROM {table.name}")
        found[table.name] = int(row[0]) if row else 0
    return found


async def move_sqlite_store(
    path: Path, target: PostgresStore, progress: Callable[[str, int], None] | None = None,
    rename: Mapping[str, str] | None = None,
) -> Counts:
    """Copy every table of the SQLite store at `path` into `target`; return the counts."""
    if not path.is_file():
        raise StorageError(f"файла {path} нет")
    source = await SqliteStore.open(path)  # brings an older file up to this release first
    try:
        counts = Counts(await count_rows(source.database), await count_rows(target.database))
        move = await begin_move(source.database, target.database, path, dict(rename or {}))
        await check_sources(source.database, target.database, move)
        for table in TABLES:
            columns = await _columns(source, target, table)
            async for rows in _batches(source, table, columns):
                async with target.database.transaction() as tx:
                    await _move_batch(tx, move, table, columns, rows)
                if progress is not None:
                    progress(table.name, len(rows))
        async with target.database.transaction() as tx:
            await _settle_basis(tx, move)
            await finish_move(tx, move, [t.name for t in TABLES if t.identity])
        for table in (*TABLES, Table("moved_ids", ())):
            # Fresh statistics for the planner: a bulk load leaves them empty or stale until
            # autovacuum comes round (and it may be off), and plans chosen without them walk
            # whole tables (docs/region.md).
            await target.database.fetchall(f"ANALYZE {table.name}")
        counts.after = await count_rows(target.database)
        counts.moved, counts.renumbered = await moved_counts(target.database, move)
    finally:
        await source.close()
    return counts


async def _columns(source: SqliteStore, target: PostgresStore, table: Table) -> list[str]:
    """The columns to copy; a SQLite column PostgreSQL lacks would be lost, so it stops."""
    ours = [r["name"] for r in await source.database.fetchall(
        f"SELECT name FROM pragma_table_info('{table.name}')")]
    theirs = {r[0] for r in await target.database.fetchall(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ?", (table.name,))}
    missing = [name for name in ours if name not in theirs]
    if missing:
        raise StorageError(f"в PostgreSQL у таблицы {table.name} нет колонок "
                           f"{', '.join(missing)}: обновите монитор там, где база создавалась")
    return ours


async def _batches(
    source: SqliteStore, table: Table, columns: list[str]
) -> AsyncIterator[list[Row]]:
    """The table's rows in key order, BATCH at a time (keyset paging: no OFFSET)."""
    select = f"SELECT {', '.join(columns)} FROM {table.name}"
    order = ", ".join(table.key)
    after: tuple[object, ...] | None = None
    while True:
        where = "" if after is None else f" WHERE ({order}) > ({', '.join('?' * len(after))})"
        rows = await source.database.fetchall(f"{select}{where} ORDER BY {order} LIMIT ?",
                                               (*(after or ()), BATCH))
        if not rows:
            return
        yield rows
        after = tuple(rows[-1][key] for key in table.key)


async def _move_batch(
    tx: Tx, move: Move, table: Table, columns: list[str], rows: list[Row]
) -> None:
    """One batch in one transaction: references turned into the database's numbers, the
    table's own numbers given (and remembered), the rows not there yet inserted."""
    values = [dict(zip(columns, row, strict=True)) for row in rows]
    if table.name == "bot_state" and not move.alone:
        values = [row for row in values if row["key"] != BASIS_KEY]  # see _settle_basis
    for row in values:
        move.rename_row(table.name, row)
    for column, parent in REFERENCES.items():
        if column in columns:
            ids = await IdMap.load(tx, move, parent, [r[column] for r in values])
            for row in values:
                row[column] = ids.get(row[column], table.name)
    if table.name == "outbox":  # notices about other rows: after those rows have numbers
        notices = [row for row in values if undelivered(row)]
        values = await new_ids(tx, move, table.name, table.same,
                               [row for row in values if not undelivered(row)])
        await move.rewrite_reasons(tx, notices)
        values += await new_ids(tx, move, table.name, table.same, notices)
    elif table.identity:
        values = await new_ids(tx, move, table.name, table.same, values)
    if table.name == "incident_events":
        await move.rewrite_detail(tx, values)
    if not values:
        return
    marks = ", ".join("?" * len(columns))
    conflict = "" if table.identity else " ON CONFLICT DO NOTHING"
    await tx.executemany(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks}){conflict}",
        [tuple(row[c] for c in columns) for row in values])


async def _settle_basis(tx: Tx, move: Move) -> None:
    """Deadlines are stored with the calendar and policies they were computed under (the
    basis). A store joining another's database was computed under its own: the database is
    left without a basis, so the next daemon to start recomputes every open incident's
    deadlines under the regional config (recomputation is idempotent). So does a store
    moved again after another joined it."""
    if not move.alone:
        await tx.execute("DELETE FROM bot_state WHERE key = ?", (BASIS_KEY,))
