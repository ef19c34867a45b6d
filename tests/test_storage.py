"""Storage on a real temporary SQLite file: atomic polls, versions, incidents, repeats, outbox."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
import pytest

from common.fingerprints import BANDS, text_print
from connectors.base import Item
from storage import (
    AlertMessage,
    ClassifiedItem,
    Database,
    DuplicateRule,
    NewIncident,
    PollResult,
    incidents_needing_alert,
    item_versions,
    list_incidents,
    load_cursor,
    mark_answered,
    mentions_of,
    outbox_counts,
    pending_alerts,
    queue_alert,
    save_items_and_cursor,
)
from storage.mentions import FIND_BY_BANDS, FIND_SAME_TEXT, print_unprinted_incidents
from storage.migrations import MIGRATIONS, apply_migrations

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
RULE = DuplicateRule(window=timedelta(days=3), similarity=0.8)
COMPLAINT = ("На улице Садовой возле школы огромная яма на дороге, машины объезжают по тротуару, "
             "дети ходят рядом, когда отремонтируют?")


def entry(external_id: str, text: str, actionable: bool = True, when: datetime = NOW,
          content_hash: str | None = None, source: str = "news", group: str = "Дороги",
          settlement: str | None = None) -> ClassifiedItem:
    item = Item(source, external_id, f"https://t.me/{source}/{external_id}", text, when)
    incident = NewIncident("Ямы", "УГХ", "normal", NOW + timedelta(hours=7),
                           NOW + timedelta(hours=8), text_print(text)) if actionable else None
    return ClassifiedItem(item, "telegram_web", content_hash or text, group, "pits",
                          actionable, 1.0, ("«яма»",), incident, settlement)


async def save(db: Database, *entries: ClassifiedItem, now: datetime = NOW) -> PollResult:
    """One poll of whatever source the entries come from, merging repeats by RULE."""
    return await save_items_and_cursor(db, entries[0].item.source_id, entries, {}, now, RULE)


@pytest.fixture
async def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = await Database.open(tmp_path / "m.db")
    yield database
    await database.close()


async def test_migrations_apply_once(tmp_path: Path) -> None:
    for _ in range(2):
        database = await Database.open(tmp_path / "m.db")
        rows = await database.fetchall("SELECT name FROM schema_migrations")
        await database.close()
    assert [r["name"] for r in rows] == [name for name, _ in MIGRATIONS]


async def test_the_same_item_twice_never_opens_a_second_incident(db: Database) -> None:
    first = await save_items_and_cursor(db, "news", [entry("1", "яма")], {"last_id": 1}, NOW)
    again = await save_items_and_cursor(db, "news", [entry("1", "яма")], {"last_id": 1}, NOW)
    assert (first.new_items, len(first.incidents)) == (1, 1)
    assert (again.new_items, again.new_versions, again.incidents) == (0, 0, [])
    assert await load_cursor(db, "news") == {"last_id": 1}
    assert len(await list_incidents(db)) == 1


async def test_an_edit_is_a_new_version_and_can_open_the_incident(db: Database) -> None:
    await save_items_and_cursor(db, "news", [entry("7", "привет", actionable=False)], {}, NOW)
    result = await save_items_and_cursor(db, "news", [entry("7", "яма во дворе")], {}, NOW)
    assert (result.new_versions, len(result.incidents)) == (1, 1)
    edit = await save_items_and_cursor(db, "news", [entry("7", "яма во дворе!")], {}, NOW)
    assert (edit.new_versions, edit.incidents) == (1, [])
    assert await item_versions(db, "news", "7") == ["привет", "яма во дворе", "яма во дворе!"]


async def test_a_failed_poll_saves_nothing_and_keeps_the_cursor(db: Database) -> None:
    await save_items_and_cursor(db, "news", [entry("1", "яма")], {"last_id": 1}, NOW)
    naive = entry("2", "яма", when=datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        await save_items_and_cursor(db, "news", [entry("3", "яма"), naive], {"last_id": 3}, NOW)
    assert await load_cursor(db, "news") == {"last_id": 1}
    assert len(await list_incidents(db)) == 1


async def test_alerts_are_queued_once_per_incident_reason_and_chat(db: Database) -> None:
    result = await save_items_and_cursor(db, "news", [entry("1", "яма")], {}, NOW)
    [incident_id] = result.incidents
    assert await incidents_needing_alert(db, NOW) == []
    later = NOW + timedelta(hours=7)
    [due] = await incidents_needing_alert(db, later)
    messages = [AlertMessage(1, "a", None), AlertMessage(2, "a", None)]
    assert await queue_alert(db, due.id, "warning", messages, later) == 2
    assert await queue_alert(db, incident_id, "warning", messages, later) == 0
    assert await incidents_needing_alert(db, later) == []
    assert len(await pending_alerts(db, later)) == 2
    assert await outbox_counts(db) == {"pending": 2, "sent": 0, "failed": 0}


async def test_text_with_any_characters_round_trips(db: Database) -> None:
    text = "<b>&amp;</b> \x00\x07 😀 " + "я" * 10_000
    await save_items_and_cursor(db, "news", [entry("9", text)], {}, NOW)
    [incident] = await list_incidents(db)
    assert incident.text == text
    assert incident.as_json()["due_at"] == "2026-11-25T12:00:00+00:00"


async def test_an_exact_repost_in_another_source_joins_the_open_incident(db: Database) -> None:
    first = await save(db, entry("1", COMPLAINT, settlement="Мартюш"))
    [incident_id] = first.incidents
    repost = ("на улице садовой возле школы ОГРОМНАЯ яма на дороге!!! машины объезжают по "
              "тротуару 😡 дети ходят рядом... когда отремонтируют? https://vk.com/wall-1_2 #яма")
    later = NOW + timedelta(hours=5)
    second = await save(db, entry("77", repost, source="chat"), now=later)
    assert (second.new_items, second.incidents, second.joined) == (1, [], [incident_id])
    [incident] = await list_incidents(db)
    assert incident.due_at == NOW + timedelta(hours=8), "a repeat never moves the deadline"
    assert (incident.mentions, incident.settlement) == (1, "Мартюш")
    assert (incident.as_json()["mentions"], incident.as_json()["settlement"]) == (1, "Мартюш")
    [mention] = await mentions_of(db, incident_id)
    assert (mention.source_id, mention.external_id, mention.similarity) == ("chat", "77", 1.0)
    assert mention.joined_at == later
    assert await incidents_needing_alert(db, later) == [], "nothing new is alerted"


async def test_a_copy_with_small_edits_joins(db: Database) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    copy = ("Репост. На улице Садовой возле школы огромная яма на дороге, машины объезжают по "
            "тротуару, дети ходят рядом 😡 Когда же отремонтируют? vk.cc/c1x2")
    result = await save(db, entry("2", copy, source="vk"))
    assert result.joined == [incident_id]
    [mention] = await mentions_of(db, incident_id)
    assert 0.8 <= mention.similarity < 1.0


async def test_another_complaint_on_the_same_topic_opens_its_own_incident(db: Database) -> None:
    await save(db, entry("1", COMPLAINT))
    other = ("Яма на дороге на улице Садовой у магазина уже месяц, вчера пробил колесо, "
             "кто будет возмещать ремонт?")
    result = await save(db, entry("2", other, source="vk"))
    assert (len(result.incidents), result.joined) == (1, [])
    assert [i.mentions for i in await list_incidents(db)] == [0, 0]


async def test_a_repost_after_the_window_opens_a_new_incident(db: Database) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    inside = await save(db, entry("2", COMPLAINT, source="vk"), now=NOW + RULE.window)
    assert inside.joined == [incident_id]
    after = await save(db, entry("3", COMPLAINT, source="ok"),
                       now=NOW + RULE.window + timedelta(seconds=1))
    assert (len(after.incidents), after.joined) == (1, [])


async def test_an_answered_incident_is_not_joined(db: Database) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    assert await mark_answered(db, incident_id, NOW + timedelta(hours=1))
    assert not await mark_answered(db, incident_id, NOW + timedelta(hours=2)), "already closed"
    later = NOW + timedelta(hours=3)
    repost = await save(db, entry("2", COMPLAINT, source="vk"), now=later)
    assert (len(repost.incidents), repost.joined) == (1, [])
    again = await save(db, entry("3", COMPLAINT.replace("когда", "ну когда"), source="ok"),
                       now=later)
    assert again.joined == repost.incidents, "the next repost joins the open incident"
    statuses = [(i.status, i.mentions) for i in await list_incidents(db)]
    assert statuses == [("answered", 0), ("open", 1)]


async def test_two_reposts_in_one_batch_join_each_other(db: Database) -> None:
    result = await save(db, entry("1", COMPLAINT), entry("2", COMPLAINT + " Помогите!"))
    assert (result.new_items, len(result.incidents), result.joined) == (2, 1, result.incidents)


async def test_complaints_of_different_groups_never_join(db: Database) -> None:
    await save(db, entry("1", COMPLAINT))
    result = await save(db, entry("2", COMPLAINT, source="vk", group="ЖКХ"))
    assert (len(result.incidents), result.joined) == (1, [])


async def test_short_texts_join_only_on_an_exact_match(db: Database) -> None:
    [incident_id] = (await save(db, entry("1", "Яма у подъезда!"))).incidents
    exact = await save(db, entry("2", "яма у подъезда 😡", source="vk"))
    near = await save(db, entry("3", "Яма у подъезда снова", source="ok"))
    assert exact.joined == [incident_id]
    assert (len(near.incidents), near.joined) == (1, [])


async def test_without_the_rule_repeats_open_their_own_incidents(db: Database) -> None:
    for source in ("news", "vk"):
        await save_items_and_cursor(db, source, [entry("1", COMPLAINT, source=source)], {}, NOW)
    assert [i.mentions for i in await list_incidents(db)] == [0, 0]


async def test_an_edit_never_opens_a_second_incident_nor_joins_another(db: Database) -> None:
    [incident_id] = (await save(db, entry("1", COMPLAINT))).incidents
    await save(db, entry("2", COMPLAINT, source="vk"))
    edits = await save(db, entry("1", COMPLAINT + " Спасибо!"), entry("2", "яма", source="vk"))
    assert (edits.new_versions, edits.incidents, edits.joined) == (2, [], [])
    assert [(i.id, i.mentions) for i in await list_incidents(db)] == [(incident_id, 1)]


async def test_the_settlement_is_stored_with_the_item_and_its_edits(db: Database) -> None:
    await save(db, entry("1", COMPLAINT, actionable=False, settlement="Мартюш"))
    sql = "SELECT settlement FROM items WHERE external_id = '1'"
    assert (await db.fetchone(sql) or {})["settlement"] == "Мартюш"
    await save(db, entry("1", COMPLAINT + "!!", actionable=False))
    assert (await db.fetchone(sql) or {})["settlement"] is None


@pytest.mark.parametrize(("query", "params", "driver"), [
    (FIND_SAME_TEXT, ("fingerprint", "2026-01-01", "Дороги"),
     "incidents USING INDEX incidents_fingerprint (fingerprint=?"),
    (FIND_BY_BANDS.format(marks=", ".join("?" * BANDS)),
     (*range(BANDS), "2026-01-01", "Дороги", 20), "incident_bands USING PRIMARY KEY (band=?"),
])
async def test_repeats_are_found_through_their_keys_never_among_all_open_incidents(
    db: Database, query: str, params: tuple[object, ...], driver: str
) -> None:
    # Given a whole signature's band keys, a plain join would walk every open incident instead.
    await save(db, *(entry(str(n), f"{COMPLAINT} Дом {n}.") for n in range(20)))
    plan = [r["detail"] for r in await db.fetchall(f"EXPLAIN QUERY PLAN {query}", params)]
    tables = {"incidents", "i", "incident_bands", "b"}
    scans = [step for step in plan if step.startswith("SCAN") and step.split()[1] in tables]
    assert any(driver in step for step in plan), plan
    assert not scans and not [step for step in plan if "(status=?" in step], plan


# An applied migration is never edited: databases in the field already ran it. Add a new one.
APPLIED = {
    "0001_initial": "f9a09af628cac389",
    "0002_settlements_and_mentions": "591e264596fce373",
}


def test_applied_migrations_are_never_edited() -> None:
    digests = {name: hashlib.sha256("\n".join(steps).encode()).hexdigest()[:16]
               for name, steps in MIGRATIONS}
    assert digests == APPLIED


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

    database = await Database.open(old)
    try:
        rows = await database.fetchall("SELECT name FROM schema_migrations ORDER BY name")
        assert [r["name"] for r in rows] == [name for name, _ in MIGRATIONS]
        [incident] = await list_incidents(database)
        assert (incident.text, incident.mentions, incident.settlement) == (COMPLAINT, 0, None)
        async with database.transaction() as tx:  # as the daemon does at start
            assert await print_unprinted_incidents(tx, NOW - RULE.window) == 1
            assert await print_unprinted_incidents(tx, NOW - RULE.window) == 0
        result = await save(database, entry("2", COMPLAINT, source="vk"))
        assert result.joined == [incident.id], "a repeat joins an incident of the first release"
        edited = COMPLAINT.replace("огромная", "большая")
        assert (await save(database, entry("3", edited, source="ok"))).joined == [incident.id]
    finally:
        await database.close()

    fresh = tmp_path / "fresh.db"
    await (await Database.open(fresh)).close()
    upgraded = await schema(old)
    assert upgraded == await schema(fresh), "an upgraded database is the same as a new one"
    for name, columns in first_release.items():
        assert upgraded[name][: len(columns)] == columns, f"{name} of 0001 only gains columns"


async def test_only_open_recent_incidents_with_words_get_a_print(tmp_path: Path) -> None:
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

    database = await Database.open(old)
    try:
        async with database.transaction() as tx:
            assert await print_unprinted_incidents(tx, NOW - RULE.window) == 1
        printed = await database.fetchall(
            "SELECT i.id, COUNT(b.band) AS bands FROM incidents i"
            " LEFT JOIN incident_bands b ON b.incident_id = i.id"
            " WHERE i.fingerprint IS NOT NULL GROUP BY i.id")
        assert [(r["id"], r["bands"]) for r in printed] == [(1, 32)]
    finally:
        await database.close()
