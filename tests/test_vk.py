"""VKontakte through the real vk-api client against the fake VK API on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import connectors
from common.clock import ManualClock
from connectors.base import (
    PermanentSourceError,
    Source,
    SourceAuthError,
    SourceContext,
    TransientSourceError,
)
from monitor.config import load_config
from monitor.config.problems import ConfigError
from monitor.daemon.app import App
from tests.conftest import PITS_TOPIC
from tests.fakes.vk import FakeVk

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
GROUP = 123456
TOKEN = "service-token-for-tests"
CITIZEN, NEIGHBOUR, HEAD = 5551234, 7770001, 7654321


@pytest.fixture
async def vk() -> AsyncIterator[FakeVk]:
    async with FakeVk(now=NOW.timestamp()) as fake:
        fake.add_community(GROUP, name="Администрация Каменского округа")
        fake.add_token(TOKEN, kind="service")
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def source(vk: FakeVk, http: aiohttp.ClientSession, clock: ManualClock, token: str = TOKEN,
           **settings: Any) -> Source:
    spec = connectors.registry()["vk"]
    model = spec.settings_model.model_validate(
        {"id": "admin-vk", "network": "vk", "group_id": GROUP, "base_url": vk.base_url,
         **settings})
    return spec.create(model, SourceContext(http, clock, token, {str(HEAD): "Глава округа"}))


def ids(page: Any) -> list[str]:
    return [item.external_id for item in page.items]


async def test_posts_comments_and_threads(vk: FakeVk, http: aiohttp.ClientSession) -> None:
    clock = ManualClock(NOW)
    old = vk.add_post(GROUP, "Закреплённое: график приёма", date=NOW - timedelta(days=30),
                      is_pinned=True)
    post = vk.add_post(GROUP, "Ремонт дорог в 2026 году", date=NOW - timedelta(hours=3))
    top = vk.add_comment(GROUP, post, "Яма на Ленина 5, когда засыплете?", from_id=CITIZEN,
                         date=NOW - timedelta(hours=2))
    replies = [vk.add_comment(GROUP, post, f"И у нас яма, дом {n}", from_id=NEIGHBOUR + n,
                              date=NOW - timedelta(minutes=90 - n), reply_to_comment=top)
               for n in range(12)]  # more than the 10 a page inlines: the thread is paged
    answer = vk.add_comment(GROUP, post, "Засыплем до пятницы", from_id=-GROUP,
                            date=NOW - timedelta(minutes=30), reply_to_comment=top)
    page = await source(vk, http, clock).fetch(None)
    by_id = {item.external_id: item for item in page.items}
    assert f"wall-{GROUP}_{old}" not in by_id, "the pinned post is older than the lookback"
    citizen = by_id[f"wall-{GROUP}_{post}_r{top}"]
    assert (citizen.kind, citizen.is_official, citizen.parent_external_id) == \
        ("comment", False, f"wall-{GROUP}_{post}")
    assert citizen.url == f"https://vk.com/wall-{GROUP}_{post}?reply={top}"
    assert len([i for i in page.items if i.kind == "reply"]) == 13
    official = by_id[f"wall-{GROUP}_{post}_r{answer}"]
    assert official.is_official and official.parent_external_id == citizen.external_id
    assert official.url.endswith(f"?reply={answer}&thread={top}")
    assert by_id[f"wall-{GROUP}_{post}"].is_official, "the community's own post"
    assert by_id[f"wall-{GROUP}_{post}_r{replies[0]}"].author == f"id{NEIGHBOUR}"
    assert [i.published_at for i in page.items] == sorted(i.published_at for i in page.items)


async def test_comments_are_fetched_only_when_the_count_changes(
    vk: FakeVk, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock(NOW)
    posts = [vk.add_post(GROUP, f"Новость {n}", date=NOW - timedelta(hours=n))
             for n in range(1, 6)]
    vk.add_comment(GROUP, posts[0], "Яма", from_id=CITIZEN, date=NOW - timedelta(minutes=5))
    reader = source(vk, http, clock)
    first = await reader.fetch(None)
    assert vk.count("wall.getComments") == 1, "only the post that has comments"
    again = await reader.fetch(first.next_cursor)
    assert again.items == [] and vk.count("wall.getComments") == 1
    assert again.next_cursor == first.next_cursor
    late = vk.add_comment(GROUP, posts[3], "Поздний комментарий", from_id=CITIZEN,
                          date=NOW + timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))
    third = await reader.fetch(again.next_cursor)
    assert ids(third) == [f"wall-{GROUP}_{posts[3]}_r{late}"]
    assert vk.count("wall.getComments") == 2


async def test_a_late_comment_on_a_post_off_the_first_page_is_found(
    vk: FakeVk, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock(NOW)
    target = vk.add_post(GROUP, "Старая новость", date=NOW - timedelta(hours=30))
    for n in range(120):
        vk.add_post(GROUP, f"Свежая новость {n}", date=NOW - timedelta(hours=20, minutes=-n))
    reader = source(vk, http, clock, lookback="2d", rescan="3d")
    first = await reader.fetch(None)
    vk.add_comment(GROUP, target, "Так и не убрали снег", from_id=CITIZEN, date=NOW)
    for n in range(120, 230):  # a busy wall: the post drops off the first page
        vk.add_post(GROUP, f"Ещё новость {n}", date=NOW + timedelta(minutes=n))
    clock.advance(timedelta(hours=4))
    second = await reader.fetch(first.next_cursor)
    assert any(i.text == "Так и не убрали снег" for i in second.items)
    assert len([i for i in second.items if i.kind == "post"]) == 110


async def test_an_edited_comment_comes_again(vk: FakeVk, http: aiohttp.ClientSession) -> None:
    clock = ManualClock(NOW)
    post = vk.add_post(GROUP, "Новость", date=NOW - timedelta(hours=1))
    comment = vk.add_comment(GROUP, post, "Яма", from_id=CITIZEN, date=NOW)
    other = vk.add_comment(GROUP, post, "Спасибо", from_id=NEIGHBOUR, date=NOW)
    reader = source(vk, http, clock)
    first = await reader.fetch(None)
    vk.edit_comment(GROUP, comment, "Яма, и глубокая")
    vk.delete_comment(GROUP, other)  # the count changes: the post is read again
    second = await reader.fetch(first.next_cursor)
    texts = {i.external_id: (i.text, i.deleted) for i in second.items}
    assert texts == {f"wall-{GROUP}_{post}_r{comment}": ("Яма, и глубокая", False),
                     f"wall-{GROUP}_{post}_r{other}": ("", True)}


@pytest.mark.parametrize(("code", "kind"), [
    (5, SourceAuthError), (6, TransientSourceError), (9, TransientSourceError),
    (10, TransientSourceError), (15, PermanentSourceError), (18, PermanentSourceError),
    (29, TransientSourceError), (30, PermanentSourceError), (203, PermanentSourceError),
    (100, PermanentSourceError),
])
async def test_errors_are_classified(
    vk: FakeVk, http: aiohttp.ClientSession, code: int, kind: type[Exception]
) -> None:
    vk.add_post(GROUP, "Новость", date=NOW)
    vk.fail_next("wall.get", code)
    with pytest.raises(kind, match=f"ошибка {code}"):
        await source(vk, http, ManualClock(NOW)).fetch(None)


async def test_the_daily_cap_rests_the_method(vk: FakeVk, http: aiohttp.ClientSession) -> None:
    vk.fail_next("wall.get", 29)
    reader = source(vk, http, ManualClock(NOW))
    with pytest.raises(TransientSourceError) as first:
        await reader.fetch(None)
    assert first.value.retry_after == 3600.0
    with pytest.raises(TransientSourceError, match="дневной лимит"):
        await source(vk, http, ManualClock(NOW)).fetch(None)  # same token: rests too
    assert vk.count("wall.get") == 1


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b'{"response": ', b"null"])
async def test_malformed_answers_fail_the_poll_not_the_daemon(
    vk: FakeVk, http: aiohttp.ClientSession, body: bytes
) -> None:
    vk.add_post(GROUP, "Новость", date=NOW)
    vk.fail_next("wall.get", body=body)
    reader = source(vk, http, ManualClock(NOW))
    try:
        page = await reader.fetch(None)
    except TransientSourceError:
        page = await reader.fetch(None)
    assert len(page.items) == 1


async def test_a_token_never_goes_over_three_calls_a_second(
    vk: FakeVk, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock(NOW)
    for n in range(8):
        post = vk.add_post(GROUP, f"Новость {n}", date=NOW - timedelta(minutes=n))
        vk.add_comment(GROUP, post, "Комментарий", from_id=CITIZEN, date=NOW)
    readers = [source(vk, http, clock), source(vk, http, clock)]
    await asyncio.gather(*(reader.fetch(None) for reader in readers))
    assert len(vk.calls) >= 18
    assert vk.max_calls_per_second(TOKEN) <= 3


async def test_search_pages_through_every_phrase(vk: FakeVk, http: aiohttp.ClientSession):
    clock = ManualClock(NOW)
    vk.add_community(99, name="Подслушано Мартюш")
    for n in range(250):
        vk.add_post(99, f"Мартюш: пост {n}", date=NOW - timedelta(minutes=n), from_id=CITIZEN)
    vk.add_post(99, "Колчедан без света", date=NOW - timedelta(hours=1), from_id=NEIGHBOUR)
    reader = source(vk, http, clock, mode="search", group_id=None,
                    query=["Мартюш", "Колчедан", "мартюш"])
    page = await reader.fetch(None)
    assert len(page.items) == 251 and len(set(ids(page))) == 251
    assert vk.count("newsfeed.search") == 3, "two pages for one phrase, one for the other"
    again = await reader.fetch(page.next_cursor)
    assert set(ids(again)) <= set(ids(page))


def test_check_config_names_the_missing_and_the_misplaced_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[sources]]\nid = "a"\nnetwork = "vk"\ntoken_env = "VK"\n\n'
        '[[sources]]\nid = "b"\nnetwork = "vk"\ngroup_id = 1\nquery = ["x"]\ntoken_env = "VK"\n'
        '\n[[official_accounts]]\nnetwork = "ok_ru"\nid = 1\nname = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    found = "\n".join(str(p) for p in caught.value.problems)
    assert "group_id: для mode = \"wall\" нужен номер сообщества" in found
    assert "query: фразы поиска задаются только для mode = \"search\"" in found
    assert "official_accounts[0].network: неизвестная сеть 'ok_ru'" in found


CONFIG = """
[storage]
path = "m.db"

