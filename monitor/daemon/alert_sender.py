"""The staff bot's side of the Telegram Bot API: sends, edits and replies, one classified
outcome each; it owns the one PTB `Bot` of the token (updates are read in bot_updates.py)."""

from __future__ import annotations

import html
import json
import logging
import re
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

from telegram import Bot, BotCommand, InlineKeyboardMarkup, InputMediaPhoto, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from monitor.config.settings import TelegramConfig
from monitor.daemon.buttons import incident_keyboard, open_post_row

_LOGGER = logging.getLogger(__name__)

TOKEN_MASK = "<token>"
# Loggers that print the request URL, which carries the token.
_URL_LOGGERS = ("httpx", "telegram.Bot")
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_RETRY_AFTER_TEXT = re.compile(r"retry after (\d+(?:\.\d+)?)", re.IGNORECASE)
_FORMATTING_TAG = re.compile(
    r"</?(?:b|strong|i|em|u|ins|s|strike|del|a|code|pre|blockquote|tg-spoiler|span|tg-emoji)"
    r"""(?:\s+[^<>]*)?>""",
    re.IGNORECASE,
)
_ERROR_LIMIT = 300
_CAPTION = 1024
_UPLOAD_TIMEOUT = 120.0
"""Seconds to send a file: a region's workbook is megabytes, more than an alert's text."""
_ALBUM = 10

SendStatus = Literal["sent", "retry", "failed", "auth"]


class TelegramAuthError(Exception):
    """Telegram refused the bot token."""


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """Result of one alert: sent, retry later, failed for good, or token refused."""

    status: SendStatus
    message_id: int | None = None
    retry_after: float | None = None
    error: str | None = None


class _FloodControl(TelegramError):
    """A 429 caught by our transport before PTB builds RetryAfter (which warns in PTB 22)."""

    __slots__ = ("seconds",)

    def __init__(self, description: str, seconds: float | None) -> None:
        super().__init__(description)
        self.seconds = seconds


class _Transport(HTTPXRequest):
    """HTTPXRequest that turns 429 into _FloodControl, with or without `parameters`."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """Make the request; raise _FloodControl for HTTP 429."""
        code, payload = await super().do_request(*args, **kwargs)
        if code == HTTPStatus.TOO_MANY_REQUESTS:
            raise _flood_control(payload)
        return code, payload


def _flood_control(payload: bytes) -> _FloodControl:
    try:
        body = json.loads(payload)
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    description = str(body.get("description") or "Too Many Requests")
    parameters = body.get("parameters")
    seconds = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        # Before Bot API 3.x the wait was only in the text: "Too Many Requests: retry after 3".
        match = _RETRY_AFTER_TEXT.search(description)
        seconds = float(match.group(1)) if match else None
    return _FloodControl(description, None if seconds is None else float(seconds))


def _retry_after_seconds(exc: RetryAfter) -> float:
    """Read RetryAfter.retry_after as seconds, with or without PTB_TIMEDELTA, warning-free."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def outcome_of(exc: TelegramError) -> SendOutcome:
    """Classify a PTB error: flood and network trouble retry, a refused token is auth."""
    if isinstance(exc, _FloodControl):
        return SendOutcome("retry", retry_after=exc.seconds, error=exc.message)
    if isinstance(exc, RetryAfter):
        return SendOutcome("retry", retry_after=_retry_after_seconds(exc),
                           error="слишком часто (429)")
    if isinstance(exc, InvalidToken):
        # PTB's own message for this case quotes the token.
        return SendOutcome("auth", error="Telegram отклонил токен бота")
    if isinstance(exc, ChatMigrated):
        error = f"группа стала супергруппой, новый id чата {exc.new_chat_id}"
        return SendOutcome("failed", error=error)
    if isinstance(exc, Forbidden | BadRequest):
        return SendOutcome("failed", error=exc.message)
    if isinstance(exc, NetworkError):  # TimedOut, 5xx, refused connections
        return SendOutcome("retry", error=exc.message)
    if type(exc) is TelegramError:
        # PTB's "Invalid server response": an answer that is not JSON (a proxy's page, a body
        # cut short). Telegram refused nothing, so dropping the alert would lose it.
        return SendOutcome("retry", error=exc.message)
    return SendOutcome("failed", error=exc.message)


def alert_keyboard(link: str | None, incident_id: int | None) -> InlineKeyboardMarkup | None:
    """An alert's buttons: those that act on its incident, and «Открыть пост»."""
    if incident_id is not None:
        return incident_keyboard(incident_id, "open", link)
    rows = open_post_row(link)
    return InlineKeyboardMarkup(rows) if rows else None


