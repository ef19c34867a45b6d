"""The one reader of a bot token's updates: every update goes to the handler that wants it.

A token has one update stream (a second reader gets 409 Conflict), so staff buttons and
commands today, and intake from chats where the bot is a member later, register here.

No update is lost or applied twice: Telegram forgets an update only when a later getUpdates
confirms it, and we confirm only what is stored as handled. A handler that changes the store
records the update id in the same transaction as its change (`Store.act(…, bot_update=…)`);
for the others the reader records it after the handler returns. After a crash, updates up to
the recorded id are skipped, the rest are handled again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.warnings import PTBUserWarning

from common.clock import Clock
from storage import StorageError, Store

log = logging.getLogger(__name__)

_MAX_PAUSE = 300.0
STALE = timedelta(days=1)
"""An offset older than this is not sent: Telegram no longer holds what it would skip."""


class UpdateHandler(Protocol):
    """Something that acts on some of the bot's updates."""

    update_types: Sequence[str]
    """The Bot API update types it needs (`allowed_updates`)."""

    def wants(self, update: Update | None, raw: Mapping[str, Any]) -> bool:
        """Whether this update is for it (`update` is None when PTB could not read `raw`)."""
        ...

    async def handle(self, update: Update | None, raw: Mapping[str, Any]) -> bool:
        """Act on the update; True when the update id was stored with the change itself."""
        ...


@dataclass(slots=True)
class BotUpdates:
    """Reads updates with getUpdates and hands each to the first handler that wants it."""

    bot: Bot
    store: Store
    clock: Clock
    long_poll: float = 25.0
    read_timeout: float = 10.0
    handlers: list[UpdateHandler] = field(default_factory=list)
    failures: int = 0
    unreadable: set[str] = field(default_factory=set)

    def add(self, handler: UpdateHandler) -> None:
        """Register a handler; earlier ones are asked first."""
        self.handlers.append(handler)

    @property
    def allowed_updates(self) -> list[str]:
        """Every update type some handler needs."""
        return sorted({kind for handler in self.handlers for kind in handler.update_types})

    async def poll_once(self, timeout: float = 0) -> int:
        """Fetch one batch (waiting up to `timeout` s for it) and handle it; return how many
        updates were handled. Raises TelegramError and StorageError to the caller."""
        stored = await self.store.last_bot_update()
        last = None
        if stored is not None and self.clock.now() - stored[1] < STALE:
            last = stored[0]
        # Telegram keeps an update 24 hours, and after a week of silence numbers them anew,
        # possibly lower: an old offset would hide every new update, so it is dropped.
        kwargs: dict[str, Any] = {"timeout": int(timeout), "allowed_updates": self.allowed_updates}
        if last is not None:
            kwargs["offset"] = last + 1
        with warnings.catch_warnings():  # the raw call: one unreadable update spoils no batch
            warnings.simplefilter("ignore", PTBUserWarning)
            raw = await self.bot.do_api_request("getUpdates", api_kwargs=kwargs,
                                                read_timeout=timeout + self.read_timeout)
        handled = 0
        for body in raw if isinstance(raw, list) else []:
            number = body.get("update_id") if isinstance(body, dict) else None
            if not isinstance(number, int) or (last is not None and number <= last):
                continue  # handled before a restart, not yet confirmed to Telegram
            await self._dispatch(number, body)
            handled += 1
        return handled

    def _parsed(self, body: Mapping[str, Any]) -> Update | None:
        try:
            return Update.de_json(dict(body), self.bot)
        except Exception as exc:  # a shape PTB cannot read: the raw update still goes on
            kind = type(exc).__name__
            if kind not in self.unreadable:
                self.unreadable.add(kind)
                log.warning("обновление бота, которое PTB не читает (%s: %s); обработано "
                            "в исходном виде", kind, str(exc)[:200])
            return None

    async def _dispatch(self, number: int, body: Mapping[str, Any]) -> None:
        update = self._parsed(body)
        handler = next((h for h in self.handlers if h.wants(update, body)), None)
        recorded = False
        try:
            if handler is not None:
                recorded = await handler.handle(update, body)
        except (StorageError, asyncio.CancelledError):
            raise  # not handled: it comes again
        except Exception:
            # A handler's bug must not make an update come back for ever.
            log.exception("обновление бота %s не обработано и пропущено", number)
        if not recorded:
            await self.store.save_bot_update(number, self.clock.now())

    async def run(self, stop: asyncio.Event) -> None:
        """Read updates until `stop` is set; failures pause with backoff, a refused token or a
        second reader of the same token stops reading (said once)."""
        while not stop.is_set():
            try:
                await self.poll_once(self.long_poll)
                self.failures = 0
                continue
            except asyncio.CancelledError:
                raise
            except InvalidToken:
                log.error("Telegram отклонил токен бота: кнопки и команды сотрудников "
                          "не работают")
                return
            except Conflict:
                # Another reader took the stream (a second daemon, or `monitor telegram chats`
                # for a moment): keep trying, slowly.
                pause = self._failed("обновления этого бота читает другой процесс (409 "
                                     "Conflict): на один токен — один демон")
            except (TelegramError, StorageError) as exc:
                pause = self._failed(f"обновления бота не прочитаны ({exc})")
            try:
                await asyncio.wait_for(stop.wait(), pause)
            except TimeoutError:
                pass

    def _failed(self, what: str) -> float:
        """Count a failure, say it once per spell, and return the pause before the next try."""
        self.failures += 1
        pause = min(2.0 ** self.failures, _MAX_PAUSE) * random.uniform(0.5, 1.0)
        log.log(logging.ERROR if self.failures == 1 else logging.DEBUG,
                "%s; следующая попытка через %.0f с", what, pause)
        return pause
