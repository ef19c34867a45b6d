"""How outbox rows become Telegram messages: batches per chat (grouped within a window into one
message, «и ещё 7 инцидентов»), and a pace inside Telegram's limits."""

from __future__ import annotations

import html
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.daemon.texts import TELEGRAM_LIMIT, utf16_len
from storage import OutboxRow

_MINUTE = timedelta(minutes=1)
GROUP_ROOM = 1800
"""Room a grouped message keeps for its list; the first alert gets the rest."""


class Pacer:
    """Keeps the bot inside Telegram's limits: at most `per_minute` messages to one chat in any
    minute, and nothing at all while a 429 asks the bot to wait (it concerns every chat)."""

    def __init__(self, per_minute: int = 20) -> None:
        self._per_minute = per_minute
        self._sent: dict[int, deque[datetime]] = defaultdict(deque)
        self._held_until: datetime | None = None

    def held(self, now: datetime) -> bool:
        """Whether a 429 still asks the bot to wait."""
        return self._held_until is not None and now < self._held_until

    def hold(self, until: datetime) -> None:
        """Send nothing before `until` (Telegram's retry_after)."""
        self._held_until = max(until, self._held_until or until)

    def ready(self, chat_id: int, now: datetime) -> bool:
        """Whether one more message to the chat stays within the limit."""
        sent = self._sent[chat_id]
        while sent and now - sent[0] >= _MINUTE:
            sent.popleft()
        return not self.held(now) and len(sent) < self._per_minute

    def sent(self, chat_id: int, now: datetime) -> None:
        """Count a message sent to the chat."""
        self._sent[chat_id].append(now)

    def with_limit(self, per_minute: int) -> Pacer:
        """The same pace so far under a new limit (a reload): the messages counted and a 429's
        wait carry over."""
        pacer = Pacer(per_minute)
        pacer._sent, pacer._held_until = self._sent, self._held_until
        return pacer


@dataclass(slots=True)
class Delivery:
    """How the outbox is sent: the pace, the group window, and the chat told of an alert that
    could not be delivered at all (None: only the log)."""

    pacer: Pacer = field(default_factory=Pacer)
    window: timedelta = timedelta(0)
    rescue_chat: int | None = None


def undelivered(row: OutboxRow, error: str) -> str:
    """What the rescue chat is told of an alert Telegram refused for good, with the alert."""
    note = (f"⚠️ <b>Оповещение не доставлено в чат {row.chat_id}</b>: "
            f"{html.escape(error[:200], quote=False)}. Проверьте, что бот есть в чате.")
    budget = TELEGRAM_LIMIT - utf16_len(note) - 2
    text = row.text if utf16_len(row.text) <= budget else _line(row)
    return f"{note}\n\n{text}"


def batches(rows: Sequence[OutboxRow], window: timedelta, now: datetime) -> list[list[OutboxRow]]:
    """Rows per chat and forum topic, in the order their first row came. With a window, all of
    a chat's incident alerts make one batch once the oldest has waited the window (so that what
    comes within it goes together); a digest or a system alert, and every row without a window,
    is a batch of its own."""
    if window <= timedelta(0):
        return [[row] for row in rows]
    alone = [[row] for row in rows if row.incident_id is None]
    by_chat: dict[tuple[int, int | None], list[OutboxRow]] = {}
    for row in rows:
        if row.incident_id is not None:
            by_chat.setdefault((row.chat_id, row.thread_id), []).append(row)
    return alone + [group for group in by_chat.values()
                    if group[0].created_at is None or now - group[0].created_at >= window]


def _plural(count: int) -> str:
    if count % 10 == 1 and count % 100 != 11:
        return "инцидент"
    if count % 10 in (2, 3, 4) and count % 100 not in (12, 13, 14):
        return "инцидента"
    return "инцидентов"


def _line(row: OutboxRow) -> str:
    """A row as one line of a grouped message: its title, its incident, the link to the post."""
    head = row.text.split("\n", 2)
    line = " · ".join(head[:2])
    link = f' · <a href="{html.escape(row.link, quote=True)}">пост</a>' if row.link else ""
    return f"• {line}{link}"


def grouped(rows: Sequence[OutboxRow]) -> tuple[str, list[OutboxRow]]:
    """One message for a chat's batch: the first alert whole, then «и ещё N инцидентов» with a
    line each, as many as fit; returns the text and the rows it carries (the rest wait for the
    next message, never dropped)."""
    first, rest = rows[0], list(rows[1:])
    lines: list[str] = []
    used = 0
    for row in rest:
        line = _line(row)
        size = utf16_len(line) + 1
        if used + size > GROUP_ROOM:
            break
        lines.append(line)
        used += size
    carried = [first, *rest[:len(lines)]]
    if not lines:
        return first.text, [first]
    tail = f"<b>и ещё {len(lines)} {_plural(len(lines))}:</b>\n" + "\n".join(lines)
    text = f"{first.text}\n\n{tail}"
    if utf16_len(text) > TELEGRAM_LIMIT:  # the first alert in one line too, with its link
        text = f"{_line(first)}\n\n{tail}"
    return text, carried