[[sources]]
id = "admin-vk"
network = "vk"
group_id = {group}
token_env = "VK_SERVICE_TOKEN"
base_url = "{url}"

[[official_accounts]]
network = "vk"
id = {head}
name = "Глава округа"

""" + PITS_TOPIC


async def test_an_answer_in_the_thread_closes_the_incident(vk: FakeVk, tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(group=GROUP, url=vk.base_url, head=HEAD), encoding="utf-8")
    config = load_config(path, env={"VK_SERVICE_TOKEN": TOKEN}).config
    clock = ManualClock(NOW)
    post = vk.add_post(GROUP, "Ремонт дорог", date=NOW - timedelta(hours=2))
    top = vk.add_comment(GROUP, post, "Яма на Ленина 5, когда засыплете?", from_id=CITIZEN,
                         date=NOW - timedelta(hours=1))
    vk.add_comment(GROUP, post, "Яма у школы", from_id=NEIGHBOUR, date=NOW - timedelta(hours=1))
    async with App(config, clock=clock, env={"VK_SERVICE_TOKEN": TOKEN}) as app:
        await app.poll_all()
        first, second = await app.store.list_incidents()
        assert first.status == second.status == "open"
        answered_at = NOW + timedelta(minutes=25)
        vk.add_comment(GROUP, post, "Бригада выехала, к вечеру засыплем", from_id=HEAD,
                       date=answered_at, reply_to_comment=top)
        clock.advance(timedelta(hours=1))
        result = await app.poll("admin-vk")
        assert result is not None and result.answered == [first.id]
        first, second = await app.store.list_incidents()
        assert (first.status, first.answered_at, first.answered_by) == \
            ("answered", answered_at, "Глава округа")
        assert first.answer_text == "Бригада выехала, к вечеру засыплем"
        assert second.status == "open", "only the citizen replied to is answered"
        events = await app.store.events_of(first.id)
        assert (events[-1].kind, events[-1].actor.kind) == ("answered", "official")


COMMUNITY_TOKEN = "community-token-for-tests"


def long_poll(vk: FakeVk, http: aiohttp.ClientSession, clock: ManualClock,
              backfill: bool = True, **extra: Any) -> Source:
    vk.add_token(COMMUNITY_TOKEN, kind="community", group_id=GROUP)
    spec = connectors.registry()["vk"]
    settings = {"id": "admin-vk", "network": "vk", "mode": "longpoll", "group_id": GROUP,
                "base_url": vk.base_url, "wait": "1s", **extra}
    if backfill:
        settings["backfill_token_env"] = "VK_SERVICE_TOKEN"
    model = spec.settings_model.model_validate(settings)
    context = SourceContext(http, clock, COMMUNITY_TOKEN, {str(HEAD): "Глава округа"},
                            {"VK_SERVICE_TOKEN": TOKEN} if backfill else {})
    return spec.create(model, context)


async def test_long_poll_brings_comments_and_answers_as_they_happen(
    vk: FakeVk, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock(NOW)
    post = vk.add_post(GROUP, "Ремонт дорог", date=NOW - timedelta(hours=2))
    reader = long_poll(vk, http, clock)
    start = await reader.fetch(None)  # the lookback from the wall, then the stream
    assert [i.kind for i in start.items] == ["post"]
    top = vk.add_comment(GROUP, post, "Яма на Ленина 5", from_id=CITIZEN, date=NOW)
    answer = vk.add_comment(GROUP, post, "Засыплем", from_id=-GROUP,
                            date=NOW + timedelta(minutes=3), reply_to_comment=top)
    page = await reader.fetch(start.next_cursor)
    assert [(i.external_id, i.is_official, i.parent_external_id) for i in page.items] == [
        (f"wall-{GROUP}_{post}_r{top}", False, f"wall-{GROUP}_{post}"),
        (f"wall-{GROUP}_{post}_r{answer}", True, f"wall-{GROUP}_{post}_r{top}")]
    assert vk.count("wall.get", COMMUNITY_TOKEN) == 0, "a community token never reads walls"
    quiet = await reader.fetch(page.next_cursor)
    assert quiet.items == []


async def test_after_a_gap_the_wall_is_read_again_and_nothing_is_lost(
    vk: FakeVk, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock(NOW)
    post = vk.add_post(GROUP, "Ремонт дорог", date=NOW - timedelta(hours=2))
    reader = long_poll(vk, http, clock)
    cursor = (await reader.fetch(None)).next_cursor
    missed = [vk.add_comment(GROUP, post, f"Яма номер {n}", from_id=CITIZEN + n,
                             date=NOW + timedelta(minutes=n)) for n in range(3)]
    vk.expire_longpoll(GROUP, 1)  # the daemon was down: VK no longer has those events
    clock.advance(timedelta(hours=1))
    page = await reader.fetch(cursor)
    assert {f"wall-{GROUP}_{post}_r{c}" for c in missed} <= {i.external_id for i in page.items}
    later = vk.add_comment(GROUP, post, "Ещё яма", from_id=NEIGHBOUR, date=NOW + timedelta(hours=1))
    again = await reader.fetch(page.next_cursor)
    assert [i.external_id for i in again.items] == [f"wall-{GROUP}_{post}_r{later}"]


async def test_a_backfill_cut_short_reads_on_before_the_stream(
    vk: FakeVk, http: aiohttp.ClientSession
) -> None:
    """A busy wall during a long gap in the event stream: the backfill, one page a poll,
    reads the rest on at the next polls; no post of the gap is skipped."""
    clock = ManualClock(NOW)
    reader = long_poll(vk, http, clock, max_pages=1)
    cursor = (await reader.fetch(None)).next_cursor
    posts = [vk.add_post(GROUP, f"Новость {n}", date=NOW + timedelta(minutes=n))
             for n in range(250)]
    vk.expire_longpoll(GROUP, 1)
    clock.advance(timedelta(hours=5))
    seen: list[str] = []
    for _ in range(4):
        page = await reader.fetch(cursor)
        seen += ids(page)
        cursor = page.next_cursor
    assert {f"wall-{GROUP}_{p}" for p in posts} <= set(seen)
    assert "resume" not in cursor["wall"]


async def test_an_expired_key_keeps_the_place_and_a_gap_without_backfill_is_said(
    vk: FakeVk, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock(NOW)
    post = vk.add_post(GROUP, "Новость", date=NOW - timedelta(hours=1))
    reader = long_poll(vk, http, clock, backfill=False)
    cursor = (await reader.fetch(None)).next_cursor
    comment = vk.add_comment(GROUP, post, "Яма", from_id=CITIZEN, date=NOW)
    vk.expire_longpoll(GROUP, 2)
    renewed = await reader.fetch(cursor)
    page = await reader.fetch(renewed.next_cursor)
    assert [i.external_id for i in page.items] == [f"wall-{GROUP}_{post}_r{comment}"]
    vk.expire_longpoll(GROUP, 3)
    gap = await reader.fetch(page.next_cursor)
    assert gap.items == [] and "могли быть пропущены" in gap.notices[0]


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"[]", b'{"updates": []}',
                                  b'{"ts": "5", "updates": "x"}', b"x" * 5_000_001])
async def test_a_malformed_long_poll_answer_is_transient_or_empty(
    vk: FakeVk, http: aiohttp.ClientSession, body: bytes
) -> None:
    reader = long_poll(vk, http, ManualClock(NOW), backfill=False)
    cursor = (await reader.fetch(None)).next_cursor
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body)

    app = web.Application()
    app.router.add_get("/lp", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        hostile = {**cursor, "server": f"http://127.0.0.1:{port}/lp"}
        try:
            page = await reader.fetch(hostile)
        except TransientSourceError:
            return
        assert page.items == [] and page.next_cursor["ts"] == "5"
    finally:
        await runner.cleanup()


DOWNTIME_CONFIG = """
[storage]
path = "m.db"

