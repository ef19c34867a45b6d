"""What the sources of one token share in a process: its limiter, the methods resting after a
daily cap. One book per event loop (asyncio locks belong to one loop), keyed by a hash of the
token, so the token itself is kept nowhere but in its clients."""

from __future__ import annotations

import hashlib
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    # asyncio is imported when a client asks for its token's share: reading the config
    # (every command) needs only the settings models.
    import asyncio

T = TypeVar("T")

_BOOKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], Any]] = (
    weakref.WeakKeyDictionary())


def _key(token: str, what: tuple[str, ...]) -> tuple[str, ...]:
    return (hashlib.sha256(token.encode()).hexdigest()[:16], *what)


def shared(token: str, *what: str, make: Callable[[], T]) -> T:
    """The token's `what` on the running loop, made by `make` the first time it is asked for."""
    import asyncio

    book = _BOOKS.setdefault(asyncio.get_running_loop(), {})
    key = _key(token, what)
    if key not in book:
        book[key] = make()
    return book[key]  # type: ignore[no-any-return]


def replace_shared(token: str, *what: str, value: object) -> None:
    """Give the token's later clients on the running loop `value` (a bench's limiter on
    simulated time); clients made before keep what they have."""
    import asyncio

    _BOOKS.setdefault(asyncio.get_running_loop(), {})[_key(token, what)] = value


class Rests:
    """Methods resting until a moment (after a daily or call-count cap), by method."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def left(self, method: str) -> float:
        """Seconds the method still rests (0 or less: it may be called)."""
        return self._until.get(method, 0.0) - time.monotonic()

    def rest(self, method: str, seconds: float) -> None:
        """Let the method rest for `seconds`."""
        self._until[method] = time.monotonic() + seconds
