"""The t.me/s connector: the parser on captured pages, fetch against the fake t.me."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

import connectors
from common.clock import ManualClock
from connectors.base import PermanentSourceError, SourceContext, TransientSourceError
from connectors.telegram_web import (
    USER_AGENT,
    ParsedPage,
    TelegramWebSettings,
    TelegramWebSource,
    parse_page,
)
from tests.fakes.tme import CAPTURES, FakeTme

FIXTURES = Path(__file__).parent / "fixtures" / "telegram_web"
ANTICHRIST = "t.me_s_antichristone_2023-05-06_service_messages_polls_documents.html"
EXCEL = "t.me_s_excelhackru_ru_2023-05-06_polls_album_photos_video_documents.html"
CONTACT = "t.me_s_not_existed_channel_contact_page.html"
TOPWAR = "t.me_s_topwar_official_ru_2023-02-28_forwarded_albums_PRETTY_PRINTED.html"
VTOSTERS = "t.me_s_vtosters_ru_2023-05-05_forwarded_photos_video_documents.html"
CHANNEL_PAGES = {
    ANTICHRIST: "antichristone",
    EXCEL: "excelhackru",
    TOPWAR: "topwar_official",
    VTOSTERS: "vtosters",
}
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def parse_fixture(name: str) -> ParsedPage:
    return parse_page((FIXTURES / name).read_text(encoding="utf-8"), CHANNEL_PAGES.get(name, "x"))


def ids(posts: Any) -> list[int]:
    return [int(getattr(post, "external_id", None) or post.id) for post in posts]


# --- parser on the captured pages ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "count", "first", "last", "before"),
    [
        (ANTICHRIST, 16, 486, 521, 483),  # 20 wraps, 4 of them service messages
        (EXCEL, 18, 1321, 1363, 1321),
        (TOPWAR, 12, 70989, 71008, 70989),
        (VTOSTERS, 16, 1434, 1460, 1434),
    ],
)
def test_captured_page_counts(name: str, count: int, first: int, last: int, before: int) -> None:
    page = parse_fixture(name)
    assert page.is_channel
    assert len(page.posts) == count
    assert ids(page.posts)[0] == first and ids(page.posts)[-1] == last
    assert ids(page.posts) == sorted(set(ids(page.posts)))
    assert page.before == before
    assert all(post.published_at.tzinfo is not None for post in page.posts)
    assert all(post.url == f"https://t.me/{CHANNEL_PAGES[name]}/{post.id}" for post in page.posts)


def test_service_messages_are_skipped_but_bound_the_page() -> None:
    page = parse_fixture(ANTICHRIST)
    assert {483, 485, 493, 504}.isdisjoint(ids(page.posts))
    assert page.oldest_id == 483
    assert page.oldest_at == datetime(2023, 3, 14, 15, 53, 32, tzinfo=UTC)


def test_post_without_data_post_takes_its_id_from_the_permalink() -> None:
    page = parse_fixture(ANTICHRIST)
    newest = page.posts[-1]
    assert newest.id == 521
    assert newest.text.startswith("Комп для чайника - без лишних слов самый крупный канал")
    assert newest.published_at == datetime(2023, 5, 4, 17, 32, 31, tzinfo=UTC)
    assert any("нет data-post" in notice for notice in page.notices)


def test_album_is_one_post_keyed_on_its_first_id() -> None:
    excel = parse_fixture(EXCEL)
    assert 1321 in ids(excel.posts) and {1322, 1323, 1324}.isdisjoint(ids(excel.posts))
    album = excel.posts[0]
    assert album.text.startswith("А у вас была такая проблема в сводных таблицах?\n\nЕсли")
    assert album.text.count("А у вас была") == 1  # the text div is nested in another
    topwar = parse_fixture(TOPWAR)
    assert 70992 in ids(topwar.posts) and 70993 not in ids(topwar.posts)


def test_forwarded_post_text_and_edit_marks() -> None:
    page = parse_fixture(VTOSTERS)
    forwarded = {post.id: post for post in page.posts}[1451]
    assert forwarded.text.startswith("VTMessenger v1.0.5\n\nChangelog:\n[+] Кнопка прочитать")
    assert "Forwarded from" not in forwarded.text
    edited = {post.id: post.edited for post in page.posts}
    assert edited[1434] is True and edited[1439] is False


def test_entities_emoji_and_media_only_posts() -> None:
    page = parse_fixture(ANTICHRIST)
    by_id = {post.id: post for post in page.posts}
    assert by_id[492].text.startswith("Wassup, в течении нескольких дней выходит патч на")
    assert "патч на приложение!\n\nЯ закончил" in by_id[492].text
    assert "Assembler'a" in by_id[489].text
    assert by_id[506].text == ""  # a round video: media only
    assert "🔥" in by_id[521].text


def test_pretty_printed_page_parses() -> None:
    page = parse_fixture(TOPWAR)
    first = page.posts[0]
    assert first.text.startswith("В Санкт-Петербурге в небо над городом подняли истребители")
    assert "Baza.\nСудя по сервису Flightradar" in first.text
    assert first.published_at == datetime(2023, 2, 28, 7, 47, 53, tzinfo=UTC)
    assert page.notices == []


def test_contact_page_is_not_a_channel() -> None:
    page = parse_page((CAPTURES / CONTACT).read_text(encoding="utf-8"), "not_existed_channel")
    assert not page.is_channel and page.posts == [] and page.before is None


@pytest.mark.parametrize("name", [ANTICHRIST, EXCEL, TOPWAR, VTOSTERS])
@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.55, 0.8, 0.97])
def test_truncated_page_keeps_the_complete_posts(name: str, fraction: float) -> None:
    html = (FIXTURES / name).read_text(encoding="utf-8")
    full = parse_page(html, CHANNEL_PAGES[name]).posts
    cut_at = int(len(html) * fraction)
    cut = parse_page(html[:cut_at], CHANNEL_PAGES[name])
    date_ends = {p.id: html.index("</time>", html.index(f'href="{p.url}"><time')) for p in full}
    assert cut.posts == [post for post in full if date_ends[post.id] < cut_at]
    if cut.is_channel:
        assert any("обрезана" in notice for notice in cut.notices)


def test_odd_markup_becomes_notices_not_exceptions() -> None:
    def wrap(attrs: str, date: str = '<time datetime="2025-01-01T10:00:00+00:00"></time>') -> str:
        return (
            f'<div class="tgme_widget_message_wrap"><div class="tgme_widget_message" {attrs}>'
            '<div class="tgme_widget_message_bubble">'
            '<a class="tgme_widget_message_reply" href="https://t.me/c/1"><div '
            'class="tgme_widget_message_text js-message_reply_text">quoted</div></a>'
            '<div class="tgme_widget_message_text js-message_text">own<br>text</div>'
            f'<span class="tgme_widget_message_meta"><a class="tgme_widget_message_date">{date}'
            "</a></span></div></div></div>"
        )

    html = (
        '<html><section class="tgme_channel_history">'
        '<a class="tme_messages_more" data-before="1x"></a>'
        + wrap("")
        + wrap('data-post="c/abc"')
        + wrap('data-post="other/5"')
        + wrap('data-post="c/6"', date="<time></time>")
        + wrap('data-post="c/7"', date='<time datetime="yesterday"></time>')
        + wrap('data-post="c/8"', date='<time datetime="2025-01-01T10:00:00"></time>')
        + wrap('data-post="c/9"')
        + "</section></html>"
    )
    page = parse_page(html, "c")
    assert ids(page.posts) == [9]
    assert page.posts[0].text == "own\ntext"  # not the quoted reply
    assert page.posts[0].url == "https://t.me/c/9"
    assert page.before is None
    assert len(page.notices) == 7


def test_markup_the_html_parser_rejects_is_not_an_exception() -> None:
    """Found by atheris (bench/fuzz.py --atheris): a `<![` section with a keyword html.parser
    does not know made BeautifulSoup raise ParserRejectedMarkup out of the parser."""
    page = parse_page('<html><section class="tgme_channel_history"><![OCTwidget x', "c")
    assert page.rejected and not page.is_channel and page.posts == []


@pytest.mark.parametrize("text", ["https://t.me/s/citynews", "citynews.html", "", "   "])
def test_text_without_markup_is_no_channel_and_no_warning(text: str) -> None:
    """Found by the fuzz bench: text that looks like a URL or a file name made BeautifulSoup
    warn (MarkupResemblesLocatorWarning; an error under the suite's warning filter)."""
    assert parse_page(text, "citynews") == ParsedPage(is_channel=False)


# --- fetch against the fake t.me ---------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def tme() -> AsyncIterator[FakeTme]:
    async with FakeTme("citynews") as fake:
        yield fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def make_source(
    base_url: str, http: aiohttp.ClientSession, clock: ManualClock, **settings: Any
) -> TelegramWebSource:
    values = {"id": "tg-city", "network": "telegram_web", "channel": "citynews"}
    model = TelegramWebSettings.model_validate({**values, "base_url": base_url, **settings})
    return TelegramWebSource(model, SourceContext(http=http, clock=clock))


def publish(tme: FakeTme, first: int, last: int, newest_at: datetime, step: timedelta) -> None:
    """Posts first..last, `step` apart, the last one at `newest_at`."""
    for post_id in range(first, last + 1):
        tme.add_post(post_id, newest_at - (last - post_id) * step, f"Новость №{post_id}")


HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


async def test_first_poll_reads_the_look_back_window(tme, http, clock) -> None:
    publish(tme, 1, 30, NOW - 30 * MINUTE, HOUR)  # post 7 is 23.5 h old, post 6 is 24.5 h old
    tme.add_service_message(31, NOW - 10 * MINUTE, "Live stream started")
    page = await make_source(tme.base_url, http, clock).fetch(None)
    assert ids(page.items) == list(range(7, 31))
    assert tme.paths == ["/s/citynews", "/s/citynews?before=12"]
    assert page.next_cursor == {"last_id": 30}  # service messages are not items
    assert {request.user_agent for request in tme.requests} == {USER_AGENT}
    item = page.items[-1]
    assert (item.source_id, item.external_id, item.kind) == ("tg-city", "30", "post")
    assert item.url == "https://t.me/citynews/30" and item.text == "Новость №30"
    assert item.published_at == NOW - 30 * MINUTE


async def test_catching_up_pages_back_and_rerun_adds_nothing(tme, http, clock) -> None:
    source = make_source(tme.base_url, http, clock)
    publish(tme, 1, 30, NOW - 3 * HOUR, MINUTE)
    first = await source.fetch(None)
    publish(tme, 31, 75, NOW, MINUTE)
    tme.requests.clear()
    second = await source.fetch(first.next_cursor)
    assert tme.paths == ["/s/citynews", "/s/citynews?before=56", "/s/citynews?before=36"]
    assert ids(second.items) == list(range(31, 76))
    assert second.next_cursor == {"last_id": 75}
    tme.requests.clear()
    third = await source.fetch(second.next_cursor)
    assert tme.paths == ["/s/citynews"]
    assert ids(third.items) == list(range(56, 76))  # the latest page again, for edits
    assert third.next_cursor == {"last_id": 75}


async def test_edit_comes_back_with_the_same_id(tme, http, clock) -> None:
    source = make_source(tme.base_url, http, clock)
    publish(tme, 1, 5, NOW, MINUTE)
    first = await source.fetch(None)
    tme.edit_post(3, "Воду дали в 14:00")
    second = await source.fetch(first.next_cursor)
    edited = {item.external_id: item for item in second.items}["3"]
    assert edited.text == "Воду дали в 14:00" and edited.edited
    assert second.next_cursor == first.next_cursor


async def test_old_posts_leave_the_window_but_the_cursor_never_goes_back(tme, http, clock):
    source = make_source(tme.base_url, http, clock, lookback="2h")
    publish(tme, 1, 5, NOW, MINUTE)
    page = await source.fetch({"last_id": 90})
    assert ids(page.items) == [1, 2, 3, 4, 5]
    clock.advance(3 * HOUR)
    later = await source.fetch(page.next_cursor)
    assert later.items == [] and later.next_cursor == {"last_id": 90}


HOSTILE = [
    ("<script>alert('x')</script> & &amp; <b>bold</b> \"q\"", None),
    ("x" * 10_000, None),
    ("Прорыв трубы 🚰💧 👨‍👩‍👧 на ул. Ленина, 5!\nВторая строка\n\nТретья", None),
    ("tab\there bell\x07 nul\x00 esc\x1b nel\x85 end", "tab\there bell nul esc nel end"),
    ("  spaces  inside and around  ", "spaces  inside and around"),
    ("{braces} %s $1 \\n", None),
]


async def test_hostile_text_round_trips(tme, http, clock) -> None:
    for post_id, (text, _) in enumerate(HOSTILE, start=1):
        tme.add_post(post_id, NOW - MINUTE, text, author="Оператор <МЦУ> & Co")
    page = await make_source(tme.base_url, http, clock).fetch(None)
    assert [item.text for item in page.items] == [want or text for text, want in HOSTILE]
    assert {item.author for item in page.items} == {"Оператор <МЦУ> & Co"}


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(500, None, None), (502, None, None), (503, "30", 30.0), (429, "7", 7.0),
     (429, "Wed, 21 Oct 2015 07:28:00 GMT", None)],
)  # fmt: skip
async def test_server_trouble_is_transient(tme, http, clock, status, retry_after, expected):
    tme.answer_status(status, retry_after=retry_after, times=1)
    source = make_source(tme.base_url, http, clock)
    with pytest.raises(TransientSourceError) as error:
        await source.fetch(None)
    assert error.value.retry_after == expected
    assert "@citynews" in str(error.value)
    await source.fetch(None)  # the fake is healthy again


