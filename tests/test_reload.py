"""Reloading the config of a running daemon: a broken file keeps the old config and says why;
a good one adds, removes and changes sources and swaps the rules without losing a poll."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from common.clock import ManualClock
from monitor.cli import main
from monitor.config import load_config
from monitor.daemon.app import App
from monitor.daemon.reload import reload_config
from tests.conftest import FAST_DAEMON, PITS_TOPIC, ROOT
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.tme import FakeTme
from tests.test_daemon import wait_for
from tests.test_lock import until_logged

CHAT = -1005555555555
HEAD = """
[storage]
path = "m.db"

[telegram]
base_url = "{bot}"

[[telegram.chats]]
id = -1005555555555
name = "Дежурные"
"""
SOURCE = """
[[sources]]
id = "{name}"
network = "telegram_web"
channel = "{name}"
base_url = "{url}"
interval = "{interval}"
jitter = "0s"
"""
WATER_TOPIC = """
[[topics]]
id = "water"
group = "ЖКХ"
name = "Вода"
organisation = "УЖКХ"
words = ["вода"]
"""


def config_text(url: str, bot: str, sources: list[str], *, rules: str = PITS_TOPIC,
                interval: str = "5m", head: str = HEAD) -> str:
    return (head.format(bot=bot) + "".join(SOURCE.format(name=n, url=url, interval=interval)
                                           for n in sources) + rules)


async def test_a_good_config_adds_removes_changes_sources_and_swaps_rules(
    tmp_path: Path, clock: ManualClock,
) -> None:
    async with FakeTme("alpha") as tme, FakeBotApi() as bot:
        for name in ("beta", "gamma"):
            tme.add_channel(name)
        tme.channels["beta"].add_post(7, clock.now() - timedelta(minutes=3),
                                      "Третий день нет воды в доме")
        path = tmp_path / "config.toml"
        path.write_text(config_text(tme.base_url, bot.base_url, ["alpha", "gamma"]), "utf-8")
        env = {"MONITOR_BOT_TOKEN": bot.token}
        async with App(load_config(path, env={}).config, clock=clock, env=env) as app:
            await app.poll_all()
            alpha = app.pollers["alpha"]
            alpha.failures = 2  # its health survives a reload that leaves it unchanged
            text = config_text(tme.base_url, bot.base_url, ["alpha", "beta"],
                               rules=PITS_TOPIC + WATER_TOPIC)
            path.write_text(text, "utf-8")
            assert await reload_config(app)
            assert sorted(app.pollers) == ["alpha", "beta"]
            assert app.pollers["alpha"].source is alpha.source
            assert app.pollers["alpha"].failures == 2
            await app.poll_all()
            [incident] = await app.store.list_incidents()
            assert (incident.source_id, incident.group_name) == ("beta", "ЖКХ")

            changed = config_text(tme.base_url, bot.base_url, ["alpha", "beta"],
                                  rules=PITS_TOPIC + WATER_TOPIC, interval="10m")
            path.write_text(changed, "utf-8")
            assert await reload_config(app)
            assert app.pollers["alpha"].source is not alpha.source, "changed: a new source"
            assert app.pollers["alpha"].failures == 0
            assert app.pollers["alpha"].settings.interval == timedelta(minutes=10)


async def test_a_broken_config_keeps_the_old_one_and_says_why(
    tmp_path: Path, clock: ManualClock, caplog,  # type: ignore[no-untyped-def]
) -> None:
    async with FakeTme("alpha") as tme, FakeBotApi() as bot:
        path = tmp_path / "config.toml"
        path.write_text(config_text(tme.base_url, bot.base_url, ["alpha"]), "utf-8")
        env = {"MONITOR_BOT_TOKEN": bot.token}
        async with App(load_config(path, env={}).config, clock=clock, env=env) as app:
            config, pollers = app.config, dict(app.pollers)
            path.write_text(config_text(tme.base_url, bot.base_url, ["alpha"])
                            + "[sla]\nfirst_response = 8\n", "utf-8")
            assert not await reload_config(app)
            assert app.config is config and app.pollers == pollers
            assert "не применена, работает прежняя" in caplog.text
            assert "sla.first_response: число 8 без единицы" in caplog.text
            [told] = bot.sent
            assert told["chat_id"] == CHAT and "Конфигурация не применена" in told["text"]
            assert "sla.first_response" in told["text"]

            path.write_bytes(b"\x00\xff[[[ not toml" * 1000)
            assert not await reload_config(app)
            path.unlink()
            assert not await reload_config(app)
            assert app.config is config and len(bot.sent) == 3
            tme.add_post(1, clock.now(), "Яма во дворе")
            await app.poll_all()
            assert len(await app.store.list_incidents()) == 1, "the old config keeps working"


ADMIN = -1007777777777
ALERTS = f"""
[alerts]
admin_chat = {ADMIN}
digest_at = "08:30"
per_chat_per_minute = 5
group_window = "1m"
warnings = ["50%"]

