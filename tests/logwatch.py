"""Every log line of the test suite checked for secrets: no bot, VK or OK token, application
secret or key the fakes were given (`fakes.local.remember`; the test PostgreSQL's password
too) may appear in a message or a logged exception's text."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from fakes.local import SECRETS, remember

__all__ = ["SECRETS", "leaks_in", "no_secrets_logged", "remember"]


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to judge here
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception(record.exc_info[1]))
        for secret in SECRETS:
            if secret in text:
                self.leaks.append(f"{record.name}: {text[:300]!r} shows {secret[:4]}…")


@contextmanager
def no_secrets_logged(root: logging.Logger | None = None) -> Iterator[list[str]]:
    """Collect every record at INFO and above (DEBUG where a test asked for it) while the
    block runs, of the root logger unless told; the list it yields holds the leaks found."""
    root = root or logging.getLogger()
    collector = _Collector()
    level = root.level
    root.addHandler(collector)
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    try:
        yield collector.leaks
    finally:
        root.removeHandler(collector)
        root.setLevel(level)


def leaks_in(text: str) -> list[str]:
    """The remembered secrets found in a text (a daemon process's log)."""
    return [secret[:4] + "…" for secret in SECRETS if secret in text]
