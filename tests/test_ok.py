"""Odnoklassniki through aiohttp against the fake OK API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import connectors
from common.clock import ManualClock
from connectors.base import (
    PermanentSourceError,
    Source,
    SourceAuthError,
    SourceContext,
    TransientSourceError,
)
from connectors.ok import topic_external_id
from connectors.ok_client import signature
from monitor.config import load_config
from monitor.config.problems import ConfigError
from monitor.daemon.app import App
from tests.fakes.ok import FakeOk, sign

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
GROUP = "55348644610059"
APP_KEY, APP_SECRET = "CBAFAKEAPPKEYFORTESTS", "app-secret-for-tests"
TOKEN = "tkn1-token-for-tests"
SECRETS = {"OK_APP_KEY": APP_KEY, "OK_APP_SECRET": APP_SECRET}
CITIZEN, NEIGHBOUR, HEAD = "577155456789", "577155450001", "570000000001"
OFFICIAL = {HEAD: "Глава округа", "-777": "МКУ «Благоустройство»"}


@pytest.fixture
async def ok() -> AsyncIterator[FakeOk]:
    async with FakeOk() as fake:
        fake.add_application(APP_KEY, APP_SECRET)
        fake.add_token(TOKEN)
        fake.add_group(GROUP, name="Администрация Каменского округа")
        fake.add_group("777", name="МКУ «Благоустройство»")
        fake.add_user(CITIZEN, "Анна Смирнова")
        fake.add_user(NEIGHBOUR, "Пётр Иванов")
        fake.add_user(HEAD, "Иван Петров")
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def source(ok: FakeOk, http: aiohttp.ClientSession, clock: ManualClock, token: str = TOKEN,
           secrets: dict[str, str] | None = None, **settings: Any) -> Source:
    spec = connectors.registry()["ok"]
    model = spec.settings_model.model_validate(
        {"id": "admin-ok", "network": "ok", "group_id": GROUP, "base_url": ok.base_url,
         "application_key_env": "OK_APP_KEY", "application_secret_env": "OK_APP_SECRET",
         "rate": 100, **settings})
    context = SourceContext(http, clock, token, OFFICIAL, SECRETS if secrets is None else secrets)
    return spec.create(model, context)


def ids(page: Any) -> list[str]:
    return [item.external_id for item in page.items]


def test_the_signature_is_the_documented_one() -> None:
    params = {"application_key": "ABCDEFGHIGKLMNOPK", "format": "json", "method": "events.get"}
    token, secret = "-s-84W-s3egarWUsbkq-IWTucuedzTKT8VUXIA.s4Xx8IW7", "ABC123DEF456GHI789JKL123"
    assert signature(params, token, secret) == "232c8eb921951c4dba9b72606f9ddb4c"
    assert signature({**params, "access_token": token}, token, secret) == \
        "232c8eb921951c4dba9b72606f9ddb4c", "the token itself is never signed"
    assert sign(params, "b1a2b89707a94624c43afae67d59274c") == "232c8eb921951c4dba9b72606f9ddb4c"


async def test_topics_comments_and_replies(ok: FakeOk, http: aiohttp.ClientSession) -> None:
    news = ok.add_topic(GROUP, "Ремонт дорог в 2026 году", date=NOW - timedelta(hours=3))
    own = ok.add_topic(GROUP, "Во дворе на Ленина 5 яма", date=NOW - timedelta(hours=2),
                       user=CITIZEN)
    ok.add_topic(GROUP, "Старая новость", date=NOW - timedelta(days=5))
    top = ok.add_comment(news, "Яма на Ленина 5, когда засыплете?", user=CITIZEN,
                         date=NOW - timedelta(hours=2))
    again = ok.add_comment(news, "И у нас яма", user=NEIGHBOUR, date=NOW - timedelta(minutes=90),
                           reply_to=top)
    answer = ok.add_comment(news, "Засыплем до пятницы", date=NOW - timedelta(minutes=30),
                            reply_to=top)
    page = await source(ok, http, ManualClock(NOW)).fetch(None)
    by_id = {item.external_id: item for item in page.items}
    assert set(by_id) == {f"topic:{news}", f"topic:{own}", f"comment:{news}:{top}",
                          f"comment:{news}:{again}", f"comment:{news}:{answer}"}
    assert by_id[f"topic:{news}"].is_official, "the group's own topic"
    resident = by_id[f"topic:{own}"]
    assert (resident.is_official, resident.author, resident.author_id, resident.kind) == \
        (False, "Анна Смирнова", CITIZEN, "post")
    assert resident.url == f"https://ok.ru/group/{GROUP}/topic/{own}"
    citizen = by_id[f"comment:{news}:{top}"]
    assert (citizen.kind, citizen.is_official, citizen.parent_external_id) == \
        ("comment", False, f"topic:{news}")
    assert citizen.url == f"https://ok.ru/group/{GROUP}/topic/{news}"
    assert by_id[f"comment:{news}:{again}"].parent_external_id == citizen.external_id
    official = by_id[f"comment:{news}:{answer}"]
    assert (official.kind, official.is_official, official.parent_external_id) == \
        ("reply", True, citizen.external_id)
    assert official.author == "Администрация Каменского округа"
    assert [i.published_at for i in page.items] == sorted(i.published_at for i in page.items)
    assert not page.notices


async def test_official_accounts_answer_what_they_reply_to(
    ok: FakeOk, http: aiohttp.ClientSession
) -> None:
    topic = ok.add_topic(GROUP, "Яма у школы", date=NOW - timedelta(hours=1), user=CITIZEN)
    head = ok.add_comment(topic, "Передал в УГХ", user=HEAD, date=NOW - timedelta(minutes=20))
    question = ok.add_comment(topic, "А сроки?", user=CITIZEN, date=NOW - timedelta(minutes=10))
    agency = ok.add_comment(topic, "До пятницы", group="777", date=NOW, reply_to=question)
    page = await source(ok, http, ManualClock(NOW)).fetch(None)
    by_id = {item.external_id: item for item in page.items}
    assert (by_id[f"comment:{topic}:{head}"].is_official,
            by_id[f"comment:{topic}:{head}"].parent_external_id,
            by_id[f"comment:{topic}:{head}"].author) == (True, f"topic:{topic}", "Глава округа")
    listed_group = by_id[f"comment:{topic}:{agency}"]
    assert (listed_group.is_official, listed_group.parent_external_id, listed_group.author) == \
        (True, f"comment:{topic}:{question}", "МКУ «Благоустройство»")
    assert not by_id[f"comment:{topic}:{question}"].is_official


async def test_comments_are_read_only_when_the_count_changes_and_from_the_anchor_on(
    ok: FakeOk, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock(NOW)
    topics = [ok.add_topic(GROUP, f"Новость {n}", date=NOW - timedelta(hours=n))
              for n in range(1, 6)]
    first_comment = ok.add_comment(topics[0], "Яма", user=CITIZEN, date=NOW - timedelta(minutes=5))
    first = await source(ok, http, clock).fetch(None)
    assert ok.count("discussions.getComments") == 1, "only the topic that has comments"
    cursor = json.loads(json.dumps(first.next_cursor))  # what the poller stores, after a restart
    again = await source(ok, http, clock).fetch(cursor)
    assert again.items == [] and ok.count("discussions.getComments") == 1
    assert again.next_cursor == first.next_cursor
    late = ok.add_comment(topics[3], "Поздний комментарий", user=CITIZEN, date=NOW)
    more = ok.add_comment(topics[0], "Ещё яма", user=NEIGHBOUR, date=NOW)
    clock.advance(timedelta(minutes=2))
    third = await source(ok, http, clock).fetch(again.next_cursor)
    assert set(ids(third)) == {f"comment:{topics[3]}:{late}", f"comment:{topics[0]}:{more}"}
    assert f"comment:{topics[0]}:{first_comment}" not in ids(third)
    asked = [r for r in ok.requests if r.get("method") == "discussions.getComments"]
    assert [r["anchor"] for r in asked][:2] == ["FIRST", "FIRST"]
    assert asked[-1]["discussionId"] == topics[0] and asked[-1]["anchor"] != "FIRST"
    assert {r["direction"] for r in asked} == {"FORWARD"}


async def test_a_late_comment_on_a_topic_off_the_pages_read_is_found(
    ok: FakeOk, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock(NOW)
    target = ok.add_topic(GROUP, "Старая новость", date=NOW - timedelta(hours=30))
    for n in range(60):
        ok.add_topic(GROUP, f"Новость {n}", date=NOW - timedelta(hours=20, minutes=-n))
    reader = source(ok, http, clock, lookback="2d")
    first = await reader.fetch(None)
    assert len(first.items) == 61 and ok.count("mediatopic.getTopics") == 2
    ok.add_comment(target, "Так и не убрали снег", user=CITIZEN, date=NOW)
    for n in range(60):  # a busy feed: the topic drops off the pages read
        ok.add_topic(GROUP, f"Свежая новость {n}", date=NOW + timedelta(minutes=n), user=CITIZEN)
    clock.advance(timedelta(hours=2))
    second = await reader.fetch(first.next_cursor)
    assert any(i.text == "Так и не убрали снег" for i in second.items)
    assert len([i for i in second.items if i.kind == "post"]) == 60
    assert ok.count("mediatopic.getTopics") == 4 and ok.count("mediatopic.getByIds") == 1
    assert len(second.next_cursor["topics"]) == 121


async def test_a_long_thread_is_read_over_several_polls(ok: FakeOk, http: aiohttp.ClientSession):
    clock = ManualClock(NOW)
    topic = ok.add_topic(GROUP, "Отключение воды", date=NOW - timedelta(hours=1))
    for n in range(250):
        ok.add_comment(topic, f"Нет воды, дом {n}", user=CITIZEN, date=NOW)
    reader = source(ok, http, clock, max_pages=1)
    cursor, seen = None, []
    for _ in range(4):
        page = await reader.fetch(cursor)
        cursor = page.next_cursor
        seen.append(len([i for i in page.items if i.kind == "comment"]))
    assert seen == [100, 100, 50, 0]
    assert ok.count("discussions.getComments") == 3


async def test_edits_come_again(ok: FakeOk, http: aiohttp.ClientSession) -> None:
    clock = ManualClock(NOW)
    topic = ok.add_topic(GROUP, "Яма", date=NOW - timedelta(hours=1), user=CITIZEN)
    comment = ok.add_comment(topic, "Глубокая", user=CITIZEN, date=NOW)
    other = ok.add_comment(topic, "Спасибо", user=NEIGHBOUR, date=NOW)
    reader = source(ok, http, clock)
    first = await reader.fetch(None)
    ok.edit_topic(topic, "Яма на Ленина 5")
    ok.edit_comment(comment, "Глубокая, по колено")
    ok.delete_comment(other)  # the count falls: the topic's comments are read from the first
    second = await reader.fetch(first.next_cursor)
    texts = {i.external_id: (i.text, i.edited) for i in second.items}
    assert texts == {f"topic:{topic}": ("Яма на Ленина 5", True),
                     f"comment:{topic}:{comment}": ("Глубокая, по колено", False)}


@pytest.mark.parametrize(("code", "kind", "retry_after"), [
    (2, TransientSourceError, 5.0), (8, TransientSourceError, 60.0),
    (9, TransientSourceError, 600.0), (11, TransientSourceError, 3600.0),
    (101, SourceAuthError, None), (102, SourceAuthError, None), (103, SourceAuthError, None),
    (104, SourceAuthError, None), (1, PermanentSourceError, None),
    (10, PermanentSourceError, None), (100, PermanentSourceError, None),
])
async def test_errors_are_classified(
    ok: FakeOk, http: aiohttp.ClientSession, code: int, kind: type[Exception],
    retry_after: float | None,
) -> None:
    ok.fail_next("mediatopic.getTopics", code)
    with pytest.raises(kind, match=f"ошибка {code}") as caught:
        await source(ok, http, ManualClock(NOW)).fetch(None)
    assert getattr(caught.value, "retry_after", None) == retry_after


async def test_wrong_credentials_are_auth_errors(ok: FakeOk, http: aiohttp.ClientSession):
    clock = ManualClock(NOW)
    wrong_secret = {**SECRETS, "OK_APP_SECRET": "not-the-secret"}
    with pytest.raises(SourceAuthError, match="ошибка 104: PARAM_SIGNATURE : Invalid signature"):
        await source(ok, http, clock, secrets=wrong_secret).fetch(None)
    with pytest.raises(SourceAuthError, match="ошибка 102"):
        await source(ok, http, clock, token="revoked-token").fetch(None)
    with pytest.raises(SourceAuthError, match="ошибка 101"):
        await source(ok, http, clock, secrets={**SECRETS, "OK_APP_KEY": "NOPE"}).fetch(None)
    calls = len(ok.calls)
    with pytest.raises(SourceAuthError, match="OK_APP_SECRET не задана"):
        await source(ok, http, clock, secrets={"OK_APP_KEY": APP_KEY}).fetch(None)
    assert len(ok.calls) == calls, "nothing is sent without the secret"


async def test_the_call_limit_rests_the_method(ok: FakeOk, http: aiohttp.ClientSession):
    ok.fail_next("mediatopic.getTopics", 11)
    with pytest.raises(TransientSourceError):
        await source(ok, http, ManualClock(NOW)).fetch(None)
    with pytest.raises(TransientSourceError, match="лимит вызовов"):
        await source(ok, http, ManualClock(NOW)).fetch(None)  # same token: rests too
    assert ok.count("mediatopic.getTopics") == 1


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_server_errors_are_transient(
    ok: FakeOk, http: aiohttp.ClientSession, status: int
) -> None:
    ok.add_topic(GROUP, "Новость", date=NOW)
    ok.fail_next("mediatopic.getTopics", http_status=status)
    reader = source(ok, http, ManualClock(NOW))
    with pytest.raises(TransientSourceError, match=f"HTTP {status}"):
        await reader.fetch(None)
    assert len((await reader.fetch(None)).items) == 1


async def test_a_timeout_is_transient(ok: FakeOk, http: aiohttp.ClientSession) -> None:
    ok.delay_next("mediatopic.getTopics", 0.5)
    with pytest.raises(TransientSourceError, match="нет ответа за 0.2 с"):
        await source(ok, http, ManualClock(NOW), timeout=timedelta(seconds=0.2)).fetch(None)


async def test_an_html_error_page_is_permanent(ok: FakeOk, http: aiohttp.ClientSession):
    ok.fail_next("mediatopic.getTopics", http_status=400)
    with pytest.raises(PermanentSourceError, match="HTTP 400"):
        await source(ok, http, ManualClock(NOW)).fetch(None)


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b'{"media_topics": ', b""])
async def test_malformed_json_is_transient(
    ok: FakeOk, http: aiohttp.ClientSession, body: bytes
) -> None:
    ok.add_topic(GROUP, "Новость", date=NOW)
    ok.fail_next("mediatopic.getTopics", body=body)
    reader = source(ok, http, ManualClock(NOW))
    with pytest.raises(TransientSourceError, match="не JSON"):
        await reader.fetch(None)
    assert len((await reader.fetch(None)).items) == 1


async def test_bad_entries_are_skipped_with_a_notice(ok: FakeOk, http: aiohttp.ClientSession):
    good = {"id": "155203984729001", "created_ms": int(NOW.timestamp() * 1000),
            "author_ref": f"user:{CITIZEN}", "media": [{"type": "text", "text": "Яма"}],
            "discussion_summary": {"comments_count": "x"}}
    body = {"media_topics": [{"id": "1"}, "junk", good, {"created_ms": 5}],
            "has_more": False, "entities": "none"}
    ok.fail_next("mediatopic.getTopics", body=json.dumps(body))
    page = await source(ok, http, ManualClock(NOW)).fetch(None)
    assert ids(page) == ["topic:155203984729001"] and len(page.notices) == 3
    ok.fail_next("mediatopic.getTopics", body=b"null")
    empty = await source(ok, http, ManualClock(NOW)).fetch(None)
    assert empty.items == [] and "media_topics" in empty.notices[0]


async def test_a_token_never_goes_over_one_call_a_second(
    ok: FakeOk, http: aiohttp.ClientSession
) -> None:
    clock = ManualClock(NOW)
    topic = ok.add_topic(GROUP, "Новость", date=NOW - timedelta(minutes=5))
    ok.add_comment(topic, "Комментарий", user=CITIZEN, date=NOW)
    readers = [source(ok, http, clock, rate=1.0), source(ok, http, clock, rate=1.0)]
    await asyncio.gather(*(reader.fetch(None) for reader in readers))
    assert len(ok.calls) == 4
    assert ok.max_calls_per_second(TOKEN) <= 1


def test_check_config_names_the_wrong_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[sources]]\nid = "a"\nnetwork = "ok"\ngroup_id = "ok.ru/group/553"\n'
        'token_env = "OK_TOKEN"\napplication_key_env = "CBA FAKE KEY"\nrate = 0\n\n'
        '[[sources]]\nid = "b"\nnetwork = "ok"\ngroup_id = 553\ntoken_env = "OK_TOKEN"\n'
        'application_key_env = "OK_APP_KEY"\napplication_secret_env = "OK_APP_SECRET"\n',
        encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    found = "\n".join(str(p) for p in caught.value.problems)
    assert "sources[0].group_id: номер группы ОК 'ok.ru/group/553' не подходит" in found
    assert "sources[0].application_key_env: 'CBA FAKE KEY': нужно имя переменной" in found
    assert "sources[0].application_secret_env: обязательный ключ отсутствует" in found
    assert "sources[0].rate: значение должно быть > 0" in found
    assert "sources[1]" not in found, "a number is a fine group_id too"
    settings = connectors.registry()["ok"].settings_model.model_validate(
        {"id": "b", "network": "ok", "group_id": 553, "application_key_env": "K",
         "application_secret_env": "S"})
    assert settings.target() == "группа ОК 553 с комментариями"


CONFIG = """
[storage]
path = "m.db"

