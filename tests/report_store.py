"""The golden store of the report tests: incidents with known times and states across the
fourth quarter of 2025 (the moved Saturday 1 November, the 3–4 November holidays, the
31 December day off) and two in the third quarter, to compare with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from connectors.base import Item
from storage import Action, Actor, ClassifiedItem, NewIncident
from storage.postgresql.store import PostgresStore
from storage.sql.events import add_event
from storage.sql.store import SqlStore
from storage.sqlite.store import SqliteStore
from tests.postgres import fresh_schema

BACKENDS = ("sqlite", "postgresql")

ZONE = ZoneInfo("Asia/Yekaterinburg")
AS_OF = datetime(2026, 1, 12, 9, 0, tzinfo=ZONE)
STAFF = Actor("staff", "Иванова", "7")
WATER = ("water", "ЖКХ", "Отсутствие ХВС/ГВС", "Водоканал")
PITS = ("pits", "Дороги", "Ямы", "УГХ")
LITTER = ("litter", "Благоустройство", "Мусор", "УБ")


def local(month: int, day: int, hour: int, minute: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZONE)


def _entry(
    key: str, topic: tuple[str, str, str, str], opened: datetime, due: datetime | None,
    settlement: str | None, source: str = "news", network: str = "telegram_web",
    official: bool = False,
) -> ClassifiedItem:
    item = Item(source, key, f"https://example.org/{source}/{key}", f"жалоба {key}", opened,
                is_official=official)
    incident = None if due is None else NewIncident(topic[2], topic[3], "normal",
                                                    due - timedelta(hours=1), due)
    return ClassifiedItem(item, network, key, topic[1], topic[0], due is not None, 1.0, (),
                          incident, settlement)


async def _open(store: SqlStore, entry: ClassifiedItem) -> int:
    result = await store.save_items_and_cursor(entry.item.source_id, [entry], {},
                                               entry.item.published_at)
    return result.incidents[0] if result.incidents else 0


async def _answer(store: SqlStore, number: int, at: datetime) -> None:
    result = await store.act(number, Action("answer", STAFF, at=at), at)
    assert result.outcome == "done"


async def _event(store: SqlStore, number: int, at: datetime, kind: str) -> None:
    """An event of a kind a later release writes (interim answers, reopening, satisfaction)."""
    detail = {"answered_at": at.isoformat()} if kind in ("interim", "answered") else {}
    async with store.database.transaction() as tx:
        await add_event(tx, number, at, kind, STAFF, **detail)  # type: ignore[arg-type]


async def golden_store(path: Path) -> SqliteStore:
    """Build the golden store in a SQLite file (see the module docstring)."""
    store = await SqliteStore.open(path)
    try:
        await fill_golden(store)
    except BaseException:
        await store.close()
        raise
    return store


@asynccontextmanager
async def golden_on(backend: str, path: Path) -> AsyncIterator[SqlStore]:
    """The golden store on a backend (a SQLite file at `path`, or a fresh PostgreSQL schema),
    closed when the block ends."""
    if backend == "sqlite":
        store: SqlStore = await golden_store(path)
        try:
            yield store
        finally:
            await store.close()
        return
    async with fresh_schema() as dsn:
        store = await PostgresStore.open(dsn)
        try:
            await fill_golden(store)
            yield store
        finally:
            await store.close()


async def fill_golden(store: SqlStore) -> None:
    """Write the golden incidents, events and messages (see tests/test_report.py)."""
    # Q3 2025: one on time, one a day late.
    p1 = await _open(store, _entry("p1", WATER, local(9, 15, 10), local(9, 16, 10), "Сысерть"))
    await _answer(store, p1, local(9, 15, 12))
    p2 = await _open(store, _entry("p2", PITS, local(9, 16, 10), local(9, 17, 10), "Сысерть"))
    await _answer(store, p2, local(9, 18, 10))
    # A: Friday 16:00; due on the moved working Saturday 16:00; answered 15:00 (7 wh, 23 h).
    a = await _open(store, _entry("a", WATER, local(10, 31, 16), local(11, 1, 16), "Кедровое"))
    await _answer(store, a, local(11, 1, 15))
    # B: Saturday 16:30; 3–4 November off; due Wednesday 5 November 17:30; an interim answer
    # at 10:00 (1.5 wh, 89.5 h), the final one the next day.
    b = await _open(store, _entry("b", WATER, local(11, 1, 16, 30), local(11, 5, 17, 30),
                                  "Кедровое"))
    await _event(store, b, local(11, 5, 10), "interim")
    await _answer(store, b, local(11, 6, 12))
    # C: taken, answered 16 h (1 wh) late.
    c = await _open(store, _entry("c", PITS, local(11, 10, 9), local(11, 10, 18), "Сысерть"))
    await store.act(c, Action("take", STAFF), local(11, 10, 9, 30))
    await _answer(store, c, local(11, 11, 10))
    # D: never answered; due 30 December 10:00, so 311 h (7 wh) late on 12 January 09:00.
    await _open(store, _entry("d", WATER, local(12, 29, 10), local(12, 30, 10), "Арамиль"))
    # E: dismissed as spam.
    e = await _open(store, _entry("e", LITTER, local(11, 12, 11), local(11, 12, 19), "Сысерть"))
    await store.act(e, Action("dismiss", STAFF, reason="спам"), local(11, 12, 11, 30))
    # F: opened on the 31 December day off, due 12 January 18:00: still waiting, not late.
    await _open(store, _entry("f", LITTER, local(12, 31, 12), local(1, 12, 18, year=2026), None))
    # Five complaints about water in Кедровое within an hour: a spike; each answered at 11:00.
    spike = [await _open(store, _entry(f"s{n}", WATER, local(12, 9, 10, 10 * n),
                                       local(12, 9, 18, 10 * n), "Кедровое", "vk_kedr", "vk"))
             for n in range(5)]
    for number in spike:
        await _answer(store, number, local(12, 9, 11))
    await _event(store, spike[0], local(12, 10, 9), "reopened")
    await _event(store, spike[0], local(12, 10, 12), "answered")
    await _event(store, spike[1], local(12, 10, 13), "satisfied")
    # Not residents' incidents: a message that needs no answer counts as a message; the
    # administration's own post does not.
    await _open(store, _entry("noise", WATER, local(12, 9, 12), None, None, "vk_kedr", "vk"))
    await _open(store, _entry("own", WATER, local(12, 9, 13), None, None, "vk_kedr", "vk",
                              official=True))
