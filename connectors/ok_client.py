"""OK (Odnoklassniki) REST calls: signed, paced per token, errors classified once; the values
and topics they answer with, read leniently.

Every call is a form-encoded POST to `<base>/fb.do` with `method`, `application_key`,
`format=json`, `access_token` and `sig` (apiok.ru "List of REST methods"): the signature is
md5 over the sorted `k=v` pairs of every parameter but the token and the signature, followed by
md5(access_token + application secret). OK answers errors with HTTP 200, an
`invocation-error: <code>` header and a flat `{"error_code", "error_msg", "error_data"}` body.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from connectors.base import (
    PermanentSourceError,
    SourceAuthError,
    TransientSourceError,
    int_of,
    retry_after_of,
    unix_moment,
)
from connectors.tokens import Rests, shared

if TYPE_CHECKING:
    import aiohttp

DEFAULT_BASE_URL = "https://api.ok.ru"
UNSIGNED = frozenset({"access_token", "session_key", "sig"})

TRANSIENT = {2: 5.0, 8: 60.0, 9: 600.0}
"""Error codes worth retrying (SERVICE, FLOOD_BLOCKED, IP_BLOCKED), with the least wait (s)."""
LIMIT_REACHED = 11
LIMIT_PAUSE = 3600.0
"""How long a method rests after error 11; OK does not say when its call limit resets."""
AUTH = frozenset({101, 102, 103, 104})
"""Bad application key, expired or invalid session (token), bad signature (wrong secret)."""
MAX_TEXT = 20_000
MOSCOW = timezone(timedelta(hours=3))
LOCAL_DATE = "%Y-%m-%d %H:%M:%S"
MARGIN = 1.2
"""Gaps between calls are this much longer than 1/rate: a call reaches OK a little after it
was allowed (a new connection's TLS handshake delays the first by 100 ms or more), and calls
may reach it closer together than they left."""


def signature(params: Mapping[str, str], access_token: str, app_secret: str) -> str:
    """OK's `sig` for a call: raw (unescaped) values, keys sorted, no separator."""
    secret = hashlib.md5((access_token + app_secret).encode()).hexdigest().lower()
    base = "".join(f"{key}={params[key]}" for key in sorted(params) if key not in UNSIGNED)
    return hashlib.md5((base + secret).encode()).hexdigest().lower()


class OkError:
    """The OK error code a classified SourceError came from (None: HTTP or transport)."""

    code: int | None = None


class OkTransientError(TransientSourceError, OkError):
    """A transient failure of one OK call."""


class OkAuthError(SourceAuthError, OkError):
    """OK refused the application key, the token or the signature."""


class OkPermanentError(PermanentSourceError, OkError):
    """Any other refusal: a wrong group or topic id, a missing permission."""


class Pacer:
    """Calls of one token at least `interval` seconds apart (OK publishes no per-second figure;
    third-party clients keep to one call a second)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0
        # asyncio is imported where a client is made: reading the config (every command)
        # needs only the settings models.
        import asyncio

        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for this call's turn."""
        import asyncio

        async with self._lock:
            wait = self._next - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next = time.monotonic() + self.interval


class OkClient:
    """One token's calls for one source; the pacer and the rest book are the token's."""

    def __init__(
        self, *, http: aiohttp.ClientSession, base_url: str, token: str, application_key: str,
        application_secret: str, timeout: float, rate: float,
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/fb.do"
        self._token = token
        self._key = application_key
        self._secret = application_secret
        import aiohttp  # loaded by the session already; not for reading the config

        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._pacer = shared(token, "pacer", make=lambda: Pacer(MARGIN / rate))
        # The slowest rate any source of the token asks for wins.
        self._pacer.interval = max(self._pacer.interval, MARGIN / rate)
        self._rests = shared(token, "rests", make=Rests)
        self.calls = 0

    async def call(self, method: str, **params: str | int) -> Any:
        """Call one method and return its JSON answer; raise a classified SourceError."""
        import aiohttp
        resting = self._rests.left(method)
        if resting > 0:
            raise _error(OkTransientError, f"OK: {method}: лимит вызовов исчерпан",
                         LIMIT_REACHED, resting)
        form = {k: str(v) for k, v in params.items()}
        form.update(method=method, application_key=self._key, format="json")
        form["sig"] = signature(form, self._token, self._secret)
        form["access_token"] = self._token
        await self._pacer.acquire()
        self.calls += 1
        try:
            async with self._http.post(self._url, data=form, timeout=self._timeout) as response:
                body = await response.read()
                status, header = response.status, response.headers.get("invocation-error")
                wait = retry_after_of(response.headers.get("Retry-After"))
        except TimeoutError:
            raise _error(OkTransientError, f"OK: {method}: нет ответа за "
                         f"{self._timeout.total:g} с") from None
        except aiohttp.ClientError as exc:
            raise _error(OkTransientError, f"OK: {method}: сетевая ошибка: "
                         f"{type(exc).__name__}") from None
        return self._answer(method, status, header, body, wait)

    def _answer(
        self, method: str, status: int, header: str | None, body: bytes, wait: float | None = None
    ) -> Any:
        if status >= 500 or status == 429:
            raise _error(OkTransientError, f"OK: {method}: HTTP {status}", None, wait)
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
            if status == 200 and header is None:
                raise _error(OkTransientError, f"OK: {method}: ответ не JSON") from None
        code = _code(answer, header)
        if code is not None:
            raise self._classified(method, code, answer)
        if status != 200:
            raise _error(OkPermanentError, f"OK: {method}: HTTP {status}")
        return answer

    def _classified(self, method: str, code: int, answer: object) -> Exception:
        message = answer.get("error_msg") if isinstance(answer, Mapping) else None
        text = f"OK: {method}: ошибка {code}: {message or ''}".strip()[:300]
        if code in TRANSIENT:
            return _error(OkTransientError, text, code, TRANSIENT[code])
        if code == LIMIT_REACHED:
            self._rests.rest(method, LIMIT_PAUSE)
            return _error(OkTransientError, text, code, LIMIT_PAUSE)
        if code in AUTH:
            return _error(OkAuthError, text, code)
        return _error(OkPermanentError, text, code)


def _code(answer: object, header: str | None) -> int | None:
    """The error code of an answer: the body's `error_code`, else the header's."""
    if isinstance(answer, Mapping) and "error_code" in answer:
        code = int_of(answer.get("error_code"))  # "²" passes isdigit and breaks int()
        if code is not None:
            return code
    return int_of(header)


def _error(
    kind: type[OkTransientError | OkAuthError | OkPermanentError], text: str,
    code: int | None = None, retry_after: float | None = None,
) -> Exception:
    error = kind(text, retry_after) if kind is OkTransientError else kind(text)
    error.code = code
    return error


def id_of(value: object) -> str | None:
    """A non-empty id (or name) OK wrote as a string or a number."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def moment_of(millis: object) -> datetime | None:
    """A time OK wrote in milliseconds (`created_ms`, `date_ms`)."""
    value = int_of(millis)
    return unix_moment(value / 1000) if value is not None else None


def local_date(value: object) -> datetime | None:
    """A `date` as OK writes it ("2025-01-01 12:00:00", Moscow time)."""
    try:
        return datetime.strptime(str(value), LOCAL_DATE).replace(tzinfo=MOSCOW).astimezone(UTC)
    except (ValueError, OverflowError):  # not a date, or the year 1 before Moscow's offset
        return None


@dataclass(frozen=True, slots=True)
class Topic:
    """A media topic as OK answers it, reduced to what the connector uses."""

    id: str
    created_ms: int
    comments: int
    text: str
    author_ref: str | None

    @property
    def fingerprint(self) -> str:
        """A short digest of the text: how the cursor notices an edit."""
        return hashlib.sha1(self.text.encode()).hexdigest()[:12]


def topic_of(raw: Mapping[str, Any]) -> Topic | None:
    """A topic of `media_topics`; None without a usable `id` and `created_ms`. The text is its
    `text` media joined; `discussion_summary.comments_count` is the comment count."""
    topic, created = id_of(raw.get("id")), int_of(raw.get("created_ms"))
    if topic is None or created is None or created <= 0:
        return None
    summary = raw.get("discussion_summary")
    count = int_of(summary.get("comments_count")) if isinstance(summary, Mapping) else None
    media = raw.get("media")
    texts = [str(m.get("text")) for m in (media if isinstance(media, list) else [])
             if isinstance(m, Mapping) and m.get("type") == "text" and m.get("text")]
    return Topic(topic, created, max(count or 0, 0), "\n\n".join(texts)[:MAX_TEXT],
                 id_of(raw.get("author_ref")))