@pytest.mark.parametrize("status", [404, 403, 400])
async def test_client_errors_are_permanent(tme, http, clock, status) -> None:
    tme.answer_status(status)
    with pytest.raises(PermanentSourceError, match=str(status)):
        await make_source(tme.base_url, http, clock).fetch(None)


async def test_timeout_is_transient(tme, http, clock) -> None:
    tme.answer_delay(2.0)
    with pytest.raises(TransientSourceError, match="не ответил"):
        await make_source(tme.base_url, http, clock, timeout=timedelta(seconds=0.1)).fetch(None)


async def test_refused_connection_is_transient(http, clock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientSourceError, match="сетевая ошибка"):
        await make_source(f"http://127.0.0.1:{port}", http, clock).fetch(None)


async def test_truncated_page_yields_complete_posts_and_a_notice(tme, http, clock) -> None:
    publish(tme, 1, 5, NOW, MINUTE)
    tme.answer_truncated(times=1)
    page = await make_source(tme.base_url, http, clock).fetch(None)
    assert ids(page.items) == [1, 2, 3, 4]
    assert page.next_cursor == {"last_id": 4}
    assert any("пропущен пост 5" in notice for notice in page.notices)
    assert any("обрезана" in notice for notice in page.notices)


async def test_redirect_means_no_preview(tme, http, clock) -> None:
    tme.answer_redirect()
    with pytest.raises(PermanentSourceError, match="предпросмотр канала недоступен") as error:
        await make_source(tme.base_url, http, clock).fetch(None)
    assert "@citynews" in str(error.value) and "/citynews" in str(error.value)
    assert tme.paths == ["/s/citynews"]  # the redirect was not followed


