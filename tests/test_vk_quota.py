"""VK quota planning: the lines per token, check-config's block, the limiter on simulated time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import connectors
from common.clock import ManualClock
from connectors.base import SourceContext, SourceSettings
from connectors.vk import VkSettings
from connectors.vk_client import RateLimiter, share_limiter
from connectors.vk_quota import Assumptions, plan, quota_lines
from monitor.cli import main
from monitor.cli.check_config import config_summary
from monitor.config import load_config
from monitor.daemon.app import App
from tests.fakes.vk import FakeVk

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
TOKEN = "service-token-for-tests"


def wall(n: int, interval: str = "5m", token_env: str | None = "VK_SERVICE_TOKEN",
         **extra: Any) -> VkSettings:
    return VkSettings.model_validate({"id": f"wall-{n}", "network": "vk", "group_id": n + 1,
                                      "interval": interval, "token_env": token_env, **extra})


def search(query: list[str], interval: str = "15m", token_env: str = "VK_SERVICE_TOKEN",
           ) -> VkSettings:
    return VkSettings.model_validate({"id": "search", "network": "vk", "mode": "search",
                                      "query": query, "interval": interval,
                                      "token_env": token_env})


def test_a_dozen_walls_fit_with_room_to_spare() -> None:
    token, assumptions = quota_lines([wall(n) for n in range(12)])
    assert token == (
        "токен $VK_SERVICE_TOKEN: 12 источников; wall.get ≈ 1 728 в сутки из 5 000 (35%), "
        "в оживлённый день до 3 456; wall.getComments ≈ 346 (без дневного лимита); "
        "≈ 0,02 вызова/с из 3; при таких интервалах свежесть ≤ 5 мин, у тихой стены ≤ 15 мин")
    assert "превышение не ломает демон" in assumptions
    assert "0,5 wall.get" in assumptions and "0,1 wall.getComments" in assumptions


def test_a_hundred_walls_every_five_minutes_go_over_and_the_fitting_interval_is_named() -> None:
    sources = [wall(n) for n in range(100)]
    line = quota_lines(sources)[0]
    assert "wall.get ≈ 14 400 в сутки из 5 000 (288%), в оживлённый день до 28 800 — " \
        "превышение: чтобы уложиться наверняка, интервал стен не меньше 29 мин или токенов " \
        "не меньше 6" in line
    assert line.endswith("свежесть ≤ 5 мин, у тихой стены ≤ 15 мин, пока лимит не исчерпан")
    (quota,) = plan(sources)
    assert quota.fits == {"wall.get": timedelta(minutes=29)}
    assert quota_lines([wall(n, "29m") for n in range(100)])[0].count("превышение") == 0
    assert "превышение" in quota_lines([wall(n, "28m") for n in range(100)])[0]


def test_only_a_busy_day_would_go_over_the_cap() -> None:
    line = quota_lines([wall(n) for n in range(20)])[0]
    assert "wall.get ≈ 2 880 в сутки из 5 000 (58%), в оживлённый день до 5 760 — возможно " \
        "превышение: чтобы уложиться наверняка, интервал стен не меньше 6 мин или токенов не " \
        "меньше 2" in line
    assert "пока лимит не исчерпан" not in line


def test_search_costs_one_call_per_distinct_phrase_per_poll() -> None:
    fits = quota_lines([search(["Мартюш", "Колчедан", "мартюш"], "15m")])[0]
    assert fits == ("токен $VK_SERVICE_TOKEN: 1 источник; newsfeed.search ≈ 192 в сутки из "
                    "1 000 (19%); < 0,01 вызова/с из 3; при таких интервалах свежесть ≤ 15 мин")
    over = quota_lines([search(["Мартюш", "Колчедан"], "2m")])[0]
    assert "newsfeed.search ≈ 1 440 в сутки из 1 000 (144%) — превышение: чтобы уложиться " \
        "наверняка, интервал поиска не меньше 3 мин или токенов не меньше 2" in over


def test_each_token_has_its_own_line_and_skipped_sources_count_for_none() -> None:
    sources: list[SourceSettings] = [
        wall(1, token_env="VK_A"), search(["Мартюш"], token_env="VK_B"), wall(2, token_env="VK_A"),
        wall(3, token_env="VK_A", enabled=False), wall(4, token_env=None),
        wall(5, mode="longpoll", token_env="VK_GROUP_TOKEN"),
    ]
    lines = quota_lines(sources)
    assert [line.split(";")[0] for line in lines[:3]] == [
        "токен $VK_A: 2 источника", "токен $VK_B: 1 источник",
        "токен $VK_GROUP_TOKEN: 1 источник (Long Poll: 1)"]
    assert "newsfeed.search" not in lines[0] and "wall.get" not in lines[1]
    assert lines[2].endswith("дневных лимитов не расходует")
    assert lines[3].startswith("оценка:") and len(lines) == 4
    assert quota_lines([]) == []


def test_the_assumptions_are_parameters_and_the_output_says_them() -> None:
    busy = Assumptions(reads_per_poll=1.0, changed_per_poll=0.4)
    token, assumptions = quota_lines([wall(n) for n in range(12)], busy)
    assert "wall.get ≈ 3 456 в сутки из 5 000 (69%);" in token
    assert "wall.getComments ≈ 1 382" in token
    assert "в среднем 1 wall.get" in assumptions and "0,4 wall.getComments" in assumptions


CONFIG = """
[storage]
path = "m.db"

