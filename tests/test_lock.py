"""One daemon per store: a second `monitor run` is refused; a killed holder blocks nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from monitor.daemon.lock import (
    StoreLock,
    StoreLocked,
    StoreLockError,
    lock_path,
    running_daemon,
)
from tests.conftest import ROOT
from tests.test_daemon import wait_for

CONFIG = """
[storage]
path = "m.db"

[daemon]
first_poll_spread = "0s"
shutdown_grace = "1s"
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "MONITOR_BOT_TOKEN"}


async def _start(path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(path), cwd=ROOT, env=_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def until_logged(process: asyncio.subprocess.Process, text: str) -> str:
    """Read the process's log until a line holds `text`; return what was read."""
    assert process.stderr is not None
    seen = []
    while not seen or text not in seen[-1]:
        line = await asyncio.wait_for(process.stderr.readline(), 30)
        assert line, "the process ended before logging " + text + ":\n" + "".join(seen)
        seen.append(line.decode())
    return "".join(seen)


def test_lock_in_process_refuses_a_second_holder(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "m.db"
    assert running_daemon(db) is None
    with StoreLock(db):
        assert running_daemon(db) == os.getpid()
        try:
            with StoreLock(db):
                raise AssertionError("a second lock was taken")
        except StoreLocked as exc:
            assert exc.pid == os.getpid()
            assert "уже работает" in str(exc)
    assert running_daemon(db) is None
    with StoreLock(db):  # released: taken again
        pass


def test_a_lock_file_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    with pytest.raises(StoreLockError, match="файл блокировки .* не создан"):
        with StoreLock(tmp_path / "file" / "m.db"):
            pass


def test_a_garbled_lock_file_does_not_block(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    lock_path(db).write_bytes(b"\xff" * 10_000)
    assert running_daemon(db) is None
    with StoreLock(db):
        assert running_daemon(db) == os.getpid()


async def test_second_daemon_refused_and_sigkilled_holder_never_blocks(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    first = await _start(path)
    await wait_for(lambda: running_daemon(tmp_path / "m.db") == first.pid, 30)
    second = await _start(path)
    _, stderr = await asyncio.wait_for(second.communicate(), 30)
    assert second.returncode == 1
    assert f"монитор уже работает с базой {tmp_path / 'm.db'} (процесс {first.pid})" in \
        stderr.decode()
    first.send_signal(signal.SIGKILL)
    await asyncio.wait_for(first.communicate(), 30)
    assert running_daemon(tmp_path / "m.db") is None

    third = await _start(path)
    await until_logged(third, "монитор запущен")
    assert running_daemon(tmp_path / "m.db") == third.pid
    third.send_signal(signal.SIGTERM)
    await asyncio.wait_for(third.communicate(), 30)
    assert third.returncode == 0
