"""systemd's notify protocol (`Type=notify`): READY=1, WATCHDOG=1, STOPPING=1 and STATUS= as
datagrams to $NOTIFY_SOCKET; nothing at all when the daemon is not run by systemd."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Tells systemd how the daemon is; every call is a no-op without $NOTIFY_SOCKET."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # an abstract socket
            address = "\0" + address[1:]
        self._address = address or None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog = int(usec) / 1_000_000 if usec.isdigit() and int(usec) and mine else None
        """Seconds within which systemd wants a WATCHDOG=1, or None."""

    @property
    def enabled(self) -> bool:
        """Whether systemd listens."""
        return self._address is not None

    def notify(self, *fields: str) -> bool:
        """Send `KEY=value` fields in one datagram; False if it could not be sent."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall("\n".join(fields).encode())
        except OSError as exc:
            log.warning("systemd не получил уведомление %s: %s", fields[0], exc)
            return False
        return True

    def ready(self, status: str) -> None:
        """The daemon is up and serving."""
        self.notify("READY=1", f"STATUS={status}")

    def stopping(self) -> None:
        """The daemon is shutting down."""
        self.notify("STOPPING=1", "STATUS=останавливается")

    async def keep_alive(self) -> None:
        """Ping the watchdog at half its period while the event loop turns (run as a task)."""
        if self.watchdog is None or not self.enabled:
            return
        while True:
            self.notify("WATCHDOG=1")
            await asyncio.sleep(self.watchdog / 2)
