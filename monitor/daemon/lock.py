"""One daemon per store: an OS lock on a file beside the database, holding the daemon's pid.

`fcntl.flock` is released by the kernel when its holder exits in any way (a SIGKILL too), so a
dead daemon never blocks the next start; the pid inside lets `monitor reload` find the
running one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class StoreLockError(Exception):
    """The store's lock cannot be taken (the message says why, in Russian)."""


class StoreLocked(StoreLockError):
    """Another live process holds the store's lock."""

    def __init__(self, database: Path, pid: int | None) -> None:
        who = f"процесс {pid}" if pid else "другой процесс"
        super().__init__(
            f"монитор уже работает с базой {database} ({who}); второй не запускается. "
            "Остановите первый или укажите другой [storage] path")
        self.pid = pid


def lock_path(database: Path) -> Path:
    """The lock file of a store: beside it, same name plus `.lock`."""
    return database.with_name(database.name + ".lock")


class StoreLock:
    """Held for a daemon's whole life; `with StoreLock(db):` raises StoreLocked if taken."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = lock_path(database)
        self._fd: int | None = None

    def __enter__(self) -> StoreLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            msg = (f"файл блокировки {self.path} не создан ({exc.strerror or exc}): папке базы "
                   "нужны права на запись")
            raise StoreLockError(msg) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise StoreLocked(self.database, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the last descriptor releases the lock
            self._fd = None


def running_daemon(database: Path) -> int | None:
    """The pid of the live daemon holding the store's lock, or None if none holds it."""
    try:
        fd = os.open(lock_path(database), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None
