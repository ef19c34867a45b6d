"""FakeOk spoken to with plain aiohttp and OK's documented signing, not through our connector."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.fakes.ok import FakeOk

NOW = datetime(2025, 11, 24, 16, 0, tzinfo=UTC)
APP, SECRET, TOKEN = "CBAKEY", "app-secret", "tkn-1"
GROUP, RESIDENT = "55348644610059", "577155456789"
# The error body OK sent on 2015-02-04 (gazay/odnoklassniki cassette, ../shared/fixtures/ok/).
CAPTURED = ('{"error_code":101,"error_data":null,'
            '"error_msg":"PARAM_API_KEY : Application not exist"}')


@pytest.fixture
async def fake() -> AsyncIterator[FakeOk]:
    async with FakeOk() as server:
        server.add_application(APP, SECRET)
        server.add_token(TOKEN)
        server.add_group(GROUP, name="Администрация")
        server.add_user(RESIDENT, "Анна Смирнова")
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def signed(method: str, token: str = TOKEN, secret: str = SECRET, app: str = APP,
           **params: Any) -> dict[str, str]:
    form = {k: str(v) for k, v in params.items()}
    form.update(method=method, application_key=app, format="json")
    session = hashlib.md5((token + secret).encode()).hexdigest()
    base = "".join(f"{k}={form[k]}" for k in sorted(form))
    form["sig"] = hashlib.md5((base + session).encode()).hexdigest()
    form["access_token"] = token
    return form


async def call(http: aiohttp.ClientSession, fake: FakeOk, form: dict[str, str]
               ) -> tuple[Any, str | None]:
    async with http.post(f"{fake.base_url}/fb.do", data=form) as response:
        assert response.status == 200
        return await response.json(), response.headers.get("invocation-error")


async def test_errors_are_flat_like_the_captured_one(fake: FakeOk, http: aiohttp.ClientSession):
    body, header = await call(http, fake, signed("group.getInfo", app="NOPE", uids=GROUP))
    assert (body, header) == (json.loads(CAPTURED), "101")
    unsigned = signed("group.getInfo", uids=GROUP)
    del unsigned["sig"]
    body, header = await call(http, fake, unsigned)
    assert body["error_msg"] == "PARAM_SIGNATURE : No signature specified" and header == "104"


@pytest.mark.parametrize(("form", "code", "message"), [
    (signed("group.getInfo", secret="wrong", uids=GROUP), 104,
     "PARAM_SIGNATURE : Invalid signature"),
    (signed("group.getInfo", token="other", uids=GROUP), 102,
     "PARAM_SESSION_EXPIRED : Session expired"),
    ({**signed("group.getInfo", uids=GROUP), "uids": "1"}, 104,
     "PARAM_SIGNATURE : Invalid signature"),
    (signed("group.getNothing"), 3, "METHOD : Method does not exist"),
])
async def test_requests_are_checked_as_ok_checks_them(
    fake: FakeOk, http: aiohttp.ClientSession, form: dict[str, str], code: int, message: str
) -> None:
    body, header = await call(http, fake, form)
    assert body == {"error_code": code, "error_msg": message, "error_data": None}
    assert header == str(code)


async def test_the_feed_pages_newest_first(fake: FakeOk, http: aiohttp.ClientSession):
    topics = [fake.add_topic(GROUP, f"Тема {n}", date=NOW - timedelta(minutes=n),
                             user=RESIDENT if n % 2 else None) for n in range(5)]
    fields = "media_topic.*,group.NAME,user.NAME"
    first, _ = await call(http, fake, signed("mediatopic.getTopics", gid=GROUP, count=3,
                                             fields=fields))
    assert [t["id"] for t in first["media_topics"]] == topics[:3] and first["has_more"]
    assert first["media_topics"][1]["author_ref"] == f"user:{RESIDENT}"
    assert first["media_topics"][0]["media"] == [{"type": "text", "text": "Тема 0"}]
    assert first["entities"]["users"] == [{"uid": RESIDENT, "name": "Анна Смирнова"}]
    rest, _ = await call(http, fake, signed("mediatopic.getTopics", gid=GROUP, count=3,
                                            anchor=first["anchor"], fields=fields))
    assert [t["id"] for t in rest["media_topics"]] == topics[3:] and not rest["has_more"]
    bare, _ = await call(http, fake, signed("mediatopic.getTopics", gid=GROUP))
    assert "discussion_summary" not in bare["media_topics"][0], "only when fields ask for it"
    byids, _ = await call(http, fake, signed("mediatopic.getByIds", fields=fields,
                                             topic_ids=f"{topics[4]},999"))
    assert [(t["id"], t["discussion_summary"]) for t in byids["media_topics"]] == \
        [(topics[4], {"comments_count": 0})]
    info, _ = await call(http, fake, signed("group.getInfo", uids=f"{GROUP},1"))
    assert info == [{"uid": GROUP, "name": "Администрация", "members_count": 0}]


async def test_comments_page_forward_from_an_anchor(fake: FakeOk, http: aiohttp.ClientSession):
    topic = fake.add_topic(GROUP, "Ремонт", date=NOW)
    first = fake.add_comment(topic, "Когда?", user=RESIDENT, date=NOW)
    gone = fake.add_comment(topic, "Спам", user=RESIDENT, date=NOW)
    answer = fake.add_comment(topic, "В пятницу", date=NOW, reply_to=first)
    fake.delete_comment(gone)

    async def comments(**params: Any) -> Any:
        params = {"discussionId": topic, "discussionType": "GROUP_TOPIC", **params}
        body, _ = await call(http, fake, signed("discussions.getComments", **params))
        return body

    page = await comments(anchor="FIRST", direction="FORWARD", count=1)
    assert [c["id"] for c in page["comments"]] == [first] and page["has_more"]
    assert page["comments"][0]["author_ref"] == f"user:{RESIDENT}"
    assert page["comments"][0]["date"] == "2025-11-24 19:00:00", "Moscow time"
    assert page["comments"][0]["reply_to_comment_id"] is None
    rest = await comments(anchor=page["anchor"], direction="FORWARD")
    assert [c["id"] for c in rest["comments"]] == [answer] and not rest["has_more"]
    reply = rest["comments"][0]
    assert (reply["author_ref"], reply["reply_to_comment_id"], reply["reply_to_id"]) == \
        (f"group:{GROUP}", first, RESIDENT)
    assert "author_id" not in reply
    quiet = await comments(anchor=rest["anchor"], direction="FORWARD")
    assert quiet["comments"] == [] and quiet["anchor"] == rest["anchor"]
    wrong = await comments(anchor="FIRST", discussionType="GROUP_PHOTO")
    assert wrong["error_code"] == 100
    fake.delete_topic(topic)
    assert (await comments())["error_code"] == 106


async def test_injected_failures_and_accounting(fake: FakeOk, http: aiohttp.ClientSession):
    fake.fail_next("group.getInfo", 8)
    fake.fail_next("group.getInfo", http_status=502)
    body, header = await call(http, fake, signed("group.getInfo", uids=GROUP))
    assert (body["error_code"], header) == (8, "8")
    async with http.post(f"{fake.base_url}/fb.do", data=signed("group.getInfo")) as response:
        assert response.status == 502 and "nginx" in await response.text()
    assert fake.count("group.getInfo", token=TOKEN) == 2
    assert fake.max_calls_per_second(TOKEN) == 2


async def test_an_injected_failure_never_asked_for_fails_the_test() -> None:
    with pytest.raises(AssertionError, match="expected requests never came"):
        async with FakeOk() as fake:
            fake.fail_next("mediatopic.getTopics", 8)
