"""The daemon: scheduled jobs, graceful stop on a signal, refusing a bad config."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import load_config
from monitor.daemon.app import App
from tests.conftest import ROOT
from tests.fakes.tme import FakeTme

CONFIG = """
[storage]
path = "m.db"

[daemon]
deadline_tick = "1s"
outbox_interval = "1s"
first_poll_spread = "0s"
shutdown_grace = "{grace}"

[[sources]]
id = "news"
network = "telegram_web"
channel = "kamensk_news"
base_url = "{url}"
interval = "1s"
jitter = "0s"

[[topics]]
id = "pits"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["яма"]
"""


async def wait_for(condition, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for an event the test cannot await directly (a request reaching a fake)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "the expected event never happened"
        await asyncio.sleep(0.02)


async def test_run_drains_running_polls_on_stop(tmp_path: Path) -> None:
    async with FakeTme("kamensk_news") as tme:
        tme.add_post(5, datetime.now(UTC) - timedelta(minutes=5), "Яма у подъезда")
        tme.answer_delay(0.5, times=1)  # the first poll is still running when we stop
        path = tmp_path / "config.toml"
        path.write_text(CONFIG.format(url=tme.base_url, grace="5s"), encoding="utf-8")
        config = load_config(path, env={}).config
        stop = asyncio.Event()
        async with App(config, env={}) as app:
            runner = asyncio.create_task(app.run(stop))
            await wait_for(lambda: tme.requests)
            stop.set()
            await asyncio.wait_for(runner, 10)
            incidents = await app.store.list_incidents()
            assert len(incidents) == 1, "the running poll was allowed to finish"


async def test_daemon_process_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    async with FakeTme("kamensk_news") as tme:
        tme.add_post(5, datetime.now(UTC) - timedelta(minutes=5), "Яма у подъезда")
        path = tmp_path / "config.toml"
        path.write_text(CONFIG.format(url=tme.base_url, grace="5s"), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "MONITOR_BOT_TOKEN"}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(path),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        await wait_for(lambda: tme.requests)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
        log = stderr.decode()
        assert process.returncode == 0, log
        assert log.count("MONITOR_BOT_TOKEN") == 1, "the missing token is mentioned once"
        assert "монитор остановлен" in log
        wal = tmp_path / "m.db-wal"
        assert (tmp_path / "m.db").exists()
        assert not wal.exists() or wal.stat().st_size == 0, "the database was closed cleanly"


async def test_run_refuses_an_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[storage]\npaht = 1\n", encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(path), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 2
    assert f"{path}:2: storage.paht: неизвестный ключ" in stderr.decode()
