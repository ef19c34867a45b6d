"""The buttons under an alert: what they say, the short `callback_data` they carry, and reading
it back strictly (a forged or stale payload is refused, never guessed at)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

TAKE, ANSWER, DISMISS, SNOOZE = "Взять в работу", "Ответ дан", "Ответ не нужен", "Отложить на 2 ч"
OTHER_TOPIC, BACK, OPEN_POST = "Другая тема", "« Назад", "Открыть пост"

_CALLBACK = re.compile(r"inc:([1-9][0-9]{0,11}):(take|answer|dismiss|snooze|topics|back)"
                       r"|inc:([1-9][0-9]{0,11}):topic:([\w.-]{1,40})", re.ASCII)
MAX_CALLBACK_BYTES = 64
TOPIC_CHOICES = 8
"""At most this many topics under «Другая тема»: a short list, one tap each."""


@dataclass(frozen=True, slots=True)
class Press:
    """A button press read back from its `callback_data`."""

    incident_id: int
    verb: str
    topic: str | None = None


def callback(incident_id: int, verb: str, topic: str | None = None) -> str:
    """The `callback_data` of a button (at most 64 bytes, as Telegram allows)."""
    data = f"inc:{incident_id}:{verb}" + (f":{topic}" if topic else "")
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        msg = f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}"
        raise ValueError(msg)
    return data


def parse_callback(data: object) -> Press | None:
    """The press a `callback_data` stands for, or None when it is not one of ours."""
    if not isinstance(data, str) or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    match = _CALLBACK.fullmatch(data)
    if match is None:
        return None
    if match.group(1):
        return Press(int(match.group(1)), match.group(2))
    return Press(int(match.group(3)), "topic", match.group(4))


def fits(topic_id: str) -> bool:
    """Whether a topic id can ride in a button (characters and length)."""
    return re.fullmatch(r"[\w.-]{1,40}", topic_id, re.ASCII) is not None


def open_post_row(link: str | None) -> list[list[InlineKeyboardButton]]:
    """The «Открыть пост» row, for http(s) links only."""
    if not link:
        return []
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return []
    return [[InlineKeyboardButton(OPEN_POST, url=link)]]


def incident_keyboard(
    incident_id: int, status: str, link: str | None
) -> InlineKeyboardMarkup | None:
    """The buttons that still apply to an incident in this status."""
    rows: list[list[InlineKeyboardButton]] = []
    if status in ("open", "in_work"):
        first = [] if status == "in_work" else [_button(TAKE, incident_id, "take")]
        rows = [
            [*first, _button(ANSWER, incident_id, "answer")],
            [_button(DISMISS, incident_id, "dismiss"), _button(SNOOZE, incident_id, "snooze")],
            [_button(OTHER_TOPIC, incident_id, "topics")],
        ]
    rows += open_post_row(link)
    return InlineKeyboardMarkup(rows) if rows else None


def topics_keyboard(
    incident_id: int, topics: Sequence[tuple[str, str]], link: str | None
) -> InlineKeyboardMarkup:
    """A short list of topics (id, name) to choose from, and the way back."""
    rows = [[InlineKeyboardButton(name[:60], callback_data=callback(incident_id, "topic", id_))]
            for id_, name in topics[:TOPIC_CHOICES] if fits(id_)]
    rows.append([_button(BACK, incident_id, "back")])
    return InlineKeyboardMarkup(rows + open_post_row(link))


def _button(text: str, incident_id: int, verb: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=callback(incident_id, verb))
