"""The store as one-shot commands open it: only an existing database, failures as messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from storage import StorageError, Store, StoreLocation, open_store


class CommandFailed(Exception):
    """A command cannot go on: `message` goes to stderr, `code` is the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@asynccontextmanager
async def existing_store(path: StoreLocation) -> AsyncIterator[Store]:
    """Open the database at `path` if it exists (never create an empty SQLite file); storage
    failures, on opening, inside the block or on closing, become CommandFailed."""
    if isinstance(path, Path) and not path.is_file():
        raise CommandFailed(f"База {path} не найдена: монитор ещё не запускался "
                            "или в [storage] path указан другой файл.")
    try:
        store = await open_store(path)
    except StorageError as exc:
        raise CommandFailed(f"База {path} не открылась: {exc}") from exc
    try:
        yield store
    except StorageError as exc:
        raise CommandFailed(f"Ошибка базы {path}: {exc}") from exc
    finally:
        try:
            await store.close()
        except StorageError as exc:
            raise CommandFailed(f"База {path} не закрылась: {exc}") from exc
