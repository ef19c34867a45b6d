"""`monitor migrate --config NEW.toml --from-sqlite PATH`: a municipality's SQLite store moves
into the PostgreSQL database the config names; counts before and after, resumable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from monitor.config import AppConfig
from storage import PostgresLocation, StorageError, move_sqlite_store, open_postgres_store


async def migrate_command(config: AppConfig, sqlite_path: Path) -> int:
    """Move the store; print the counts of every table; return the exit code."""
    location = config.store_location(os.environ)
    if not isinstance(location, PostgresLocation):
        print("Перенос идёт в PostgreSQL: в новой конфигурации укажите [storage] "
              'backend = "postgresql" и dsn_env.', file=sys.stderr)
        return 2
    try:
        target = await open_postgres_store(location)
        try:
            counts = await move_sqlite_store(sqlite_path, target)
        finally:
            await target.close()
    except StorageError as exc:
        print(f"Перенос {sqlite_path} → {location} не удался: {exc}\n"
              "Уже перенесённое осталось; запустите команду снова, чтобы продолжить.",
              file=sys.stderr)
        return 1
    print(f"Перенос {sqlite_path} → {location}:")
    print(f"  {'таблица':<18} {'в SQLite':>9} {'было':>9} {'стало':>9}")
    for table, rows in counts.source.items():
        print(f"  {table:<18} {rows:>9} {counts.before[table]:>9} {counts.after[table]:>9}")
    short = [t for t, rows in counts.source.items() if counts.after[t] < rows]
    if short:
        print(f"В PostgreSQL меньше строк, чем в SQLite: {', '.join(short)}", file=sys.stderr)
        return 1
    print("Готово: всё перенесено.")
    return 0
