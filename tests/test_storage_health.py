"""What `/metrics` and `/healthz` ask the store: open incidents per group counted by the
backend, and the oldest alert still waiting to go out; on both backends (the `db` fixture)."""

from __future__ import annotations

from datetime import timedelta

from storage import SYSTEM, Action, AlertMessage
from storage.sql.store import SqlStore
from tests.test_storage import NOW, db, entry, save  # noqa: F401 (db is a fixture)


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
    assert await db.queue_alert(1, "opened", [AlertMessage(-100, "🆕", None)], warn) == 1
    [row] = await db.pending_alerts(warn)
    assert await db.oldest_waiting_alert(warn + timedelta(minutes=5)) == warn
    await db.mark_retry(row.id, warn + timedelta(hours=1), "429")
    assert await db.oldest_waiting_alert(warn + timedelta(minutes=5)) == warn, "tried: waiting"
    await db.mark_sent(row.id, 7, warn + timedelta(hours=1))
    assert await db.oldest_waiting_alert(warn + timedelta(hours=2)) is None
