"""`/healthz` and `/metrics` on a local address (`[daemon] http`), through aiohttp's server."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.config.settings import split_address

if TYPE_CHECKING:
    from monitor.daemon.app import App

log = logging.getLogger(__name__)


class HttpAddressError(Exception):
    """The configured address cannot be listened on."""


@asynccontextmanager
async def serve_http(app: App, address: str) -> AsyncIterator[tuple[str, int]]:
    """Serve health and metrics while inside; yield the (host, port) actually bound."""
    host, port = split_address(address)
    server = web.Application()
    server.router.add_get("/healthz", _healthz(app))
    server.router.add_get("/metrics", _metrics(app))
    runner = web.AppRunner(server, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            msg = (f"[daemon] http = {address!r}: адрес не открыть ({exc.strerror or exc}); "
                   "занят другим процессом или недоступен")
            raise HttpAddressError(msg) from None
        bound = _bound(runner) or (host, port)
        log.info("проверка здоровья и метрики: http://%s:%s/healthz, /metrics", *bound)
        yield bound
    finally:
        await runner.cleanup()


def _bound(runner: web.AppRunner) -> tuple[str, int] | None:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return str(address[0]), int(address[1])
    return None


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _healthz(app: App) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        health = await app.metrics.refresh(app)
        body = {"status": "ok" if health.ok else "fail", "problems": health.problems}
        return web.Response(status=200 if health.ok else 503, content_type="application/json",
                            text=json.dumps(body, ensure_ascii=False))

    return handle


def _metrics(app: App) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        await app.metrics.refresh(app)
        response = web.Response(body=generate_latest(app.metrics.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    return handle
