"""`monitor backup PATH`: a consistent copy of the store while the daemon runs (SQLite's online
backup API), checked before it is put in place; on PostgreSQL, a pointer to pg_dump."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from monitor.config import AppConfig
from storage import StorageError, backup_store


def backup_target(path: Path, now: datetime) -> Path:
    """The copy's file: `path` itself, or a dated file inside it when it is a folder."""
    return path / f"monitor-{now:%Y%m%d-%H%M%S}.db" if path.is_dir() else path


async def backup_command(config: AppConfig, path: Path, now: datetime) -> int:
    """Copy the store; print where to and how big; return the exit code."""
    target = backup_target(path, now)
    try:
        size = await backup_store(config.store_location(os.environ), target)
    except StorageError as exc:
        print(f"Ошибка: {exc}")
        return 1
    print(f"Резервная копия {config.database_path} → {target} ({size / 1_048_576:.1f} МБ), "
          "целостность проверена.")
    return 0