[[sources]]
id = "admin-ok"
network = "ok"
group_id = "{group}"
token_env = "OK_TOKEN"
application_key_env = "OK_APP_KEY"
application_secret_env = "OK_APP_SECRET"
base_url = "{url}"
rate = 20

[[official_accounts]]
network = "ok"
id = {head}
name = "Глава округа"

[[topics]]
id = "pits"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["яма"]
"""


async def test_the_groups_reply_closes_the_incident_at_its_time(ok: FakeOk, tmp_path: Path):
    env = {"OK_TOKEN": TOKEN, **SECRETS}
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(group=GROUP, url=ok.base_url, head=HEAD), encoding="utf-8")
    config = load_config(path, env=env).config
    clock = ManualClock(NOW)
    topic = ok.add_topic(GROUP, "Ремонт дорог", date=NOW - timedelta(hours=2))
    top = ok.add_comment(topic, "Яма на Ленина 5, когда засыплете?", user=CITIZEN,
                         date=NOW - timedelta(hours=1))
    ok.add_comment(topic, "Яма у школы", user=NEIGHBOUR, date=NOW - timedelta(minutes=50))
    async with App(config, clock=clock, env=env) as app:
        await app.poll_all()
        first, second = await app.store.list_incidents()
        assert first.status == second.status == "open"
        answered_at = NOW + timedelta(minutes=25)
        ok.add_comment(topic, "Бригада выехала, к вечеру засыплем", date=answered_at,
                       reply_to=top)
        clock.advance(timedelta(hours=1))
        result = await app.poll("admin-ok")
        assert result is not None and result.answered == [first.id]
        first, second = await app.store.list_incidents()
        assert (first.status, first.answered_at, first.answered_by) == \
            ("answered", answered_at, "Администрация Каменского округа")
        assert first.answer_text == "Бригада выехала, к вечеру засыплем"
        assert second.status == "open", "only the citizen replied to is answered"
        events = await app.store.events_of(first.id)
        assert (events[-1].kind, events[-1].actor.kind) == ("answered", "official")


async def test_a_cut_short_feed_poll_leaves_no_gap(ok: FakeOk, http: aiohttp.ClientSession):
    """A busy group after an outage: 120 topics behind, one feed page a poll."""
    clock = ManualClock(NOW)
    topics = [ok.add_topic(GROUP, f"Новость {n}", date=NOW - timedelta(minutes=200 - n))
              for n in range(120)]
    reader = source(ok, http, clock, max_pages=1)
    cursor: Any = {"last_ms": 1}
    seen: list[str] = []
    for poll in range(5):
        if poll == 1:
            topics.append(ok.add_topic(GROUP, "Свежая", date=NOW + timedelta(minutes=1)))
        page = await reader.fetch(cursor)
        seen += ids(page)
        cursor = page.next_cursor
    assert {topic_external_id(t) for t in topics} <= set(seen)
    assert "resume" not in cursor