[telegram]
base_url = "{bot}"
timeout = "2s"

[[telegram.chats]]
id = -100
name = "Дежурные"

[[sources]]
id = "admin-lp"
network = "vk"
mode = "longpoll"
group_id = {group}
token_env = "VK_GROUP_TOKEN"
backfill_token_env = "VK_SERVICE_TOKEN"
base_url = "{url}"
wait = "1s"

""" + PITS_TOPIC


async def test_after_downtime_every_comment_is_stored_once_and_alerted_once(
    vk: FakeVk, tmp_path: Path
) -> None:
    from tests.fakes.bot_api import FakeBotApi

    vk.add_token(COMMUNITY_TOKEN, kind="community", group_id=GROUP)
    env = {"VK_GROUP_TOKEN": COMMUNITY_TOKEN, "VK_SERVICE_TOKEN": TOKEN}
    clock = ManualClock(NOW)
    post = vk.add_post(GROUP, "Ремонт дорог", date=NOW - timedelta(hours=1))
    async with FakeBotApi() as bot:
        env["MONITOR_BOT_TOKEN"] = bot.token
        path = tmp_path / "config.toml"
        path.write_text(DOWNTIME_CONFIG.format(bot=bot.base_url, group=GROUP, url=vk.base_url),
                        encoding="utf-8")
        config = load_config(path, env=env).config

        async def cycle(app: App) -> None:
            await app.poll_all()
            await app.deadline_tick()
            await app.flush_outbox()

        async with App(config, clock=clock, env=env) as app:
            await cycle(app)
            vk.add_comment(GROUP, post, "Яма у дома 1", from_id=CITIZEN, date=NOW)
            await cycle(app)
        # Down: comments pile up and VK forgets the events after our ts.
        for n in range(2, 6):
            vk.add_comment(GROUP, post, f"Яма у дома {n}", from_id=CITIZEN + n,
                           date=NOW + timedelta(minutes=n))
        vk.expire_longpoll(GROUP, 1)
        clock.advance(timedelta(hours=2))
        async with App(config, clock=clock, env=env) as app:
            for _ in range(3):
                await cycle(app)
            vk.add_comment(GROUP, post, "Яма у дома 6", from_id=CITIZEN + 6,
                           date=clock.now())
            for _ in range(2):
                await cycle(app)
            incidents = await app.store.list_incidents()
            assert sorted(i.text for i in incidents) == [f"Яма у дома {n}" for n in range(1, 7)]
            for incident in incidents:
                external = incident.url.split("?reply=")[1]
                versions = await app.store.item_versions(
                    "admin-lp", f"wall-{GROUP}_{post}_r{external}")
                assert len(versions) == 1
        announced = [m["text"].split("\n")[1].split(":")[0] for m in bot.sent]
        assert sorted(announced) == sorted(f"Инцидент №{i.id}" for i in incidents)


async def test_a_quiet_wall_is_read_less_often(vk: FakeVk, http: aiohttp.ClientSession):
    clock = ManualClock(NOW)
    vk.add_post(GROUP, "Новость", date=NOW - timedelta(minutes=5))
    reader = source(vk, http, clock)
    cursor = (await reader.fetch(None)).next_cursor
    calls = []
    for _ in range(12):
        before = vk.count("wall.get")
        cursor = (await reader.fetch(cursor)).next_cursor
        calls.append(vk.count("wall.get") - before)
    assert calls == [1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1]
    post = vk.add_post(GROUP, "Яма на дороге", date=NOW, from_id=CITIZEN)
    for _ in range(3):  # found within three intervals, then read at every interval again
        page = await reader.fetch(cursor)
        cursor = page.next_cursor
        if page.items:
            break
    assert [i.external_id for i in page.items] == [f"wall-{GROUP}_{post}"]
    before = vk.count("wall.get")
    await reader.fetch(cursor)
    assert vk.count("wall.get") == before + 1


async def test_a_post_deleted_between_calls_is_skipped_not_the_wall(
    vk: FakeVk, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock(NOW)
    gone = vk.add_post(GROUP, "Спорный пост", date=NOW - timedelta(hours=1))
    kept = vk.add_post(GROUP, "Новость", date=NOW - timedelta(minutes=30))
    vk.add_comment(GROUP, gone, "Яма", from_id=CITIZEN, date=NOW)
    vk.add_comment(GROUP, kept, "Яма у школы", from_id=NEIGHBOUR, date=NOW)
    vk.fail_next("wall.getComments", 15)  # deleted by a moderator between the two calls
    page = await source(vk, http, clock).fetch(None)
    assert [i.text for i in page.items if i.kind == "comment"] == ["Яма у школы"]
    assert any("не прочитаны" in notice for notice in page.notices)


async def test_the_first_poll_takes_no_comments_older_than_the_lookback(
    vk: FakeVk, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock(NOW)
    post = vk.add_post(GROUP, "Новость", date=NOW - timedelta(hours=20))
    vk.add_comment(GROUP, post, "Старая яма", from_id=CITIZEN, date=NOW - timedelta(days=2))
    vk.add_comment(GROUP, post, "Новая яма", from_id=CITIZEN, date=NOW - timedelta(hours=1))
    page = await source(vk, http, clock, lookback="1d").fetch(None)
    assert [i.text for i in page.items if i.kind == "comment"] == ["Новая яма"]


async def test_search_looks_back_a_little_for_late_indexed_posts(
    vk: FakeVk, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock(NOW)
    vk.add_community(99, name="Подслушано")
    vk.add_post(99, "Мартюш: яма", date=NOW - timedelta(minutes=5), from_id=CITIZEN)
    reader = source(vk, http, clock, mode="search", group_id=None, query=["Мартюш"])
    page = await reader.fetch(None)
    since = page.next_cursor["since"]["Мартюш"]
    assert since == int((NOW - timedelta(minutes=35)).timestamp())


async def test_long_poll_marks_a_deleted_comment(vk: FakeVk, http: aiohttp.ClientSession):
    clock = ManualClock(NOW)
    post = vk.add_post(GROUP, "Новость", date=NOW - timedelta(hours=1))
    reader = long_poll(vk, http, clock, backfill=False)
    cursor = (await reader.fetch(None)).next_cursor
    comment = vk.add_comment(GROUP, post, "Яма", from_id=CITIZEN, date=NOW)
    vk.delete_comment(GROUP, comment)
    page = await reader.fetch(cursor)
    assert [(i.external_id, i.deleted) for i in page.items] == [
        (f"wall-{GROUP}_{post}_r{comment}", False), (f"wall-{GROUP}_{post}_r{comment}", True)]


def test_check_config_warns_of_a_missing_backfill_token(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[sources]]\nid = "lp"\nnetwork = "vk"\nmode = "longpoll"\ngroup_id = 1\n'
                    'token_env = "VK_GROUP_TOKEN"\nbackfill_token_env = "VK_SERVICE_TOKEN"\n',
                    encoding="utf-8")
    warnings = [str(w) for w in load_config(path, env={"VK_GROUP_TOKEN": "t"}).warnings]
    assert any("sources[0].backfill_token_env: переменная окружения VK_SERVICE_TOKEN не задана"
               in w for w in warnings), warnings


async def test_a_cut_short_wall_poll_leaves_no_gap_after_a_long_outage(
    vk: FakeVk, http: aiohttp.ClientSession
) -> None:
    """250 posts behind, one page a poll; posts arrive and one is deleted while it reads on."""
    clock = ManualClock(NOW)
    posts = [vk.add_post(GROUP, f"Новость {n}", date=NOW - timedelta(minutes=300 - n))
             for n in range(250)]
    reader = source(vk, http, clock, max_pages=1)
    cursor: Any = {"last_post": 0}
    seen: list[str] = []
    for poll in range(6):
        if poll == 1:
            posts += [vk.add_post(GROUP, f"Свежая {n}", date=NOW + timedelta(minutes=n))
                      for n in range(3)]
            vk.delete_post(GROUP, posts[249])  # the wall moves up by one under the offsets
        page = await reader.fetch(cursor)
        seen += ids(page)
        cursor = page.next_cursor
    expected = {f"wall-{GROUP}_{p}" for p in posts if p != posts[249]}
    assert expected <= set(seen)
    assert "resume" not in cursor and cursor["last_post"] == posts[-1]


async def test_a_cut_short_search_leaves_no_gap(vk: FakeVk, http: aiohttp.ClientSession):
    clock = ManualClock(NOW)
    vk.add_community(99, name="Подслушано Мартюш")
    found = [vk.add_post(99, f"Мартюш: пост {n}", date=NOW - timedelta(minutes=n),
                         from_id=CITIZEN) for n in range(450)]
    reader = source(vk, http, clock, mode="search", group_id=None, query=["Мартюш"],
                    max_pages=1)
    cursor: Any = None
    seen: list[str] = []
    for poll in range(4):
        if poll == 1:
            found.append(vk.add_post(99, "Мартюш: новое", date=NOW + timedelta(minutes=1),
                                     from_id=CITIZEN))
        clock.advance(timedelta(minutes=1))
        vk.advance(60)
        page = await reader.fetch(cursor)
        seen += ids(page)
        cursor = page.next_cursor
    assert {f"wall-99_{p}" for p in found} <= set(seen)
    assert "gaps" not in cursor
