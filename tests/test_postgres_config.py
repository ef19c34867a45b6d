"""`[storage] backend = "postgresql"`: the DSN only from the environment, said in Russian."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.config.problems import ConfigError
from storage import PostgresLocation, StorageError, open_store

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
