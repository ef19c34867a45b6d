"""The store on both backends (a real temporary SQLite file, a fresh PostgreSQL schema): atomic
polls, versions, incidents, repeats, outbox; and SQLite's own migrations, plans and files."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest

from common.fingerprints import BANDS, fingerprint
from connectors.base import Item
from storage import (
    SYSTEM,
    Action,
    Actor,
    AlertKind,
    AlertMessage,
    AlertProgress,
    ClassifiedItem,
    FollowUp,
    NewIncident,
    PollResult,
    QueuedStep,
    RepeatRule,
    StorageError,
    TopicRef,
    open_read_only_store,
)
from storage.postgresql.fleet import PostgresFleet
from storage.postgresql.migrations import MIGRATIONS as PG_MIGRATIONS
from storage.postgresql.store import PostgresStore
from storage.sql.incidents import DUE_ALERTS
from storage.sql.repeats import BAND_HITS, FIND_SAME_TEXT, OPEN_IN_GROUP, TEXTS_OF
from storage.sql.store import SqlStore
from storage.sql.timestamps import to_db
from storage.sqlite.migrations import MIGRATIONS, Migration, apply_migrations
from storage.sqlite.store import SqliteStore
from tests.postgres import fresh_schema

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
RULE = RepeatRule(window=timedelta(days=3), similarity=0.8)
COMPLAINT = ("На улице Садовой возле школы огромная яма на дороге, машины объезжают по тротуару, "
             "дети ходят рядом, когда отремонтируют?")


def entry(external_id: str, text: str, actionable: bool = True, when: datetime = NOW,
          content_hash: str | None = None, source: str = "news", group: str = "Дороги",
          settlement: str | None = None) -> ClassifiedItem:
    item = Item(source, external_id, f"https://t.me/{source}/{external_id}", text, when)
    incident = NewIncident("Ямы", "УГХ", "normal", NOW + timedelta(hours=7),
                           NOW + timedelta(hours=8), fingerprint(text)) if actionable else None
    return ClassifiedItem(item, "telegram_web", content_hash or text, group, "pits",
                          actionable, 1.0, ("«яма»",), incident, settlement)


async def save(db: SqlStore, *entries: ClassifiedItem, now: datetime = NOW) -> PollResult:
    """One poll of whatever source the entries come from, merging repeats by RULE."""
    return await db.save_items_and_cursor(entries[0].item.source_id, entries, {}, now, RULE)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The store on each backend: every test using it runs on both."""
    if request.param == "sqlite":
        database = await SqliteStore.open(tmp_path / "m.db")
        yield database
        await database.close()
        return
    async with fresh_schema() as dsn:
        pg = await PostgresStore.open(dsn)
        yield pg
        await pg.close()


@pytest.fixture
async def sqlite_db(tmp_path: Path):  # type: ignore[no-untyped-def]
    """SQLite's own store: for tests of its query plans."""
    database = await SqliteStore.open(tmp_path / "m.db")
    yield database
    await database.close()


async def test_migrations_apply_once(tmp_path: Path) -> None:
    for _ in range(2):
        database = await SqliteStore.open(tmp_path / "m.db")
        rows = await database.database.fetchall("SELECT name FROM schema_migrations")
        await database.close()
    assert [r["name"] for r in rows] == [name for name, _ in MIGRATIONS]


async def test_the_same_item_twice_never_opens_a_second_incident(db: SqlStore) -> None:
    first = await db.save_items_and_cursor("news", [entry("1", "яма")], {"last_id": 1}, NOW)
    again = await db.save_items_and_cursor("news", [entry("1", "яма")], {"last_id": 1}, NOW)
    assert (first.new_items, len(first.incidents)) == (1, 1)
    assert (again.new_items, again.new_versions, again.incidents) == (0, 0, [])
    assert await db.load_cursor("news") == {"last_id": 1}
    assert len(await db.list_incidents()) == 1


async def test_an_edit_is_a_new_version_and_can_open_the_incident(db: SqlStore) -> None:
    await db.save_items_and_cursor("news", [entry("7", "привет", actionable=False)], {}, NOW)
    result = await db.save_items_and_cursor("news", [entry("7", "яма во дворе")], {}, NOW)
    assert (result.new_versions, len(result.incidents)) == (1, 1)
    edit = await db.save_items_and_cursor("news", [entry("7", "яма во дворе!")], {}, NOW)
    assert (edit.new_versions, edit.incidents) == (1, [])
    assert await db.item_versions("news", "7") == ["привет", "яма во дворе", "яма во дворе!"]


