"""AlertSender with the real PTB client against the fake Bot API on 127.0.0.1."""

from __future__ import annotations

import html
import json
import logging
import re
import warnings
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning

from monitor.config.settings import TelegramConfig
from monitor.daemon.alert_sender import (
    TOKEN_MASK,
    AlertSender,
    SendOutcome,
    TelegramAuthError,
    outcome_of,
)
from monitor.daemon.buttons import OPEN_POST
from tests.fakes.bot_api import FIXTURES, UNAUTHORIZED_BODY, EntityError, FakeBotApi, visible_text
from tests.fakes.local import Chaos

STAFF_CHAT = -1001234567890
POST_URL = "https://vk.com/wall-1_55"


def config(api: FakeBotApi, timeout: timedelta = timedelta(seconds=2)) -> TelegramConfig:
    return TelegramConfig(base_url=api.base_url, timeout=timeout)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def sender(api: FakeBotApi) -> AsyncIterator[AlertSender]:
    async with AlertSender(config(api), api.token) as opened:
        yield opened


async def test_sends_html_with_button_and_no_preview(
    api: FakeBotApi, sender: AlertSender
) -> None:
    outcome = await sender.send(STAFF_CHAT, "<b>Новый пост</b> о ЖКХ", POST_URL)

    assert outcome == SendOutcome("sent", message_id=api.delivered[0]["message_id"])
    assert api.calls == ["getMe", "sendMessage"]
    [call] = api.sent
    assert call["chat_id"] == STAFF_CHAT
    assert call["text"] == "<b>Новый пост</b> о ЖКХ"
    assert call["parse_mode"] == "HTML"
    assert call["link_preview_options"] == {"is_disabled": True}
    assert call["reply_markup"] == {
        "inline_keyboard": [[{"text": OPEN_POST, "url": POST_URL}]]
    }
    assert api.delivered[0]["text"] == "Новый пост о ЖКХ"


@pytest.mark.parametrize("link", [None, "", "javascript:alert(1)", "vk.com/wall-1_55"])
async def test_no_button_without_http_link(
    api: FakeBotApi, sender: AlertSender, link: str | None
) -> None:
    outcome = await sender.send(STAFF_CHAT, "Жалоба", link)

    assert outcome.status == "sent"
    assert api.sent[0]["reply_markup"] is None


async def test_escaped_user_text_arrives_verbatim(api: FakeBotApi, sender: AlertSender) -> None:
    user_text = 'Вода <кипяток> & "ржавая" &amp; 5 > 3'

    outcome = await sender.send(STAFF_CHAT, f"<i>{html.escape(user_text)}</i>", POST_URL)

    assert outcome.status == "sent"
    assert len(api.sent) == 1
    assert api.delivered[0]["text"] == user_text


async def test_429_with_parameters_retries_after_given_seconds(
    api: FakeBotApi, sender: AlertSender
) -> None:
    api.fail_next(429, "Too Many Requests: retry after 10", retry_after=10)

    outcome = await sender.send(STAFF_CHAT, "Жалоба")

    assert outcome == SendOutcome(
        "retry", retry_after=10.0, error="Too Many Requests: retry after 10"
    )


async def test_429_without_parameters_reads_seconds_from_description(
    api: FakeBotApi, sender: AlertSender
) -> None:
    api.fail_next(429, "Too Many Requests: retry after 3")

    outcome = await sender.send(STAFF_CHAT, "Жалоба")

    assert (outcome.status, outcome.retry_after) == ("retry", 3.0)


async def test_429_without_any_seconds_still_retries(
    api: FakeBotApi, sender: AlertSender
) -> None:
    api.fail_next(429, "Too Many Requests")

    outcome = await sender.send(STAFF_CHAT, "Жалоба")

    assert (outcome.status, outcome.retry_after) == ("retry", None)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_retry(api: FakeBotApi, sender: AlertSender, status: int) -> None:
    api.fail_next(status, "Internal Server Error")

    outcome = await sender.send(STAFF_CHAT, "Жалоба")

    assert outcome == SendOutcome("retry", error="Internal Server Error")


