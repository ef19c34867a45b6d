"""The chats and people in the bot's updates, as `monitor telegram chats` prints them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import Update

from monitor.cli.terminal import one_line

NAME_LIMIT = 64
_KINDS = {"private": "личный", "group": "группа", "supergroup": "супергруппа",
          "channel": "канал"}


@dataclass(frozen=True, slots=True)
class SeenChat:
    """A chat an update came from."""

    id: int
    kind: str
    title: str


@dataclass(frozen=True, slots=True)
class SeenUser:
    """A person (or bot) an update came from."""

    id: int
    name: str
    username: str | None
    is_bot: bool

    @property
    def shown(self) -> str:
        """«Иванова Анна (@ivanova)»."""
        return f"{self.name} (@{self.username})" if self.username else self.name


def seen(updates: Sequence[Update]) -> tuple[list[SeenChat], list[SeenUser]]:
    """Every chat and user in the updates, once each, in the order they first wrote; names
    as the latest update has them, made safe for a terminal."""
    chats: dict[int, SeenChat] = {}
    users: dict[int, SeenUser] = {}
    for update in updates:
        chat, user = update.effective_chat, update.effective_user
        if chat is not None:
            title = one_line(chat.effective_name or chat.username or "", NAME_LIMIT)
            chats[chat.id] = SeenChat(chat.id, chat.type, title or f"чат {chat.id}")
        if user is not None:
            name = one_line(user.full_name, NAME_LIMIT) or f"id {user.id}"
            username = one_line(user.username, NAME_LIMIT) if user.username else None
            users[user.id] = SeenUser(user.id, name, username or None, user.is_bot)
    return list(chats.values()), list(users.values())


def chats_report(bot_username: str, updates: Sequence[Update]) -> str:
    """The tables of chats and people with the config lines for them, or how to get some."""
    chats, users = seen(updates)
    bot = f"@{one_line(bot_username, NAME_LIMIT)}"
    if not chats and not users:
        return _nothing_yet(bot)
    lines = [f"Бот {bot}: обновлений {len(updates)} (команда их не подтверждает, демон "
             "получит их как обычно).", "", "Чаты:", _row("id", "тип", "название")]
    lines += [_row(str(c.id), _KINDS.get(c.kind, one_line(c.kind, 20)), c.title) for c in chats]
    lines += ["", "Люди:", _row("id", "", "имя")]
    lines += [_row(str(u.id), "бот" if u.is_bot else "", u.shown) for u in users]
    return "\n".join(lines + _hints(chats, users))


def _row(first: str, second: str, third: str) -> str:
    return f"  {first:<16} {second:<12} {third}".rstrip()


def _hints(chats: Sequence[SeenChat], users: Sequence[SeenUser]) -> list[str]:
    groups = [c for c in chats if c.kind != "private"]
    people = [u for u in users if not u.is_bot]
    lines: list[str] = []
    if groups:
        lines += ["", "Чтобы бот присылал оповещения в чат, добавьте в конфигурацию:"]
        for chat in groups:
            lines += ["[[telegram.chats]]", f"id = {chat.id}", f"name = {_toml(chat.title)}"]
    if people:
        lines += ["", "Чтобы человек мог нажимать кнопки и давать команды боту, добавьте:"]
        for user in people:
            lines += ["[[telegram.staff]]", f"id = {user.id}", f"name = {_toml(user.name)}"]
    lines += ["", "Личный чат с человеком тоже подходит для [[telegram.chats]]: его id — "
              "id человека (сначала человек должен написать боту)."]
    return lines


def _toml(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _nothing_yet(bot: str) -> str:
    return "\n".join([
        f"Бот {bot}: новых обновлений нет.",
        "Напишите боту в личный чат или добавьте его в группу и отправьте там команду "
        f"/start{bot}, затем повторите команду.",
        "Telegram хранит обновления 24 часа. Если демон (monitor run) запущен, он уже забрал "
        "их себе: остановите его на время или найдите id в журнале демона.",
    ])
