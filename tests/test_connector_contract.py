"""One contract every registered connector keeps, run against each network's fake world."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiohttp
import pytest

import connectors
from common.clock import ManualClock
from connectors.base import Page, Source, SourceContext, TransientSourceError
from storage.sqlite.store import SqliteStore
from tests.fakes.ok import FakeOk
from tests.fakes.tme import FakeTme
from tests.fakes.vk import FakeVk

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
# Taken at import, so networks that other tests register for themselves later don't count.
REGISTERED = sorted(connectors.registry())
MORE_THAN_ONE_PAGE = 45


class World(Protocol):
    """A network's fake server with one source pointed at it."""

    source: Source

    def publish(self, count: int) -> None:
        """Make `count` new public items appear, newest at the clock's now."""

    def fail_next(self, status: int) -> None:
        """Make the next request answer with this HTTP status."""


WorldFactory = Callable[
    [aiohttp.ClientSession, ManualClock], AbstractAsyncContextManager[World]
]


class TelegramWebWorld:
    """A fake t.me with one channel and a telegram_web source reading it."""

    def __init__(self, tme: FakeTme, source: Source, clock: ManualClock) -> None:
        self.tme = tme
        self.source = source
        self.clock = clock
        self.next_id = 1

    def publish(self, count: int) -> None:
        """Post `count` messages a minute apart, the last one now."""
        for offset in range(count - 1, -1, -1):
            when = self.clock.now() - timedelta(minutes=offset)
            self.tme.add_post(self.next_id, when, f"Контрактный пост {self.next_id}")
            self.next_id += 1

    def fail_next(self, status: int) -> None:
        """The next page request answers with `status`."""
        self.tme.answer_status(status, times=1)


@asynccontextmanager
async def telegram_web_world(
    http: aiohttp.ClientSession, clock: ManualClock
) -> AsyncIterator[World]:
    async with FakeTme("contract_channel") as tme:
        spec = connectors.registry()["telegram_web"]
        settings = spec.settings_model.model_validate(
            {"id": "contract", "network": "telegram_web", "channel": "contract_channel",
             "base_url": tme.base_url}
        )  # fmt: skip
        yield TelegramWebWorld(tme, spec.create(settings, SourceContext(http, clock)), clock)


class VkWorld:
    """A fake VK with one community whose wall a `vk` source reads."""

    def __init__(self, vk: FakeVk, source: Source, clock: ManualClock) -> None:
        self.vk = vk
        self.source = source
        self.clock = clock

    def publish(self, count: int) -> None:
        """Residents post `count` times on the wall a minute apart, the last one now."""
        for offset in range(count - 1, -1, -1):
            when = self.clock.now() - timedelta(minutes=offset)
            self.vk.add_post(VK_GROUP, f"Контрактный пост {when:%H:%M}", date=when,
                             from_id=5550000 + offset)

    def fail_next(self, status: int) -> None:
        """The next wall.get answers with `status`."""
        self.vk.fail_next("wall.get", http_status=status)


VK_GROUP = 4242


@asynccontextmanager
async def vk_world(http: aiohttp.ClientSession, clock: ManualClock) -> AsyncIterator[World]:
    async with FakeVk(now=clock.now().timestamp()) as vk:
        vk.add_community(VK_GROUP, name="Администрация")
        vk.add_token("contract-service-token", kind="service")
        spec = connectors.registry()["vk"]
        settings = spec.settings_model.model_validate(
            {"id": "contract", "network": "vk", "group_id": VK_GROUP, "base_url": vk.base_url})
        context = SourceContext(http, clock, "contract-service-token")
        yield VkWorld(vk, spec.create(settings, context), clock)


class TelegramBotWorld:
    """A store's inbox, as the daemon's bot fills it, and a telegram_bot source reading it."""

    def __init__(self, store: SqliteStore, clock: ManualClock) -> None:
        self.store = store
        self.clock = clock
        self.next_update = 1
        self.failures: list[int] = []
        settings = connectors.registry()["telegram_bot"].settings_model.model_validate(
            {"id": "contract", "network": "telegram_bot", "chat_id": BOT_CHAT})
        self.source = connectors.registry()["telegram_bot"].create(
            settings, SourceContext(None, clock, inbox=self._inbox))  # type: ignore[arg-type]
        self.pending: list[tuple[int, str]] = []

    async def _inbox(self, chats: list[int], after: int, limit: int) -> list[tuple[int, str]]:
        if self.failures:
            raise OSError(f"the store answered {self.failures.pop()}")
        for update_id, payload in self.pending:
            await self.store.keep_bot_update(update_id, BOT_CHAT, payload, self.clock.now())
        self.pending.clear()
        return await self.store.kept_bot_updates(chats, after, limit)

    def publish(self, count: int) -> None:
        """Residents write `count` messages in the group a minute apart, the last one now."""
        for offset in range(count - 1, -1, -1):
            when = self.clock.now() - timedelta(minutes=offset)
            message = {"message_id": self.next_update, "date": int(when.timestamp()),
                       "chat": {"id": BOT_CHAT, "type": "supergroup", "title": "Мартюш"},
                       "from": {"id": 500 + offset, "is_bot": False, "first_name": "Житель"},
                       "text": f"Контрактное сообщение {self.next_update}"}
            payload = json.dumps({"update_id": self.next_update, "message": message})
            self.pending.append((self.next_update, payload))
            self.next_update += 1

    def fail_next(self, status: int) -> None:
        """The next read of the inbox fails."""
        self.failures.append(status)


