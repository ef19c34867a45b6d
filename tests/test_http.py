"""`/healthz` and `/metrics`: scraped over HTTP, parsed with prometheus-client's parser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.clock import ManualClock
from monitor.config import load_config
from monitor.config.problems import ConfigError
from monitor.daemon.app import App
from monitor.daemon.http import HttpAddressError
from tests.conftest import PITS_TOPIC
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.tme import FakeTme

CONFIG = """
[storage]
path = "m.db"

[daemon]
http = "{http}"

[[sources]]
id = "news"
network = "telegram_web"
channel = "kamensk_news"
base_url = "{url}"
interval = "5m"

[telegram]
base_url = "{bot}"

[[telegram.chats]]
id = -1005555555555
name = "Дежурные"
""" + PITS_TOPIC

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(app: App, path: str) -> tuple[int, str]:
    assert app.http_address is not None
    host, port = app.http_address
    async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}{path}") as r:
        return r.status, await r.text()


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture
async def world(tmp_path: Path, clock: ManualClock) -> AsyncIterator[tuple[FakeTme, FakeBotApi,
                                                                              App]]:
    async with FakeTme("kamensk_news") as tme, FakeBotApi() as bot:
        tme.add_post(1, clock.now() - timedelta(minutes=5), "Яма у подъезда, когда засыплют?")
        tme.add_post(2, clock.now() - timedelta(minutes=4), "Продам гараж")
        path = tmp_path / "config.toml"
        path.write_text(CONFIG.format(http="127.0.0.1:0", url=tme.base_url, bot=bot.base_url),
                        encoding="utf-8")
        config = load_config(path, env={}).config
        async with App(config, clock=clock, env={"MONITOR_BOT_TOKEN": bot.token}) as app:
            yield tme, bot, app


async def test_metrics_after_a_poll_and_a_flush(world, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    tme, bot, app = world
    await app.poll_all()
    await app.deadline_tick()
    await app.flush_outbox()
    status, text = await scrape(app, "/metrics")
    assert status == 200
    found = samples(text)
    news = (("source", "news"),)
    assert found[("monitor_source_items_total", news)] == 2
    assert found[("monitor_source_incidents_opened_total", news)] == 1
    assert found[("monitor_poll_duration_seconds_count", news)] == 1
    assert found[("monitor_source_last_success_timestamp_seconds", news)] == \
        clock.now().timestamp()
    assert found[("monitor_source_state", (("source", "news"), ("state", "ok")))] == 1
    assert found[("monitor_source_state", (("source", "news"), ("state", "paused")))] == 0
    assert found[("monitor_incidents_open", (("group", "Дороги"),))] == 1
    assert found[("monitor_incidents_overdue", (("group", "Дороги"),))] == 0
    assert found[("monitor_alerts_total", (("outcome", "sent"),))] == len(bot.sent) == 1
    assert found[("monitor_outbox_alerts", (("status", "sent"),))] == 1
    assert found[("monitor_outbox_oldest_waiting_seconds", ())] == 0
    assert found[("process_resident_memory_bytes", ())] > 10_000_000

    clock.advance(timedelta(days=2))  # past the 8 working hours
    found = samples((await scrape(app, "/metrics"))[1])
    assert found[("monitor_incidents_overdue", (("group", "Дороги"),))] == 1
    assert await scrape(app, "/healthz") == (200, '{"status": "ok", "problems": []}')


async def test_a_source_failing_longer_than_its_silence_limit_is_unhealthy(world, clock) -> None:  # type: ignore[no-untyped-def]
    tme, bot, app = world
    tme.answer_status(500)
    await app.poll_all()
    found = samples((await scrape(app, "/metrics"))[1])
    state = {s: found[("monitor_source_state", (("source", "news"), ("state", s)))]
             for s in ("ok", "backing_off", "paused")}
    assert state == {"ok": 0, "backing_off": 1, "paused": 0}
    assert found[("monitor_source_last_error_timestamp_seconds", (("source", "news"),))] == \
        clock.now().timestamp()
    assert (await scrape(app, "/healthz"))[0] == 200, "a short failure is no alarm"
    clock.advance(timedelta(hours=25))
    status, body = await scrape(app, "/healthz")
    assert status == 503
    assert "источник news не опрашивается с" in body
    tme.answer_normally()
    await app.poll_all()
    assert (await scrape(app, "/healthz"))[0] == 200, "recovered"


async def test_a_stuck_outbox_is_unhealthy(world, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    tme, bot, app = world
    await app.poll_all()
    await app.deadline_tick()  # queued, not sent
    found = samples((await scrape(app, "/metrics"))[1])
    assert found[("monitor_outbox_alerts", (("status", "pending"),))] == 1
    clock.advance(timedelta(minutes=16))
    found = samples((await scrape(app, "/metrics"))[1])
    assert found[("monitor_outbox_oldest_waiting_seconds", ())] == 16 * 60
    status, body = await scrape(app, "/healthz")
    assert status == 503 and "оповещения не уходят" in body
    await app.flush_outbox()
    assert (await scrape(app, "/healthz"))[0] == 200


async def test_a_busy_address_is_a_clear_error(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tme, bot, app = world
    host, port = app.http_address
    config = app.config.model_copy(update={"daemon": app.config.daemon.model_copy(
        update={"http": f"{host}:{port}"}), "storage": app.config.storage.model_copy(
        update={"path": str(tmp_path / "other.db")})})
    with pytest.raises(HttpAddressError, match="адрес не открыть"):
        async with App(config, env={}):
            pass


@pytest.mark.parametrize("address", ["9464", "localhost", "127.0.0.1:99999", ":80", "a:b"])
def test_a_malformed_address_is_a_config_error(write_config, address: str) -> None:  # type: ignore[no-untyped-def]
    path = write_config(f'[daemon]\nhttp = "{address}"\n')
    with pytest.raises(ConfigError, match="daemon.http: адрес .* не распознан"):
        load_config(path, env={})


async def test_off_by_default(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(PITS_TOPIC, encoding="utf-8")
    async with App(load_config(path, env={}).config, env={}) as app:
        assert app.http_address is None
