"""A store's move into PostgreSQL: which store it is, the numbers its rows take there, and its
sources against the ones the database already has (see storage/transfer.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.sql.db import Database, Reader, Tx
from storage.sql.timestamps import to_db
from storage.types import StorageError

UNDELIVERED = "undelivered:"
"""The reason of a notice about an outbox row that could not be delivered (its number after)."""

SOURCE_COLUMN = "source_id"
SILENT = "silent:"
"""The system condition of a silent source (its id after)."""

_CHECK_BATCH = 1000


@dataclass
class Move:
    """One SQLite store's move: its key (`moved_stores`), whether it keeps its numbers (it went
    into an empty database), and the sources it stores under other names."""

    store: str
    keeps_ids: bool
    rename: dict[str, str] = field(default_factory=dict)
    alone: bool = True
    """No other store was moved into the database (its deadline basis stays the database's)."""

    def rename_row(self, table: str, row: dict[str, Any]) -> None:
        """A row's source id as the database will know it."""
        if not self.rename:
            return
        if SOURCE_COLUMN in row and row[SOURCE_COLUMN] in self.rename:
            row[SOURCE_COLUMN] = self.rename[row[SOURCE_COLUMN]]
        if table == "system_conditions" and row["key"].startswith(SILENT):
            source = row["key"].removeprefix(SILENT)
            row["key"] = SILENT + self.rename.get(source, source)

    async def rewrite_detail(self, tx: Tx, rows: list[dict[str, Any]]) -> None:
        """Events that name an item (opened, repeat) name its number in the database."""
        details = [json.loads(row["detail"] or "{}") for row in rows]
        ids = await IdMap.load(tx, self, "items",
                               [d.get("item_id") for d in details if isinstance(d, dict)])
        for row, detail in zip(rows, details, strict=True):
            if isinstance(detail, dict) and isinstance(detail.get("item_id"), int):
                detail["item_id"] = ids.get(detail["item_id"], "incident_events")
                row["detail"] = json.dumps(detail, ensure_ascii=False, sort_keys=True)

    async def rewrite_reasons(self, tx: Tx, rows: list[dict[str, Any]]) -> None:
        """`undelivered:<outbox id>` names the outbox row's number in the database (a notice
        about a row that came later would otherwise never be queued: same reason and chat).
        The rows named were given their numbers before (`undelivered` splits them off)."""
        numbers = {row["id"]: int(row["reason"].removeprefix(UNDELIVERED)) for row in rows
                   if undelivered(row)}
        if not numbers:
            return
        ids = await IdMap.load(tx, self, "outbox", list(numbers.values()))
        for row in rows:
            if row["id"] in numbers and numbers[row["id"]] in ids.pairs:
                row["reason"] = f"{UNDELIVERED}{ids.pairs[numbers[row['id']]]}"


def undelivered(row: dict[str, Any]) -> bool:
    """Whether an outbox row is a notice about another outbox row."""
    reason = str(row["reason"])
    return reason.startswith(UNDELIVERED) and reason.removeprefix(UNDELIVERED).isdigit()


@dataclass
class IdMap:
    """Old numbers of one table of the store → the database's."""

    table: str
    pairs: dict[int, int]

    @classmethod
    async def load(cls, tx: Reader, move: Move, table: str, old: Iterable[Any]) -> IdMap:
        """The pairs for these old numbers (None and repeats ignored)."""
        wanted = sorted({n for n in old if isinstance(n, int)})
        rows = await tx.fetchall(
            "SELECT old_id, new_id FROM moved_ids WHERE store = ? AND tbl = ?"
            " AND old_id = ANY(?)", (move.store, table, wanted)) if wanted else []
        return cls(table, {int(r[0]): int(r[1]) for r in rows})

    def get(self, old: int | None, where: str) -> int | None:
        """The database's number for an old one; a number the store never gave stops it."""
        if old is None:
            return None
        if old not in self.pairs:
            raise StorageError(f"в {where} ссылка на {self.table} № {old}, которого в файле нет:"
                               " файл повреждён, проверьте его (monitor backup)")
        return self.pairs[old]


async def store_key(source: Reader) -> str:
    """What names a store across runs of its move, wherever its file lies: its first item,
    first incident and first alert (a copy of the file is the same store; two municipalities'
    stores never begin alike, and a run that finds other rows under its key stops)."""
    seed: list[object] = []
    for query in ("SELECT source_id, external_id, url, first_seen_at FROM items",
                  "SELECT item_id, opened_at, text FROM incidents",
                  "SELECT created_at, chat_id, reason FROM outbox",
                  "SELECT source_id, updated_at, '' FROM cursors"):
        row = await source.fetchone(f"{query} ORDER BY 1, 2 LIMIT 1" if "cursors" in query
                                    else f"{query} ORDER BY id LIMIT 1")
        seed.extend(row if row is not None else ("-",))
    return hashlib.sha256("\x1f".join(map(str, seed)).encode()).hexdigest()[:20]


async def begin_move(
    source: Reader, target: Database, path: Path, rename: dict[str, str]
) -> Move:
    """The move of this store: found again when it was begun before, else begun now. A store
    going into an empty database keeps its numbers, and the database's sequences move past
    them at once (a daemon writing meanwhile takes numbers after them)."""
    key = await store_key(source)
    now = to_db(datetime.now(UTC))
    async with target.transaction() as tx:
        row = await tx.fetchone("SELECT keeps_ids FROM moved_stores WHERE store = ?", (key,))
        if row is not None:
            await tx.execute("UPDATE moved_stores SET path = ?, last_run_at = ? WHERE store = ?",
                             (str(path), now, key))
            others = await tx.fetchone("SELECT 1 FROM moved_stores WHERE store <> ?", (key,))
            return Move(key, bool(row[0]), rename, bool(row[0]) and others is None)
        empty = await tx.fetchone(
            "SELECT NOT EXISTS (SELECT 1 FROM items) AND NOT EXISTS (SELECT 1 FROM incidents)"
            " AND NOT EXISTS (SELECT 1 FROM outbox) AND NOT EXISTS (SELECT 1 FROM moved_stores)")
        keeps = bool(empty and empty[0])
        await tx.execute("INSERT INTO moved_stores (store, path, keeps_ids, started_at,"
                         " last_run_at) VALUES (?, ?, ?, ?, ?)",
                         (key, str(path), int(keeps), now, now))
        if keeps:
            for table in ("items", "incidents", "incident_events", "outbox", "bot_inbox"):
                top = await source.fetchone(f"SELECT MAX(id) FROM {table}")
                await _past(tx, table, int(top[0]) if top and top[0] is not None else 0)
    return Move(key, keeps, rename, keeps)


async def _past(tx: Tx, table: str, top: int) -> None:
    """The table's sequence gives numbers after `top`, its rows and what it gave (never back)."""
    sequence = f"pg_get_serial_sequence('{table}', 'id')"
    await tx.execute(
        f"SELECT setval({sequence}, GREATEST((SELECT MAX(id) FROM {table}), ?,"
        f" pg_sequence_last_value({sequence}::regclass), 1))", (top,))


async def finish_move(tx: Tx, move: Move, tables: Sequence[str]) -> None:
    """Sequences past every number the move gave; the move marked finished."""
    for table in tables:
        await _past(tx, table, 0)
    await tx.execute("UPDATE moved_stores SET finished_at = last_run_at WHERE store = ?",
                     (move.store,))


async def moved_counts(
    db: Reader, move: Move
) -> tuple[dict[str, int], tuple[tuple[int, int], tuple[int, int]] | None]:
    """Rows of this store the database holds, per table with numbers; the store's first and
    last incident numbers before and after, when they changed."""
    rows = await db.fetchall("SELECT tbl, COUNT(*) FROM moved_ids WHERE store = ? GROUP BY tbl",
                             (move.store,))
    span = await db.fetchone(
        "SELECT MIN(old_id), MAX(old_id), MIN(new_id), MAX(new_id) FROM moved_ids"
        " WHERE store = ? AND tbl = 'incidents'", (move.store,))
    renumbered = None
    if span is not None and span[0] is not None and (span[0], span[1]) != (span[2], span[3]):
        renumbered = ((int(span[0]), int(span[1])), (int(span[2]), int(span[3])))
    return {str(r[0]): int(r[1]) for r in rows}, renumbered


async def new_ids(
    tx: Tx, move: Move, table: str, same: tuple[str, ...] | None, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Give a batch of a numbered table its numbers in the database and remember them; return
    the rows still to insert (not moved by an earlier run, not already there as the same
    row of a shared source)."""
    done = await IdMap.load(tx, move, table, [r["id"] for r in rows])
    if same and done.pairs:
        await _check_done(tx, table, same, [r for r in rows if r["id"] in done.pairs], done)
    fresh = [r for r in rows if r["id"] not in done.pairs]
    existing = await _same_rows(tx, table, same, fresh) if same and fresh else {}
    pairs: list[tuple[int, int]] = []
    insert: list[dict[str, Any]] = []
    for row in fresh:
        found = existing.get(tuple(row[c] for c in same)) if same else None
        if found is not None:
            if table == "items" and found[1] != row["url"]:
                raise StorageError(
                    f"пост {row['external_id']} источника {row[SOURCE_COLUMN]} уже есть в базе"
                    f" с другой ссылкой ({found[1]} и {row['url']}): это разные источники под"
                    " одним именем; перенесите с --rename-source")
            pairs.append((row["id"], found[0]))
        else:
            insert.append(row)
    numbers = [r["id"] for r in insert] if move.keeps_ids else await _next(tx, table, len(insert))
    for row, number in zip(insert, numbers, strict=True):
        pairs.append((row["id"], number))
        row["id"] = number
    if pairs:
        await tx.executemany(
            "INSERT INTO moved_ids (store, tbl, old_id, new_id) VALUES (?, ?, ?, ?)",
            [(move.store, table, old, new) for old, new in pairs])
    return insert


async def _check_done(
    tx: Tx, table: str, same: tuple[str, ...], rows: list[dict[str, Any]], done: IdMap
) -> None:
    """Rows an earlier run moved are still these rows (not another store's under its key)."""
    found = {int(r[0]): tuple(r)[1:] for r in await tx.fetchall(
        f"SELECT id, {', '.join(same)} FROM {table} WHERE id = ANY(?)",
        ([done.pairs[r["id"]] for r in rows],))}
    for row in rows:
        if found.get(done.pairs[row["id"]]) != tuple(row[c] for c in same):
            raise StorageError(
                f"в базе под номером {done.pairs[row['id']]} таблицы {table} не та запись, что"
                " перенос этого файла записал раньше: файл — не то хранилище, перенос которого"
                " начинался (moved_stores); ничего не изменено")


async def _same_rows(
    tx: Tx, table: str, same: tuple[str, ...], rows: list[dict[str, Any]]
) -> dict[tuple[Any, ...], tuple[int, Any]]:
    """Rows of the database that are these rows (the same `same` columns, NULL matching NULL):
    their number (and, for items, their link). Equality joins, so the unique indexes serve."""
    found: dict[tuple[Any, ...], tuple[int, Any]] = {}
    shapes: dict[tuple[bool, ...], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(row[c] is None for c in same), []).append(row)
    extra = "t.url" if table == "items" else "NULL"
    for nulls, group in shapes.items():
        given = [c for c, null in zip(same, nulls, strict=True) if not null]
        where = " AND ".join(f"t.{c} IS NULL" for c, null in zip(same, nulls, strict=True)
                             if null) or "TRUE"
        arrays = ", ".join(f"?::{_TYPES[c]}[]" for c in given)
        on = " AND ".join(f"t.{c} = w.{c}" for c in given) or "TRUE"
        source = f" JOIN unnest({arrays}) AS w({', '.join(given)}) ON {on}" if given else ""
        for r in await tx.fetchall(
                f"SELECT t.id, {extra}, {', '.join('t.' + c for c in same)} FROM {table} t"
                f"{source} WHERE {where}", tuple([r[c] for r in group] for c in given)):
            found[tuple(r[2 + i] for i in range(len(same)))] = (int(r[0]), r[1])
    return found


_TYPES = {"source_id": "text", "external_id": "text", "item_id": "bigint",
          "incident_id": "bigint", "reason": "text", "chat_id": "bigint", "update_id": "bigint"}


async def _next(tx: Tx, table: str, n: int) -> list[int]:
    if n == 0:
        return []
    rows = await tx.fetchall(
        f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, ?)",
        (n,))
    return [int(r[0]) for r in rows]


async def check_sources(source: Reader, target: Database, move: Move) -> None:
    """Before anything is copied: a source of this store the database already has posts of,
    from elsewhere, must be the same source (their common posts have the same links);
    otherwise the move stops and names the sources to rename."""
    ours = [str(r[0]) for r in await source.fetchall(
        "SELECT DISTINCT source_id FROM items ORDER BY source_id")]
    problems: list[str] = []
    for old in ours:
        name = move.rename.get(old, old)
        foreign = await target.fetchone(
            "SELECT 1 FROM items i WHERE i.source_id = ? AND NOT EXISTS (SELECT 1 FROM"
            " moved_ids m WHERE m.store = ? AND m.tbl = 'items' AND m.new_id = i.id) LIMIT 1",
            (name, move.store))
        if foreign is None:
            continue
        common, differ = await _compare_posts(source, target, old, name)
        if differ:
            problems.append(f"«{name}»: у поста {differ} в базе другая ссылка — это другой"
                            " канал под тем же именем")
        elif not common:
            problems.append(f"«{name}»: в базе уже есть посты источника с этим именем, общих"
                            " постов нет — не понять, тот ли это канал")
    if problems:
        raise StorageError(
            "источники с теми же именами уже есть в базе от другого муниципалитета:\n  "
            + "\n  ".join(problems) + "\nПереименуйте источник в конфигурации одного из"
            " муниципалитетов и перенесите с --rename-source СТАРОЕ=НОВОЕ; ничего не перенесено")


async def _compare_posts(source: Reader, target: Reader, old: str, name: str
                         ) -> tuple[int, str | None]:
    """How many posts of a source both stores have, and one whose links differ (or None)."""
    common = 0
    after = ""
    while True:
        rows = await source.fetchall(
            "SELECT external_id, url FROM items WHERE source_id = ? AND external_id > ?"
            " ORDER BY external_id LIMIT ?", (old, after, _CHECK_BATCH))
        if not rows:
            return common, None
        links = {str(r[0]): r[1] for r in rows}
        found = await target.fetchall(
            "SELECT external_id, url FROM items WHERE source_id = ? AND external_id = ANY(?)",
            (name, list(links)))
        for row in found:
            common += 1
            if row[1] != links[row[0]]:
                return common, str(row[0])
        after = str(rows[-1][0])
