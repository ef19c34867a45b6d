"""VK API calls through vk-api, off the event loop, kept inside VK's limits.

vk-api is synchronous (requests): every call runs in a worker thread with a request timeout,
at most a few at once per token. One rate limiter per token is shared by every source using
it (3 calls/s for a service token, 20/s for a community token). vk-api's own error-6 handler
(sleep and retry for ever) is replaced: errors come back at once and are classified here.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from connectors.base import (
    PermanentSourceError,
    SourceAuthError,
    TransientSourceError,
    retry_after_of,
)
from connectors.tokens import Rests, replace_shared, shared

if TYPE_CHECKING:
    # asyncio, vk-api and requests are imported when a client is made: reading the config
    # (every command) needs only the settings model.
    import asyncio

    import requests
    from vk_api.exceptions import ApiError

API_VERSION = "5.199"
DEFAULT_BASE_URL = "https://api.vk.ru"
RATES = {"service": 3, "community": 20}
"""Calls per second VK allows per token of each kind."""
IN_FLIGHT = 2
"""Calls of one token running at once (each holds a worker thread)."""

TRANSIENT = {1: 5.0, 6: 1.0, 9: 60.0, 10: 10.0}
"""Error codes worth retrying, with the least wait before the next try (seconds)."""
AUTH = frozenset({5, 27, 28})
GONE = frozenset({15, 18, 19, 30, 203})
"""Private, deleted or blocked communities and profiles: the source cannot be read."""
PERMANENT = GONE | {14, 17, 100, 104, 113, 210, 211, 212}
"""Errors no retry can cure: the above, a captcha or validation demand, bad parameters, a
post or its comments not found or closed."""
UNKNOWN_PAUSE = 600.0
RATE_LIMIT = 29
DAILY_PAUSE = 3600.0
"""How long a method rests after error 29 (the daily cap); VK does not say when it resets."""

TokenKind = Literal["service", "community"]


WINDOW = 1.1
"""The window the limiter keeps: a tenth of a second more than VK's, because a call reaches VK
a little after it was allowed (thread start, connection), and calls may reach it closer
together than they left."""


class RateLimiter:
    """At most `per_second` acquisitions in any WINDOW seconds (a sliding log)."""

    def __init__(
        self, per_second: int, clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        import asyncio

        # The real monotonic clock and sleep unless given: a bench simulating a day passes a
        # pair that moves simulated time, so its waits take no real time.
        self.per_second = per_second
        self._clock = clock or time.monotonic
        self._sleep = sleep or asyncio.sleep
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> float:
        """Wait until one more call fits in the window, then take it; return its moment."""
        async with self._lock:
            while True:
                now = self._clock()
                while self._times and now - self._times[0] >= WINDOW:
                    self._times.popleft()
                if len(self._times) < self.per_second:
                    self._times.append(now)
                    return now
                await self._sleep(WINDOW - (now - self._times[0]) + 0.001)

    def now(self) -> float:
        """The limiter's clock (any thread may read it)."""
        return self._clock()

    def left_at(self, allowed: float, moment: float) -> None:
        """The call allowed at `allowed` left only at `moment` (its thread started late, on a
        loaded machine): count it from then, so the calls after it keep their distance from
        when it really went out, not from when it was allowed."""
        if moment <= allowed or allowed not in self._times:
            return
        self._times.remove(allowed)
        bisect.insort(self._times, moment)


@cache
def _session_class() -> type[requests.Session]:
    """The session class, made when the first client is (requests loaded then)."""
    import requests

    class _Session(requests.Session):
        """A requests session aimed at `base` (a proxy, a mirror or a local fake), with a
        timeout, ignoring proxy variables."""

        def __init__(self, base: str, timeout: float) -> None:
            super().__init__()
            self.trust_env = False
            self._base = base.rstrip("/")
            self._timeout = timeout

        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            """Send the request to our base instead of VK's hard-coded host."""
            kwargs.setdefault("timeout", self._timeout)
            target = url.decode() if isinstance(url, bytes) else url
            for host in ("https://api.vk.ru", "https://api.vk.com"):
                if target.startswith(host):
                    target = self._base + target[len(host):]
            return super().request(method, target, *args, **kwargs)

    return _Session


