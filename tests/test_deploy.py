"""Running as a service: systemd's notify protocol (over a local datagram socket), JSON log
lines, `monitor backup` of a live store, and the shipped unit file."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.daemon.systemd import Notifier
from storage import open_store
from tests.conftest import FAST_DAEMON, PITS_TOPIC, ROOT
from tests.fakes.tme import FakeTme
from tests.test_daemon import wait_for

UNIT = ROOT / "deploy" / "mcu-monitor.service"


def datagrams(sock: socket.socket) -> list[str]:
    found = []
    while True:
        try:
            found.append(sock.recv(4096).decode())
        except BlockingIOError:
            return found


@pytest.fixture
def listener(tmp_path: Path):  # type: ignore[no-untyped-def]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.setblocking(False)
    yield sock, str(path)
    sock.close()


def test_notifier_speaks_the_protocol(listener) -> None:  # type: ignore[no-untyped-def]
    sock, path = listener
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"})
    assert notifier.enabled and notifier.watchdog == 4.0
    notifier.ready("источников: 2")
    notifier.stopping()
    assert datagrams(sock) == ["READY=1\nSTATUS=источников: 2",
                               "STOPPING=1\nSTATUS=останавливается"]


def test_notifier_on_an_abstract_socket() -> None:
    name = f"mcu-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.setblocking(False)
        Notifier({"NOTIFY_SOCKET": "@" + name}).notify("READY=1")
        assert datagrams(sock) == ["READY=1"]


def test_notifier_without_systemd_or_with_a_dead_socket(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    assert not Notifier({}).enabled and Notifier({}).notify("READY=1") is False
    assert Notifier({"WATCHDOG_USEC": "x"}).watchdog is None
    assert Notifier({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog is None, \
        "another process's watchdog"
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    assert gone.notify("READY=1") is False
    assert "systemd не получил уведомление READY=1" in caplog.text


async def test_the_daemon_notifies_ready_watchdog_and_stopping_and_logs_json(
    tmp_path: Path, listener,  # type: ignore[no-untyped-def]
) -> None:
    sock, notify = listener
    async with FakeTme("kamensk_news") as tme:
        tme.add_post(5, datetime.now(UTC) - timedelta(minutes=5), "Яма у подъезда")
        path = tmp_path / "config.toml"
        path.write_text("[storage]\npath = \"m.db\"\n" + FAST_DAEMON.replace(
            "[daemon]", '[daemon]\nlog_format = "json"') + f"""
[[sources]]
id = "news"
network = "telegram_web"
channel = "kamensk_news"
base_url = "{tme.base_url}"
interval = "1s"
jitter = "0s"
""" + PITS_TOPIC, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "MONITOR_BOT_TOKEN"}
        env.update(NOTIFY_SOCKET=notify, WATCHDOG_USEC="400000")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(path), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        seen: list[str] = []
        await wait_for(lambda: bool(seen.extend(datagrams(sock))) or
                       sum(d == "WATCHDOG=1" for d in seen) >= 3, 30)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
        seen += datagrams(sock)
    assert process.returncode == 0
    assert seen[0].startswith("READY=1\nSTATUS=источников: 1")
    assert seen[-1] == "STOPPING=1\nSTATUS=останавливается"
    lines = [json.loads(line) for line in stderr.decode().splitlines()]
    assert {"time", "level", "logger", "message"} <= set(lines[-1])
    assert any(line["message"] == "монитор остановлен" for line in lines)


async def test_backup_of_a_live_store(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text('[storage]\npath = "m.db"\n' + PITS_TOPIC, encoding="utf-8")
    store = await open_store(tmp_path / "m.db")
    try:
        await store.save_bot_update(42, datetime.now(UTC))
        target = tmp_path / "copy.db"
        assert await asyncio.to_thread(main, ["backup", "--config", str(path),
                                              str(target)]) == 0
        assert "целостность проверена" in capsys.readouterr().out
    finally:
        await store.close()
    copy = await open_store(target)
    try:
        assert (await copy.last_bot_update() or (0,))[0] == 42
    finally:
        await copy.close()
    assert await asyncio.to_thread(main, ["backup", "--config", str(path), str(target)]) == 1
    assert "уже есть" in capsys.readouterr().out
    folder = tmp_path / "backups"
    folder.mkdir()
    assert await asyncio.to_thread(main, ["backup", "--config", str(path), str(folder)]) == 0
    [dated] = folder.iterdir()
    assert dated.name.startswith("monitor-") and dated.suffix == ".db"
    assert not list(folder.glob("*.partial"))


def test_backup_refuses_a_missing_or_broken_store(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text('[storage]\npath = "m.db"\n', encoding="utf-8")
    assert main(["backup", "--config", str(path), str(tmp_path / "c.db")]) == 1
    assert "базы" in capsys.readouterr().out and not (tmp_path / "m.db").exists()
    (tmp_path / "m.db").write_bytes(b"not a database" * 100)
    assert main(["backup", "--config", str(path), str(tmp_path / "c.db")]) == 1
    assert "не снята" in capsys.readouterr().out
    assert not (tmp_path / "c.db").exists() and not (tmp_path / "c.db.partial").exists()


def test_the_unit_is_hardened() -> None:
    text = UNIT.read_text(encoding="utf-8")
    for line in ("Type=notify", "DynamicUser=yes", "ProtectSystem=strict",
                 "StateDirectory=mcu-monitor", "EnvironmentFile=", "WatchdogSec=",
                 "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in text, line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    unit = tmp_path / UNIT.name
    # The unit names its ExecStart binary by absolute path: point it at one that exists here.
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(
        "/opt/mcu-monitor/.venv/bin/monitor", sys.executable), encoding="utf-8")
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60, check=False)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if UNIT.name in line or "mcu-monitor" in line]
    assert result.returncode == 0 or not problems, result.stdout + result.stderr
