"""The Bots Long Poll side of FakeVk: per-community event logs, keys and `a_check`.

`ts` numbers events: `groups.getLongPollServer` hands out the number the next event will
get, and `a_check` with `ts=T` answers every retained event numbered T or later plus the
new `ts`. Answers follow /work/shared/fixtures/vk/bots_longpoll/: `ts` is a string in a
normal answer and a number in `{"failed": 1, "ts": N}`; `{"failed": 2}` means the key
expired (fetch a new key, keep ts), `{"failed": 3}` that information was lost (fetch a new
key and ts).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FIRST_TS = 1


@dataclass
class _Event:
    number: int
    added_at: float
    body: dict[str, Any]


@dataclass
class GroupStream:
    """One community's events and the keys handed out for it."""

    group_id: int
    next_ts: int = FIRST_TS
    first_kept: int = FIRST_TS  # every event numbered >= this is still in `events`
    events: deque[_Event] = field(default_factory=deque)
    keys: dict[str, int] = field(default_factory=dict)  # key -> 0 (valid) or failed code

    def lose_history(self) -> None:
        """Forget everything so far; one event number is skipped, as if it was lost."""
        self.events.clear()
        self.next_ts += 1
        self.first_kept = self.next_ts


class LongPollHub:
    """Event logs for every community; `check` answers one `a_check` request."""

    def __init__(self, clock: Callable[[], float], api_version: str) -> None:
        self.clock = clock
        self.api_version = api_version
        self.retention = 3 * 3600.0
        self.wait_cap = 0.5
        self.streams: dict[int, GroupStream] = {}
        self.injected: deque[tuple[int | None, int]] = deque()  # (group_id or None, failed)
        self.loop: asyncio.AbstractEventLoop | None = None  # set when the server starts
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._serial = itertools.count(1)

    def stream(self, group_id: int) -> GroupStream:
        return self.streams.setdefault(group_id, GroupStream(group_id))

    # --- driven by the fake ------------------------------------------------------------
    def record(self, group_id: int, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        stream = self.stream(group_id)
        digest = hashlib.sha1(f"{group_id}/{kind}/{next(self._serial)}".encode()).hexdigest()
        body = {"group_id": group_id, "type": kind, "event_id": digest, "v": self.api_version,
                "object": obj}
        stream.events.append(_Event(stream.next_ts, self.clock(), body))
        stream.next_ts += 1
        self._wake()
        return body

    def new_key(self, group_id: int) -> tuple[str, int]:
        stream = self.stream(group_id)
        key = secrets.token_hex(20)
        stream.keys[key] = 0
        return key, stream.next_ts

    def expire(self, group_id: int, failed: int) -> None:
        """1: ts too old (history lost); 2: keys expired; 3: keys and history lost."""
        if failed not in (1, 2, 3):
            raise ValueError("failed must be 1, 2 or 3")
        stream = self.stream(group_id)
        if failed in (1, 3):
            stream.lose_history()
        if failed in (2, 3):
            for key in stream.keys:
                stream.keys[key] = failed
        self._wake()

    def close(self) -> None:
        self._closing.set()
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self.loop is None or running is self.loop:
            changed.set()
        else:  # a test thread changed the state: wake the waiters on the server's loop
            self.loop.call_soon_threadsafe(changed.set)

    # --- the a_check endpoint ----------------------------------------------------------
    async def check(self, key: str, ts: str, wait: float) -> dict[str, Any]:
        stream = next((s for s in self.streams.values() if key in s.keys), None)
        if stream is None:
            return {"failed": 2}
        deadline = asyncio.get_running_loop().time() + max(0.0, min(wait, self.wait_cap))
        while True:
            answer = self._answer(stream, key, ts)
            remaining = deadline - asyncio.get_running_loop().time()
            if answer.get("updates") != [] or remaining <= 0 or self._closing.is_set():
                return answer
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def _answer(self, stream: GroupStream, key: str, ts: str) -> dict[str, Any]:
        injected = self._take_injected(stream.group_id)
        failed = injected or stream.keys[key]
        if failed == 1:
            return {"failed": 1, "ts": stream.next_ts}
        if failed:
            return {"failed": failed}
        self._prune(stream)
        try:
            number = int(ts)
        except ValueError:
            number = -1
        if number < stream.first_kept or number > stream.next_ts:
            return {"failed": 1, "ts": stream.next_ts}
        updates = [event.body for event in stream.events if event.number >= number]
        return {"ts": str(stream.next_ts), "updates": updates}

    def _take_injected(self, group_id: int) -> int:
        for index, (wanted, failed) in enumerate(self.injected):
            if wanted is None or wanted == group_id:
                del self.injected[index]
                return failed
        return 0

    def _prune(self, stream: GroupStream) -> None:
        oldest_allowed = self.clock() - self.retention
        while stream.events and stream.events[0].added_at < oldest_allowed:
            stream.events.popleft()
            stream.first_kept = stream.events[0].number if stream.events else stream.next_ts