BOT_CHAT = -1001906889117


@asynccontextmanager
async def telegram_bot_world(
    http: aiohttp.ClientSession, clock: ManualClock
) -> AsyncIterator[World]:
    store = await SqliteStore.scratch()
    try:
        yield TelegramBotWorld(store, clock)
    finally:
        await store.close()


class OkWorld:
    """A fake OK with one group whose feed an `ok` source reads."""

    def __init__(self, ok: FakeOk, source: Source, clock: ManualClock) -> None:
        self.ok = ok
        self.source = source
        self.clock = clock

    def publish(self, count: int) -> None:
        """Residents publish `count` topics in the group a minute apart, the last one now."""
        for offset in range(count - 1, -1, -1):
            when = self.clock.now() - timedelta(minutes=offset)
            self.ok.add_topic(OK_GROUP, f"Контрактная тема {when:%H:%M}", date=when,
                              user=str(5550000 + offset))

    def fail_next(self, status: int) -> None:
        """The next mediatopic.getTopics answers with `status`."""
        self.ok.fail_next("mediatopic.getTopics", http_status=status)


OK_GROUP = "4242"


@asynccontextmanager
async def ok_world(http: aiohttp.ClientSession, clock: ManualClock) -> AsyncIterator[World]:
    async with FakeOk() as ok:
        ok.add_application("contract-app-key", "contract-app-secret")
        ok.add_token("contract-ok-token")
        ok.add_group(OK_GROUP, name="Администрация")
        spec = connectors.registry()["ok"]
        settings = spec.settings_model.model_validate(
            {"id": "contract", "network": "ok", "group_id": OK_GROUP, "base_url": ok.base_url,
             "application_key_env": "OK_APP_KEY", "application_secret_env": "OK_APP_SECRET",
             "rate": 100})
        secrets = {"OK_APP_KEY": "contract-app-key", "OK_APP_SECRET": "contract-app-secret"}
        context = SourceContext(http, clock, "contract-ok-token", secrets=secrets)
        yield OkWorld(ok, spec.create(settings, context), clock)


# Every registered network needs an entry here: a new connector adds its fake world.
WORLDS: dict[str, WorldFactory] = {
    "ok": ok_world,
    "telegram_web": telegram_web_world,
    "vk": vk_world,
    "telegram_bot": telegram_bot_world,
}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture(params=REGISTERED)
async def world(
    request: pytest.FixtureRequest, http: aiohttp.ClientSession, clock: ManualClock
) -> AsyncIterator[World]:
    network = request.param
    if network not in WORLDS:
        pytest.fail(f"network {network!r} is registered but has no fake world in WORLDS")
    async with WORLDS[network](http, clock) as fake_world:
        yield fake_world


def external_ids(page: Page) -> list[str]:
    return [item.external_id for item in page.items]


def test_every_registered_network_has_a_world() -> None:
    missing = set(REGISTERED) - set(WORLDS)
    assert not missing, f"add a fake world to WORLDS for: {sorted(missing)}"


async def test_from_no_cursor_it_returns_items(world: World) -> None:
    world.publish(3)
    page = await world.source.fetch(None)
    assert len(page.items) == 3
    assert all(item.source_id == world.source.id for item in page.items)
    assert all(item.published_at.tzinfo is not None for item in page.items)


async def test_no_duplicates_across_pages(world: World) -> None:
    world.publish(MORE_THAN_ONE_PAGE)
    page = await world.source.fetch(None)
    ids = external_ids(page)
    assert len(ids) == MORE_THAN_ONE_PAGE
    assert len(set(ids)) == len(ids)
    assert [item.published_at for item in page.items] == sorted(i.published_at for i in page.items)


async def test_rerun_from_the_saved_cursor_brings_no_new_ids(world: World) -> None:
    world.publish(MORE_THAN_ONE_PAGE)
    first = await world.source.fetch(None)
    again = await world.source.fetch(first.next_cursor)
    assert set(external_ids(again)) <= set(external_ids(first))
    assert again.next_cursor == first.next_cursor


async def test_the_cursor_moves_forward(world: World, clock: ManualClock) -> None:
    world.publish(5)
    first = await world.source.fetch(None)
    clock.advance(timedelta(minutes=10))
    world.publish(MORE_THAN_ONE_PAGE)
    second = await world.source.fetch(first.next_cursor)
    new_ids = set(external_ids(second)) - set(external_ids(first))
    assert len(new_ids) == MORE_THAN_ONE_PAGE
    assert second.next_cursor != first.next_cursor
    third = await world.source.fetch(second.next_cursor)
    assert set(external_ids(third)) <= set(external_ids(first)) | new_ids


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_transient(world: World, status: int) -> None:
    world.publish(1)
    world.fail_next(status)
    with pytest.raises(TransientSourceError):
        await world.source.fetch(None)
    assert len((await world.source.fetch(None)).items) == 1