async def test_contact_page_means_no_channel(tme, http, clock) -> None:
    tme.answer_contact_page()
    with pytest.raises(PermanentSourceError, match="@citynews"):
        await make_source(tme.base_url, http, clock).fetch(None)


async def test_a_page_the_parser_rejects_is_a_permanent_error(tme, http, clock,
                                                             tmp_path: Path) -> None:
    page = tmp_path / "rejected.html"
    page.write_text('<html><section class="tgme_channel_history"><![OCT x', encoding="utf-8")
    tme.answer_fixture(page)
    with pytest.raises(PermanentSourceError, match="@citynews: разметку страницы t.me не "):
        await make_source(tme.base_url, http, clock).fetch(None)


@pytest.mark.parametrize("chunked", [True, False])
async def test_oversized_page_is_refused(tme, http, clock, chunked: bool) -> None:
    tme.answer_oversized(400_000, chunked=chunked)
    with pytest.raises(TransientSourceError, match="max_page_bytes"):
        await make_source(tme.base_url, http, clock, max_page_bytes=65_536).fetch(None)


async def test_repeated_before_token_stops_instead_of_looping(http) -> None:
    async with FakeTme("excelhackru") as tme:
        tme.answer_fixture(EXCEL)  # every request, whatever ?before= says
        clock = ManualClock(datetime(2023, 5, 6, 9, 0, tzinfo=UTC))
        source = make_source(tme.base_url, http, clock, channel="excelhackru", lookback="60d")
        with pytest.raises(PermanentSourceError, match="before=1321"):
            await source.fetch(None)
        assert tme.paths == ["/s/excelhackru", "/s/excelhackru?before=1321"]


