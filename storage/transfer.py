"""Moving a municipality's SQLite store into PostgreSQL: every table, batch by batch.

Rows keep their numbers (incident №, outbox and event ids: buttons under alerts already sent
name them), so the target must be empty or an earlier run of the same move. Each batch is one
transaction inserted with `ON CONFLICT DO NOTHING`: an interrupted move is run again and goes
on; a finished one run again changes nothing. A row whose number the target already gives to
another row (a different store moved in before) stops the move with a clear message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from storage.postgresql.store import PostgresStore
from storage.sql.db import Reader, Row, Tx
from storage.sqlite.store import SqliteStore
from storage.types import StorageError

BATCH = 1000


@dataclass(frozen=True, slots=True)
class Table:
    """A table to move: its key (batches are read in its order) and the columns that say a row
    in the target with the same key is the same row."""

    name: str
    key: tuple[str, ...]
    same: tuple[str, ...]
    identity: bool = False


TABLES = (
    Table("items", ("id",), ("source_id", "external_id"), identity=True),
    Table("item_versions", ("item_id", "version"), ()),
    Table("cursors", ("source_id",), ()),
    Table("incidents", ("id",), ("item_id",), identity=True),
    Table("incident_repeats", ("item_id",), ("incident_id",)),
    Table("incident_thread", ("source_id", "external_id"), ()),
    Table("incident_bands", ("band", "opened_at", "incident_id"), ()),
    Table("incident_events", ("id",), ("incident_id", "at", "kind"), identity=True),
    Table("outbox", ("id",), ("incident_id", "reason", "chat_id"), identity=True),
    Table("bot_state", ("key",), ()),
    Table("bot_inbox", ("id",), ("update_id", "chat_id"), identity=True),
    Table("system_conditions", ("key",), ()),
)
"""In the order their references need. A table another release adds is listed here too."""


@dataclass
class Counts:
    """Rows per table: in the SQLite file, in PostgreSQL before the move and after it."""

    source: dict[str, int]
    before: dict[str, int]
    after: dict[str, int]


async def count_rows(db: Reader) -> dict[str, int]:
    """Rows per table of a store."""
    found = {}
    for table in TABLES:
        row = await db.fetchone(f"SELECT COUNT(*) FROM {table.name}")
        found[table.name] = int(row[0]) if row else 0
    return found


async def move_sqlite_store(
    path: Path, target: PostgresStore, progress: Callable[[str, int], None] | None = None,
) -> Counts:
    """Copy every table of the SQLite store at `path` into `target`; return the counts."""
    if not path.is_file():
        raise StorageError(f"файла {path} нет")
    source = await SqliteStore.open(path)  # brings an older file up to this release first
    try:
        counts = Counts(await count_rows(source.database),
                        await count_rows(target.database), {})
        for table in TABLES:
            columns = await _columns(source, target, table)
            async for rows in _batches(source, table, columns):
                async with target.database.transaction() as tx:
                    await _insert(tx, table, columns, rows)
                if progress is not None:
                    progress(table.name, len(rows))
        async with target.database.transaction() as tx:
            for table in TABLES:
                if table.identity:
                    await tx.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                        f" GREATEST((SELECT MAX(id) FROM {table.name}), 1))")
        counts.after = await count_rows(target.database)
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


async def _insert(tx: Tx, table: Table, columns: list[str], rows: list[Row]) -> None:
    """Insert a batch, skipping rows already there; a key taken by another row stops it."""
    marks = ", ".join("?" * len(columns))
    await tx.executemany(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
        " ON CONFLICT DO NOTHING", [tuple(row[c] for c in columns) for row in rows])
    if not table.same:
        return
    key = table.key[0]
    wanted = {row[key]: tuple(row[c] for c in table.same) for row in rows}
    found = await tx.fetchall(
        f"SELECT {key}, {', '.join(table.same)} FROM {table.name} WHERE {key} = ANY(?)",
        (list(wanted),))
    for row in found:
        if tuple(row[c] for c in table.same) != wanted[row[key]]:
            raise StorageError(
                f"в PostgreSQL {table.name} с {key} = {row[key]} — другая запись: перенос "
                "идёт только в пустую базу (или в ту же, куда перенос уже начинался)")
