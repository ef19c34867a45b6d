"""Incoming side of the fake Bot API: the getUpdates queue, the bot's message store, commands.

Nothing here touches HTTP; fakes/bot_api.py wires it to the routes. The shapes follow
the captures in /work/shared/fixtures/telegram_bot/ (getUpdates_*.json,
update_callback_query_inline_keyboard_2022-05-05.json) and the limits follow
tdlib/telegram-bot-api and TDLib's set_commands checks.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

FIRST_UPDATE_ID = 726_400_001
FIRST_CALLBACK_ID = 4_382_915_800_000_000_000
MAX_UPDATES = 100
MAX_COMMANDS = 100
MAX_COMMAND_LENGTH = 32
MAX_DESCRIPTION_LENGTH = 256
MAX_CALLBACK_DATA_BYTES = 64
# Bot API: an empty allowed_updates means every type except these three.
OPT_IN_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")
_COMMAND_NAME = re.compile(r"[a-z0-9_]+")
_LANGUAGE_CODE = re.compile(r"(?:[a-z]{2})?")
_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>|&[^;]*;|[^<&]+")
_HREF = re.compile(r"""href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_TAG_ALIASES = {
    "strong": "b", "em": "i", "ins": "u", "strike": "s", "del": "s", "span": "tg-spoiler",
}


def _now() -> int:
    return int(time.time())


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _update_kind(update: dict[str, Any]) -> str:
    return next(key for key in update if key != "update_id")


def encode_updates(updates: Iterable[dict[str, Any]]) -> bytes:
    """A getUpdates body as the Bot API writes it: a newline after each `"update_id":N,`."""
    parts = []
    for update in updates:
        kind = _update_kind(update)
        payload = json.dumps(update[kind], separators=(",", ":"))
        parts.append(f'{{"update_id":{update["update_id"]},\n"{kind}":{payload}}}')
    return ('{"ok":true,"result":[' + ",".join(parts) + "]}").encode()


def command_entities(text: str) -> list[dict[str, Any]]:
    """The `bot_command` entity Telegram adds to a text that starts with `/command[@bot]`."""
    match = _COMMAND.match(text)
    if match is None:
        return []
    return [{"offset": 0, "length": _utf16_length(match.group()), "type": "bot_command"}]


def user(user_id: int, first_name: str, username: str | None = None) -> dict[str, Any]:
    sender: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username is not None:
        sender["username"] = username
    sender["language_code"] = "ru"
    return sender


def user_chat(
    chat_id: int, chat_type: str | None, sender: dict[str, Any], title: str | None
) -> dict[str, Any]:
    """The `chat` of a message a user wrote; the type is guessed from the id when not given."""
    kind = chat_type or (
        "private" if chat_id > 0 else "supergroup" if chat_id <= -1_000_000_000_000 else "group"
    )
    if kind == "private":
        if chat_id != sender["id"]:
            raise ValueError("a private chat has the id of the user in it")
        chat = {"id": chat_id, "first_name": sender["first_name"]}
        if "username" in sender:
            chat["username"] = sender["username"]
        return {**chat, "type": "private"}
    if kind not in ("group", "supergroup") or chat_id >= 0:
        raise ValueError(f"users write in private chats, groups or supergroups, not {kind!r}")
    return {"id": chat_id, "title": title or "Дежурная смена", "type": kind}


def chat_instance(chat_id: int) -> str:
    """A stable signed 64-bit string per chat, like Telegram's `chat_instance`."""
    digest = hashlib.sha256(str(chat_id).encode()).digest()
    return str(int.from_bytes(digest[:8], "big", signed=True))


def html_formatting(text: str) -> tuple[tuple[Any, ...], ...]:
    """Where validated HTML puts its formatting, so `<b>` and `<strong>` compare equal."""
    marks: list[tuple[Any, ...]] = []
    position = 0
    for match in _TOKEN.finditer(text):
        if match.group(2) is None:
            position += 1 if match.group().startswith("&") else len(match.group())
            continue
        name = match.group(2).lower()
        href = _HREF.search(match.group(3) or "")
        link = next((g for g in href.groups() if g is not None), "") if href else ""
        marks.append((position, bool(match.group(1)), _TAG_ALIASES.get(name, name), link))
    return tuple(marks)


def markup_error(markup: object) -> str | None:
    """Telegram's refusal of an inline keyboard, if any."""
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    for button in (b for row in rows for b in row if isinstance(b, dict)):
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
            return "Bad Request: BUTTON_DATA_INVALID"
    return None


@dataclass
class _Poll:
    terminated: bool = False