async def test_max_pages_bounds_one_poll(tme, http, clock) -> None:
    publish(tme, 1, 100, NOW, MINUTE)
    page = await make_source(tme.base_url, http, clock, max_pages=2).fetch({"last_id": 0})
    assert len(tme.paths) == 2
    assert ids(page.items) == list(range(61, 101))
    assert page.next_cursor == {"last_id": 0, "resume": [61, 100]}
    assert any("max_pages=2" in notice for notice in page.notices)


async def test_a_cut_short_poll_leaves_no_gap_after_a_long_outage(tme, http, clock) -> None:
    """A busy channel after an outage: 100 posts behind, two pages a poll, posts keep coming."""
    publish(tme, 1, 100, NOW, MINUTE)
    source = make_source(tme.base_url, http, clock, max_pages=2)
    cursor: dict[str, Any] | None = {"last_id": 0}
    seen: list[int] = []
    for poll in range(6):
        if poll == 1:  # new posts arrive while the gap is being read
            publish(tme, 101, 105, NOW + 5 * MINUTE, MINUTE)
        page = await source.fetch(cursor)
        seen += ids(page.items)
        cursor = dict(page.next_cursor)
    assert sorted(set(seen)) == list(range(1, 106))
    assert cursor == {"last_id": 105}
    assert tme.paths[2:4] == ["/s/citynews?before=61", "/s/citynews?before=41"]


