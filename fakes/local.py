"""Serving a fake on 127.0.0.1: one way for every fake server."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FAULTS = ("5xx", "timeout", "reset", "429", "malformed", "truncated", "changed")
"""Every kind of fault a fake can inject at random. JSON APIs: "malformed" is a body cut
inside its JSON; t.me: "truncated" is a page cut inside its newest post, "changed" is markup
with unknown wrappers, attributes and renamed optional classes around the same posts."""


SECRETS: set[str] = set()
"""Every token, key or secret a fake was given in this process (`remember`): the tests' log
watch (tests/logwatch.py) fails a test whose log lines show one."""


def remember(*values: str | None) -> None:
    """Note secrets a fake accepts, so the logs can be checked for them."""
    SECRETS.update(v for v in values if v and len(v) >= 8)


async def serve_locally(app: web.Application, shutdown_timeout: float = 1.0) -> \
        tuple[web.AppRunner, int]:
    """Start `app` on 127.0.0.1 on a free port; return its runner (to clean up) and the port."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


class CallLog:
    """Accounting shared by the API fakes: `calls` holds (monotonic time, method, token)."""

    calls: list[Any]

    def count(self, method: str, token: str | None = None) -> int:
        """Calls of a method (by one token, if given)."""
        return sum(1 for c in self.calls if c.method == method and token in (None, c.token))

    def max_calls_per_second(self, token: str | None) -> int:
        """The most calls from `token` inside any sliding 1-second window."""
        return most_in_a_second(sorted(c.at for c in self.calls if c.token == token))


@dataclass
class Failure:
    """An answer a fake was told to give instead of the real one, `times` times."""

    method: str
    token: str | None
    times: int
    code: int | None
    message: str | None
    http_status: int | None
    body: bytes | None
    kind: str = "answer"
    """"answer" (the fields above), or "timeout"/"reset" drawn by `Chaos` (`wire_fault`)."""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Drawn:
    """One request as `Chaos` saw it: when (its clock), what was asked, the fault or None."""

    at: float
    key: str
    fault: str | None


@dataclass
class Chaos:
    """Random faults for a fake: each kind of FAULTS at its own rate, from a seeded RNG.

    Every request a fake serves is drawn for (`draw`) and logged in `log` with the time of
    `clock` (a test passes its ManualClock's, so waits between tries can be checked)."""

    rates: Mapping[str, float]
    seed: int = 0
    retry_after: int = 3
    """Seconds a "429" asks the client to wait."""
    hang: float = 30.0
    """Seconds a "timeout" holds the request before dropping it (past the client's timeout)."""
    clock: Callable[[], float] = time.monotonic
    log: list[Drawn] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        unknown = set(self.rates) - set(FAULTS)
        if unknown or sum(self.rates.values()) > 1:
            raise ValueError(f"rates must name kinds of {FAULTS} and add up to <= 1")
        self._rng = random.Random(self.seed)

    @classmethod
    def spread(cls, rate: float, kinds: tuple[str, ...] = FAULTS, **options: Any) -> Chaos:
        """Faults on `rate` of the requests, shared equally among `kinds`."""
        return cls({kind: rate / len(kinds) for kind in kinds}, **options)

    def draw(self, key: str, kinds: tuple[str, ...] = FAULTS) -> str | None:
        """The fault for this request (only kinds this fake can give), or None; logged."""
        roll, fault = self._rng.random(), None
        for kind in FAULTS:
            roll -= self.rates.get(kind, 0.0)
            if roll < 0:
                fault = kind if kind in kinds else None
                break
        self.log.append(Drawn(self.clock(), key, fault))
        if fault is not None:
            self.injected[fault] += 1
        return fault

    def failure(self, method: str, token: str | None, fault: str) -> Failure:
        """A drawn fault of a JSON API as the Failure its fake answers with."""
        if fault == "5xx":
            return Failure(method, token, 1, None, None, self._rng.choice(_5XX), None)
        if fault == "429":
            return Failure(method, token, 1, None, None, 429, None,
                           headers={"Retry-After": str(self.retry_after)})
        if fault == "malformed":
            return Failure(method, token, 1, None, None, 200, _CUT_JSON)
        return Failure(method, token, 1, None, None, None, None, kind=fault)

    def requests(self, key: str) -> list[Drawn]:
        """The logged requests whose key contains `key`, in order."""
        return [drawn for drawn in self.log if key in drawn.key]


_5XX = (500, 502, 503, 504)
_CUT_JSON = b'{"response": {"count": 3, "items": [{"id": 17, "text": "\\u042f\\u043c'


async def wire_fault(request: web.Request, fault: str, chaos: Chaos,
                     closing: asyncio.Event) -> web.Response | None:
    """Act out a fault below HTTP: "reset" closes the connection unanswered, "timeout" holds
    the request `hang` seconds (less if the fake stops) and then drops it. None for the
    faults the fake renders in its own wire format."""
    if fault == "timeout":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), chaos.hang)
    elif fault != "reset":
        return None
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500, text="dropped")


class Failures:
    """The injected failures of an API fake (`_failures`), taken in order."""

    _failures: list[Failure]
    chaos: Chaos | None = None
    """Random faults on top of the queued ones (a bench or a fault test sets it)."""

    def take_failure(self, name: str, token: str | None) -> Failure | None:
        """The next failure injected for this method (and token), if any; used once a time;
        else, with `chaos` set, a random fault of a JSON API."""
        for failure in self._failures:
            if failure.method == name and failure.token in (None, token):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        kinds = ("5xx", "timeout", "reset", "429", "malformed")
        fault = self.chaos.draw(name, kinds) if self.chaos is not None else None
        if fault is None or self.chaos is None:
            return None
        return self.chaos.failure(name, token, fault)


def most_in_a_second(times: list[float]) -> int:
    """The most of `times` (sorted, in seconds) inside any sliding 1-second window."""
    best = start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best
