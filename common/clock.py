"""The injectable clock: all code asks it for the time, tests move it by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current aware time."""

    def now(self) -> datetime:
        """Return the current time, time-zone aware."""
        ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; for tests and replays."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            msg = "ManualClock needs an aware datetime"
            raise ValueError(msg)
        self._now = start

    def now(self) -> datetime:
        """Return the frozen time."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward and return the new time."""
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to a given aware time."""
        if moment.tzinfo is None:
            msg = "ManualClock needs an aware datetime"
            raise ValueError(msg)
        self._now = moment


class FileClock:
    """A clock whose time is written in a file (ISO 8601 with a zone): another process moves
    it by rewriting the file. For end-to-end tests and the demo of a whole daemon process;
    never for production (the daemon warns when it runs on one)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._last: datetime | None = None

    def now(self) -> datetime:
        """The time in the file; the last readable one while the file is being rewritten."""
        try:
            with open(self._path, encoding="utf-8") as file:
                moment = datetime.fromisoformat(file.read().strip())
        except (OSError, ValueError):
            moment = None
        if moment is not None and moment.tzinfo is not None:
            self._last = moment
        if self._last is None:
            msg = f"clock file {self._path} holds no ISO 8601 time with a zone"
            raise ValueError(msg)
        return self._last
