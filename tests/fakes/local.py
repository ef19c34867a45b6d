"""Serving a fake on 127.0.0.1: one way for every fake server."""

from __future__ import annotations

from aiohttp import web


async def serve_locally(app: web.Application, shutdown_timeout: float = 1.0) -> \
        tuple[web.AppRunner, int]:
    """Start `app` on 127.0.0.1 on a free port; return its runner (to clean up) and the port."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]
