"""Fault injection in every fake: nothing is lost, backoff and retry_after are kept (read from
the fakes' request logs), and a failing source never holds up a healthy one."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram.error import TelegramError

from common.clock import ManualClock
from monitor.config import load_config
from monitor.daemon.app import App
from monitor.daemon.poller import backoff
from tests.fakes.local import Chaos
from tests.fakes.world import World, audit
from tests.test_poller import Draws

START = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # Wednesday 09:00 in Yekaterinburg
QUICK = ("5xx", "reset", "429", "malformed", "truncated", "changed")
"""Every fault but the timeout, which costs real seconds (it has a test of its own)."""


async def cycle(app: App) -> None:
    with contextlib.suppress(TelegramError):  # the daemon's reader retries it (bot_updates.run)
        await app.process_updates()
    await app.poll_all()
    await app.deadline_tick()
    await app.flush_outbox()


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with World(START) as fakes:
        yield fakes


def app_for(world: World, tmp_path: Path, clock: ManualClock, rng: random.Random,
            **options: str) -> App:
    path = tmp_path / "config.toml"
    path.write_text(world.config(**options), encoding="utf-8")
    return App(load_config(path, env=world.env()).config, clock=clock, env=world.env(), rng=rng)


async def test_nothing_is_lost_under_faults_on_every_network(world: World, tmp_path: Path):
    clock = ManualClock(START)
    def stamp() -> float:
        return clock.now().timestamp()

    chaos = {name: Chaos.spread(0.3, QUICK, seed=n, clock=stamp)
             for n, name in enumerate(("tme", "vk", "ok", "bot"))}
    world.inject(chaos.get)
    async with app_for(world, tmp_path, clock, random.Random(1)) as app:
        for _ in range(12):
            world.step(clock.now())
            clock.advance(timedelta(minutes=1))
            await cycle(app)
        world.inject(lambda name: None)
        for _ in range(4):  # past every backoff (at most an hour), then a clean round
            clock.advance(timedelta(hours=1))
            await cycle(app)
    faults = sum((c.injected for c in chaos.values()), start=Counter[str]())
    assert len(faults) >= 4 and sum(faults.values()) >= 20, faults
    found = audit(str(tmp_path / "m.db"), world.truth, world.bot)
    assert found.ok, found
    assert found.items_stored >= found.items_expected and found.complaints > 10
    assert found.duplicate_alerts == 0


async def test_backoff_and_retry_after_are_kept(world: World, tmp_path: Path) -> None:
    """Every poll that failed is retried no sooner than its backoff (with the draw fixed) and
    retry_after, and no later than one round after: read from the fake t.me's request log."""
    clock = ManualClock(START)
    chaos = Chaos({"5xx": 0.25, "429": 0.25}, seed=3, retry_after=600,
                  clock=lambda: clock.now().timestamp())
    world.tme.chaos = chaos
    async with app_for(world, tmp_path, clock, Draws(0.5), interval="5m") as app:
        for _ in range(150):
            world.step(clock.now())
            clock.advance(timedelta(minutes=1))
            await app.poll("tg0")
    polls: list[list[tuple[float, str | None]]] = []
    for drawn in chaos.requests("/s/world_news_0"):
        if polls and polls[-1][0][0] == drawn.at:
            polls[-1].append((drawn.at, drawn.fault))
        else:
            polls.append([(drawn.at, drawn.fault)])
    streak, checked = 0, Counter[str]()
    for poll, following in zip(polls, polls[1:], strict=False):
        fault = poll[-1][1]
        if fault is None:
            streak = 0
            continue
        streak += 1
        wait = backoff(timedelta(minutes=5), streak, 0.5, 600 if fault == "429" else None)
        gap = following[0][0] - poll[-1][0]
        assert wait.total_seconds() <= gap < wait.total_seconds() + 60, (fault, streak, gap)
        checked[fault] += 1
    assert checked["429"] >= 5 and checked["5xx"] >= 5


async def test_a_failing_source_never_holds_up_a_healthy_one(world: World, tmp_path: Path):
    """t.me hangs every request (a timeout); VK, OK and the bot's chat are read meanwhile."""
    clock = ManualClock(START)
    world.tme.chaos = Chaos({"timeout": 1.0}, hang=30)
    async with app_for(world, tmp_path, clock, random.Random(1), timeout="1s") as app:
        world.step(clock.now())
        hung = asyncio.create_task(app.poll("tg0"))
        await app.process_updates()
        for source in ("vk", "ok", "chat"):
            result = await app.poll(source)
            assert result is not None and result.new_items >= 1, source
        assert not hung.done(), "t.me is still hanging while the others were read"
        assert await hung is None
        assert app.pollers["tg0"].retry_at is not None
        clock.advance(timedelta(minutes=1))
        world.tme.chaos = None
        assert await app.poll("vk") is not None, "the healthy source goes on"


@pytest.mark.parametrize("fault", ["timeout", "reset"])
async def test_timeouts_and_resets_are_transient_everywhere(
    world: World, tmp_path: Path, fault: str
) -> None:
    clock = ManualClock(START)
    world.inject(lambda name: Chaos({fault: 1.0}, hang=1.5))
    async with app_for(world, tmp_path, clock, random.Random(1), timeout="1s") as app:
        world.step(clock.now())
        await app.poll_all()
        failing = {source for source, poller in app.pollers.items() if poller.failures}
        assert failing == {"tg0", "tg1", "vk", "ok"}, "the bot's chat is read from the store"
        assert not any(poller.paused for poller in app.pollers.values())
        world.inject(lambda name: None)
        clock.advance(timedelta(hours=1))
        await app.poll_all()
        assert not any(poller.failures for poller in app.pollers.values())
