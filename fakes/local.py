"""Serving a fake on 127.0.0.1: one way for every fake server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web


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
        times = sorted(c.at for c in self.calls if c.token == token)
        best = start = 0
        for end, moment in enumerate(times):
            while moment - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best


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


class Failures:
    """The injected failures of an API fake (`_failures`), taken in order."""

    _failures: list[Failure]

    def take_failure(self, name: str, token: str | None) -> Failure | None:
        """The next failure injected for this method (and token), if any; used once a time."""
        for failure in self._failures:
            if failure.method == name and failure.token in (None, token):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None
