"""Timestamps in SQLite: UTC ISO 8601 text of one fixed width, so text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime


def to_db(moment: datetime) -> str:
    """Store an aware datetime as sortable UTC ISO 8601 text."""
    if moment.tzinfo is None:
        msg = "naive datetime cannot be stored"
        raise ValueError(msg)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_db(value: str | None) -> datetime | None:
    """Read a stored timestamp back as an aware UTC datetime."""
    return None if value is None else datetime.fromisoformat(value)
