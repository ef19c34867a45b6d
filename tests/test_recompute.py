"""Open incidents' deadlines follow the calendar and the policies when they change: at start (the
App) or on demand, from each incident's history, every change in the event log, idempotent."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from common.clock import ManualClock
from connectors.base import Item
from monitor.config import AppConfig, build_ruleset, load_config
from monitor.config.policies import PolicyBook
from monitor.daemon.app import App
from monitor.daemon.deadlines import interim_term, recomputed
from monitor.daemon.intake import Intake
from monitor.daemon.recompute import deadline_basis, recompute_deadlines
from monitor.daemon.workcal import WorkingCalendar
from storage import SYSTEM, Action, DeadlineHistory, Store
from tests.conftest import PITS_TOPIC
from tests.test_storage import db  # noqa: F401 (the store on both backends)

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # Wednesday 09:00 in Yekaterinburg
CLOSE = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)  # 8 working hours later: 18:00 local
BASE = '[storage]\npath = "m.db"\n' + PITS_TOPIC


def config_of(write_config, extra: str = "") -> AppConfig:  # type: ignore[no-untyped-def]
    return load_config(write_config(BASE + extra), env={}).config


async def open_incidents(config: AppConfig, store: Store, count: int) -> list[int]:
    intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))
    entries = [intake.classify(Item("s", str(n), f"https://t.me/s/{n}", f"Яма номер {n}",
                                    NOW - timedelta(hours=n)), "telegram_web", NOW)
               for n in range(count)]
    return (await store.save_items_and_cursor("s", entries, {}, NOW)).incidents


async def recompute(config: AppConfig, store: Store, force: bool = False) -> int:
    # Two incidents a page: every test here goes over more than one page.
    return await recompute_deadlines(store, config, WorkingCalendar(config.calendar), NOW,
                                     force, page=2)


async def test_a_changed_policy_moves_open_deadlines_once(write_config, db: Store) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    before = config_of(write_config)
    store = db
    first, second, answered, *rest = await open_incidents(before, store, 6)
    await store.act(answered, Action("answer", SYSTEM), NOW)
    assert await recompute(before, store) == 0  # same config: nothing to change
    assert (await store.incident(first)).due_at == CLOSE  # type: ignore[union-attr]
    after = config_of(write_config, '[sla]\nfirst_response = "4h"\nclock = "calendar"\n')
    assert await recompute(after, store) == 5
    assert await recompute(after, store) == 0
    assert await recompute(after, store, force=True) == 0
    row = await store.incident(first)
    assert row is not None and row.due_at == NOW + timedelta(hours=4)
    assert row.warn_at == NOW + timedelta(hours=3)
    events = [e for e in await store.events_of(first) if e.kind == "recomputed"]
    assert len(events) == 1
    assert events[0].detail == {
        "from_due_at": CLOSE.isoformat(),
        "due_at": (NOW + timedelta(hours=4)).isoformat(),
        "from_warn_at": (CLOSE - timedelta(hours=1)).isoformat(),
        "warn_at": (NOW + timedelta(hours=3)).isoformat()}
    assert (await store.incident(second)).due_at == NOW + timedelta(hours=4)  # type: ignore[union-attr]
    gone = await store.incident(answered)
    assert gone is not None and gone.due_at == CLOSE
    assert [e.kind for e in await store.events_of(answered)] == ["opened", "answered"]


async def test_a_new_day_off_and_a_new_policy_are_recomputed(write_config, db: Store) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    store = db
    [incident] = await open_incidents(config_of(write_config), store, 1)
    assert await recompute(config_of(write_config), store) == 0
    # The due day (Wednesday) becomes a day off: 8 working hours from Wednesday 09:00
    # (detection) now end on Thursday at 18:00 local.
    day_off = config_of(write_config, '[calendar]\ndays_off = ["2026-11-25"]\n')
    assert await recompute(day_off, store) == 1
    row = await store.incident(incident)
    assert row is not None and row.due_at == datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    # A [[policies]] entry for the topic, from publication, with a resolution deadline.
    policy = ('[[policies]]\nname = "roads"\ntopics = ["pits"]\nfirst_response = "2h"\n'
              'clock = "calendar"\nclock_start = "published"\nresolution = "3d"\n'
              'resolution_clock = "working_days"\n')
    assert await recompute(config_of(write_config, policy), store) == 1
    row = await store.incident(incident)
    assert row is not None and row.policy == "roads"
    assert row.clock_started_at == NOW and row.due_at == NOW + timedelta(hours=2)
    assert row.resolution_due_at == datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
    assert row.policy_terms is not None and row.policy_terms["clock_start"] == "published"
    last = (await store.events_of(incident))[-1]
    assert last.kind == "recomputed"
    assert last.detail["from_policy"] == "default" and last.detail["policy"] == "roads"


async def test_the_app_recomputes_at_start(write_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(NOW)
    before = config_of(write_config)
    async with App(before, clock=clock, env={}) as app:
        [incident] = await open_incidents(before, app.store, 1)
    after = config_of(write_config, '[sla]\nfirst_response = "1h"\nclock = "calendar"\n')
    async with App(after, clock=clock, env={}) as app:
        row = await app.store.incident(incident)
        assert row is not None and row.due_at == NOW + timedelta(hours=1)
        assert await app.recompute_deadlines() == 0


def test_the_basis_changes_with_what_deadlines_depend_on(write_config) -> None:  # type: ignore[no-untyped-def]
    base = deadline_basis(config_of(write_config))
    assert base == deadline_basis(config_of(write_config, "[repeats]\nwindow = \"1d\"\n"))
    for extra in ('[calendar]\ntimezone = "Europe/Moscow"\n', '[sla]\nwarn_before = "2h"\n',
                  '[[policies]]\nname = "x"\n', '[[overrides]]\nid = "pits"\npriority = "high"\n'):
        assert deadline_basis(config_of(write_config, extra)) != base, extra


# Recomputation is idempotent whatever the history: the deadlines it gives are a fixed point.
EXAMPLE = AppConfig.model_validate({"policies": [
    {"name": "urgent", "priorities": ["critical"], "first_response": "4h", "clock": "calendar",
     "clock_start": "published", "resolution": "3d", "resolution_clock": "working_days"},
    {"name": "roads", "groups": ["Дороги"], "first_response": "1d", "clock": "working_days",
     "follow_up": "5d"},
]})
moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 1),  # noqa: DTZ001
                       timezones=st.just(UTC))


@settings(max_examples=200, deadline=None)
@given(moments, st.timedeltas(timedelta(0), timedelta(days=30)),
       st.one_of(st.none(), st.timedeltas(timedelta(0), timedelta(days=20))),
       st.sampled_from(["critical", "normal"]), st.sampled_from(["Дороги", "ЖКХ"]))
def test_recomputation_is_idempotent(
    published: datetime, delay: timedelta, interim_after: timedelta | None, priority: str,
    group: str,
) -> None:
    calendar = WorkingCalendar(EXAMPLE.calendar)
    book = PolicyBook(EXAMPLE)
    opened = published + delay
    history = DeadlineHistory(
        1, "t", group, priority, "s", "vk", None, opened, published,
        None if interim_after is None else opened + interim_after, None, None, opened, opened,
        None)
    fresh = recomputed(history, book, calendar)
    assert fresh is not None
    applied = dataclasses.replace(
        history, policy=fresh.policy, clock_started_at=fresh.clock_started_at,
        warn_at=fresh.warn_at, due_at=fresh.due_at, resolution_due_at=fresh.resolution_due_at)
    assert recomputed(applied, book, calendar) is None
    assert fresh.warn_at <= fresh.due_at and fresh.clock_started_at <= opened


async def test_a_follow_up_term_is_recomputed_from_the_interim_answer(  # type: ignore[no-untyped-def]
    write_config, db: Store  # noqa: F811
) -> None:
    config = config_of(write_config)
    store = db
    [incident] = await open_incidents(config, store, 1)
    answered_at = NOW + timedelta(hours=1)
    term = interim_term(PolicyBook(config), WorkingCalendar(config.calendar), "default",
                        answered_at)
    await store.act(incident, Action("interim", SYSTEM, at=answered_at, term=term), NOW)
    assert await recompute(config, store) == 0  # the interim term is what it should be
    shorter = config_of(write_config, '[sla]\nfollow_up = "2d"\n')
    assert await recompute(shorter, store) == 1
    row = await store.incident(incident)
    # Two working days from Wednesday's answer: the close of Friday, 18:00 local.
    assert row is not None and row.due_at == datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
    assert row.deadline_round == 1
