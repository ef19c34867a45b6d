"""`monitor migrate --from-sqlite`: a store the SQLite daemon made moves into PostgreSQL whole,
with its numbers; run again it changes nothing; interrupted, it goes on where it stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing
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


@pytest.fixture(scope="module")
def second_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another municipality's store, made by its own SQLite daemon (source «berez»)."""
    folder = tmp_path_factory.mktemp("sqlite_daemon_berez")
    asyncio.run(_run_sqlite_daemon(folder, "berez", "Мира", DUTY_CHAT - 1))
    return folder / "m.db"


async def _run_sqlite_daemon(folder: Path, name: str = "news", street: str = "Ленина",
                             chat: int = DUTY_CHAT) -> None:
    clock_file = folder / "clock"
    clock_file.write_text(START.isoformat(), encoding="utf-8")
    async with FakeTme(name) as tme, FakeBotApi() as api:
        for n in range(1, 6):
            tme.add_post(n, START - timedelta(minutes=30 - n), f"Яма у дома {n} на {street}")
        tme.add_post(6, START - timedelta(minutes=1), "Спасибо за новости")
        path = folder / "config.toml"
        path.write_text(SQLITE_CONFIG.format(bot=api.base_url, tme=tme.base_url, chat=chat,
                                             name=name, interval="1s"), encoding="utf-8")
        env = {**os.environ, "MONITOR_BOT_TOKEN": api.token,
               "MONITOR_CLOCK_FILE": str(clock_file)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(path), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            await wait_for(lambda: len(api.sent) >= 5, 30)
            tme.channel.edit_post(3, f"Яма у дома 3 на {street}, уже неделю")
            polls = len(tme.requests)
            await wait_for(lambda: len(tme.requests) > polls + 2, 30)  # the edit is stored
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode == 0, stderr.decode()


async def snapshot(store: SqlStore, source: str = "news", numbers: bool = True
                   ) -> dict[str, object]:
    """What a user sees of a store's source, whatever its backend (without the incidents'
    numbers when a move renumbers them)."""
    incidents = [i for i in await store.list_incidents() if i.source_id == source]
    return {
        "incidents": [{**i.as_json(), **({} if numbers else {"id": None})} for i in incidents],
        "events": [[(e.kind, e.at, e.actor.kind, e.detail.get("alert")) for e in
                    await store.events_of(i.id)] for i in incidents],
        "cursor": await store.load_cursor(source),
        "versions": await store.item_versions(source, "3"),
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
            assert await target.outbox_counts() == await _outbox(daemon_store)
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


async def _outbox(path: Path) -> object:
    store = await SqliteStore.open(path)
    try:
        return await store.outbox_counts()
    finally:
        await store.close()


async def _sent(store: SqlStore) -> dict[tuple[int, int], int | None]:
    """Sent alerts: (chat, Telegram message) → the incident the alert is about."""
    rows = await store.database.fetchall(
        "SELECT chat_id, message_id FROM outbox WHERE status = 'sent' AND message_id IS NOT NULL")
    found = {}
    for row in rows:
        alert = await store.sent_alert(row[0], row[1])
        assert alert is not None
        found[(row[0], row[1])] = alert.incident_id
    return found


async def test_two_municipalities_move_into_one_database(
    daemon_store: Path, second_store: Path
) -> None:
    """The second store's rows take new numbers; every reference follows them; run again,
    either move changes nothing."""
    stores = {}
    for path, name in ((daemon_store, "news"), (second_store, "berez")):
        source = await SqliteStore.open(path)
        stores[name] = (await snapshot(source, name, numbers=False), await _sent(source),
                        [i.id for i in await source.list_incidents()])
        await source.close()
    async with fresh_schema() as dsn:
        target = await PostgresStore.open(dsn)
        try:
            first = await move_sqlite_store(daemon_store, target)
            second = await move_sqlite_store(second_store, target)
            assert first.renumbered is None and second.renumbered == ((1, 5), (6, 10))
            assert second.before == first.after
            stats = await target.database.fetchone(
                "SELECT reltuples FROM pg_class WHERE oid = 'items'::regclass")
            assert stats is not None and stats[0] == first.source["items"] * 2, "analysed"
            assert second.after == {t: first.source[t] + second.source[t] for t in first.source
                                    if t not in ("bot_state",)} | {
                "bot_state": second.after["bot_state"]}
            assert second.moved == {t: second.source[t] for t in second.moved}
            for name in stores:
                assert await snapshot(target, name, numbers=False) == stores[name][0]
            incidents = await target.list_incidents()
            assert [i.id for i in incidents] == list(range(1, 11))
            assert {i.id for i in incidents if i.source_id == "berez"} == set(range(6, 11))
            # The opened event names the incident's own item; each alert its own incident.
            for incident in incidents:
                [opened] = [e for e in await target.events_of(incident.id) if e.kind == "opened"]
                row = await target.database.fetchone("SELECT item_id FROM incidents WHERE id = ?",
                                                     (incident.id,))
                assert row is not None and opened.detail["item_id"] == row[0]
            # A button under an alert sent before the move finds the renumbered incident.
            news_sent, berez_sent = stores["news"][1], stores["berez"][1]
            assert len(berez_sent) == 5
            assert await _sent(target) == news_sent | {
                message: number + 5 for message, number in berez_sent.items()}
            again = [await move_sqlite_store(p, target) for p in (daemon_store, second_store)]
            assert again[0].after == again[0].before == again[1].after == second.after
            # New rows take numbers after both stores' rows.
            result = await target.save_items_and_cursor(
                "berez", [_entry("99", "berez")], {"last_id": 99}, START)
            assert result.incidents == [11]
        finally:
            await target.close()


async def test_a_second_store_interrupted_between_batches_goes_on(
    daemon_store: Path, second_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between any two batches of the second store, the move run again ends with every
    row once (tried after each batch in turn)."""
    monkeypatch.setattr(transfer, "BATCH", 2)
    async with fresh_schema() as dsn:
        target = await PostgresStore.open(dsn)
        try:
            await move_sqlite_store(daemon_store, target)
            stop_after, whole = 1, None
            while whole is None:
                try:
                    whole = await move_sqlite_store(second_store, target,
                                                    _crash_after(stop_after))
                except KeyboardInterrupt:
                    stop_after += 1
            assert stop_after > 10, "the store took many batches"
            assert whole.moved == {t: whole.source[t] for t in whole.moved}
            items = await target.database.fetchall(
                "SELECT source_id, COUNT(*) FROM items GROUP BY source_id ORDER BY source_id")
            assert [tuple(r) for r in items] == [("berez", whole.source["items"]),
                                                 ("news", whole.source["items"])]
            [row] = await target.database.fetchall(
                "SELECT COUNT(*), COUNT(DISTINCT (incident_id, reason, chat_id)) FROM outbox")
            assert row[0] == row[1]
            [row] = await target.database.fetchall(
                "SELECT COUNT(*), COUNT(DISTINCT (incident_id, at, kind, detail)) FROM"
                " incident_events")
            assert row[0] == row[1], "no event twice"
        finally:
            await target.close()


def _crash_after(batches: int) -> Callable[[str, int], None]:
    """A progress callback that interrupts the move after so many batches (as a kill would)."""
    seen: list[str] = []

    def crash(table: str, rows: int) -> None:
        seen.append(table)
        if len(seen) == batches:
            raise KeyboardInterrupt

    return crash


async def _store_with(path: Path, *entries: object) -> None:
    store = await SqliteStore.open(path)
    try:
        await store.save_items_and_cursor("news", list(entries), {}, START)  # type: ignore[arg-type]
    finally:
        await store.close()


async def test_another_channel_under_the_same_name_stops_the_move_before_copying(
    daemon_store: Path, tmp_path: Path
) -> None:
    from tests.test_storage import entry

    other = entry("1", "Яма во дворе на Гагарина", source="news")
    other = replace(other, item=replace(other.item, url="https://vk.com/wall-1_1"))
    await _store_with(tmp_path / "other.db", other)
    async with fresh_schema() as dsn:
        target = await PostgresStore.open(dsn)
        try:
            await move_sqlite_store(daemon_store, target)
            before = await transfer.count_rows(target.database)
            with pytest.raises(StorageError, match="«news»: у поста 1 в базе другая ссылка"):
                await move_sqlite_store(tmp_path / "other.db", target)
            assert await transfer.count_rows(target.database) == before, "nothing copied"
            counts = await move_sqlite_store(tmp_path / "other.db", target,
                                             rename={"news": "news-vk"})
            assert counts.moved == {"items": 1, "incidents": 1, "incident_events": 1}
            [row] = await target.database.fetchall(
                "SELECT i.source_id, n.source_id FROM items i JOIN incidents n ON n.item_id = i.id"
                " WHERE i.url = ?", ("https://vk.com/wall-1_1",))
            assert tuple(row) == ("news-vk", "news-vk")
        finally:
            await target.close()


async def test_a_same_named_source_without_common_posts_is_refused(
    daemon_store: Path, tmp_path: Path
) -> None:
    await _store_with(tmp_path / "other.db", _entry("500"))
    async with fresh_schema() as dsn:
        target = await PostgresStore.open(dsn)
        try:
            await move_sqlite_store(daemon_store, target)
            with pytest.raises(StorageError, match="(?s)общих постов нет.*--rename-source"):
                await move_sqlite_store(tmp_path / "other.db", target)
        finally:
            await target.close()


async def test_the_same_source_in_two_stores_merges(
    daemon_store: Path, tmp_path: Path
) -> None:
    """Two municipalities watched one channel under one name: its posts are stored once; the
    incident already there gathers the other store's events."""
    source = await SqliteStore.open(daemon_store)
    [post] = await source.database.fetchall("SELECT url, text FROM items WHERE external_id = '1'")
    await source.close()
    same = _entry("1")
    same = replace(same, item=replace(same.item, url=post[0]))
    await _store_with(tmp_path / "other.db", same, _entry("500"))
    async with fresh_schema() as dsn:
        target = await PostgresStore.open(dsn)
        try:
            first = await move_sqlite_store(daemon_store, target)
            counts = await move_sqlite_store(tmp_path / "other.db", target)
            assert counts.after["items"] == first.after["items"] + 1
            assert counts.after["incidents"] == first.after["incidents"] + 1
            assert counts.moved["items"] == counts.source["items"] == 2
            events = await target.events_of(1)
            assert [e.kind for e in events].count("opened") == 2, "both stores' history kept"
        finally:
            await target.close()


def test_the_command_prints_counts_before_and_after(
    daemon_store: Path, second_store: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from monitor.cli import main

    config = tmp_path / "pg.toml"
    config.write_text(PG_CONFIG, encoding="utf-8")

    async def schema() -> str:
        async with fresh_schema() as dsn:
            monkeypatch.setenv("MONITOR_PG_DSN", dsn)
            await asyncio.to_thread(_run_twice, config, daemon_store, second_store)
        return capsys.readouterr().out

    out = asyncio.run(schema())
    runs = out.split("Готово: всё перенесено.")[:4]
    assert all("таблица" in run and "было" in run and "стало" in run for run in runs)
    items = [line.split()[1:] for line in out.splitlines() if line.strip().startswith("items ")]
    n = items[0][0]
    assert items[0] == [n, "0", n, n]
    assert items[1] == [n] * 4, "the second run finds everything there"
    both = str(int(n) * 2)
    assert items[2] == [n, n, both, n], "the second municipality's rows join the first's"
    assert items[3] == [n, both, both, n]
    assert "№ 1–5 стали № 6–10" in runs[2]
    assert main(["migrate", "--config", str(tmp_path / "pg.toml"),
                 "--from-sqlite", str(tmp_path / "missing.db")]) == 1
    assert main(["migrate", "--config", str(tmp_path / "pg.toml"), "--from-sqlite",
                 str(daemon_store), "--rename-source", "news"]) == 2
    assert "нужно СТАРОЕ=НОВОЕ" in capsys.readouterr().err


def _run_twice(config: Path, *stores: Path) -> None:
    from monitor.cli import main

    for store in stores:
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


async def test_a_file_that_is_not_a_store_or_is_broken_stops_with_a_clear_message(
    tmp_path: Path,
) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    path = tmp_path / "m.db"
    await _store_with(path, _entry("1"))
    # An event naming an incident the file does not have (a hand-edited, broken file).
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO incident_events (incident_id, at, kind, actor_kind)"
                     " VALUES (42, ?, 'comment', 'system')", (START.isoformat(),))
    async with fresh_schema() as dsn:
        target = await PostgresStore.open(dsn)
        try:
            with pytest.raises(StorageError, match="не открыта: file is not a database"):
                await move_sqlite_store(garbage, target)
            with pytest.raises(StorageError, match="ссылка на incidents № 42, которого в файле"
                                                   " нет: файл повреждён"):
                await move_sqlite_store(path, target)
            counts = await transfer.count_rows(target.database)
            assert counts["incident_events"] == 0, "the broken batch is not half there"
        finally:
            await target.close()
