"""`[storage] backend = "postgresql"`: the DSN only from the environment, said in Russian; the
ops commands on it (backup points at pg_dump, reload finds the daemons in the store)."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.config.problems import ConfigError
from storage import DaemonInfo, PostgresLocation, StorageError, fleet_of, open_store

Write = Callable[[str], Path]

PG = '[storage]\nbackend = "postgresql"\n'


def test_the_dsn_comes_from_the_environment(write_config: Write) -> None:
    path = write_config(PG + 'dsn_env = "REGION_DB"\n')
    config = load_config(path, env={}).config
    dsn = "postgresql://monitor:secret@db.example:5432/region"
    location = config.store_location({"REGION_DB": dsn})
    assert location == PostgresLocation("REGION_DB", dsn)
    assert str(location) == "postgresql://monitor@db.example:5432/region", "no password shown"


def test_a_missing_or_strange_dsn_is_a_russian_warning(write_config: Write) -> None:
    path = write_config(PG)
    [missing] = [w for w in load_config(path, env={}).warnings if w.key == "storage.dsn_env"]
    assert "MONITOR_PG_DSN не задана" in str(missing) and "не запустится" in str(missing)
    [strange] = [w for w in load_config(path, env={"MONITOR_PG_DSN": "host=db"}).warnings
                 if w.key == "storage.dsn_env"]
    assert "начинаться с postgresql://" in str(strange)


def test_a_dsn_written_in_the_file_is_refused(write_config: Write) -> None:
    path = write_config(PG + 'dsn = "postgresql://monitor:secret@db/region"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert "не пишут в файл" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_an_unknown_backend_is_refused(write_config: Write) -> None:
    with pytest.raises(ConfigError, match="storage.backend"):
        load_config(write_config('[storage]\nbackend = "mysql"\n'), env={})


async def test_opening_without_a_dsn_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="MONITOR_PG_DSN не задана"):
        await open_store(PostgresLocation("MONITOR_PG_DSN", None))


def test_check_config_names_the_variable_never_the_dsn(
    write_config: Write, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_PG_DSN", "postgresql://monitor:secret@db/region")
    assert main(["check-config", "--config", str(write_config(PG))]) == 0
    out = capsys.readouterr().out
    assert "PostgreSQL, строка подключения в $MONITOR_PG_DSN" in out and "secret" not in out


def test_run_refuses_to_start_without_the_dsn(
    write_config: Write, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITOR_PG_DSN", raising=False)
    assert main(["run", "--config", str(write_config(PG))]) == 1
    assert "MONITOR_PG_DSN не задана" in capsys.readouterr().err


def test_backup_of_a_postgresql_store_points_at_pg_dump(
    write_config: Write, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("MONITOR_PG_DSN", "postgresql://monitor:secret@db/region")
    target = tmp_path / "copy.db"
    assert main(["backup", "--config", str(write_config(PG)), str(target)]) == 1
    out = capsys.readouterr().out
    assert "pg_dump" in out and "$MONITOR_PG_DSN" in out and "docs/region.md" in out
    assert "secret" not in out and not target.exists()


async def test_reload_signals_the_live_daemons_of_this_host(
    write_config: Write, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    pg_dsn: str,
) -> None:
    """No lock file on PostgreSQL: `monitor reload` finds this host's live daemons in the store;
    a stopped one and another host's are not signalled here."""
    monkeypatch.setenv("MONITOR_PG_DSN", pg_dsn)
    monkeypatch.delenv("MONITOR_CLOCK_FILE", raising=False)
    waiting = ("import signal, sys, time\n"
               "signal.signal(signal.SIGHUP, lambda *_: sys.exit(7))\n"
               "print('ready', flush=True)\ntime.sleep(30)\n")
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", waiting,
                                                 stdout=asyncio.subprocess.PIPE)
    try:
        assert child.stdout is not None and await child.stdout.readline() == b"ready\n"
        store = await open_store(PostgresLocation("MONITOR_PG_DSN", pg_dsn))
        try:
            fleet, _ = fleet_of(store)
            now, host, ttl = datetime.now(UTC), socket.gethostname(), timedelta(seconds=60)
            await fleet.join(DaemonInfo("here", host, child.pid), now, ttl)
            await fleet.join(DaemonInfo("there", "other-host", 12345), now, ttl)
            await fleet.join(DaemonInfo("gone", host, 999_999), now, ttl)
            await fleet.leave("gone", now)
        finally:
            await store.close()
        path = write_config(PG)
        assert await asyncio.to_thread(main, ["reload", "--config", str(path)]) == 0
        assert await asyncio.wait_for(child.wait(), 10) == 7, "the live daemon got SIGHUP"
        out = capsys.readouterr().out
        assert f"процесс {child.pid}" in out and "there" in out and "999999" not in out
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


def test_reload_without_a_daemon_on_postgresql_says_so(
    write_config: Write, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    pg_dsn: str,
) -> None:
    monkeypatch.setenv("MONITOR_PG_DSN", pg_dsn)
    assert main(["reload", "--config", str(write_config(PG))]) == 1
    assert "не запущен" in capsys.readouterr().out
