"""Shared test helpers: config files on disk and a manual clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.clock import ManualClock
from tests.logwatch import no_secrets_logged

pytest_plugins = ["tests.postgres"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "config.example.toml"

# httpx (under python-telegram-bot) honours proxy variables; tests talk to 127.0.0.1 only.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
# Compiled rule sets are not cached between runs (rules/cache.py): tests that check the
# cache point MONITOR_CACHE_DIR at a temporary folder of their own.
os.environ.setdefault("MONITOR_CACHE_DIR", "off")


@pytest.fixture(autouse=True)
def _no_secret_in_any_log_line() -> Iterator[None]:
    """Fail a test whose log lines (or logged exceptions) show a token a fake was given."""
    with no_secrets_logged() as leaks:
        yield
    assert not leaks, f"a secret reached the log: {leaks[:3]}"


@pytest.fixture
def clock() -> ManualClock:
    """A clock frozen on a Wednesday morning in Yekaterinburg (04:00 UTC = 09:00 local)."""
    return ManualClock(datetime(2026, 11, 25, 4, 0, tzinfo=UTC))


@pytest.fixture
def write_config(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a TOML config into a temporary folder and return its path."""

    def write(text: str, name: str = "config.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


PITS_TOPIC = """
[[topics]]
id = "pits"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["яма"]
"""
"""One topic that any complaint with «яма» opens: enough rules for tests of everything else."""

FAST_DAEMON = """
[daemon]
deadline_tick = "1s"
outbox_interval = "1s"
first_poll_spread = "0s"
"""
"""Daemon jobs every second, for tests of the whole process."""

DUTY_TELEGRAM = """
[telegram]
base_url = "{bot}"
timeout = "2s"
long_poll = "1s"

[[telegram.chats]]
id = {chat}
name = "Дежурные"
"""
"""The staff bot on a fake Bot API (`{bot}`) with one duty chat (`{chat}`)."""

TME_SOURCE = """
[[sources]]
id = "{name}"
network = "telegram_web"
channel = "{name}"
base_url = "{tme}"
interval = "{interval}"
jitter = "0s"
"""
"""A public channel on the fake t.me (`{tme}`), polled every `{interval}`."""
