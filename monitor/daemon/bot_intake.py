"""Citizens' messages in chats and channels the bot is in: kept as they arrive, for their
`telegram_bot` sources to read (one handler of the token's update reader)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from telegram import Update

from common.clock import Clock
from connectors.telegram_bot import UPDATE_TYPES, chat_of
from storage import Store


class BotIntake:
    """Keeps every update of the source chats; staff chats are never among them."""

    update_types: Sequence[str] = UPDATE_TYPES

    def __init__(self, store: Store, clock: Clock, chats: set[int]) -> None:
        self._store = store
        self._clock = clock
        self._chats = chats

    def wants(self, update: Update | None, raw: Mapping[str, Any]) -> bool:
        """Any message (new or edited) of a source chat, read by PTB or not."""
        return chat_of(raw) in self._chats

    async def handle(self, update: Update | None, raw: Mapping[str, Any]) -> bool:
        """Keep the update as Telegram sent it and mark it handled, in one transaction."""
        chat = chat_of(raw)
        assert chat is not None
        await self._store.keep_bot_update(int(raw["update_id"]), chat,
                                          json.dumps(raw, ensure_ascii=False),
                                          self._clock.now())
        return True