async def test_a_gap_older_than_the_look_back_window_is_closed(tme, http, clock) -> None:
    publish(tme, 1, 100, NOW, MINUTE)
    source = make_source(tme.base_url, http, clock, max_pages=2)
    first = await source.fetch({"last_id": 0})
    clock.advance(timedelta(days=2))  # the daemon was stopped for longer than the window
    second = await source.fetch(first.next_cursor)
    assert second.items == [] and second.next_cursor == {"last_id": 100}


@pytest.mark.parametrize("cursor", [{}, {"last_id": "5"}, {"last_id": -1}, {"last_id": True},
                                    {"last_id": 1, "resume": [5]},
                                    {"last_id": 1, "resume": [9, 3]}])
async def test_unreadable_cursor_is_permanent(tme, http, clock, cursor) -> None:
    with pytest.raises(PermanentSourceError, match="курсор"):
        await make_source(tme.base_url, http, clock).fetch(cursor)
    assert tme.paths == []


# --- settings and registration ---------------------------------------------------------------


def settings(**values: Any) -> TelegramWebSettings:
    return TelegramWebSettings.model_validate(
        {"id": "s", "network": "telegram_web", "channel": "citynews", **values}
    )


def test_settings_defaults_and_durations() -> None:
    model = settings(base_url="http://127.0.0.1:8080/", timeout="5s", lookback="2d")
    assert model.base_url == "http://127.0.0.1:8080"
    assert model.timeout == timedelta(seconds=5) and model.lookback == timedelta(days=2)
    default = settings()
    assert (default.base_url, default.timeout) == ("https://t.me", timedelta(seconds=20))
    assert (default.max_pages, default.max_page_bytes) == (20, 3_000_000)


@pytest.mark.parametrize(
    ("channel", "hint"),
    [("@citynews", '"citynews"'), ("https://t.me/citynews", '"citynews"'),
     ("t.me/s/city_news", '"city_news"'), ("abc", "от 4 до 32"), ("1city", "с буквы"),
     ("city-news", "латинских"), ("город", "латинских")],
)  # fmt: skip
def test_bad_channel_names_are_explained(channel: str, hint: str) -> None:
    with pytest.raises(ValidationError) as error:
        settings(channel=channel)
    assert hint in str(error.value)


@pytest.mark.parametrize(
    "values",
    [{"max_pages": 0}, {"max_pages": 201}, {"base_url": "t.me"}, {"timeout": "0s"},
     {"unknown": 1}, {"network": "vk"}],
)  # fmt: skip
def test_bad_settings_are_rejected(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        settings(**values)


def test_connector_is_registered() -> None:
    spec = connectors.registry()["telegram_web"]
    assert spec.settings_model is TelegramWebSettings
    assert spec.create is TelegramWebSource
    assert not spec.needs_token