async def test_a_failed_poll_saves_nothing_and_keeps_the_cursor(db: SqlStore) -> None:
    await db.save_items_and_cursor("news", [entry("1", "яма")], {"last_id": 1}, NOW)
    naive = entry("2", "яма", when=datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        await db.save_items_and_cursor("news", [entry("3", "яма"), naive], {"last_id": 3}, NOW)
    assert await db.load_cursor("news") == {"last_id": 1}
    assert len(await db.list_incidents()) == 1


def step(reason: str, *chats: int, kind: AlertKind = "warning") -> QueuedStep:
    return QueuedStep(kind, reason, tuple(AlertMessage(chat, reason, None) for chat in chats))


async def test_alerts_are_queued_once_per_incident_reason_and_chat(db: SqlStore) -> None:
    result = await db.save_items_and_cursor("news", [entry("1", "яма")], {}, NOW)
    [incident_id] = result.incidents
    [due] = await db.due_alerts(NOW)
    assert (due.incident.id, due.next_alert_at, due.alerted_until) == (incident_id, NOW, None)
    later = NOW + timedelta(hours=7)
    opened = (step("opened", kind="opened"),)
    done = AlertProgress(incident_id, due.next_alert_at, NOW, later, opened)
    assert await db.queue_alerts([done], NOW) == 0  # announced, no chats
    assert await db.due_alerts(NOW) == []
    [due] = await db.due_alerts(later)
    assert (due.next_alert_at, due.alerted_until) == (later, NOW)
    warning = AlertProgress(incident_id, later, later, None, (step("warning:80%", 1, 2),))
    assert await db.queue_alerts([warning], later) == 2
    assert await db.queue_alerts([warning], later) == 0, "the tick read it before"
    assert await db.due_alerts(later + timedelta(days=30)) == [], "no step left"
    assert len(await db.pending_alerts(later)) == 2
    assert await db.outbox_counts() == {"pending": 2, "sent": 0, "failed": 0, "cancelled": 0}
    [incident] = await db.list_incidents()
    assert incident.warned_at == later


async def test_a_step_already_in_the_outbox_is_never_queued_twice(db: SqlStore) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    [due] = await db.due_alerts(NOW)
    again = NOW + timedelta(hours=1)
    first = AlertProgress(incident_id, due.next_alert_at, NOW, again,
                          (step("overdue:x", 1, kind="overdue"),))
    assert await db.queue_alerts([first], NOW) == 1
    [due] = await db.due_alerts(again)
    repeat = AlertProgress(incident_id, again, again, None,
                           (step("overdue:x", 1, 2, kind="overdue"),))
    assert await db.queue_alerts([repeat], again) == 1, "only the new chat"


async def test_text_with_any_characters_round_trips(db: SqlStore) -> None:
    text = "<b>&amp;</b> \x00\x07 😀 " + "я" * 10_000
    await db.save_items_and_cursor("news", [entry("9", text)], {}, NOW)
    [incident] = await db.list_incidents()
    # PostgreSQL text cannot hold U+0000: it comes back as U+FFFD, every other character as is.
    assert incident.text == (text if isinstance(db, SqliteStore) else text.replace("\x00", "�"))
    assert incident.as_json()["due_at"] == "2026-11-25T12:00:00+00:00"


async def test_an_exact_repost_in_another_source_joins_the_open_incident(db: SqlStore) -> None:
    first = await save(db, entry("1", COMPLAINT, settlement="Мартюш"))
    [incident_id] = first.incidents
    repost = ("на улице садовой возле школы ОГРОМНАЯ яма на дороге!!! машины объезжают по "
              "тротуару 😡 дети ходят рядом... когда отремонтируют? https://vk.com/wall-1_2 #яма")
    later = NOW + timedelta(hours=5)
    second = await save(db, entry("77", repost, source="chat"), now=later)
    assert (second.new_items, second.incidents, second.repeats) == (1, [], [incident_id])
    [incident] = await db.list_incidents()
    assert incident.due_at == NOW + timedelta(hours=8), "a repeat never moves the deadline"
    assert (incident.repeats, incident.settlement) == (1, "Мартюш")
    assert (incident.as_json()["repeats"], incident.as_json()["settlement"]) == (1, "Мартюш")
    [mention] = await db.repeats_of(incident_id)
    assert (mention.source_id, mention.external_id, mention.similarity) == ("chat", "77", 1.0)
    assert mention.joined_at == later
    due = [d.incident.id for d in await db.due_alerts(later)]
    assert due == [incident_id], "the repeat is not announced as an incident of its own"


async def test_a_copy_with_small_edits_joins(db: SqlStore) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    copy = ("Репост. На улице Садовой возле школы огромная яма на дороге, машины объезжают по "
            "тротуару, дети ходят рядом 😡 Когда же отремонтируют? vk.cc/c1x2")
    result = await save(db, entry("2", copy, source="vk"))
    assert result.repeats == [incident_id]
    [mention] = await db.repeats_of(incident_id)
    assert 0.8 <= mention.similarity < 1.0


async def test_another_complaint_on_the_same_topic_opens_its_own_incident(db: SqlStore) -> None:
    await save(db, entry("1", COMPLAINT))
    other = ("Яма на дороге на улице Садовой у магазина уже месяц, вчера пробил колесо, "
             "кто будет возмещать ремонт?")
    result = await save(db, entry("2", other, source="vk"))
    assert (len(result.incidents), result.repeats) == (1, [])
    assert [i.repeats for i in await db.list_incidents()] == [0, 0]


async def test_a_repost_after_the_window_opens_a_new_incident(db: SqlStore) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    inside = await save(db, entry("2", COMPLAINT, source="vk"), now=NOW + RULE.window)
    assert inside.repeats == [incident_id]
    after = await save(db, entry("3", COMPLAINT, source="ok"),
                       now=NOW + RULE.window + timedelta(seconds=1))
    assert (len(after.incidents), after.repeats) == (1, [])


async def test_an_answered_incident_is_not_joined(db: SqlStore) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    answer = Action("answer", SYSTEM)
    assert (await db.act(incident_id, answer, NOW + timedelta(hours=1))).outcome == "done"
    again = await db.act(incident_id, answer, NOW + timedelta(hours=2))
    assert again.outcome == "not_open", "already answered"
    later = NOW + timedelta(hours=3)
    repost = await save(db, entry("2", COMPLAINT, source="vk"), now=later)
    assert (len(repost.incidents), repost.repeats) == (1, [])
    again = await save(db, entry("3", COMPLAINT.replace("когда", "ну когда"), source="ok"),
                       now=later)
    assert again.repeats == repost.incidents, "the next repost joins the open incident"
    statuses = [(i.status, i.repeats) for i in await db.list_incidents()]
    assert statuses == [("answered", 0), ("open", 1)]


async def test_two_reposts_in_one_batch_join_each_other(db: SqlStore) -> None:
    result = await save(db, entry("1", COMPLAINT), entry("2", COMPLAINT + " Помогите!"))
    assert (result.new_items, len(result.incidents), result.repeats) == (2, 1, result.incidents)


async def test_complaints_of_different_groups_never_join(db: SqlStore) -> None:
    await save(db, entry("1", COMPLAINT))
    result = await save(db, entry("2", COMPLAINT, source="vk", group="ЖКХ"))
    assert (len(result.incidents), result.repeats) == (1, [])


async def test_short_texts_join_only_on_an_exact_match(db: SqlStore) -> None:
    [incident_id] = (await save(db, entry("1", "Яма у подъезда!"))).incidents
    exact = await save(db, entry("2", "яма у подъезда 😡", source="vk"))
    near = await save(db, entry("3", "Яма у подъезда снова", source="ok"))
    assert exact.repeats == [incident_id]
    assert (len(near.incidents), near.repeats) == (1, [])


async def test_without_the_rule_repeats_open_their_own_incidents(db: SqlStore) -> None:
    for source in ("news", "vk"):
        await db.save_items_and_cursor(source, [entry("1", COMPLAINT, source=source)], {}, NOW)
    assert [i.repeats for i in await db.list_incidents()] == [0, 0]


async def test_an_edit_never_opens_a_second_incident_nor_joins_another(db: SqlStore) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    await save(db, entry("2", COMPLAINT, source="vk"))
    edits = await save(db, entry("1", COMPLAINT + " Спасибо!"), entry("2", "яма", source="vk"))
    assert (edits.new_versions, edits.incidents, edits.repeats) == (2, [], [])
    assert [(i.id, i.repeats) for i in await db.list_incidents()] == [(incident_id, 1)]


async def test_a_poll_with_nothing_new_writes_nothing(db: SqlStore) -> None:
    """No unit of work (no writer lock) for a poll that found nothing and kept its cursor."""
    await db.save_items_and_cursor("news", [entry("1", COMPLAINT)], {"last_id": 1}, NOW)
    later = NOW + timedelta(minutes=5)
    nothing = await db.save_items_and_cursor("news", [], {"last_id": 1}, later, RULE)
    assert (nothing.new_items, nothing.incidents, nothing.repeats) == (0, [], [])
    sql = "SELECT updated_at FROM cursors WHERE source_id = 'news'"
    assert (await db.database.fetchone(sql) or {})["updated_at"] == to_db(NOW), "untouched"
    await db.save_items_and_cursor("news", [], {"last_id": 2}, later)
    assert await db.load_cursor("news") == {"last_id": 2}, "a moved cursor is stored"
    assert (await db.database.fetchone(sql) or {})["updated_at"] == to_db(later)


async def test_the_settlement_is_stored_with_the_item_and_its_edits(db: SqlStore) -> None:
    await save(db, entry("1", COMPLAINT, actionable=False, settlement="Мартюш"))
    sql = "SELECT settlement FROM items WHERE external_id = '1'"
    assert (await db.database.fetchone(sql) or {})["settlement"] == "Мартюш"
    await save(db, entry("1", COMPLAINT + "!!", actionable=False))
    assert (await db.database.fetchone(sql) or {})["settlement"] is None


async def test_the_theme_and_address_are_stored_with_the_incident(db: SqlStore) -> None:
    plain = entry("1", COMPLAINT)
    assert plain.incident is not None
    placed = replace(plain, incident=replace(
        plain.incident, im_topic="Ямы и выбоины на дорогах", address="Бажова, 5"))
    [number] = (await save(db, placed)).incidents
    incident = await db.incident(number)
    assert incident is not None
    assert (incident.im_topic, incident.address) == ("Ямы и выбоины на дорогах", "Бажова, 5")
    assert incident.as_json()["address"] == "Бажова, 5"
    staff = Actor("staff", "Иванова А. П.", "111")
    topic = TopicRef("lights", "Дороги", "Освещение", "УГХ", "Освещение на дорогах")
    assert (await db.act(number, Action("reclassify", staff, topic=topic), NOW)).outcome == "done"
    moved = await db.incident(number)
    assert moved is not None and (moved.im_topic, moved.address) == (
        "Освещение на дорогах", "Бажова, 5")
    [other] = (await save(db, entry("2", "Нет воды в доме на Ленина"))).incidents
    assert [(i.im_topic, i.address) for i in await db.list_incidents() if i.id == other] == [
        (None, None)]


@pytest.mark.parametrize(("query", "params", "driver"), [
    (FIND_SAME_TEXT, ("fingerprint", "2026-01-01", "Дороги", None),
     "incidents USING INDEX incidents_fingerprint (fingerprint=?"),
    (BAND_HITS.format(marks=", ".join("?" * BANDS)),
     (*range(BANDS), "2026-01-01"), "incident_bands USING PRIMARY KEY (band=?"),
    (OPEN_IN_GROUP.format(marks="?, ?, ?"), (1, 2, 3, "Дороги", None),
     "incidents USING INTEGER PRIMARY KEY (rowid=?"),
    (TEXTS_OF.format(marks="?, ?"), (1, 2), "incidents USING INTEGER PRIMARY KEY (rowid=?"),
])
async def test_repeats_are_found_through_their_keys_never_among_all_open_incidents(
    sqlite_db: SqliteStore, query: str, params: tuple[object, ...], driver: str
) -> None:
    db = sqlite_db
    # Given a whole signature's band keys, a plain join would walk every open incident instead.
    await save(db, *(entry(str(n), f"{COMPLAINT} Дом {n}.") for n in range(20)))
    plan = [r["detail"] for r in await db.database.fetchall(f"EXPLAIN QUERY PLAN {query}", params)]
    tables = {"incidents", "i", "incident_bands", "b"}
    scans = [step for step in plan if step.startswith("SCAN") and step.split()[1] in tables]
    assert any(driver in step for step in plan), plan
    assert not scans and not [step for step in plan if "(status=?" in step], plan


# An applied migration is never edited: databases in the field already ran it. Add a new one.
APPLIED = {
    "0001_initial": "f9a09af628cac389",
    "0002_settlements_and_mentions": "591e264596fce373",
    "0003_repeats": "f41e7d52336890ab",
    "0004_fingerprint_open_incidents": "8f4038ead8b7c019",
    "0005_staff_actions": "06373e690ef431a4",
    "0006_bot_inbox": "71435eb06cf3174a",
    "0007_cancel_alerts_of_closed_incidents": "11cbf9d48f50d794",
    "0008_item_deletions": "c3cba9bc7b1e124f",
    "0009_incident_policies": "b9687605faa723fc",
    "0010_answers_in_depth": "36dc26fddae0e818",
    "0011_alert_steps": "5573b54af296d6cc",
    "0012_outbox_notices": "5f22683866c41090",
    "0013_system_conditions": "d2d95da36fe08d3e",
    "0014_report_indexes": "f53b28a710168f83",
    "0015_incident_municipality": "205790485efe04b8",
    "0016_incident_theme_address": "86ebdbe89d51df74",
}


def _digest(migration: Migration) -> str:
    """SQL steps by their text, Python steps by their name (their code may be tidied)."""
    _, steps = migration
    text = "\n".join(s if isinstance(s, str) else f"python:{s.__qualname__}" for s in steps)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_applied_migrations_are_never_edited() -> None:
    assert {m[0]: _digest(m) for m in MIGRATIONS} == APPLIED


# PostgreSQL's own list (its DDL), pinned the same way.
PG_APPLIED = {
    "0001_initial": "fef8ad9b6bc00ada",
    "0002_daemons_and_leases": "92866193d721ba3e",
    "0003_incident_policies": "83b289c3ef89e61c",
    "0004_answers_in_depth": "01e039ce6534b0b9",
    "0005_alert_steps": "377d5f39e2a36226",
    "0006_outbox_notices": "de0171595e32041f",
    "0007_system_conditions": "273f3c811993b057",
    "0008_report_indexes": "f53b28a710168f83",
    "0009_incident_municipality": "205790485efe04b8",
    "0010_incident_theme_address": "86ebdbe89d51df74",
    "0011_moved_stores": "2f17ac9383d9af81",
}


def test_applied_postgresql_migrations_are_never_edited() -> None:
    assert {m[0]: _digest(m) for m in PG_MIGRATIONS} == PG_APPLIED


async def test_a_migration_named_twice_is_refused(tmp_path: Path) -> None:
    twice = [*MIGRATIONS, ("0002_settlements_and_mentions", ["SELECT 1"])]
    async with aiosqlite.connect(tmp_path / "m.db") as conn:
        with pytest.raises(ValueError, match="0002_settlements_and_mentions"):
            await apply_migrations(conn, twice)


async def schema(path: Path) -> dict[str, list[str]]:
    """Every table, index and trigger of a database file, tables with their columns in order."""
    async with aiosqlite.connect(path) as conn:
        async with conn.execute("SELECT type, name FROM sqlite_master ORDER BY name") as cursor:
            found = [(row[0], row[1]) for row in await cursor.fetchall()]
        result = {}
        for kind, name in found:
            async with conn.execute(f"PRAGMA table_info({name})") as cursor:
                columns = [row[1] for row in await cursor.fetchall()] if kind == "table" else []
            result[name] = columns
        return result


async def test_a_database_of_the_first_release_is_upgraded_in_place(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    async with aiosqlite.connect(old, isolation_level=None) as conn:
        await conn.execute("BEGIN IMMEDIATE")
        assert await apply_migrations(conn, MIGRATIONS[:1]) == ["0001_initial"]
        # An item and its incident as the first release wrote them.
        await conn.execute(
            "INSERT INTO items (id, source_id, external_id, network, kind, url, published_at,"
            " first_seen_at, last_seen_at, text, content_hash, version, actionable, score, why)"
            " VALUES (1, 'news', '1', 'telegram_web', 'post', 'https://t.me/news/1', ?1, ?1, ?1,"
            " ?2, 'h', 1, 1, 1.0, '[]')", (NOW.isoformat(), COMPLAINT))
        await conn.execute(
            "INSERT INTO incidents (item_id, source_id, group_name, priority, opened_at, warn_at,"
            " due_at, url, text) VALUES (1, 'news', 'Дороги', 'normal', ?1, ?1, ?1,"
            " 'https://t.me/news/1', ?2)", (NOW.isoformat(), COMPLAINT))
        await conn.commit()
    first_release = await schema(old)

    database = await SqliteStore.open(old)
    try:
        rows = await database.database.fetchall("SELECT name FROM schema_migrations ORDER BY name")
        assert [r["name"] for r in rows] == [name for name, _ in MIGRATIONS]
        [incident] = await database.list_incidents()
        assert (incident.text, incident.repeats, incident.settlement) == (COMPLAINT, 0, None)
        # 0004 gave the incident its fingerprint, once: repeats can join it.
        result = await save(database, entry("2", COMPLAINT, source="vk"))
        assert result.repeats == [incident.id], "a repeat joins an incident of the first release"
        edited = COMPLAINT.replace("огромная", "большая")
        assert (await save(database, entry("3", edited, source="ok"))).repeats == [incident.id]
    finally:
        await database.close()

    fresh = tmp_path / "fresh.db"
    await (await SqliteStore.open(fresh)).close()
    upgraded = await schema(old)
    assert upgraded == await schema(fresh), "an upgraded database is the same as a new one"
    for name, columns in first_release.items():
        if name == "sqlite_autoindex_outbox_1":  # 0012: now the partial unique outbox_step
            assert upgraded["outbox_step"] == columns
            continue
        assert upgraded[name][: len(columns)] == columns, f"{name} of 0001 only gains columns"


async def test_only_open_incidents_with_words_get_a_fingerprint(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    rows = [(1, "open", COMPLAINT), (2, "answered", COMPLAINT + " ещё"), (3, "open", "👍🔥!!!"),
            (4, "open", COMPLAINT + " и ещё")]
    async with aiosqlite.connect(old, isolation_level=None) as conn:
        await conn.execute("BEGIN IMMEDIATE")
        await apply_migrations(conn, MIGRATIONS[:2])
        for number, status, text in rows:
            opened = NOW - timedelta(days=5) if number == 4 else NOW  # 4: outside the window
            await conn.execute(
                "INSERT INTO items (id, source_id, external_id, network, kind, url, published_at,"
                " first_seen_at, last_seen_at, text, content_hash, version, actionable, score,"
                " why) VALUES (?1, 'news', ?1, 'telegram_web', 'post', 'u', ?2, ?2, ?2, ?3, 'h',"
                " 1, 1, 1.0, '[]')", (number, NOW.isoformat(), text))
            await conn.execute(
                "INSERT INTO incidents (item_id, source_id, group_name, priority, status,"
                " opened_at, warn_at, due_at, url, text) VALUES (?1, 'news', 'Дороги', 'normal',"
                " ?2, ?3, ?3, ?3, 'u', ?4)", (number, status, opened.isoformat(), text))
        await conn.commit()

    database = await SqliteStore.open(old)  # migration 0004 fingerprints them
    sql = ("SELECT i.id, COUNT(b.band) AS bands FROM incidents i"
           " LEFT JOIN incident_bands b ON b.incident_id = i.id"
           " WHERE i.fingerprint IS NOT NULL GROUP BY i.id")
    try:
        printed = await database.database.fetchall(sql)
        assert [(r["id"], r["bands"]) for r in printed] == [(1, 32), (4, 32)]
        await save(database, entry("9", "Яма"))  # a poll forgets band keys past the window
        printed = await database.database.fetchall(sql)
        assert [(r["id"], r["bands"]) for r in printed] == [(1, 32), (4, 0), (5, 0)]
    finally:
        await database.close()
    reopened = await SqliteStore.open(old)
    await reopened.close()  # a recorded backfill never runs again (or the count above would move)


async def test_a_file_that_is_no_database_is_a_storage_error(tmp_path: Path) -> None:
    broken = tmp_path / "m.db"
    broken.write_bytes(b"not a database, just text" * 100)
    with pytest.raises(StorageError, match="не открыта"):
        await SqliteStore.open(broken)
    with pytest.raises(StorageError):
        async with open_read_only_store(broken) as store:
            [_ async for _ in store.stored_items()]


async def test_the_read_only_store_refuses_a_database_not_yet_upgraded(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    async with aiosqlite.connect(old, isolation_level=None) as conn:
        await conn.execute("BEGIN IMMEDIATE")
        await apply_migrations(conn, MIGRATIONS[:2])
        await conn.commit()
    with pytest.raises(StorageError, match="0003_repeats"):
        async with open_read_only_store(old):
            pass


async def test_the_read_only_store_refuses_a_database_of_something_else(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    async with aiosqlite.connect(other) as conn:
        await conn.execute("CREATE TABLE notes (text TEXT)")
        await conn.commit()
    with pytest.raises(StorageError, match="создана не монитором"):
        async with open_read_only_store(other):
            pass


def official(external_id: str, answers: str, when: datetime, text: str = "Отремонтируем") \
        -> ClassifiedItem:
    """The community's reply to a citizen's item of the same source."""
    item = Item("news", external_id, f"https://vk.com/wall-1_1?reply={external_id}", text, when,
                author="Администрация", kind="comment", parent_external_id=answers,
                is_official=True, author_id="-1")
    return ClassifiedItem(item, "vk", text, None, None, False, 0.0, (), answers=answers)


async def test_an_official_reply_answers_the_incident_at_its_own_time(db: SqlStore) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    replied = NOW + timedelta(minutes=40)
    result = await save(db, official("2", "1", replied), now=NOW + timedelta(hours=2))
    assert result.answered == [incident_id]
    incident = await db.incident(incident_id)
    assert incident is not None and incident.status == "answered"
    assert (incident.answered_at, incident.answered_by, incident.answer_text) == \
        (replied, "Администрация", "Отремонтируем")
    assert incident.answer_url == "https://vk.com/wall-1_1?reply=2"
    event = (await db.events_of(incident_id))[-1]
    assert (event.kind, event.actor.kind, event.actor.ref) == ("answered", "official", "-1")
    again = await save(db, official("3", "1", replied + timedelta(minutes=5), "Ещё раз"))
    assert again.answered == [], "an answered incident is not answered twice"
    edited = await save(db, official("2", "1", replied, "Отремонтируем в пятницу"))
    assert edited.answered == [] and edited.new_versions == 1


async def test_an_official_reply_answers_a_repeat_s_incident_and_ignores_the_rest(
    db: SqlStore,
) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    assert (await save(db, entry("2", COMPLAINT + "!!"))).repeats == [incident_id]
    assert (await save(db, official("3", "2", NOW))).answered == [incident_id]
    [other] = (await save(db, entry("7", COMPLAINT + " Дом 9."))).incidents
    repost = entry("8", COMPLAINT + " Дом 9!", source="vk")
    assert (await save(db, repost)).repeats == [other]
    elsewhere = official("9", "8", NOW)
    elsewhere = ClassifiedItem(replace(elsewhere.item, source_id="vk"), "vk", "x", None, None,
                               False, 0.0, (), answers="8")
    assert (await save(db, elsewhere)).answered == [], "another community's reply"
    await save(db, entry("4", "Спасибо за праздник", actionable=False))
    nothing = await save(db, official("5", "4", NOW))
    unknown = await save(db, official("6", "no-such-item", NOW))
    assert nothing.answered == unknown.answered == []


async def test_an_alert_read_before_an_answer_is_never_queued_after_it(db: SqlStore) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    late = NOW + timedelta(hours=9)
    [due] = await db.due_alerts(late)
    await db.act(incident_id, Action("answer", SYSTEM), late)  # pressed meanwhile
    overdue = AlertProgress(incident_id, due.next_alert_at, late, None,
                            (step("overdue", 1, kind="overdue"),))
    assert await db.queue_alerts([overdue], late) == 0
    assert await db.pending_alerts(late) == []


async def test_what_the_schedule_depends_on_makes_the_next_tick_look(db: SqlStore) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    [due] = await db.due_alerts(NOW)
    await db.queue_alerts([AlertProgress(incident_id, due.next_alert_at, NOW, None)], NOW)
    assert await db.due_alerts(NOW + timedelta(days=9)) == []
    until = NOW + timedelta(hours=1)
    await db.act(incident_id, Action("snooze", SYSTEM, until=until), NOW)
    assert await db.due_alerts(NOW) == []
    [due] = await db.due_alerts(until)
    assert due.next_alert_at == until and due.incident.snoozed_until == until
    ended = AlertProgress(incident_id, until, until, None,
                          (step("reminder:s", 1, kind="reminder"),),
                          snooze_ended=True)
    assert await db.queue_alerts([ended], until) == 1
    assert await db.due_alerts(until + timedelta(days=9)) == []
    [incident] = await db.list_incidents()
    assert incident.snoozed_until is None


async def test_repeats_join_an_incident_in_work(db: SqlStore) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    await db.act(incident_id, Action("take", SYSTEM), NOW)
    assert (await save(db, entry("2", COMPLAINT, source="vk"))).repeats == [incident_id]


async def test_a_deletion_is_a_mark_not_a_version(db: SqlStore) -> None:
    await save(db, entry("1", COMPLAINT))
    gone = entry("1", "", actionable=False)
    gone = replace(gone, item=replace(gone.item, deleted=True))
    result = await save(db, gone, replace(gone, item=replace(gone.item, external_id="never")))
    assert (result.new_items, result.new_versions) == (0, 0)
    assert await db.item_versions("news", "1") == [COMPLAINT]
    row = await db.database.fetchone("SELECT deleted_at FROM items WHERE external_id = '1'")
    assert row is not None and row["deleted_at"] is not None


def citizen(external_id: str, parent: str, when: datetime, follow: FollowUp) -> ClassifiedItem:
    """The citizen writing again in reply to something in the incident's thread."""
    said = entry(external_id, "Так и не сделали, яма на месте", when=when)
    return replace(said, item=replace(said.item, kind="comment", parent_external_id=parent),
                   follow_up=follow)


async def queue_overdue(db: SqlStore, number: int, now: datetime) -> int:
    """Queue the overdue alert of an incident's running deadline, as the tick names it."""
    [due] = [d for d in await db.due_alerts(now) if d.incident.id == number]
    deadline = due.incident.due_at.isoformat(timespec="minutes")
    overdue = step(f"overdue:{deadline}", 1, kind="overdue")
    return await db.queue_alerts([AlertProgress(number, due.next_alert_at, now, None,
                                                (overdue,))], now)


async def test_a_thread_from_interim_answer_to_reopening_and_thanks(db: SqlStore) -> None:
    [number] = (await save(db, entry("1", COMPLAINT))).incidents
    late = NOW + timedelta(hours=9)
    assert await queue_overdue(db, number, late) == 1
    # An interim answer: a new term, the old term's alert void, the next one its own.
    term = (late + timedelta(days=1), late + timedelta(days=2))
    interim = replace(official("2", "1", late), follow_up=FollowUp("interim", {"default": term}))
    assert (await save(db, interim, now=late)).interim == [number]
    row = await db.incident(number)
    assert row is not None and (row.status, row.deadline_round) == ("open", 1)
    assert (row.warn_at, row.due_at, row.overdue_at) == (*term, None)
    assert await db.pending_alerts(late) == []
    assert await queue_overdue(db, number, term[1]) == 1
    # The final answer, then the citizen replying to the interim one: reopened, no incident
    # of its own; a reply to that reply, thanks: satisfied.
    assert (await save(db, official("3", "1", late + timedelta(days=3)))).answered == [number]
    again = (late + timedelta(days=4), late + timedelta(days=5))
    reopening = citizen("4", "2", late + timedelta(days=3, hours=1),
                        FollowUp("reopen", {"default": again}))
    result = await save(db, reopening)
    assert (result.reopened, result.incidents) == ([number], [])
    row = await db.incident(number)
    assert row is not None and (row.status, row.deadline_round, row.due_at) == \
        ("open", 2, again[1])
    assert row.answered_at is None
    assert (await save(db, official("5", "4", late + timedelta(days=4)))).answered == [number]
    thanks = await save(db, citizen("6", "5", late + timedelta(days=4, hours=1),
                                    FollowUp("satisfied")))
    assert (thanks.satisfied, thanks.incidents) == ([number], [])
    kinds = [e.kind for e in await db.events_of(number)]
    assert kinds == ["opened", "interim", "answered", "reopened", "answered", "satisfied"]


async def test_a_scratch_store_forgets_an_incident_with_its_thread(db: SqlStore) -> None:
    [number] = (await save(db, entry("1", COMPLAINT))).incidents
    assert (await save(db, official("2", "1", NOW))).answered == [number]
    await db.forget_before(NOW + timedelta(days=30))
    assert await db.list_incidents() == []


async def test_a_moved_deadline_or_a_reopening_makes_the_next_tick_look(db: SqlStore) -> None:
    """Whatever code moves a deadline or reopens an incident, the alert schedule follows."""
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    [due] = await db.due_alerts(NOW)
    await db.queue_alerts([AlertProgress(incident_id, due.next_alert_at, NOW, None)], NOW)
    assert await db.due_alerts(NOW + timedelta(days=30)) == []
    async with db.database.transaction() as tx:
        await tx.execute("UPDATE incidents SET due_at = ? WHERE id = ?",
                         ((NOW + timedelta(days=7)).isoformat(), incident_id))
    [due] = await db.due_alerts(NOW)
    assert due.alerted_until == NOW, "steps already fired stay fired"
    await db.queue_alerts([AlertProgress(incident_id, due.next_alert_at, NOW, None)], NOW)
    await db.act(incident_id, Action("answer", SYSTEM), NOW)
    assert await db.due_alerts(NOW + timedelta(days=30)) == []
    async with db.database.transaction() as tx:
        await tx.execute("UPDATE incidents SET status = 'open' WHERE id = ?", (incident_id,))
    assert [d.incident.id for d in await db.due_alerts(NOW)] == [incident_id]


async def test_the_tick_reads_open_incidents_through_their_next_alert_index(
    sqlite_db: SqliteStore,
) -> None:
    """SQLite reads due alerts through the partial index, never every open incident."""
    await save(sqlite_db, *(entry(str(n), f"{COMPLAINT} Дом {n}.") for n in range(20)))
    query = DUE_ALERTS.replace("{index}", SqliteStore.due_index)
    plan = [r["detail"] for r in await sqlite_db.database.fetchall(
        f"EXPLAIN QUERY PLAN {query}", {"now": to_db(NOW), "limit": 10})]
    assert any("USING INDEX incidents_next_alert" in step for step in plan), plan
    assert not any(step.startswith("SCAN incidents") and "INDEX" not in step for step in plan)


async def test_a_tick_of_many_steps_counts_every_row_it_adds_once(db: SqlStore) -> None:
    """Rows go in batches of one statement each: across batches, none lost, none twice."""
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    [due] = await db.due_alerts(NOW)
    chats = range(1, 1202)
    steps = (step("overdue:a", *chats, kind="overdue"), step("overdue:a", 1, kind="overdue"))
    progress = AlertProgress(incident_id, due.next_alert_at, NOW, None, steps)
    assert await db.queue_alerts([progress], NOW) == len(chats)
    assert (await db.outbox_counts())["pending"] == len(chats)


async def test_a_spike_alert_is_queued_once_per_window(db: SqlStore) -> None:
    """Spike alerts are notices (no one incident), one per spike key and window."""
    await save(db, entry("1", COMPLAINT, settlement="Кедровое"))
    messages = [AlertMessage(1, "Всплеск", None), AlertMessage(2, "Всплеск", None, 7)]
    key = "spike:Дороги:Кедровое"
    assert await db.queue_spike_alert(key, messages, NOW - timedelta(hours=1), NOW) == 2
    later = NOW + timedelta(minutes=30)
    assert await db.queue_spike_alert(key, messages, later - timedelta(hours=1),
                                      later) == 0  # one already queued within the window
    assert await db.queue_spike_alert("spike:ЖКХ:Кедровое", messages[:1],
                                      later - timedelta(hours=1), later) == 1
    rows = await db.pending_alerts(later)
    assert [(row.reason, row.incident_id, row.chat_id) for row in rows] == [
        (f"{key}:{to_db(NOW)}", None, 1), (f"{key}:{to_db(NOW)}", None, 2),
        (f"spike:ЖКХ:Кедровое:{to_db(later)}", None, 1)]
    assert rows[1].thread_id == 7
    # A whole window later the same spike is alerted again (a reason of its own).
    again = NOW + timedelta(hours=2)
    assert await db.queue_spike_alert(key, messages, again - timedelta(hours=1), again) == 2


async def test_the_incidents_of_one_problem_in_a_span(db: SqlStore) -> None:
    """What a spike is counted from: one group in one settlement of one municipality, opened in
    the span, oldest first; other groups, settlements, municipalities and times left out."""
    def placed(number: str, text: str, group: str = "Дороги", settlement: str = "Кедровое",
               municipality: str | None = None, when: datetime = NOW) -> ClassifiedItem:
        found = entry(number, text, group=group, settlement=settlement)
        assert found.incident is not None
        return replace(found, incident=replace(found.incident, municipality=municipality))

    kept = await save(db, placed("1", "Яма у школы"), placed("2", "Яма у рынка"),
                      placed("3", "Нет воды", group="ЖКХ"),
                      placed("4", "Яма у почты", settlement="Лесной"),
                      placed("5", "Яма у клуба", municipality="berezovsky"))
    await save(db, placed("6", "Яма на мосту"), now=NOW + timedelta(hours=2))
    first, second, _, _, other = kept.incidents
    span = (NOW - timedelta(hours=1), NOW + timedelta(seconds=1))
    assert [i.id for i in await db.problem_incidents("Дороги", "Кедровое", None, *span)] == [
        first, second]
    assert [i.id for i in await db.problem_incidents(
        "Дороги", "Кедровое", "berezovsky", *span)] == [other]
    assert await db.problem_incidents("Дороги", "Нигде", None, *span) == []


async def test_a_once_only_job_is_recorded_done(db: SqlStore) -> None:
    assert not await db.job_done("quarterly-report:2026Q3")
    await db.mark_job_done("quarterly-report:2026Q3", NOW)
    await db.mark_job_done("quarterly-report:2026Q3", NOW)  # a second record changes nothing
    assert await db.job_done("quarterly-report:2026Q3")
    assert not await db.job_done("quarterly-report:2026Q4")


@pytest.fixture(params=["sqlite", "postgresql"])
async def two_stores(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Two claimers on one store, each backend: on PostgreSQL two daemons of the fleet."""
    if request.param == "sqlite":
        one, two = (await SqliteStore.open(tmp_path / "m.db"), await SqliteStore.open(
            tmp_path / "m.db"))
        yield one, two
        await one.close()
        await two.close()
        return
    async with fresh_schema() as dsn:
        one, two = await PostgresStore.open(dsn), await PostgresStore.open(dsn)
        for store in (one, two):
            await PostgresFleet(store.pg).join(store.daemon, NOW, LEASE_TTL)
        yield one, two
        await one.close()
        await two.close()


LEASE_TTL = timedelta(minutes=2)
HOLD = timedelta(minutes=30)


async def test_a_once_only_job_is_claimed_by_one_claimer(two_stores) -> None:  # type: ignore[no-untyped-def]
    one, two = two_stores
    key = "quarterly-report:2026Q3"
    # Both claim at once: one of them runs the job.
    claims = await asyncio.gather(one.claim_job(key, NOW, HOLD), two.claim_job(key, NOW, HOLD))
    assert sorted(claims) == [False, True]
    holder, other = (one, two) if claims[0] else (two, one)
    # A run that outlasts the checks: the other claimer still does not get it, the holder's
    # retry does.
    later = NOW + timedelta(minutes=1)
    assert not await other.claim_job(key, later, HOLD)
    assert await holder.claim_job(key, later, HOLD)
    # Given back (the send failed): the other claimer takes it.
    await holder.release_job(key)
    await other.release_job(key)  # not its claim: nothing happens
    assert await other.claim_job(key, later, HOLD)
    assert not await holder.claim_job(key, later, HOLD)
    # Done: no one claims it again, and no claim is left behind.
    await other.mark_job_done(key, later)
    assert not await holder.claim_job(key, later, HOLD)
    assert not await other.claim_job(key, later, HOLD)
    assert await other.database.fetchall("SELECT key FROM bot_state WHERE key LIKE 'claim:%'"
                                         ) == []


async def test_a_dead_claimers_claim_is_taken(two_stores) -> None:  # type: ignore[no-untyped-def]
    one, two = two_stores
    key = "quarterly-report:2026Q3"
    assert await one.claim_job(key, NOW, HOLD)
    assert not await two.claim_job(key, NOW + timedelta(minutes=1), HOLD)
    # Killed while sending: on PostgreSQL its heartbeat lapses (a daemon that stops cleanly
    # is dead at once), on SQLite its claim's term ends.
    lapsed = NOW + max(LEASE_TTL, HOLD) + timedelta(seconds=1)
    if isinstance(two, PostgresStore):
        await PostgresFleet(two.pg).join(two.daemon, lapsed, LEASE_TTL)  # the other lives on
    assert await two.claim_job(key, lapsed, HOLD)
    assert not await one.claim_job(key, lapsed, HOLD)
    if isinstance(two, PostgresStore):  # a stopped daemon's claim goes at once
        await two.release_job(key)
        assert await one.claim_job(key, lapsed, HOLD)
        await PostgresFleet(one.pg).leave(one.daemon.id, lapsed)
        assert await two.claim_job(key, lapsed, HOLD)


async def test_a_damaged_claim_is_taken(db: SqlStore) -> None:
    for value in ("not json", "[]", '{"by": 5}', '{"by": "x", "until": "yesterday"}',
                  '{"by": "x", "until": "2026-11-25T04:00:00"}'):
        async with db.database.transaction() as tx:
            await tx.execute("INSERT INTO bot_state (key, value) VALUES (?, ?) ON CONFLICT"
                             " (key) DO UPDATE SET value = excluded.value", ("claim:job", value))
        assert await db.claim_job("job", NOW, HOLD), value


async def test_a_big_read_streams_in_batches(db: SqlStore) -> None:
    await save(db, *(entry(str(n), f"{COMPLAINT} {n}", actionable=False) for n in range(5)))
    batches = [[row["external_id"] for row in batch] async for batch in db.database.stream(
        "SELECT external_id FROM items WHERE source_id = :source ORDER BY external_id",
        {"source": "news"}, size=2)]
    assert batches == [["0", "1"], ["2", "3"], ["4"]]


async def test_a_read_stopped_early_leaves_the_store_usable(db: SqlStore) -> None:
    # SQLite reads the next batch ahead: a caller that stops after the first must not leave
    # that read (or the held connection) behind.
    await save(db, *(entry(str(n), f"{COMPLAINT} {n}", actionable=False) for n in range(5)))
    sql = "SELECT external_id FROM items WHERE source_id = :source ORDER BY external_id"
    batches = db.database.stream(sql, {"source": "news"}, size=2)
    async for batch in batches:
        assert [row["external_id"] for row in batch] == ["0", "1"]
        break
    await batches.aclose()
    assert len(await db.database.fetchall(sql, {"source": "news"})) == 5
    await save(db, entry("5", f"{COMPLAINT} 5", actionable=False))  # a write gets the lock
    assert len(await db.database.fetchall(sql, {"source": "news"})) == 6
