"""A consistent copy of a live SQLite store through SQLite's online backup API: the daemon keeps
writing meanwhile; the copy is checked and only then put in place."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from storage.types import StorageError

_PAGES_PER_STEP = 1024
"""Pages copied per step: between steps the daemon's writer gets the database back."""


def backup_file(source: Path, target: Path) -> int:
    """Copy `source` to `target` (which must not exist); return the copy's size in bytes."""
    if not source.is_file():
        raise StorageError(f"базы {source} нет")
    if target.exists():
        raise StorageError(f"файл {target} уже есть: резервная копия его не перезаписывает")
    partial = target.with_name(target.name + ".partial")
    try:
        origin = sqlite3.connect(f"file:{source}?mode=rw", uri=True)
        try:
            copy = sqlite3.connect(partial)
            try:
                origin.backup(copy, pages=_PAGES_PER_STEP)
                verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                copy.close()
        finally:
            origin.close()
        if verdict != "ok":
            raise StorageError(f"копия не прошла проверку целостности: {verdict}")
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise StorageError(f"резервная копия {source} не снята: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size
