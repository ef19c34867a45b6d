"""Daemons sharing one PostgreSQL store: leases, take-over after the TTL, moments, outbox claims;
and the read-only PostgreSQL store of `monitor rules test`.

Each test has a fresh schema; "daemons" are stores opened on it, as separate processes would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from storage import (
    AlertMessage,
    AlertProgress,
    DaemonInfo,
    PostgresLocation,
    QueuedStep,
    StorageError,
    fleet_of,
    open_read_only_store,
)
from storage.postgresql.fleet import PostgresFleet
from storage.postgresql.store import PostgresStore
from storage.sqlite.store import SqliteStore
from tests.postgres import fresh_schema
from tests.test_storage import NOW, entry

TTL = timedelta(seconds=30)
SOURCES = [f"source:{n:02}" for n in range(10)]


@pytest.fixture
async def stores() -> AsyncIterator[list[PostgresStore]]:
    """Three stores on one fresh schema: three daemons."""
    async with fresh_schema() as dsn:
        opened = [await PostgresStore.open(dsn) for _ in range(3)]
        yield opened
        for store in opened:
            await store.close()


async def joined(store: PostgresStore, now: datetime = NOW) -> tuple[PostgresFleet, str]:
    fleet, daemon = fleet_of(store)
    assert isinstance(fleet, PostgresFleet)
    await fleet.join(daemon, now, TTL)
    return fleet, daemon.id


async def test_leases_spread_evenly_as_daemons_join(stores: list[PostgresStore]) -> None:
    (a, a_id), (b, b_id) = [await joined(s) for s in stores[:2]]
    first = await a.lease(a_id, SOURCES, NOW, TTL)
    assert len(first.held) == 5, "two daemons alive: half each"
    second = await b.lease(b_id, SOURCES, NOW, TTL)
    assert first.held.isdisjoint(second.held) and first.held | second.held == set(SOURCES)
    c, c_id = await joined(stores[2])
    third = await c.lease(c_id, SOURCES, NOW, TTL)
    assert third.held == frozenset(), "nothing is free yet"
    grants = {me: await fleet.lease(me, SOURCES, NOW, TTL) for fleet, me in ((a, a_id), (b, b_id))}
    assert sum(len(g.released) for g in grants.values()) in (3, 4), "10 over 3: 4, 3, 3"
    third = await c.lease(c_id, SOURCES, NOW, TTL)
    held = [*(g.held for g in grants.values()), third.held]
    assert sorted(len(h) for h in held) == [3, 3, 4]
    assert frozenset().union(*held) == set(SOURCES)


async def test_a_dead_daemon_s_leases_are_taken_over_after_the_ttl(
    stores: list[PostgresStore],
) -> None:
    (a, a_id), (b, b_id) = [await joined(s) for s in stores[:2]]
    mine = (await a.lease(a_id, SOURCES, NOW, TTL)).held
    await b.lease(b_id, SOURCES, NOW, TTL)
    # a stops renewing (killed); b renews within the TTL and cannot take them yet.
    assert (await b.lease(b_id, SOURCES, NOW + TTL / 2, TTL)).held.isdisjoint(mine)
    later = await b.lease(b_id, SOURCES, NOW + TTL + timedelta(seconds=1), TTL)
    assert later.held == set(SOURCES) and set(later.taken_over) == mine
    status = await b.status(NOW + TTL + timedelta(seconds=1))
    assert status.takeovers == len(mine)
    assert {d.id: len(d.leases) for d in status.daemons} == {a_id: 0, b_id: 10}


async def test_a_clean_stop_gives_the_leases_back_at_once(stores: list[PostgresStore]) -> None:
    (a, a_id), (b, b_id) = [await joined(s) for s in stores[:2]]
    await a.lease(a_id, SOURCES, NOW, TTL)
    await b.lease(b_id, SOURCES, NOW, TTL)
    await a.leave(a_id, NOW)
    grant = await b.lease(b_id, SOURCES, NOW + timedelta(seconds=1), TTL)
    assert grant.held == set(SOURCES) and grant.taken_over == ()


async def test_a_moment_runs_on_one_daemon(stores: list[PostgresStore]) -> None:
    fleets = [await joined(s) for s in stores]
    claims = [await fleet.once("deadline-tick", NOW, me) for fleet, me in fleets]
    assert claims == [True, False, False]
    fleet, me = fleets[1]
    assert await fleet.once("deadline-tick", NOW + timedelta(seconds=30), me)


async def test_an_alert_is_claimed_by_one_daemon_while_it_lives(
    stores: list[PostgresStore],
) -> None:
    a, b = stores[:2]
    for store in (a, b):
        await joined(store)
    result = await a.save_items_and_cursor("news", [entry("1", "яма")], {}, NOW)
    [incident] = result.incidents
    messages = tuple(AlertMessage(chat, "Инцидент", None) for chat in (1, 2))
    [due] = await a.due_alerts(NOW)
    opened = AlertProgress(incident, due.next_alert_at, NOW, None,
                           (QueuedStep("opened", "opened", messages),))
    assert await a.queue_alerts([opened], NOW) == 2
    assert await b.queue_alerts([opened], NOW) == 0, "queued by a: b's tick leaves it alone"
    first, second = await a.pending_alerts(NOW)
    assert await b.pending_alerts(NOW) == [first, second], "both read the same rows"
    assert await a.claim_alert(first.id, NOW) and not await b.claim_alert(first.id, NOW)
    assert await b.claim_alert(second.id, NOW) and not await a.claim_alert(second.id, NOW)
    await a.mark_sent(first.id, 10, NOW)
    assert not await b.claim_alert(first.id, NOW + TTL * 2), "sent: never again"
    # b dies before sending the second: while it counts as alive, its claim stands.
    assert not await a.claim_alert(second.id, NOW + TTL / 2)
    assert await a.claim_alert(second.id, NOW + TTL + timedelta(seconds=1))
    # A notice about no incident (a digest, a system alert) is queued once and claimed once.
    notice = [AlertMessage(3, "Сводка", None, 7)]
    assert await a.queue_notices("digest:2026-03-02", notice, NOW) == 1
    assert await b.queue_notices("digest:2026-03-02", notice, NOW) == 0
    [row] = [r for r in await b.pending_alerts(NOW) if r.incident_id is None]
    assert (row.chat_id, row.thread_id) == (3, 7)
    assert await b.claim_alert(row.id, NOW) and not await a.claim_alert(row.id, NOW)


async def test_marking_an_alert_sent_never_waits_for_another_daemon_s_unit_of_work(
    stores: list[PostgresStore],
) -> None:
    """The writer lock covers units of work that check then write; marking a claimed row sent
    checks nothing, so a long poll of another daemon does not hold it up."""
    a, b = stores[:2]
    await joined(a)
    [incident] = (await a.save_items_and_cursor("news", [entry("1", "яма")], {}, NOW)).incidents
    [due] = await a.due_alerts(NOW)
    message = (AlertMessage(1, "Инцидент", None),)
    await a.queue_alerts([AlertProgress(incident, due.next_alert_at, NOW, None,
                                        (QueuedStep("opened", "opened", message),))], NOW)
    [row] = await a.pending_alerts(NOW)
    assert await a.claim_alert(row.id, NOW)
    async with b.pg.transaction():  # b's unit of work holds the writer lock meanwhile
        await asyncio.wait_for(a.mark_sent(row.id, 10, NOW), 10)
        with pytest.raises(TimeoutError):  # a unit of work that checks waits its turn
            await asyncio.wait_for(a.save_items_and_cursor(
                "news", [entry("2", "яма во дворе")], {}, NOW), 1)
    assert (await a.outbox_counts())["sent"] == 1
    assert [e.kind for e in await a.events_of(incident)] == ["opened", "alerted"]


async def test_sqlite_is_one_daemon_holding_everything(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "m.db")
    try:
        fleet, daemon = fleet_of(store)
        assert isinstance(daemon, DaemonInfo) and not fleet.shared
        assert (await fleet.lease(daemon.id, SOURCES, NOW, TTL)).held == set(SOURCES)
        assert await fleet.once("deadline-tick", NOW, daemon.id)
        await fleet.join(daemon, NOW, TTL)
    finally:
        await store.close()


async def test_rules_test_reads_a_postgresql_store_without_writing() -> None:
    async with fresh_schema() as dsn:
        with pytest.raises(StorageError, match="создана не монитором"):
            async with open_read_only_store(PostgresLocation("DSN", dsn)):
                pass
        store = await PostgresStore.open(dsn)
        await store.save_items_and_cursor("news", [entry("1", "яма"), entry("2", "лужа")], {},
                                          NOW)
        await store.close()
        async with open_read_only_store(PostgresLocation("DSN", dsn)) as read:
            items = [s async for s in read.stored_items()]
        assert [(s.item.external_id, s.incident_id is not None) for s in items] == [
            ("1", True), ("2", True)]
