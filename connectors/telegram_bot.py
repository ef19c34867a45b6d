"""Telegram chats and channels where the МЦУ's bot is a member: group messages, channel posts,
comments in a channel's linked discussion group, edits.

A bot token has one update stream, read by the daemon's update reader (monitor/daemon/
bot_updates.py): updates of a source's chats are kept in the store as they arrive, marked
handled in the same transaction, and this source reads them from there (`SourceContext.inbox`)
— so what the bot received is never lost, and the poller stores the items with the cursor.

Whose message: a post of the channel itself, a message sent on behalf of the channel or the
group (`sender_chat`), or one by a listed official account is not a citizen's; when it replies
to a message, it answers that message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from common.durations import Duration
from connectors.base import (
    ConnectorSpec,
    Cursor,
    Item,
    Page,
    PermanentSourceError,
    SourceContext,
    SourceSettings,
    TransientSourceError,
    register,
    unix_moment,
)

NETWORK = "telegram_bot"
MAX_TEXT = 20_000
UPDATE_TYPES = ("message", "edited_message", "channel_post", "edited_channel_post")


class TelegramBotSettings(SourceSettings):
    """A `[[sources]]` table with network = "telegram_bot": a chat or channel the bot is in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: Literal["telegram_bot"]
    chat_id: int
    discussion_chat_id: int | None = None
    """A channel's linked discussion group, where comments under its posts are written."""
    interval: Duration = timedelta(seconds=15)
    page: int = Field(default=500, ge=1, le=5000)

    def target(self) -> str:
        """The chat read."""
        linked = f" и обсуждение {self.discussion_chat_id}" if self.discussion_chat_id else ""
        return f"чат {self.chat_id}{linked} через бота"

    @model_validator(mode="after")
    def _distinct(self) -> TelegramBotSettings:
        if self.discussion_chat_id == self.chat_id:
            msg = "discussion_chat_id: обсуждение — другой чат, не сам канал"
            raise ValueError(msg)
        return self

    def chats(self) -> list[int]:
        """Every chat this source reads."""
        return [self.chat_id, *([self.discussion_chat_id] if self.discussion_chat_id else [])]


def message_of(update: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The message an update carries (new or edited, in a chat or a channel), if any."""
    for kind in UPDATE_TYPES:
        message = update.get(kind)
        if isinstance(message, Mapping):
            return message
    return None


def chat_of(update: Mapping[str, Any]) -> int | None:
    """The chat an update's message belongs to."""
    message = message_of(update)
    chat = message.get("chat") if message is not None else None
    chat_id = chat.get("id") if isinstance(chat, Mapping) else None
    return chat_id if isinstance(chat_id, int) and not isinstance(chat_id, bool) else None


def external_id(chat_id: int, message_id: int) -> str:
    """«tg:-100123:45»: a chat message's id in the store."""
    return f"tg:{chat_id}:{message_id}"


def _link(chat: Mapping[str, Any], message_id: int) -> str:
    username = chat.get("username")
    if isinstance(username, str) and username:
        return f"https://t.me/{username}/{message_id}"
    chat_id = str(chat.get("id", ""))
    internal = chat_id[4:] if chat_id.startswith("-100") else chat_id.lstrip("-")
    return f"https://t.me/c/{internal}/{message_id}"


@dataclass
class TelegramBotSource:
    """Reads the kept updates of its chats and turns them into items."""

    settings: TelegramBotSettings
    context: SourceContext

    def __post_init__(self) -> None:
        self.id = self.settings.id

    async def fetch(self, cursor: Cursor | None) -> Page:
        """Items from the updates kept since the cursor's inbox position."""
        if self.context.inbox is None:
            raise PermanentSourceError("telegram_bot: источник работает только внутри демона")
        after = (cursor or {}).get("after")
        after = after if isinstance(after, int) and not isinstance(after, bool) else 0
        try:
            rows = await self.context.inbox(self.settings.chats(), after, self.settings.page)
        except Exception as exc:  # the store behind the inbox: try again at the next poll
            raise TransientSourceError(f"telegram_bot: сохранённые обновления не прочитаны: "
                                       f"{exc}") from exc
        notices: list[str] = []
        items = []
        for _, payload in rows:
            item = self._item(payload, notices)
            if item is not None:
                items.append(item)
        last = rows[-1][0] if rows else after
        return Page(items, {"after": last}, notices)

    def _item(self, payload: str, notices: list[str]) -> Item | None:
        try:
            update = json.loads(payload)
        except ValueError:
            notices.append("telegram_bot: сохранённое обновление не JSON")
            return None
        message = message_of(update) if isinstance(update, Mapping) else None
        if message is None:
            return None
        return self._message_item(message, notices)

    def _message_item(self, message: Mapping[str, Any], notices: list[str]) -> Item | None:
        chat, number = message.get("chat"), _whole(message.get("message_id"))
        date = unix_moment(_whole(message.get("date")))
        chat_id = _whole(chat.get("id")) if isinstance(chat, Mapping) else None
        if not isinstance(chat, Mapping) or number is None or date is None or chat_id is None:
            notices.append(f"telegram_bot: сообщение без chat/message_id/date: "
                           f"{str(message)[:80]}")
            return None
        text = message.get("text") or message.get("caption")
        if not isinstance(text, str) or not text.strip():
            kind = next((k for k in ("sticker", "poll", "photo", "video", "voice", "document")
                         if k in message), "без текста")
            notices.append(f"telegram_bot: сообщение без текста ({kind}) пропущено")
            return None
        author, name = self._author(message, chat_id)
        name = self.context.official.get(author, name)
        reply = message.get("reply_to_message")
        parent = (external_id(chat_id, reply["message_id"])
                  if isinstance(reply, Mapping) and isinstance(reply.get("message_id"), int)
                  else None)
        return Item(self.id, external_id(chat_id, number), _link(chat, number), text[:MAX_TEXT],
                    date, author=name, kind=_kind(message, chat),
                    parent_external_id=parent, is_official=self._official(message, author),
                    author_id=author, edited="edit_date" in message)

    def _author(self, message: Mapping[str, Any], chat_id: int) -> tuple[str, str]:
        """(id, name) of whoever wrote it: a person, or the chat it was sent on behalf of."""
        sender = message.get("sender_chat")
        if isinstance(sender, Mapping):
            return str(sender.get("id", chat_id)), str(sender.get("title") or "канал")
        person = message.get("from")
        if isinstance(person, Mapping):
            name = " ".join(str(person.get(k) or "") for k in ("first_name", "last_name"))
            return str(person.get("id", "")), name.strip() or "участник"
        return str(chat_id), "канал"

    def _official(self, message: Mapping[str, Any], author: str) -> bool:
        """On behalf of the channel or group itself (channel posts, automatic forwards,
        anonymous admins), or by a listed official account."""
        own = {str(chat) for chat in self.settings.chats()}
        return author in own or author in self.context.official \
            or bool(message.get("is_automatic_forward"))


def _whole(value: object) -> int | None:
    """A JSON integer as Telegram writes ids and dates (not a bool, a string or a float)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _kind(message: Mapping[str, Any], chat: Mapping[str, Any]) -> str:
    if chat.get("type") == "channel":
        return "post"
    return "comment" if isinstance(message.get("reply_to_message"), Mapping) else "message"


SPEC = register(ConnectorSpec(network=NETWORK, settings_model=TelegramBotSettings,
                              create=TelegramBotSource))
