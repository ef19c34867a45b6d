"""Storage on a real temporary SQLite file: atomic polls, versions, incidents, outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import Item
from storage import (
    AlertMessage,
    ClassifiedItem,
    Database,
    NewIncident,
    incidents_needing_alert,
    item_versions,
    list_incidents,
    load_cursor,
    outbox_counts,
    pending_alerts,
    queue_alert,
    save_items_and_cursor,
)

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def entry(external_id: str, text: str, actionable: bool = True, when: datetime = NOW,
          content_hash: str | None = None) -> ClassifiedItem:
    item = Item("news", external_id, f"https://t.me/news/{external_id}", text, when)
    incident = NewIncident("Ямы", "УГХ", "normal", NOW + timedelta(hours=7),
                           NOW + timedelta(hours=8)) if actionable else None
    return ClassifiedItem(item, "telegram_web", content_hash or text, "Дороги", "pits",
                          actionable, 1.0, ("«яма»",), incident)


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
    assert [r["name"] for r in rows] == ["0001_initial"]


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
