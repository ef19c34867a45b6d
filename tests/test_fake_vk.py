"""FakeVk driven through the real vk_api package (pointed at 127.0.0.1 by a session)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import jconfig
import pytest
import requests
import vk_api
from vk_api.bot_longpoll import VkBotEventType, VkBotLongPoll
from vk_api.exceptions import ApiError, ApiHttpError

from tests.fakes.vk import FakeVk

NOW = 1_764_000_000  # 2025-11-24 16:00 UTC
GROUP = 42
OTHER = 43
RESIDENT = 5_551_234
NEIGHBOUR = 7_770_001
SERVICE = "svc-token"
COMMUNITY = "community-token"


class RewritingSession(requests.Session):
    """Sends vk_api's hard-coded https://api.vk.ru calls to the fake instead."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base.rstrip("/")
        self.trust_env = False

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        for prefix in ("https://api.vk.ru", "https://api.vk.com"):
            if url.startswith(prefix):
                url = self.base + url[len(prefix) :]
        return super().request(method, url, *args, **kwargs)


Client = Callable[..., vk_api.VkApi]


@pytest.fixture
async def fake() -> AsyncIterator[FakeVk]:
    async with FakeVk(now=NOW) as server:
        server.add_token(SERVICE, kind="service")
        server.add_token(COMMUNITY, kind="community", group_id=GROUP)
        server.add_community(GROUP, name="Город N", screen_name="gorod_n")
        server.add_user(RESIDENT, "Анна", "Смирнова")
        yield server


@pytest.fixture
def client(fake: FakeVk) -> Iterator[Client]:
    """Builds VkApi clients on the fake; `throttled` keeps vk_api's own 0.34 s spacing,
    `retry_6` its endless retry on error 6."""
    sessions: list[requests.Session] = []

    def build(
        token: str = SERVICE, *, throttled: bool = False, retry_6: bool = False
    ) -> vk_api.VkApi:
        session = RewritingSession(fake.base_url)
        sessions.append(session)
        vk = vk_api.VkApi(
            token=token, api_version="5.199", config=jconfig.MemoryConfig, session=session
        )
        if not throttled:
            vk.RPS_DELAY = 0
        if not retry_6:
            vk.error_handlers.pop(6, None)
        return vk

    yield build
    for session in sessions:
        session.close()


async def call(vk: vk_api.VkApi, method: str, **values: Any) -> Any:
    return await asyncio.to_thread(vk.method, method, values)


