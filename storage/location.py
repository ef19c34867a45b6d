"""Where a store lives: a SQLite file, or a PostgreSQL database whose DSN is in the environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class PostgresLocation:
    """A PostgreSQL database: the DSN read from `dsn_env` (None when the variable is unset).

    Printed, it never shows the password: messages and logs name it by `str()`.
    """

    dsn_env: str
    dsn: str | None

    def __str__(self) -> str:
        return shown(self.dsn) if self.dsn else f"PostgreSQL (${self.dsn_env} не задана)"


StoreLocation = Path | PostgresLocation
"""What `[storage]` names: a SQLite file, or a PostgreSQL database."""


def shown(dsn: str) -> str:
    """A DSN fit for messages and logs: scheme, user, host, port and database, no password."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "postgresql://…"
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def dsn_problem(dsn: str | None, dsn_env: str) -> str | None:
    """What is wrong with a DSN from the environment (in Russian), or None."""
    if not dsn:
        return (f"переменная окружения {dsn_env} не задана: в ней должна быть строка "
                "подключения postgresql://пользователь@сервер:5432/база")
    if not dsn.startswith(("postgresql://", "postgres://")):
        return (f"в переменной {dsn_env} не строка подключения PostgreSQL: она должна "
                "начинаться с postgresql://")
    return None
