"""`monitor migrate --config NEW.toml --from-sqlite PATH [--rename-source OLD=NEW]`: a
municipality's SQLite store moves into the PostgreSQL database the config names (another
municipality's may be there already); counts before and after, resumable."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from monitor.config import AppConfig
from storage import (
    Counts,
    PostgresLocation,
    StorageError,
    move_sqlite_store,
    open_postgres_store,
)


def renames(given: Sequence[str]) -> dict[str, str] | str:
    """`OLD=NEW` pairs as a mapping, or what is wrong with them."""
    found: dict[str, str] = {}
    for pair in given:
        old, sign, new = pair.partition("=")
        if not sign or not old.strip() or not new.strip():
            return f"--rename-source {pair!r}: нужно СТАРОЕ=НОВОЕ (имена источников)"
        if old.strip() in found:
            return f"--rename-source: источник {old.strip()!r} переименован дважды"
        found[old.strip()] = new.strip()
    return found


async def migrate_command(config: AppConfig, sqlite_path: Path,
                          rename_source: Sequence[str] = ()) -> int:
    """Move the store; print the counts of every table; return the exit code."""
    location = config.store_location(os.environ)
    if not isinstance(location, PostgresLocation):
        print("Перенос идёт в PostgreSQL: в новой конфигурации укажите [storage] "
              'backend = "postgresql" и dsn_env.', file=sys.stderr)
        return 2
    rename = renames(rename_source)
    if isinstance(rename, str):
        print(rename, file=sys.stderr)
        return 2
    try:
        target = await open_postgres_store(location)
        try:
            counts = await move_sqlite_store(sqlite_path, target, rename=rename)
        finally:
            await target.close()
    except StorageError as exc:
        print(f"Перенос {sqlite_path} → {location} не удался: {exc}\n"
              "Уже перенесённое осталось; запустите команду снова, чтобы продолжить.",
              file=sys.stderr)
        return 1
    _print_counts(f"Перенос {sqlite_path} → {location}:", counts)
    short = counts.short()
    if short:
        print(f"В PostgreSQL дошли не все строки: {', '.join(short)}", file=sys.stderr)
        return 1
    print("Готово: всё перенесено.")
    return 0


def _print_counts(title: str, counts: Counts) -> None:
    print(title)
    print(f"  {'таблица':<18} {'в SQLite':>9} {'было':>9} {'стало':>9} {'перенесено':>11}")
    for table, rows in counts.source.items():
        moved = counts.moved.get(table)
        print(f"  {table:<18} {rows:>9} {counts.before[table]:>9} {counts.after[table]:>9}"
              f" {'' if moved is None else moved:>11}")
    if counts.renumbered is not None:
        (first, last), (new_first, new_last) = counts.renumbered
        print(f"Номера инцидентов изменились (в базе уже были другие): № {first}–{last} стали"
              f" № {new_first}–{new_last}; кнопки под уже отправленными оповещениями ведут к"
              " новым номерам, а в командах бота пишите новые.")