[[topics]]
id = "pits"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["яма"]
"""


def vk_sources(count: int, interval: str = "5m", base_url: str | None = None) -> str:
    url = f'base_url = "{base_url}"\n' if base_url else ""
    return "".join(f'\n[[sources]]\nid = "vk-{n}"\nnetwork = "vk"\ngroup_id = {n + 1}\n'
                   f'token_env = "VK_SERVICE_TOKEN"\ninterval = "{interval}"\n{url}'
                   for n in range(count))


def test_check_config_shows_the_quotas_and_still_succeeds_over_a_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG + vk_sources(100), encoding="utf-8")
    summary = config_summary(load_config(path, env={"VK_SERVICE_TOKEN": "x"}))
    block = summary.split("Квоты ВКонтакте:\n", 1)[1].splitlines()
    assert block[0].startswith("  токен $VK_SERVICE_TOKEN: 100 источников; wall.get ≈ 14 400")
    assert "превышение" in block[0] and block[1].startswith("  оценка:")
    assert main(["check-config", "--config", str(path)]) == 0
    assert "Квоты ВКонтакте:" in capsys.readouterr().out


def test_check_config_has_no_quota_block_without_vk_sources(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    assert "Квоты ВКонтакте" not in config_summary(load_config(path, env={}))


async def test_the_daemon_logs_the_quotas_at_start_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG + vk_sources(2, base_url="http://127.0.0.1:9"), encoding="utf-8")
    env = {"VK_SERVICE_TOKEN": TOKEN}
    config = load_config(path, env=env).config
    with caplog.at_level(logging.INFO, logger="monitor.daemon.app"):
        async with App(config, clock=ManualClock(NOW), env=env):
            pass
    quotas = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith("квоты ВКонтакте")]
    assert quotas[0].startswith("квоты ВКонтакте: токен $VK_SERVICE_TOKEN: 2 источника; wall.get ≈")
    assert quotas[1].startswith("квоты ВКонтакте: оценка:")


class SimulatedTime:
    """Monotonic seconds that only move when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_a_limiter_on_simulated_time_keeps_the_rate_without_waiting() -> None:
    simulated = SimulatedTime()
    limiter = RateLimiter(3, simulated, simulated.sleep)
    taken: list[float] = []

    async def take() -> None:
        await limiter.acquire()
        taken.append(simulated())

    started = time.monotonic()
    await asyncio.gather(*(take() for _ in range(60)))
    assert time.monotonic() - started < 1.0, "simulated waits take no real time"
    assert len(taken) == 60 and taken == sorted(taken)
    assert max(sum(1 for t in taken if start <= t < start + 1.0) for start in taken) <= 3
    assert 19.0 <= simulated() <= 25.0, "60 calls at 3 a second last about 20 simulated seconds"


async def test_a_call_that_leaves_late_is_counted_from_when_it_left() -> None:
    """On a loaded machine a call's thread may start well after the limiter allowed it: the
    calls after it keep their distance from when it really went out."""
    simulated = SimulatedTime()
    limiter = RateLimiter(3, simulated, simulated.sleep)
    for _ in range(3):
        allowed = await limiter.acquire()
        limiter.left_at(allowed, 0.3)  # the three calls' threads started 0.3 s late
    await limiter.acquire()
    assert simulated() >= 0.3 + 1.1, "the fourth waits a window after the three really left"
    limiter.left_at(simulated() - 5, simulated())  # a moment the limiter no longer holds
    limiter.left_at(simulated(), simulated() - 1)  # never earlier than allowed


@pytest.fixture
async def vk() -> AsyncIterator[FakeVk]:
    async with FakeVk(now=NOW.timestamp()) as fake:
        fake.add_community(42)
        fake.add_token(TOKEN, kind="service")
        yield fake


async def test_clients_made_after_share_limiter_pace_on_its_time(vk: FakeVk) -> None:
    for n in range(12):
        post = vk.add_post(42, f"Новость {n}", date=NOW - timedelta(minutes=n))
        vk.add_comment(42, post, "Комментарий", from_id=5551234, date=NOW)
    simulated = SimulatedTime()
    share_limiter(TOKEN, "service", RateLimiter(3, simulated, simulated.sleep))
    spec = connectors.registry()["vk"]
    settings = spec.settings_model.model_validate(
        {"id": "vk", "network": "vk", "group_id": 42, "base_url": vk.base_url})
    async with aiohttp.ClientSession() as http:
        source = spec.create(settings, SourceContext(http, ManualClock(NOW), TOKEN))
        started = time.monotonic()
        await source.fetch(None)
    assert len(vk.calls) == 13 and time.monotonic() - started < 3.0
    assert simulated() >= 4.0, "13 calls at 3 a second: the waits were simulated"
