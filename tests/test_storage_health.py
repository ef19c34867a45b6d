"""What `/metrics` and `/healthz` ask the store: open incidents per group counted by the
backend, and the oldest alert still waiting to go out; on both backends (the `db` fixture)."""

from __future__ import annotations

from datetime import timedelta

from storage import SYSTEM, Action, AlertMessage, AlertProgress
from storage.sql.store import SqlStore
from tests.test_storage import NOW, db, entry, save, step  # noqa: F401 (db is a fixture)


async def test_open_counts_per_group_with_the_overdue(db: SqlStore) -> None:  # noqa: F811
    await save(db, entry("1", "Яма у школы"), entry("2", "Яма на Мира"),
               entry("3", "Нет воды в доме", group="ЖКХ"),
               entry("4", "Без группы совсем", group=None))  # type: ignore[arg-type]
    assert await db.open_counts(NOW) == {"Дороги": (2, 0), "ЖКХ": (1, 0), None: (1, 0)}
    await db.act(1, Action("answer", SYSTEM), NOW)
    later = NOW + timedelta(hours=9)  # past every deadline (8 h)
    assert await db.open_counts(later) == {"Дороги": (1, 1), "ЖКХ": (1, 1), None: (1, 1)}
    await db.act(3, Action("answer", SYSTEM), later)
    assert "ЖКХ" not in await db.open_counts(later)


async def test_oldest_waiting_alert_ignores_rows_held_for_later(db: SqlStore) -> None:  # noqa: F811
    await save(db, entry("1", "Яма у школы"))
    warn = NOW + timedelta(minutes=1)  # its announcement is due at once
    assert await db.oldest_waiting_alert(warn) is None
    [due] = await db.due_alerts(warn)
    opened = AlertProgress(1, due.next_alert_at, warn, None, (step("opened", -100, kind="opened"),))
    assert await db.queue_alerts([opened], warn) == 1
    [row] = await db.pending_alerts(warn)
    assert await db.oldest_waiting_alert(warn + timedelta(minutes=5)) == warn
    assert await db.claim_alert(row.id, warn + timedelta(minutes=5))
    assert await db.oldest_waiting_alert(warn + timedelta(minutes=5)) == warn, "claimed: waiting"
    await db.mark_retry(row.id, warn + timedelta(hours=1), "429")
    assert await db.oldest_waiting_alert(warn + timedelta(minutes=5)) == warn, "tried: waiting"
    await db.mark_sent(row.id, 7, warn + timedelta(hours=1))
    assert await db.oldest_waiting_alert(warn + timedelta(hours=2)) is None


async def test_notices_about_no_incident_are_counted_and_waited_for(db: SqlStore) -> None:  # noqa: F811
    """A digest or a system alert (`incident_id` NULL) is an outbox row like any other: counted
    by status, and waiting once due; one held until later (`not_before`) is not waiting yet."""
    assert await db.queue_notices("digest:2026-01-01", [AlertMessage(-100, "🌅", None)], NOW,
                                  NOW + timedelta(hours=1)) == 1
    assert await db.queue_notices("system:x", [AlertMessage(-100, "⚠️", None)], NOW) == 1
    assert await db.outbox_counts() == {"pending": 2, "sent": 0, "failed": 0, "cancelled": 0}
    later = NOW + timedelta(minutes=20)
    [row] = await db.pending_alerts(later)
    assert row.incident_id is None
    assert await db.oldest_waiting_alert(later) == NOW
    assert await db.claim_alert(row.id, later)
    await db.mark_sent(row.id, 8, later)
    assert await db.oldest_waiting_alert(later) is None, "the digest waits for its hour"
    assert await db.oldest_waiting_alert(NOW + timedelta(hours=1)) == NOW
    assert await db.outbox_counts() == {"pending": 1, "sent": 1, "failed": 0, "cancelled": 0}
