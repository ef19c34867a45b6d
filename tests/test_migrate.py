"""`monitor migrate --from-sqlite`: a store the SQLite daemon made moves into PostgreSQL whole,
with its numbers; run again it changes nothing; interrupted, it goes on where it stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import (
    AlertMessage,
    AlertProgress,
    FollowUp,
    QueuedStep,
    StorageError,
    move_sqlite_store,
    transfer,
)
from storage.postgresql.store import PostgresStore
from storage.sql.store import SqlStore
from storage.sqlite.store import SqliteStore
from tests.conftest import DUTY_TELEGRAM, FAST_DAEMON, PITS_TOPIC, ROOT, TME_SOURCE
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.tme import FakeTme
from tests.postgres import fresh_schema
from tests.test_daemon import wait_for

START = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
DUTY_CHAT = -1001234567890

SQLITE_CONFIG = """
[storage]
path = "m.db"
""" + FAST_DAEMON + DUTY_TELEGRAM + TME_SOURCE + PITS_TOPIC

PG_CONFIG = '[storage]\nbackend = "postgresql"\n' + PITS_TOPIC


@pytest.fixture(scope="module")
def daemon_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store the SQLite daemon process made: items, an edit, incidents, alerts sent."""
    folder = tmp_path_factory.mktemp("sqlite_daemon")
    asyncio.run(_run_sqlite_daemon(folder))
    return folder / "m.db"


