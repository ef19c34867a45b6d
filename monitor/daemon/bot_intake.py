"""Citizens' messages in chats and channels the bot is in: kept as they arrive, for their
`telegram_bot` sources to read (one handler of the token's update reader)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from telegram import Update

from common.clock import Clock
from connectors.telegram_bot import UPDATE_TYPES, chat_of
from storage import Store

log = logging.getLogger(__name__)


class BotIntake:
    """Keeps every update of the source chats; staff chats are never among them."""

    update_types: Sequence[str] = (*UPDATE_TYPES, "my_chat_member")

    def __init__(self, store: Store, clock: Clock, chats: set[int]) -> None:
        self._store = store
        self._clock = clock
        self._chats = chats

    def wants(self, update: Update | None, raw: Mapping[str, Any]) -> bool:
        """Any message (new or edited) of a source chat, read by PTB or not, and changes of
        the bot's own membership there."""
        return (chat_of(raw) or _membership_chat(raw)) in self._chats

    async def handle(self, update: Update | None, raw: Mapping[str, Any]) -> bool:
        """Keep the update as Telegram sent it and mark it handled, in one transaction."""
        chat = chat_of(raw)
        if chat is None:
            _say_membership(raw)
            return False
        await self._store.keep_bot_update(int(raw["update_id"]), chat,
                                          json.dumps(raw, ensure_ascii=False),
                                          self._clock.now())
        return True


def _membership_chat(raw: Mapping[str, Any]) -> int | None:
    change = raw.get("my_chat_member")
    chat = change.get("chat") if isinstance(change, Mapping) else None
    chat_id = chat.get("id") if isinstance(chat, Mapping) else None
    return chat_id if isinstance(chat_id, int) else None


def _say_membership(raw: Mapping[str, Any]) -> None:
    """The bot was removed from (or added back to) a source chat: said once, as it happens."""
    change = raw.get("my_chat_member")
    member = change.get("new_chat_member") if isinstance(change, Mapping) else None
    status = member.get("status") if isinstance(member, Mapping) else None
    chat = _membership_chat(raw)
    if status in ("left", "kicked"):
        log.error("бота удалили из чата %s (%s): источник telegram_bot ничего не получит, "
                  "пока бота не вернут", chat, status)
    else:
        log.info("бот в чате %s теперь: %s", chat, status)
