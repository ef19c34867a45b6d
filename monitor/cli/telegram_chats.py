"""`monitor telegram chats`: who wrote to the bot or added it, with the ids the config needs.

One getUpdates call without an offset and with timeout 0: nothing is confirmed, so the
daemon still gets every update. The allowed update types are left as they are (the daemon
sets its own). The token never reaches the output: not in messages, not in log lines.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from telegram import Bot, Update
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    TelegramError,
)
from telegram.request import HTTPXRequest

from monitor.cli.chat_table import chats_report
from monitor.config.settings import TelegramConfig
from monitor.daemon.alert_sender import RedactToken, scrub


@dataclass(frozen=True, slots=True)
class BotInbox:
    """The bot's name and the updates waiting for it."""

    username: str
    updates: tuple[Update, ...]


class _TooManyRequests(TelegramError):
    """A 429, raised before PTB builds RetryAfter (which warns in PTB 22)."""


class _Request(HTTPXRequest):
    """HTTPXRequest that reports 429 as _TooManyRequests."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        """Make the request; raise _TooManyRequests for HTTP 429."""
        code, payload = await super().do_request(*args, **kwargs)
        if code == HTTPStatus.TOO_MANY_REQUESTS:
            raise _TooManyRequests("Too Many Requests")
        return code, payload


@contextmanager
def token_kept_out_of_logs(token: str) -> Iterator[None]:
    """While inside: the root logger's handlers mask the token; httpx's per-request INFO
    lines are off unless the operator set httpx's level."""
    redact = RedactToken(token)
    handlers = list(logging.getLogger().handlers)
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    if level == logging.NOTSET:
        httpx_logger.setLevel(logging.WARNING)
    for handler in handlers:
        handler.addFilter(redact)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(redact)
        httpx_logger.setLevel(level)


async def read_inbox(cfg: TelegramConfig, token: str) -> BotInbox:
    """getMe, then one getUpdates (no offset, timeout 0). Raises TelegramError."""
    seconds = cfg.timeout.total_seconds()
    requests = [_Request(connect_timeout=seconds, read_timeout=seconds, write_timeout=seconds,
                         pool_timeout=seconds, httpx_kwargs={"trust_env": False})
                for _ in range(2)]
    bot = Bot(token, base_url=cfg.base_url, request=requests[0],
              get_updates_request=requests[1])
    async with bot:
        updates = await bot.get_updates(timeout=0)
        return BotInbox(bot.username, tuple(updates))


def failure_text(exc: TelegramError, cfg: TelegramConfig) -> str:
    """What went wrong, in Russian (the caller masks the token)."""
    if isinstance(exc, Conflict):
        if "webhook" in exc.message.lower():
            return ("У бота настроен webhook: Telegram отправляет обновления туда, и getUpdates "
                    "недоступен. Снимите webhook (deleteWebhook) или смотрите чаты там.")
        return ("Обновления бота сейчас читает другой процесс — скорее всего, запущенный демон "
                "(monitor run): Telegram отдаёт их только одному читателю. Остановите демон "
                "на время этой команды или найдите id чатов и людей в журнале демона.")
    if isinstance(exc, InvalidToken):
        return (f"Telegram не принял токен бота из переменной {cfg.token_env}: проверьте "
                "токен у @BotFather и [telegram] base_url.")
    if isinstance(exc, _TooManyRequests):
        return "Telegram просит подождать (429 Too Many Requests): повторите команду позже."
    if isinstance(exc, BadRequest | Forbidden):
        return f"Telegram отказал: {exc.message}"
    if isinstance(exc, NetworkError):
        return f"Не удалось связаться с Telegram ({cfg.base_url}): {exc.message}"
    return f"Ошибка Telegram: {exc.message}"


async def telegram_chats(cfg: TelegramConfig, env: Mapping[str, str] | None = None) -> int:
    """Print the chats and people in the bot's waiting updates; return the exit code."""
    token = (os.environ if env is None else env).get(cfg.token_env, "").strip()
    if not token:
        print(f"Ошибка: переменная окружения {cfg.token_env} с токеном бота не задана "
              "([telegram] token_env). Задайте её и повторите команду.", file=sys.stderr)
        return 2
    with token_kept_out_of_logs(token):
        try:
            inbox = await read_inbox(cfg, token)
        except TelegramError as exc:
            print(scrub(failure_text(exc, cfg), token), file=sys.stderr)
            return 1
    print(scrub(chats_report(inbox.username, inbox.updates), token))
    return 0