[[policies]]
name = "дороги быстро"
groups = ["Дороги"]
first_response = "2h"
clock = "calendar"
"""


async def test_a_reload_swaps_alerts_and_policies_and_recomputes_deadlines(
    tmp_path: Path, clock: ManualClock,
) -> None:
    async with FakeTme("alpha") as tme, FakeBotApi() as bot:
        tme.add_post(1, clock.now(), "Яма во дворе")
        path = tmp_path / "config.toml"
        path.write_text(config_text(tme.base_url, bot.base_url, ["alpha"]), "utf-8")
        env = {"MONITOR_BOT_TOKEN": bot.token}
        async with App(load_config(path, env={}).config, clock=clock, env=env) as app:
            app.scheduler = AsyncIOScheduler(timezone=UTC)  # as `run` has it; not started
            app.schedule_digest()
            assert app.scheduler.get_job("digest") is None
            await app.poll_all()
            [before] = await app.store.list_incidents()
            schedule, pacer = app.schedule, app.delivery.pacer
            assert app.delivery.rescue_chat == CHAT
            path.write_text(config_text(tme.base_url, bot.base_url, ["alpha"]) + ALERTS, "utf-8")
            assert await reload_config(app)
            assert app.schedule is not schedule and app.config.alerts.warnings is not None
            assert app.delivery.rescue_chat == ADMIN
            assert app.delivery.window == timedelta(minutes=1)
            assert app.delivery.pacer is not pacer and app.delivery.pacer._per_minute == 5
            assert app.watch._config is app.config and app.watch._pollers is app.pollers
            job = app.scheduler.get_job("digest")
            assert job is not None and "8" in str(job.trigger) and "30" in str(job.trigger)
            [after] = await app.store.list_incidents()
            assert after.due_at == before.opened_at + timedelta(hours=2) != before.due_at

            path.write_text(config_text(tme.base_url, bot.base_url, ["alpha"]) + ALERTS
                            + "[sla]\nwarn_before = 9\n", "utf-8")
            assert not await reload_config(app)
            [told] = bot.sent
            assert told["chat_id"] == ADMIN and "Конфигурация не применена" in told["text"]

            path.write_text(config_text(tme.base_url, bot.base_url, ["alpha"]), "utf-8")
            assert await reload_config(app)
            assert app.scheduler.get_job("digest") is None, "digest off again"
            assert app.delivery.rescue_chat == CHAT


async def test_reload_of_a_running_daemon_process(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    async with FakeTme("alpha") as tme:
        tme.add_channel("beta")
        tme.channels["beta"].add_post(5, datetime.now(UTC) - timedelta(minutes=1),
                                      "Яма у подъезда")
        head = "[storage]\npath = \"m.db\"\n" + FAST_DAEMON
        path = tmp_path / "config.toml"
        path.write_text(config_text(tme.base_url, "", ["alpha"], head=head, interval="1s"),
                        "utf-8")
        assert main(["reload", "--config", str(path)]) == 1, "no daemon yet"
        assert "не запущен" in capsys.readouterr().out
        env = {k: v for k, v in os.environ.items() if k != "MONITOR_BOT_TOKEN"}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(path), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            await until_logged(process, "монитор запущен")
            good = config_text(tme.base_url, "", ["alpha", "beta"], head=head, interval="1s")
            path.write_text(good, "utf-8")
            assert main(["reload", "--config", str(path)]) == 0
            assert f"процесс {process.pid}" in capsys.readouterr().out
            await until_logged(process, "перечитана и применена")
            await wait_for(lambda: "/s/beta" in tme.paths, 20)

            path.write_text(good + "[sla]\nwarn_before = 9\n", "utf-8")
            assert main(["reload", "--config", str(path)]) == 2, "refused before signalling"
            process.send_signal(signal.SIGHUP)  # the daemon checks for itself too
            await until_logged(process, "не применена, работает прежняя")
            polled = len(tme.requests)
            await wait_for(lambda: len(tme.requests) > polled + 2, 20)
        finally:
            process.send_signal(signal.SIGTERM)
            _, rest = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, rest.decode()


PG_HEAD = """
[storage]
backend = "postgresql"
lease_ttl = "20s"
lease_renew = "1s"
"""


async def test_sources_a_reload_adds_or_removes_on_postgresql_follow_the_leases(
    pg_dsn: str, tmp_path: Path, clock: ManualClock,
) -> None:
    """Two daemons share a PostgreSQL store: after a reload each polls only the sources whose
    lease it holds; an added source is someone's at once, a removed one nobody's."""
    async with FakeTme("alpha") as tme:
        for name in ("beta", "gamma", "delta"):
            tme.add_channel(name)
        path = tmp_path / "config.toml"

        def write(sources: list[str]) -> None:
            path.write_text(config_text(tme.base_url, "http://127.0.0.1:9", sources,
                                        head=PG_HEAD), "utf-8")

        write(["alpha", "beta"])
        env = {"MONITOR_PG_DSN": pg_dsn}
        config = load_config(path, env=env).config
        async with App(config, clock=clock, env=env) as one, \
                App(config, clock=clock, env=env) as two:
            apps = (one, two)

            async def renew_all() -> None:
                for app in apps * 2:  # the first gives back its excess, the second takes it
                    await app.renew_leases()

            async def polled_once_by_the_holder(sources: list[str]) -> None:
                tme.requests.clear()
                for app in apps:
                    for poller in list(app.pollers.values()):
                        await app.poll_job(poller)()
                channels = sorted(p.split("?")[0].removeprefix("/s/") for p in tme.paths)
                assert channels == sorted(sources), "each source by one daemon, once"

            await renew_all()
            assert {len(app.fleet.held) for app in apps} == {1}
            await polled_once_by_the_holder(["alpha", "beta"])

            write(["alpha", "beta", "gamma", "delta"])
            for app in apps:
                assert await reload_config(app)
            await renew_all()
            held = [app.fleet.held for app in apps]
            assert not held[0] & held[1]
            assert held[0] | held[1] == {f"source:{s}" for s in ("alpha", "beta", "gamma",
                                                                  "delta")}
            await polled_once_by_the_holder(["alpha", "beta", "gamma", "delta"])

            write(["beta", "gamma", "delta"])
            for app in apps:
                assert await reload_config(app)
                assert "source:alpha" not in app.fleet.held, "removed: given up at once"
            clock.advance(timedelta(seconds=21))  # alpha's lease lapses; the rest are renewed
            await renew_all()
            await polled_once_by_the_holder(["beta", "gamma", "delta"])
