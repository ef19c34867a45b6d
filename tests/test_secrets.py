"""No token reaches a log line: the watch every test runs under (tests/conftest.py), shown to
catch a leak, and the daemon driven through failures of every kind with DEBUG logging on."""

from __future__ import annotations

import logging
import random
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common.clock import ManualClock
from monitor.cli import main
from monitor.config import load_config
from monitor.daemon.app import App
from tests.fakes.local import FAULTS, Chaos
from tests.fakes.world import OK_TOKEN, VK_TOKEN, World
from tests.logwatch import leaks_in, no_secrets_logged, remember
from tests.test_faults import cycle

START = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def test_the_watch_catches_a_token_in_a_message_or_a_traceback() -> None:
    remember("vk1.a.secret-token-for-the-watch")
    aside = logging.getLogger("tests.watch-itself")
    aside.propagate = False  # the leak below is on purpose: kept from the suite's own watch
    with no_secrets_logged(aside) as leaks:
        aside.warning("calling with %s", "vk1.a.secret-token-for-the-watch")
        try:
            raise RuntimeError("access_token=vk1.a.secret-token-for-the-watch refused")
        except RuntimeError:
            aside.exception("failed")
    assert len(leaks) == 2
    assert leaks_in("...vk1.a.secret-token-for-the-watch...") == ["vk1.…"]


async def test_failures_of_every_kind_log_no_token(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    clock = ManualClock(START)
    async with World(START) as world:
        path = tmp_path / "config.toml"
        path.write_text(world.config(timeout="1s"), encoding="utf-8")
        env = world.env()
        world.vk.fail_next("wall.get", 5, token=VK_TOKEN)  # the token refused
        world.ok.fail_next("mediatopic.getTopics", 102)  # the session expired
        world.bot.fail_next(401, "Unauthorized", method="sendMessage")
        kinds = tuple(kind for kind in FAULTS if kind != "timeout")
        async with App(load_config(path, env=env).config, clock=clock, env=env,
                       rng=random.Random(2)) as app:
            for round_ in range(6):
                world.inject(lambda name, seed=round_: Chaos.spread(0.5, kinds, seed=seed))
                world.step(clock.now())
                clock.advance(timedelta(minutes=30))
                await cycle(app)
                await app.poll_all()
    text = caplog.text
    assert "wall.get" in text and "102" in text, "the failures were logged"
    assert VK_TOKEN not in text and OK_TOKEN not in text and world.bot.token not in text
    assert not leaks_in(text)


def test_a_postgresql_password_reaches_no_log_line_nor_the_error(
    tmp_path: Path, capsys, caplog, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    """The DSN's password is a secret too: a daemon whose PostgreSQL refuses the connection
    says so without it (the suite's watch checks the log lines, this the message printed)."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # closed once the block ends: the connection is refused
    password = "pg-secret-for-the-WATCH-4d1e"
    remember(password)
    monkeypatch.setenv("MONITOR_PG_DSN", f"postgresql://monitor:{password}@127.0.0.1:{port}/r")
    config = tmp_path / "config.toml"
    config.write_text('[storage]\nbackend = "postgresql"\n', encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    assert main(["run", "--config", str(config)]) == 1
    printed = capsys.readouterr()
    assert f"127.0.0.1:{port}" in printed.err + caplog.text, "the failure was said"
    assert not leaks_in(printed.out + printed.err + caplog.text)