@pytest.mark.parametrize("fault", ["malformed", "reset", "429", "5xx"])
async def test_garbled_or_dropped_answers_retry(
    api: FakeBotApi, sender: AlertSender, fault: str
) -> None:
    """Regression (found by fault injection): a body that is not JSON dropped the alert."""
    api.chaos = Chaos({fault: 1.0}, retry_after=7)
    outcome = await sender.send(STAFF_CHAT, "Жалоба")
    assert outcome.status == "retry", outcome
    assert outcome.retry_after == (7 if fault == "429" else None)
    assert api.delivered == []


async def test_slow_server_times_out_as_retry(api: FakeBotApi) -> None:
    api.delay_next(30)
    async with AlertSender(config(api, timedelta(milliseconds=200)), api.token) as sender:
        outcome = await sender.send(STAFF_CHAT, "Жалоба")

    assert (outcome.status, outcome.retry_after) == ("retry", None)
    assert outcome.error is not None and "timed out" in outcome.error.lower()


async def test_unreachable_server_retries() -> None:
    async with FakeBotApi() as stopped:
        pass
    async with AlertSender(config(stopped), stopped.token) as sender:
        outcome = await sender.send(STAFF_CHAT, "Жалоба")

    assert outcome.status == "retry"


async def test_bad_request_fails_with_description(
    api: FakeBotApi, sender: AlertSender
) -> None:
    api.fail_next(400, "Bad Request: chat not found")

    outcome = await sender.send(STAFF_CHAT, "Жалоба")

    assert outcome == SendOutcome("failed", error="Chat not found")


async def test_broken_html_is_delivered_as_plain_text(
    api: FakeBotApi, sender: AlertSender, caplog: pytest.LogCaptureFixture
) -> None:
    broken = "<b>Жалоба:</b> давление < 2 атм &amp; нет воды"

    outcome = await sender.send(STAFF_CHAT, broken, POST_URL)

    assert outcome == SendOutcome("sent", message_id=api.delivered[0]["message_id"])
    first, second = api.sent
    assert first["parse_mode"] == "HTML"
    assert (second["parse_mode"], second["text"]) == (None, "Жалоба: давление < 2 атм & нет воды")
    assert second["reply_markup"] == first["reply_markup"]
    assert "can't parse entities" in caplog.text.lower()


async def test_plain_text_fallback_happens_once(api: FakeBotApi, sender: AlertSender) -> None:
    api.fail_next(400, "Bad Request: can't parse entities: Unsupported start tag", times=2)

    outcome = await sender.send(STAFF_CHAT, "<b>Жалоба</b>")

    assert outcome.status == "failed"
    assert len(api.sent) == 2


async def test_forbidden_fails(api: FakeBotApi, sender: AlertSender) -> None:
    api.fail_next(403, "Forbidden: bot was blocked by the user")

    outcome = await sender.send(STAFF_CHAT, "Жалоба")

    assert outcome == SendOutcome("failed", error="Forbidden: bot was blocked by the user")


async def test_migrated_chat_fails_with_new_id(api: FakeBotApi, sender: AlertSender) -> None:
    api.fail_next(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=-1009876543210,
    )

    outcome = await sender.send(-4242, "Жалоба")

    assert outcome.status == "failed"
    assert outcome.error is not None and "-1009876543210" in outcome.error


async def test_text_limit_counts_visible_characters(
    api: FakeBotApi, sender: AlertSender
) -> None:
    fits = await sender.send(STAFF_CHAT, "<b>" + "&amp;" * 4096 + "</b>")
    too_long = await sender.send(STAFF_CHAT, "&amp;" * 4097)

    assert fits.status == "sent"
    assert too_long == SendOutcome("failed", error="Message is too long")


async def test_empty_text_fails(api: FakeBotApi, sender: AlertSender) -> None:
    outcome = await sender.send(STAFF_CHAT, "<b> </b>")

    assert outcome == SendOutcome("failed", error="Message text is empty")


