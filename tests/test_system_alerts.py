"""System alerts through the real daemon, the real connectors against their fakes and the fake
Bot API: a refused token, a silent source, a token near its daily cap — each told to the admin
chat once, and once more on recovery, across a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common.clock import ManualClock
from monitor.config import load_config
from monitor.daemon.app import App
from tests.alerting import BOT, TOPICS, daemon
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.tme import FakeTme
from tests.fakes.vk import FakeVk

START = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
ADMIN, WALL = -1007, 111
CONFIG = BOT + f"""
[alerts]
admin_chat = {ADMIN}

[[sources]]
id = "wall"
network = "vk"
group_id = {WALL}
token_env = "VK_TOKEN"
base_url = "{{vk}}"
interval = "{{interval}}"

[[sources]]
id = "news"
network = "telegram_web"
channel = "kamensk_news"
base_url = "{{tme}}"
silence_alert = "12h"
""" + TOPICS


@asynccontextmanager
async def fakes() -> AsyncIterator[tuple[FakeBotApi, FakeVk, FakeTme]]:
    async with FakeBotApi() as bot, FakeVk(now=START.timestamp()) as vk, \
            FakeTme("kamensk_news") as tme:
        vk.add_community(WALL, name="Район")
        vk.add_post(WALL, "Новости района", date=START - timedelta(hours=1))
        tme.add_post(1, START - timedelta(minutes=5), "Яма у подъезда")
        yield bot, vk, tme


def config_file(tmp_path: Path, bot: FakeBotApi, vk: FakeVk, tme: FakeTme,
                interval: str = "5m") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(url=bot.base_url, vk=vk.base_url, tme=tme.base_url,
                                  interval=interval), encoding="utf-8")
    return path


@asynccontextmanager
async def vk_daemon(path: Path, clock: ManualClock, bot: FakeBotApi, token: str
                    ) -> AsyncIterator[App]:
    env = {"MONITOR_BOT_TOKEN": bot.token, "VK_TOKEN": token}
    async with daemon(load_config(path, env=env).config, clock, bot, env) as app:
        yield app


async def round_(app: App) -> None:
    await app.poll_all()
    await app.system_check()
    await app.flush_outbox()


def admin_lines(bot: FakeBotApi) -> list[str]:
    return [m["text"].split("\n")[0] for m in bot.delivered if m["chat"]["id"] == ADMIN]


async def test_a_refused_token_is_told_once_and_its_recovery_once(tmp_path: Path) -> None:
    clock = ManualClock(START)
    async with fakes() as (bot, vk, tme):
        path = config_file(tmp_path, bot, vk, tme)
        async with vk_daemon(path, clock, bot, "revoked") as app:
            for _ in range(3):
                await round_(app)
                clock.advance(timedelta(minutes=5))
        async with vk_daemon(path, clock, bot, "revoked") as app:  # restarted, still refused
            await round_(app)
        assert admin_lines(bot) == ["🚫 Источник wall: доступ отклонён"]
        assert "обновите токен в $VK_TOKEN" in bot.delivered[-1]["text"]
        vk.add_token("good", kind="service")
        async with vk_daemon(path, clock, bot, "good") as app:
            await round_(app)
            await round_(app)
        assert admin_lines(bot)[1:] == ["✅ Источник wall: доступ восстановлен, опрос идёт."]


async def test_a_source_stopped_by_a_permanent_error_is_told_once_and_its_recovery(
    tmp_path: Path,
) -> None:
    """A private community (VK error 30) stops the source (the poller's permanent class): the
    admin chat hears it once, across a restart, and once when it reads again."""
    clock = ManualClock(START)
    async with fakes() as (bot, vk, tme):
        vk.add_token("good", kind="service")
        vk.fail_next("wall.get", 30, times=2)  # one poll of each run
        path = config_file(tmp_path, bot, vk, tme)
        async with vk_daemon(path, clock, bot, "good") as app:
            for _ in range(3):
                await round_(app)
                clock.advance(timedelta(minutes=5))
            assert app.pollers["wall"].paused
        async with vk_daemon(path, clock, bot, "good") as app:  # restarted, still private
            await round_(app)
        assert admin_lines(bot) == ["⛔️ Источник wall остановлен: постоянная ошибка"]
        assert "ошибка 30" in bot.delivered[-1]["text"]
        async with vk_daemon(path, clock, bot, "good") as app:
            await round_(app)
            await round_(app)
        assert admin_lines(bot)[1:] == ["✅ Источник wall снова читается, опрос идёт."]


async def test_a_silent_source_is_told_once_and_when_it_speaks_again(tmp_path: Path) -> None:
    clock = ManualClock(START)
    async with fakes() as (bot, vk, tme):
        vk.add_token("good", kind="service")
        path = config_file(tmp_path, bot, vk, tme)
        async with vk_daemon(path, clock, bot, "good") as app:
            await round_(app)
            clock.advance(timedelta(hours=11))
            await round_(app)
            assert admin_lines(bot) == []
            clock.advance(timedelta(hours=2))
            await round_(app)
            await round_(app)
        async with vk_daemon(path, clock, bot, "good") as app:  # restart: not told again
            clock.advance(timedelta(hours=1))
            await round_(app)
            # 14 h: past the 12 h of news, not the default day of the wall
            assert [line.split(":")[0] for line in admin_lines(bot)] == [
                "🔇 Источник news молчит"]
            tme.add_post(2, clock.now(), "Снова новости")
            await round_(app)
        assert admin_lines(bot)[1:] == [
            "✅ Источник news снова приносит новое (или больше не опрашивается)."]


async def test_a_token_near_its_cap_is_told_once(tmp_path: Path) -> None:
    clock = ManualClock(START)
    async with fakes() as (bot, vk, tme):
        vk.add_token("good", kind="service")
        path = config_file(tmp_path, bot, vk, tme, interval="10s")
        async with vk_daemon(path, clock, bot, "good") as app:
            await round_(app)
            await round_(app)
        [line] = admin_lines(bot)
        assert line.startswith("📈 Токен $VK_TOKEN близок к дневному лимиту")
        assert "wall.get: 4 320 из 5 000" in bot.delivered[-1]["text"]
        path = config_file(tmp_path, bot, vk, tme, interval="5m")
        async with vk_daemon(path, clock, bot, "good") as app:
            await round_(app)
        assert admin_lines(bot)[1:] == ["✅ Токен $VK_TOKEN больше не близок к дневному лимиту."]