def _raise(error: ApiError) -> None:
    raise error


class VkClient:
    """One token's calls: limited, in threads, errors classified once."""

    def __init__(self, token: str, kind: TokenKind, base_url: str, timeout: float) -> None:
        import asyncio

        import jconfig
        import vk_api

        session = _session_class()(base_url, timeout)  # type: ignore[call-arg]
        self._api = vk_api.VkApi(token=token, api_version=API_VERSION,
                                 config=jconfig.MemoryConfig, session=session)
        self._api.RPS_DELAY = 0  # our shared limiter paces the token
        self._api.error_handlers[6] = _raise
        self._limiter = shared(token, kind, "rate", make=lambda: RateLimiter(RATES[kind]))
        self._slots = shared(token, kind, "slots", make=lambda: asyncio.Semaphore(IN_FLIGHT))
        self._rests = shared(token, kind, "rests", make=Rests)
        self.calls = 0

    async def call(self, method: str, **params: Any) -> Any:
        """Call one method and return its `response`; raise a classified SourceError."""
        import asyncio

        import requests
        from vk_api.exceptions import ApiError, ApiHttpError, VkApiError

        left = self._rests.left(method)
        if left > 0:
            raise TransientSourceError(f"VK: {method}: дневной лимит исчерпан", retry_after=left)
        async with self._slots:
            # The rate slot is taken only when the call can go out at once: taken while
            # waiting for a free thread, queued calls would leave together, a burst over 3/s.
            allowed = await self._limiter.acquire()
            self.calls += 1
            try:
                return await asyncio.to_thread(self._send, allowed, asyncio.get_running_loop(),
                                               method, dict(params))
            except ApiError as exc:
                raise self._classified(method, exc) from None
            except ApiHttpError as exc:
                status, wait = exc.response.status_code, exc.response.headers.get("Retry-After")
                raise TransientSourceError(f"VK: {method}: HTTP {status}",
                                           retry_after_of(wait)) from None
            except (requests.RequestException, VkApiError, ValueError, TypeError, KeyError,
                    AttributeError) as exc:
                # Timeouts, refused connections, bodies that are not JSON or not an object
                # (vk-api itself trips over `null`).
                raise TransientSourceError(f"VK: {method}: {type(exc).__name__}") from None

    def _send(
        self, allowed: float, loop: asyncio.AbstractEventLoop, method: str, params: dict[str, Any]
    ) -> Any:
        """In the worker thread: tell the limiter when the call really leaves, then send it."""
        loop.call_soon_threadsafe(self._limiter.left_at, allowed, self._limiter.now())
        return self._api.method(method, params)

    def _classified(self, method: str, exc: ApiError) -> Exception:
        code = int(exc.code)
        text = f"VK: {method}: ошибка {code}: {exc.error.get('error_msg', '')}"[:300]
        if code in TRANSIENT:
            return TransientSourceError(text, retry_after=TRANSIENT[code])
        if code == RATE_LIMIT:
            self._rests.rest(method, DAILY_PAUSE)
            return TransientSourceError(text, retry_after=DAILY_PAUSE)
        if code in AUTH:
            return SourceAuthError(text)
        if code in PERMANENT:
            return PermanentSourceError(text)
        # A code we do not know: more likely VK's passing trouble than a config to fix.
        return TransientSourceError(text, retry_after=UNKNOWN_PAUSE)


def share_limiter(token: str, kind: TokenKind, limiter: RateLimiter) -> None:
    """Make the clients of `token` created from now on (on the running loop) use `limiter`,
    e.g. a bench's limiter on simulated time; clients made before keep the one they have."""
    replace_shared(token, kind, "rate", value=limiter)


def items_of(response: object) -> list[Mapping[str, Any]]:
    """The `items` of a response, whatever VK wrapped them in; only objects."""
    items = response.get("items") if isinstance(response, Mapping) else response
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, Mapping)]