async def api_error(vk: vk_api.VkApi, method: str, **values: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await call(vk, method, **values)
    return caught.value


async def test_wall_get_puts_the_pinned_post_first_and_pages(fake: FakeVk, client: Client) -> None:
    ids = [fake.add_post(GROUP, f"Новость {n}", date=NOW - 3600 * (5 - n)) for n in range(5)]
    pinned = fake.add_post(GROUP, "Телефоны служб", date=NOW - 30 * 86_400, is_pinned=True)
    by_resident = fake.add_post(GROUP, "Когда уберут снег?", date=NOW - 60, from_id=RESIDENT)
    vk = client()

    pages = [await call(vk, "wall.get", owner_id=-GROUP, offset=o, count=3) for o in (0, 3, 6)]

    assert ids == sorted(ids) and pinned > ids[-1]
    assert [p["count"] for p in pages] == [7, 7, 7]
    seen = [post["id"] for page in pages for post in page["items"]]
    assert seen == [pinned, by_resident, *reversed(ids)]
    first = pages[0]["items"][0]
    assert first["is_pinned"] == 1 and first["from_id"] == first["owner_id"] == -GROUP
    assert all("is_pinned" not in post for page in pages for post in page["items"][1:])
    sent = fake.requests[0]
    assert (sent.http_method, sent.params["v"], sent.params["access_token"]) == (
        "POST", "5.199", SERVICE,
    )

    others = await call(vk, "wall.get", domain="gorod_n", filter="others", extended=1)
    assert [p["id"] for p in others["items"]] == [by_resident] and others["count"] == 1
    assert [u["first_name"] for u in others["profiles"]] == ["Анна"]
    assert [g["screen_name"] for g in others["groups"]] == ["gorod_n"]
    owner = await call(vk, "wall.get", owner_id=-GROUP, filter="owner", count=100)
    assert owner["count"] == 6

    fake.edit_post(GROUP, ids[0], "Новость 0 (дополнено)")
    fake.delete_post(GROUP, ids[1])
    by_id = await call(vk, "wall.getById", posts=f"-{GROUP}_{ids[0]},-{GROUP}_{ids[1]}")
    assert [p["text"] for p in by_id["items"]] == ["Новость 0 (дополнено)"]
    assert by_id["items"][0]["edited"] == NOW


async def test_comments_threads_comment_id_paging_and_preview(
    fake: FakeVk, client: Client
) -> None:
    post = fake.add_post(GROUP, "Отключение воды", date=NOW - 7200)
    top = [
        fake.add_comment(GROUP, post, f"Вопрос {n} " + "а" * 150, from_id=RESIDENT, date=NOW - 600)
        for n in range(3)
    ]
    replies = [
        fake.add_comment(GROUP, post, f"Ответ {n}", from_id=-GROUP, date=NOW - 500,
                         reply_to_comment=top[0])
        for n in range(11)
    ]
    nested = fake.add_comment(GROUP, post, "Спасибо", from_id=RESIDENT, date=NOW - 400,
                              reply_to_comment=replies[2])
    vk = client()

    listed = await call(vk, "wall.getComments", owner_id=-GROUP, post_id=post,
                        thread_items_count=10, preview_length=0, extended=1)

    assert (listed["count"], listed["current_level_count"]) == (15, 3)
    assert [c["id"] for c in listed["items"]] == top
    thread = listed["items"][0]["thread"]
    assert thread["count"] == 12 and len(thread["items"]) == 10
    assert thread["items"][0]["reply_to_comment"] == top[0]
    assert thread["items"][0]["parents_stack"] == [top[0]]
    assert listed["items"][0]["text"].endswith("а" * 150)
    assert {g["id"] for g in listed["groups"]} == {GROUP}
    assert listed["can_post"] and listed["show_reply_button"] and listed["groups_can_post"]

    rest = await call(vk, "wall.getComments", owner_id=-GROUP, post_id=post, comment_id=top[0],
                      offset=10, count=10, preview_length=0)
    assert [c["id"] for c in rest["items"]] == [replies[10], nested]
    last = rest["items"][1]
    assert (last["reply_to_comment"], last["reply_to_user"]) == (replies[2], -GROUP)
    assert last["parents_stack"] == [top[0]]

    newest_first = await call(vk, "wall.getComments", owner_id=-GROUP, post_id=post, sort="desc")
    assert [c["id"] for c in newest_first["items"]] == top[::-1]
    assert len(newest_first["items"][0]["text"]) == 90, "preview_length defaults to 90"
    assert newest_first["items"][0]["thread"]["items"] == []
    short = await call(vk, "wall.getComments", owner_id=-GROUP, post_id=post, preview_length=7)
    assert short["items"][0]["text"] == "Вопрос "
    wall = await call(vk, "wall.get", owner_id=-GROUP)
    assert wall["items"][0]["comments"]["count"] == 15


async def test_deleted_and_edited_comments(fake: FakeVk, client: Client) -> None:
    post = fake.add_post(GROUP, "Ремонт дороги", date=NOW - 7200)
    first = fake.add_comment(GROUP, post, "Ямы!", from_id=RESIDENT, date=NOW - 600)
    fake.add_comment(GROUP, post, "Исправим", from_id=-GROUP, date=NOW - 500,
                     reply_to_comment=first)
    second = fake.add_comment(GROUP, post, "Тоже ямы", from_id=NEIGHBOUR, date=NOW - 400)
    fake.delete_comment(GROUP, first)
    fake.edit_comment(GROUP, second, "Ямы на Ленина")
    vk = client()

    listed = await call(vk, "wall.getComments", owner_id=-GROUP, post_id=post, preview_length=0)

    stub, edited = listed["items"]
    assert stub == {
        "id": first, "parents_stack": [], "date": NOW - 600,
        "thread": {"count": 1, "items": [], "can_post": True, "show_reply_button": True,
                   "groups_can_post": True},
        "deleted": True,
    }
    assert edited["text"] == "Ямы на Ленина" and edited["from_id"] == NEIGHBOUR
    assert (listed["count"], listed["current_level_count"]) == (2, 2)


async def test_newsfeed_search_pages_with_next_from(fake: FakeVk, client: Client) -> None:
    fake.add_community(OTHER, name="Район", screen_name="rayon")
    fake.add_community(44, name="Закрытая", is_closed=1)
    for n in range(5):
        fake.add_post(GROUP if n % 2 else OTHER, f"Авария на ул. ЛЕНИНА, {n}", date=NOW - 600 * n)
    fake.add_post(GROUP, "Про другое", date=NOW - 100)
    old = fake.add_post(GROUP, "Ленина: вчерашнее", date=NOW - 2 * 86_400)
    fake.add_post(44, "ленина в закрытой группе", date=NOW - 100)
    vk = client()

    pages, start_from = [], None
    while True:
        values: dict[str, Any] = {"q": "ленина", "count": 2}
        if start_from:
            values["start_from"] = start_from
        page = await call(vk, "newsfeed.search", **values)
        pages.append(page)
        start_from = page.get("next_from")
        if not start_from:
            break

    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    dates = [post["date"] for page in pages for post in page["items"]]
    assert dates == [NOW - 600 * n for n in range(5)]
    assert all((p["count"], p["total_count"]) == (5, 5) for p in pages)
    wider = await call(vk, "newsfeed.search", q="ЛЕНИНА", start_time=NOW - 3 * 86_400,
                       count=200, extended=1)
    assert wider["items"][-1]["id"] == old and wider["count"] == 6
    assert {g["screen_name"] for g in wider["groups"]} == {"gorod_n", "rayon"}
    assert "next_from" not in wider


async def test_groups_get_by_id(fake: FakeVk, client: Client) -> None:
    fake.add_community(OTHER, name="Район", screen_name="rayon", is_closed=1, members_count=12)
    fake.deactivate_community(OTHER, "banned")

    answer = await call(client(), "groups.getById", group_ids=f"{GROUP},rayon",
                        fields="members_count")

    assert answer["profiles"] == []
    assert [(g["id"], g["name"], g["is_closed"]) for g in answer["groups"]] == [
        (GROUP, "Город N", 0), (OTHER, "Район", 1),
    ]
    assert answer["groups"][1]["deactivated"] == "banned"
    assert answer["groups"][1]["members_count"] == 12
    mine = await call(client(COMMUNITY), "groups.getById")
    assert [g["id"] for g in mine["groups"]] == [GROUP]


async def test_long_poll_delivers_a_new_comment(fake: FakeVk, client: Client) -> None:
    post = fake.add_post(GROUP, "Опрос", date=NOW - 60)
    vk = client(COMMUNITY)
    poll = await asyncio.to_thread(VkBotLongPoll, vk, GROUP, 25)
    poll.session.close()
    poll.session = RewritingSession(fake.base_url)
    assert poll.server == f"{fake.base_url}/lp" and isinstance(poll.ts, str)

    started = time.monotonic()
    waiting = asyncio.create_task(asyncio.to_thread(poll.check))
    await asyncio.sleep(0.1)
    comment = fake.add_comment(GROUP, post, "Хочу ответить", from_id=RESIDENT, date=NOW)
    events = await waiting
    poll.session.close()

    assert time.monotonic() - started < 0.45, "the waiting a_check answered at once"
    [event] = events
    assert event.type is VkBotEventType.WALL_REPLY_NEW and event.group_id == GROUP
    assert set(event.raw) == {"group_id", "type", "event_id", "v", "object"}
    assert event.raw["v"] == "5.199" and len(event.raw["event_id"]) == 40
    assert event.object.id == comment and event.object.text == "Хочу ответить"
    assert event.object.post_owner_id == -GROUP and event.object.parents_stack == []
    assert fake.longpoll_requests[-1]["wait"] == "25"


async def test_long_poll_failures(fake: FakeVk, client: Client) -> None:
    post = fake.add_post(GROUP, "Опрос", date=NOW - 60)
    vk = client(COMMUNITY)
    server = await call(vk, "groups.getLongPollServer", group_id=GROUP)
    session = RewritingSession(fake.base_url)

    def check(key: str, ts: str | int) -> dict[str, Any]:
        query = {"act": "a_check", "key": key, "ts": ts, "wait": 0}
        return session.get(server["server"], params=query).json()

    fake.add_comment(GROUP, post, "Первый", from_id=RESIDENT, date=NOW)
    answer = await asyncio.to_thread(check, server["key"], server["ts"])
    assert [u["type"] for u in answer["updates"]] == ["wall_reply_new"]
    ts = answer["ts"]
    assert await asyncio.to_thread(check, server["key"], ts) == {"ts": ts, "updates": []}
    assert await asyncio.to_thread(check, server["key"], int(ts) + 5) == {
        "failed": 1, "ts": int(ts),
    }

    fake.fail_next_longpoll(3)
    assert await asyncio.to_thread(check, server["key"], ts) == {"failed": 3}
    fake.expire_longpoll(GROUP, 2)
    assert await asyncio.to_thread(check, server["key"], ts) == {"failed": 2}
    fresh = await call(vk, "groups.getLongPollServer", group_id=GROUP)
    assert fresh["ts"] == ts and fresh["key"] != server["key"]

    fake.longpoll_retention = 60
    fake.add_comment(GROUP, post, "Второй", from_id=RESIDENT, date=NOW)
    fake.advance(120)
    fake.add_comment(GROUP, post, "Третий", from_id=RESIDENT, date=NOW + 120)
    lost = await asyncio.to_thread(check, fresh["key"], ts)
    assert lost == {"failed": 1, "ts": int(ts) + 2}
    newest = await asyncio.to_thread(check, fresh["key"], int(ts) + 1)
    assert [u["object"]["text"] for u in newest["updates"]] == ["Третий"]

    poll = await asyncio.to_thread(VkBotLongPoll, vk, GROUP, 1)
    poll.session.close()
    poll.session = session
    fake.expire_longpoll(GROUP, 3)
    keys_before = fake.count("groups.getLongPollServer")
    assert await asyncio.to_thread(poll.check) == []
    assert fake.count("groups.getLongPollServer") == keys_before + 1
    fake.add_comment(GROUP, post, "После сбоя", from_id=RESIDENT, date=NOW + 130)
    [event] = await asyncio.to_thread(poll.check)
    assert event.object.text == "После сбоя"
    session.close()


async def test_token_types(fake: FakeVk, client: Client) -> None:
    community, service = client(COMMUNITY), client(SERVICE)

    refused = await api_error(community, "wall.get", owner_id=-GROUP)
    assert refused.code == 27
    assert str(refused) == "[27] Group authorization failed: method is unavailable with group auth."
    read_calls: list[tuple[str, dict[str, Any]]] = [
        ("wall.getComments", {"owner_id": -GROUP, "post_id": 1}),
        ("newsfeed.search", {"q": "x"}),
        ("wall.getById", {"posts": f"-{GROUP}_1"}),
    ]
    for method, values in read_calls:
        assert (await api_error(community, method, **values)).code == 27
    no_lp = await api_error(service, "groups.getLongPollServer", group_id=GROUP)
    assert no_lp.code == 28 and "unavailable with service token" in no_lp.error["error_msg"]
    unknown = await api_error(client("nope"), "wall.get", owner_id=-GROUP)
    assert unknown.code == 5
    params = {p["key"]: p["value"] for p in unknown.error["request_params"]}
    assert params["method"] == "wall.get" and "access_token" not in params


async def test_injected_api_errors(fake: FakeVk, client: Client) -> None:
    fake.add_post(GROUP, "Новость", date=NOW)
    vk = client()
    for code, message in [
        (6, "Too many requests per second"),
        (5, "User authorization failed: invalid access_token (4)."),
        (15, "Access denied"),
        (29, "Rate limit reached"),
    ]:
        fake.fail_next("wall.get", code)
        error = await api_error(vk, "wall.get", owner_id=-GROUP)
        assert (error.code, error.error["error_msg"]) == (code, message)

    fake.fail_next("wall.get", 10, token="other-token")
    assert (await call(vk, "wall.get", owner_id=-GROUP))["count"] == 1, "not this token's call"
    fake.answer_normally()

    patient = client(retry_6=True)
    fake.fail_next("wall.get", 6)
    before = fake.count("wall.get", token=SERVICE)
    assert (await call(patient, "wall.get", owner_id=-GROUP))["count"] == 1
    assert fake.count("wall.get", token=SERVICE) == before + 2, "vk_api retried after 0.5 s"

    fake.add_community(OTHER, name="Закрытая", is_closed=2)
    closed = await api_error(vk, "wall.get", owner_id=-OTHER)
    assert str(closed) == "[15] Access denied: this wall available only for community members"
    fake.deactivate_community(GROUP)
    blocked = await api_error(vk, "wall.get", owner_id=-GROUP)
    assert str(blocked) == "[15] Access denied: group is blocked"


async def test_http_failures_and_malformed_bodies(fake: FakeVk, client: Client) -> None:
    vk = client()
    fake.fail_next("groups.getById", http_status=502)
    with pytest.raises(ApiHttpError) as bad_gateway:
        await call(vk, "groups.getById", group_id=GROUP)
    assert bad_gateway.value.response.status_code == 502

    fake.fail_next("groups.getById", body=b'{"response": [{"id": 42, "na')
    with pytest.raises(requests.exceptions.JSONDecodeError):
        await call(vk, "groups.getById", group_id=GROUP)

    fake.delay_next("groups.getById", 0.3)
    started = time.monotonic()
    assert (await call(vk, "groups.getById", group_id=GROUP))["groups"][0]["id"] == GROUP
    assert time.monotonic() - started >= 0.3

    url = f"{fake.base_url}/method/groups.getById"
    query: dict[str, str | int] = {"group_id": GROUP, "access_token": SERVICE}
    raw = await asyncio.to_thread(requests.get, url, params=query, timeout=5)
    assert raw.headers["Content-Type"].startswith("application/json")
    assert raw.json()["error"]["error_code"] == 8, "no v: VK refuses the request"
    query["v"] = "5.199"
    raw = await asyncio.to_thread(requests.get, url, params=query, timeout=5)
    assert raw.text.startswith('{"response":{"groups":[{"id":42,"name":"Город N"')
    assert fake.requests[-1].http_method == "GET"


async def test_rate_accounting_and_daily_caps(client: Client, fake: FakeVk) -> None:
    fake.add_post(GROUP, "Новость", date=NOW)
    fake.daily_caps["wall.get"] = 3
    throttled, burst = client(throttled=True), client("burst")
    fake.add_token("burst", kind="service")

    for _ in range(4):
        await call(throttled, "groups.getById", group_id=GROUP)
    for _ in range(3):
        await call(burst, "wall.get", owner_id=-GROUP)
    capped = await api_error(burst, "wall.get", owner_id=-GROUP)

    assert fake.max_calls_per_second(SERVICE) == 3, "vk_api keeps 0.34 s between calls"
    assert fake.max_calls_per_second("burst") == 4
    assert (fake.count("wall.get"), fake.count("wall.get", token=SERVICE)) == (4, 0)
    assert str(capped) == "[29] Rate limit reached"
    assert fake.daily_count("burst", "wall.get") == 4
    fake.advance(86_400)
    assert (await call(burst, "wall.get", owner_id=-GROUP))["count"] == 1, "a new day"
    assert [c.method for c in fake.calls[:2]] == ["groups.getById"] * 2


async def test_per_second_limit_when_enforced(client: Client, fake: FakeVk) -> None:
    fake.enforce_rps = True
    vk = client()
    for _ in range(3):
        await call(vk, "groups.getById", group_id=GROUP)
    assert (await api_error(vk, "groups.getById", group_id=GROUP)).code == 6


async def test_an_unused_failure_fails_the_test() -> None:
    with pytest.raises(AssertionError, match="never came.*wall.get"):
        async with FakeVk() as fake:
            fake.fail_next("wall.get", 6)