class UpdateQueue:
    """Pending updates with increasing ids, confirmed by `offset` as getUpdates does.

    Like the Bot API, the allowed_updates setting persists between calls until a call
    passes a new one, and updates of types it excludes are never delivered.
    """

    def __init__(self, long_poll_cap: float = 1.0) -> None:
        self.long_poll_cap = long_poll_cap
        self.confirmed: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []
        self._next_id = FIRST_UPDATE_ID
        self._allowed: frozenset[str] | None = None
        self._wake = asyncio.Event()
        self._active: _Poll | None = None
        self._closed = False

    @property
    def pending(self) -> tuple[dict[str, Any], ...]:
        return tuple(copy.deepcopy(self._pending))

    @property
    def polling(self) -> bool:
        """True while a getUpdates call is waiting in its long poll."""
        return self._active is not None

    def push(self, kind: str, payload: dict[str, Any]) -> int:
        update_id = self._next_id
        self._next_id += 1
        self._pending.append({"update_id": update_id, kind: payload})
        self._wake.set()
        return update_id

    def drop_pending(self) -> None:
        self.confirmed.extend(self._pending)
        self._pending.clear()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    async def poll(
        self, offset: int, limit: int, timeout: float, allowed: list[str] | None
    ) -> list[dict[str, Any]] | None:
        """Updates for one getUpdates call; None if a newer call terminated this one."""
        if self._active is not None:
            self._active.terminated = True
            self._wake.set()
        ticket = self._active = _Poll()
        try:
            self._confirm(offset)
            if allowed is not None:
                self._allowed = frozenset(allowed) if allowed else None
            return await self._wait(ticket, limit, min(timeout, self.long_poll_cap))
        finally:
            if self._active is ticket:
                self._active = None

    async def _wait(self, ticket: _Poll, limit: int, timeout: float) -> list[dict[str, Any]] | None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if ticket.terminated:
                return None
            updates = self._deliverable(limit)
            remaining = deadline - asyncio.get_running_loop().time()
            if updates or self._closed or remaining <= 0:
                return updates
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                pass

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            cut = max(len(self._pending) + offset, 0)
        else:
            cut = next(
                (i for i, u in enumerate(self._pending) if u["update_id"] >= offset),
                len(self._pending),
            )
        self.confirmed.extend(self._pending[:cut])
        del self._pending[:cut]

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        kept = []
        for update in self._pending:
            kind = _update_kind(update)
            allowed = kind in self._allowed if self._allowed else kind not in OPT_IN_TYPES
            (kept if allowed else self.skipped).append(update)
        self._pending = kept
        return copy.deepcopy(kept[:limit])


class MessageStore:
    """The bot's own messages by (chat_id, message_id), and the ids users wrote."""

    def __init__(self) -> None:
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.formatting: dict[tuple[int, int], tuple[tuple[Any, ...], ...]] = {}
        self.foreign: set[tuple[int, int]] = set()
        self._last_message_id = 0

    def next_id(self) -> int:
        self._last_message_id += 1
        return self._last_message_id

    def claim(self, chat_id: int, message_id: int | None) -> int:
        """Reserve an id for a message a user wrote."""
        if message_id is None:
            message_id = self.next_id()
        self._last_message_id = max(self._last_message_id, message_id)
        self.foreign.add((chat_id, message_id))
        return message_id

    def keep(self, message: dict[str, Any], formatting: tuple[tuple[Any, ...], ...]) -> None:
        key = (message["chat"]["id"], message["message_id"])
        self.messages[key] = copy.deepcopy(message)
        self.formatting[key] = formatting

    def edit(
        self,
        key: tuple[int, int],
        changes: dict[str, Any],
        formatting: tuple[tuple[Any, ...], ...] | None = None,
    ) -> dict[str, Any] | str:
        """Apply `changes` (text and/or reply_markup, None removes); the message or an error."""
        if key in self.foreign:
            return "Bad Request: message can't be edited"
        if key not in self.messages:
            return "Bad Request: message to edit not found"
        old = self.messages[key]
        new = {k: v for k, v in {**old, **changes}.items() if v is not None}
        same_text = new.get("text") == old.get("text") and (
            formatting is None or formatting == self.formatting.get(key)
        )
        if same_text and new.get("reply_markup") == old.get("reply_markup"):
            return (
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message"
            )
        new["edit_date"] = _now()
        self.keep(new, self.formatting[key] if formatting is None else formatting)
        return copy.deepcopy(new)


def parse_commands(commands: object) -> tuple[list[dict[str, str]], str | None]:
    """The command list as Telegram stores it (trimmed, no leading `/`), or its refusal."""
    if commands is None or commands == "":
        return [], None
    if isinstance(commands, str):
        return [], "Bad Request: can't parse commands JSON"
    if not isinstance(commands, list):
        return [], "Bad Request: expected an Array of BotCommand"
    parsed = []
    for item in commands:
        if not isinstance(item, dict):
            return [], "Bad Request: can't parse BotCommand: expected an Object"
        for field in ("command", "description"):
            if field not in item:
                return [], f'Bad Request: can\'t parse BotCommand: Can\'t find field "{field}"'
            if not isinstance(item[field], str):
                return [], (
                    f'Bad Request: can\'t parse BotCommand: Field "{field}" must be of type String'
                )
        parsed.append({"command": item["command"], "description": item["description"]})
    return _checked_commands(parsed)


def _checked_commands(parsed: list[dict[str, str]]) -> tuple[list[dict[str, str]], str | None]:
    cleaned = []
    for item in parsed:
        command = item["command"].strip().removeprefix("/")
        description = item["description"].strip()
        if not command:
            return [], "Bad Request: command must be non-empty"
        if len(command) > MAX_COMMAND_LENGTH:
            return [], f"Bad Request: command length must not exceed {MAX_COMMAND_LENGTH}"
        if not description:
            return [], "Bad Request: command description must be non-empty"
        if len(description) > MAX_DESCRIPTION_LENGTH:
            return [], (
                "Bad Request: command description length must not exceed "
                f"{MAX_DESCRIPTION_LENGTH}"
            )
        cleaned.append({"command": command, "description": description})
    if len(cleaned) > MAX_COMMANDS:
        return [], "Bad Request: BOT_COMMANDS_TOO_MUCH"
    if any(not _COMMAND_NAME.fullmatch(item["command"]) for item in cleaned):
        return [], "Bad Request: BOT_COMMAND_INVALID"
    return cleaned, None


def language_code_error(language_code: object) -> str | None:
    if _LANGUAGE_CODE.fullmatch(str(language_code or "")):
        return None
    return "Bad Request: invalid language code specified"