async def _run_sqlite_daemon(folder: Path) -> None:
    clock_file = folder / "clock"
    clock_file.write_text(START.isoformat(), encoding="utf-8")
    async with FakeTme("news") as tme, FakeBotApi() as api:
        for n in range(1, 6):
            tme.add_post(n, START - timedelta(minutes=30 - n), f"Яма у дома {n} на Ленина")
        tme.add_post(6, START - timedelta(minutes=1), "Спасибо за новости")
        path = folder / "config.toml"
        path.write_text(SQLITE_CONFIG.format(bot=api.base_url, tme=tme.base_url, chat=DUTY_CHAT,
                                             name="news", interval="1s"), encoding="utf-8")
        env = {**os.environ, "MONITOR_BOT_TOKEN": api.token,
               "MONITOR_CLOCK_FILE": str(clock_file)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(path), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            await wait_for(lambda: len(api.sent) >= 5, 30)
            tme.channel.edit_post(3, "Яма у дома 3 на Ленина, уже неделю")
            polls = len(tme.requests)
            await wait_for(lambda: len(tme.requests) > polls + 2, 30)  # the edit is stored
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode == 0, stderr.decode()


async def snapshot(store: SqlStore) -> dict[str, object]:
    """What a user sees of a store, whatever its backend."""
    incidents = await store.list_incidents()
    return {
        "incidents": [i.as_json() for i in incidents],
        "events": [[(e.kind, e.at, e.actor.kind) for e in await store.events_of(i.id)]
                   for i in incidents],
        "outbox": await store.outbox_counts(),
        "cursor": await store.load_cursor("news"),
        "versions": await store.item_versions("news", "3"),
    }


async def test_the_daemon_s_store_moves_whole_and_again_changes_nothing(
    daemon_store: Path,
) -> None:
    source = await SqliteStore.open(daemon_store)
    before = await snapshot(source)
    await source.close()
    assert len(before["incidents"]) == 5 and len(before["versions"]) == 2  # type: ignore[arg-type]
    async with fresh_schema() as dsn:
        target = await PostgresStore.open(dsn)
        try:
            first = await move_sqlite_store(daemon_store, target)
            assert first.after == first.source and set(first.before.values()) == {0}
            again = await move_sqlite_store(daemon_store, target)
            assert again.before == again.after == first.source, "a second run adds nothing"
            assert await snapshot(target) == before
            # New rows take numbers after the moved ones.
            result = await target.save_items_and_cursor(
                "news", [_entry("99")], {"last_id": 99}, START)
            assert result.incidents == [6]
        finally:
            await target.close()


async def test_an_interrupted_move_goes_on_where_it_stopped(
    daemon_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "BATCH", 2)
    moved: list[str] = []

    def crash_after_two_batches(table: str, rows: int) -> None:
        moved.append(table)
        if len(moved) == 2:
            raise KeyboardInterrupt  # the operator's Ctrl+C in the middle of the move

    async with fresh_schema() as dsn:
        target = await PostgresStore.open(dsn)
        try:
            with pytest.raises(KeyboardInterrupt):
                await move_sqlite_store(daemon_store, target, crash_after_two_batches)
            counts = await move_sqlite_store(daemon_store, target)
            assert counts.before["items"] == 4 and counts.before["incidents"] == 0
            assert counts.after == counts.source
        finally:
            await target.close()


async def test_another_store_s_rows_under_the_same_numbers_stop_the_move(
    daemon_store: Path, tmp_path: Path
) -> None:
    other = await SqliteStore.open(tmp_path / "other.db")
    await other.save_items_and_cursor("elsewhere", [_entry("1", "elsewhere")], {}, START)
    await other.close()
    async with fresh_schema() as dsn:
        target = await PostgresStore.open(dsn)
        try:
            await move_sqlite_store(tmp_path / "other.db", target)
            with pytest.raises(StorageError, match="другая запись"):
                await move_sqlite_store(daemon_store, target)
        finally:
            await target.close()


def test_the_command_prints_counts_before_and_after(
    daemon_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from monitor.cli import main

    config = tmp_path / "pg.toml"
    config.write_text(PG_CONFIG, encoding="utf-8")

    async def schema() -> str:
        async with fresh_schema() as dsn:
            monkeypatch.setenv("MONITOR_PG_DSN", dsn)
            await asyncio.to_thread(_run_twice, config, daemon_store)
        return capsys.readouterr().out

    out = asyncio.run(schema())
    first, second = out.split("Готово: всё перенесено.")[:2]
    assert "таблица" in first and "было" in first and "стало" in first
    items = [line.split() for line in out.splitlines() if line.strip().startswith("items ")]
    assert items[0][1:] == [items[0][1], "0", items[0][1]]
    assert items[1][1:] == [items[0][1]] * 3, "the second run finds everything there"
    assert main(["migrate", "--config", str(tmp_path / "pg.toml"),
                 "--from-sqlite", str(tmp_path / "missing.db")]) == 1


def _run_twice(config: Path, store: Path) -> None:
    from monitor.cli import main

    for _ in range(2):
        assert main(["migrate", "--config", str(config), "--from-sqlite", str(store)]) == 0


def _entry(external_id: str, source: str = "news"):  # type: ignore[no-untyped-def]
    from tests.test_storage import entry

    return entry(external_id, f"Яма во дворе {external_id}", source=source)


async def test_policies_and_threads_move_with_the_store(tmp_path: Path) -> None:
    from tests.test_storage import official

    path = tmp_path / "m.db"
    source = await SqliteStore.open(path)
    try:
        complaint = _entry("1")
        assert complaint.incident is not None
        policy = replace(complaint.incident, policy="roads", policy_terms={"follow_up": "7d"},
                         clock_started_at=START - timedelta(hours=1),
                         resolution_due_at=START + timedelta(days=10))
        await source.save_items_and_cursor("news", [replace(complaint, incident=policy)], {},
                                           START)
        term = (START + timedelta(days=1), START + timedelta(days=2))
        interim = replace(official("2", "1", START),
                          follow_up=FollowUp("interim", {"roads": term}))
        assert (await source.save_items_and_cursor("news", [interim], {}, START)).interim == [1]
        before = await snapshot(source), await source.deadline_histories()
    finally:
        await source.close()
    [incident] = before[0]["incidents"]  # type: ignore[index]
    assert (incident["policy"], incident["deadline_round"]) == ("roads", 1)
    async with fresh_schema() as dsn:
        target = await PostgresStore.open(dsn)
        try:
            counts = await move_sqlite_store(path, target)
            assert counts.after == counts.source and counts.source["incident_thread"] == 1
            assert (await snapshot(target), await target.deadline_histories()) == before
            # The moved thread: an answer to the interim answer answers the incident.
            final = official("3", "2", START + timedelta(hours=1))
            assert (await target.save_items_and_cursor("news", [final], {}, START)).answered \
                == [1]
        finally:
            await target.close()


async def test_alert_schedules_notices_and_conditions_move_with_the_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.db"
    later = START + timedelta(hours=2)
    notice = [AlertMessage(7, "Сводка", None, 3)]
    source = await SqliteStore.open(path)
    try:
        [number] = (await source.save_items_and_cursor("news", [_entry("1")], {}, START)
                    ).incidents
        [due] = await source.due_alerts(START)
        opened = QueuedStep("opened", "opened", (AlertMessage(7, "Новый", None, 5),))
        await source.queue_alerts([AlertProgress(number, due.next_alert_at, START, later,
                                                 (opened,))], START)
        assert await source.queue_notices("digest:1", notice, START) == 1
        assert await source.set_condition("silent:news", True, notice, START)
        before = (await source.due_alerts(later), await source.pending_alerts(later),
                  await source.open_conditions())
    finally:
        await source.close()
    assert before[0] and len(before[1]) == 3
    async with fresh_schema() as dsn:
        target = await PostgresStore.open(dsn)
        try:
            counts = await move_sqlite_store(path, target)
            assert counts.after == counts.source and counts.source["system_conditions"] == 1
            assert (await target.due_alerts(later), await target.pending_alerts(later),
                    await target.open_conditions()) == before
            assert await target.due_alerts(START) == [], "the schedule moved, not restarted"
            assert await target.queue_notices("digest:1", notice, later) == 0
            assert not await target.set_condition("silent:news", True, notice, later)
        finally:
            await target.close()