def without_formatting(html_text: str) -> str:
    """Drop Telegram formatting tags and decode entities, leaving what a reader would see."""
    return html.unescape(_FORMATTING_TAG.sub("", html_text))


def scrub(text: str, token: str) -> str:
    """`text` with the token (whole, its secret half, URL-quoted) replaced by a mask."""
    secret = token.partition(":")[2]
    for part in (token, quote(token, safe=""), secret):
        if len(part) >= 8:
            text = text.replace(part, TOKEN_MASK)
    return text


class RedactToken(logging.Filter):
    """Mask the token in records of loggers that print Bot API URLs."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = scrub(message, self._token)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class AlertSender:
    """Sends staff alerts; owns the PTB Bot and its HTTP clients.

    Startup: `async with` calls getMe. A refused token raises TelegramAuthError, so a daemon
    with a wrong token stops at once. A network failure (timeout, 5xx, 429, no route) is
    only logged: the sender stays usable and repeats getMe before the next send, which
    reports "retry" until Telegram answers, so alerts wait in the outbox meanwhile.

    The token never leaves this object: HTTP clients ignore proxy variables, the "httpx"
    logger is quieted to WARNING unless configured, records of URL-printing loggers are
    redacted while the sender is open, and error texts are scrubbed.
    """

    def __init__(self, cfg: TelegramConfig, token: str) -> None:
        self._cfg = cfg
        self._token = token
        self._redactor = RedactToken(token)
        self._requests: tuple[HTTPXRequest, ...] = ()
        self._bot: Bot | None = None
        self._initialized = False

    async def __aenter__(self) -> Self:
        if not self._token.strip():
            raise TelegramAuthError("токен бота пуст")
        _guard_loggers(self._redactor)
        try:
            failure = await self._start()
        except BaseException:
            await self._close()
            raise
        if failure is not None and failure.status == "auth":
            await self._close()
            raise TelegramAuthError(failure.error)
        if failure is not None:
            _LOGGER.warning(
                "Telegram Bot API недоступен при запуске (%s); новая попытка — перед первым "
                "оповещением",
                failure.error,
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    @property
    def bot(self) -> Bot:
        """The token's one PTB Bot (for the update reader)."""
        if self._bot is None:
            raise RuntimeError("AlertSender is not open; use `async with`")
        return self._bot

    async def send(
        self, chat_id: int, html_text: str, link: str | None = None,
        incident_id: int | None = None, markup: InlineKeyboardMarkup | None = None,
        thread_id: int | None = None,
    ) -> SendOutcome:
        """Send one HTML message, in a forum topic with `thread_id`, with the buttons that act
        on `incident_id` and «Открыть пост» (or `markup`); never raises for API failures."""
        bot = self.bot
        if not self._initialized:
            failure = await self._initialize(bot)
            if failure is not None:
                return failure
        markup = markup or alert_keyboard(link, incident_id)
        outcome = await self._attempt(bot, chat_id, html_text, ParseMode.HTML, markup, thread_id)
        if outcome.status == "failed" and "can't parse entities" in (outcome.error or "").lower():
            # A formatting bug must not swallow the alert: staff still get the words.
            _LOGGER.warning(
                "оповещение в чат %s с испорченной HTML-разметкой (%s); отправляется простым "
                "текстом",
                chat_id, outcome.error,
            )
            outcome = await self._attempt(bot, chat_id, without_formatting(html_text), None,
                                          markup, thread_id)
        return outcome

    async def edit(
        self, chat_id: int, message_id: int, html_text: str,
        markup: InlineKeyboardMarkup | None,
    ) -> SendOutcome:
        """Replace a message's text and buttons; «not modified» counts as done."""
        try:
            await self.bot.edit_message_text(
                html_text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML,
                reply_markup=markup, link_preview_options=_NO_PREVIEW)
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return SendOutcome("sent", message_id=message_id)
            return self._scrubbed(outcome_of(exc))
        except TelegramError as exc:
            return self._scrubbed(outcome_of(exc))
        return SendOutcome("sent", message_id=message_id)

    async def answer_callback(self, query_id: str, text: str) -> SendOutcome:
        """Answer a button press (the user's client stops its spinner and shows `text`)."""
        try:
            await self.bot.answer_callback_query(query_id, text=text[:200])
        except TelegramError as exc:
            return self._scrubbed(outcome_of(exc))
        return SendOutcome("sent")

    async def send_document(self, chat_id: int, path: Path, caption: str = "") -> SendOutcome:
        """Upload one file (multipart sendDocument) with a plain-text caption."""
        return await self._upload(self._document, chat_id, path, caption)

    async def send_photos(self, chat_id: int, paths: Sequence[Path]) -> SendOutcome:
        """Upload pictures as one album (sendMediaGroup, 2–10), or one photo (sendPhoto)."""
        return await self._upload(self._photos, chat_id, list(paths)[:_ALBUM])

    async def _upload(self, call: Callable[..., Awaitable[int]], *args: Any) -> SendOutcome:
        if not self._initialized:
            failure = await self._initialize(self.bot)
            if failure is not None:
                return failure
        try:
            message_id = await call(*args)
        except TelegramError as exc:
            return self._scrubbed(outcome_of(exc))
        except OSError as exc:
            return SendOutcome("failed", error=f"файл не прочитан: {exc}")
        return SendOutcome("sent", message_id=message_id)

    async def _document(self, chat_id: int, path: Path, caption: str) -> int:
        message = await self.bot.send_document(
            chat_id, path.read_bytes(), filename=path.name, caption=caption[:_CAPTION] or None,
            write_timeout=_UPLOAD_TIMEOUT)
        return message.message_id

    async def _photos(self, chat_id: int, paths: list[Path]) -> int:
        if len(paths) == 1:
            return (await self.bot.send_photo(chat_id, paths[0].read_bytes(),
                                              write_timeout=_UPLOAD_TIMEOUT)).message_id
        media = [InputMediaPhoto(path.read_bytes(), filename=path.name) for path in paths]
        sent = await self.bot.send_media_group(chat_id, media, write_timeout=_UPLOAD_TIMEOUT)
        return sent[0].message_id

    async def set_commands(self, commands: list[tuple[str, str]]) -> SendOutcome:
        """Register the bot's commands with their descriptions (the «/» menu)."""
        try:
            await self.bot.set_my_commands([BotCommand(c, d) for c, d in commands])
        except TelegramError as exc:
            return self._scrubbed(outcome_of(exc))
        return SendOutcome("sent")

    async def _start(self) -> SendOutcome | None:
        seconds = self._cfg.timeout.total_seconds()
        self._requests = tuple(_transport(seconds) for _ in range(2))
        self._bot = Bot(
            self._token,
            base_url=self._cfg.base_url,
            request=self._requests[0],
            get_updates_request=self._requests[1],
        )
        return await self._initialize(self._bot)

    async def _attempt(
        self,
        bot: Bot,
        chat_id: int,
        text: str,
        parse_mode: str | None,
        markup: InlineKeyboardMarkup | None,
        thread_id: int | None = None,
    ) -> SendOutcome:
        try:
            message = await bot.send_message(
                chat_id,
                text,
                parse_mode=parse_mode,
                link_preview_options=_NO_PREVIEW,
                reply_markup=markup,
                message_thread_id=thread_id,
            )
        except TelegramError as exc:
            return self._scrubbed(outcome_of(exc))
        return SendOutcome("sent", message_id=message.message_id)

    async def _initialize(self, bot: Bot) -> SendOutcome | None:
        try:
            await bot.initialize()
        except TelegramError as exc:
            return self._scrubbed(outcome_of(exc))
        self._initialized = True
        return None

    def _scrubbed(self, outcome: SendOutcome) -> SendOutcome:
        error = scrub(outcome.error or "", self._token)[:_ERROR_LIMIT]
        return replace(outcome, error=error or None)

    async def _close(self) -> None:
        try:
            for request in self._requests:
                await request.shutdown()
        finally:
            self._requests, self._bot, self._initialized = (), None, False
            for name in _URL_LOGGERS:
                logging.getLogger(name).removeFilter(self._redactor)


def _transport(seconds: float) -> HTTPXRequest:
    return _Transport(
        connect_timeout=seconds,
        read_timeout=seconds,
        write_timeout=seconds,
        pool_timeout=seconds,
        httpx_kwargs={"trust_env": False},
    )


def _guard_loggers(redactor: logging.Filter) -> None:
    httpx_logger = logging.getLogger("httpx")
    if httpx_logger.level == logging.NOTSET:
        # httpx logs every request URL at INFO; the operator may still opt in explicitly.
        httpx_logger.setLevel(logging.WARNING)
    for name in _URL_LOGGERS:
        logging.getLogger(name).addFilter(redactor)