async def test_wrong_token_refused_at_startup(api: FakeBotApi) -> None:
    with pytest.raises(TelegramAuthError) as raised:
        async with AlertSender(config(api), "123456:wrongtoken"):
            pytest.fail("sender opened with a refused token")

    assert "wrongtoken" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    assert api.calls == ["getMe"]


async def test_empty_token_refused_without_a_request(api: FakeBotApi) -> None:
    with pytest.raises(TelegramAuthError):
        async with AlertSender(config(api), " "):
            pass

    assert api.calls == []


async def test_token_revoked_after_startup_is_auth(
    api: FakeBotApi, sender: AlertSender
) -> None:
    api.token = "4242424242:AAF-revoked-token"

    outcome = await sender.send(STAFF_CHAT, "Жалоба")

    assert outcome == SendOutcome("auth", error="Telegram отклонил токен бота")


async def test_network_failure_at_startup_defers_init_to_first_send(
    api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.fail_next(502, "Bad Gateway", method="getMe", times=2)

    async with AlertSender(config(api), api.token) as sender:
        assert "недоступен при запуске" in caplog.text
        deferred = await sender.send(STAFF_CHAT, "Жалоба")
        delivered = await sender.send(STAFF_CHAT, "Жалоба")
        again = await sender.send(STAFF_CHAT, "Жалоба")

    assert [o.status for o in (deferred, delivered, again)] == ["retry", "sent", "sent"]
    assert api.calls == ["getMe", "getMe", "getMe", "sendMessage", "sendMessage"]


async def test_send_needs_an_open_sender(api: FakeBotApi) -> None:
    sender = AlertSender(config(api), api.token)

    with pytest.raises(RuntimeError):
        await sender.send(STAFF_CHAT, "Жалоба")


async def test_token_never_logged_or_returned(
    api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    for name in (None, "httpx", "httpcore", "telegram", "aiohttp"):
        caplog.set_level(logging.DEBUG, logger=name)
    wrong = "123456:wrongtoken"
    api.fail_next(403, "Forbidden: bot was blocked by the user")
    api.fail_next(429, "Too Many Requests: retry after 1", retry_after=1)

    async with AlertSender(config(api), api.token) as sender:
        outcomes = [await sender.send(STAFF_CHAT, "<b>Жалоба</b> <x>", POST_URL) for _ in range(3)]
        api.token = "4242424242:AAF-revoked-token"
        outcomes.append(await sender.send(STAFF_CHAT, "Жалоба"))
    with pytest.raises(TelegramAuthError) as refused:
        async with AlertSender(config(api), wrong):
            pass

    errors = " ".join(str(o.error) for o in outcomes) + str(refused.value)
    assert [o.status for o in outcomes] == ["failed", "retry", "sent", "auth"]
    assert TOKEN_MASK in caplog.text  # the URL lines were logged, redacted
    for token in (FakeBotApi().token, wrong):
        assert token not in caplog.text
        assert token not in errors


@pytest.mark.parametrize("ptb_timedelta", [None, "true"])
def test_retry_after_read_without_deprecation_warning(
    monkeypatch: pytest.MonkeyPatch, ptb_timedelta: str | None
) -> None:
    monkeypatch.delenv("PTB_TIMEDELTA", raising=False)
    if ptb_timedelta:
        monkeypatch.setenv("PTB_TIMEDELTA", ptb_timedelta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        flood = RetryAfter(7)

    assert outcome_of(flood) == SendOutcome("retry", retry_after=7.0, error="слишком часто (429)")


# The fake itself: its bodies must match the captures it stands in for.


async def _post(url: str, **kwargs: Any) -> tuple[int, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.post(url, **kwargs) as response:
        return response.status, await response.read(), dict(response.headers)


@pytest.mark.parametrize(
    ("capture", "description", "retry_after"),
    [
        ("error_429_retry_after_parameters_2022-11-03.json", "Too Many Requests: retry after 10",
         10),
        ("error_429_without_parameters_2016-07-20.json", "Too Many Requests: retry after 3",
         None),
    ],
)
async def test_fake_429_body_matches_capture(
    api: FakeBotApi, capture: str, description: str, retry_after: int | None
) -> None:
    api.fail_next(429, description, retry_after=retry_after)

    status, body, headers = await _post(
        f"{api.base_url}{api.token}/sendMessage", data={"chat_id": "1", "text": "x"}
    )

    assert status == 429
    assert body == (FIXTURES / capture).read_bytes().strip()
    assert headers.get("Retry-After") == (str(retry_after) if retry_after else None)


async def test_fake_wrong_token_and_unknown_method_match_telegram(api: FakeBotApi) -> None:
    unauthorized = await _post(f"{api.base_url}123456:wrongtoken/getMe")
    malformed = await _post(f"{api.base_url}not-a-token/getMe")
    unknown = await _post(f"{api.base_url}{api.token}/sendTelepathy")

    assert unauthorized[:2] == (401, b'{"ok":false,"error_code":401,"description":"Unauthorized"}')
    assert unauthorized[1] == UNAUTHORIZED_BODY
    assert malformed[:2] == unknown[:2] == (
        404, b'{"ok":false,"error_code":404,"description":"Not Found"}'
    )


@pytest.mark.parametrize(
    ("chat_id", "capture"),
    [
        (666, "exvcr_cassette_sendMessage_ok_2015-10-12.json"),
        (-1001567031322, "sendMessage_ok_channel_sender_chat_2022-08-20.json"),
    ],
)
async def test_fake_message_shape_matches_capture(chat_id: int, capture: str) -> None:
    raw = json.loads((FIXTURES / capture).read_text())
    captured = json.loads(raw[0]["response"]["body"]) if isinstance(raw, list) else raw

    async with FakeBotApi(channels=[-1001567031322]) as api:
        status, body, _ = await _post(
            f"{api.base_url}{api.token}/sendMessage", json={"chat_id": chat_id, "text": "aloha"}
        )

    answer = json.loads(body)
    assert (status, answer["ok"]) == (200, True)
    assert list(answer["result"]) == list(captured["result"])
    assert answer["result"]["chat"]["type"] == captured["result"]["chat"]["type"]
    assert api.sent[0]["chat_id"] == chat_id


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<b>a</b> <i>b</i> <a href=\"https://x.ru/?a=1&amp;b=2\">c</a>", "a b c"),
        ("&lt;&gt;&amp;&quot;&#1046;&#x416;", "<>&\"ЖЖ"),
        ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "st"),
        ("<pre><code class=\"language-python\">x</code></pre>", "x"),
        ("<B>upper</B>", "upper"),
    ],
)
def test_fake_html_accepts_telegram_markup(text: str, shown: str) -> None:
    assert visible_text(text) == shown


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("строка<br>", 'Unsupported start tag "br" at byte offset 12'),
        ("<script>x</script>", 'Unsupported start tag "script"'),
        ("AT&T", "Character '&' at byte offset 2 starts no entity"),
        ("<b>a", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>a</i>", 'expected "</b>", found "</i>"'),
        ("a</b>", "Unexpected end tag at byte offset 1"),
        ('<span class="x">a</span>', 'Tag "span" must have class "tg-spoiler"'),
        ("<b", "Unclosed start tag at byte offset 0"),
    ],
)
def test_fake_html_rejects_what_telegram_rejects(text: str, error: str) -> None:
    with pytest.raises(EntityError, match=re.escape(error)):
        visible_text(text)


async def test_fake_rejects_invalid_button_url(api: FakeBotApi) -> None:
    markup = {"inline_keyboard": [[{"text": "x", "url": "javascript:alert(1)"}]]}
    status, body, _ = await _post(
        f"{api.base_url}{api.token}/sendMessage",
        data={"chat_id": "1", "text": "x", "reply_markup": json.dumps(markup)},
    )

    assert (status, json.loads(body)["description"]) == (400, "Bad Request: BUTTON_URL_INVALID")


async def test_fake_fails_when_scripted_reply_unused() -> None:
    with pytest.raises(AssertionError, match="never came"):
        async with FakeBotApi() as api:
            api.fail_next(500, "Internal Server Error")
