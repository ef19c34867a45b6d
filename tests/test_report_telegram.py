"""The report in Telegram through the real PTB client and the fake Bot API (multipart uploads):
`/report` from staff, the curator's quarterly report on an injected clock, spike alerts."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from openpyxl import load_workbook

from common.clock import ManualClock
from monitor.config.settings import StorageConfig
from monitor.daemon.app import REPORT_JOB, App
from monitor.daemon.reload import reload_config
from storage import ClassifiedItem
from storage.postgresql.store import PostgresStore
from tests.fakes.bot_api import FakeBotApi, Upload
from tests.postgres import fresh_schema
from tests.report_store import ZONE, fill_golden, golden_store
from tests.test_staff_bot import CONFIG, DUTY_CHAT, IVANOVA, STRANGER, config_for
from tests.test_storage import entry

CURATOR = -1005555555555
NOW = datetime(2026, 1, 12, 9, 30, tzinfo=ZONE)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
async def app(tmp_path: Path, api: FakeBotApi, clock: ManualClock) -> AsyncIterator[App]:
    store = await golden_store(tmp_path / "m.db")
    await store.close()
    config = config_for(tmp_path, api, f"\n[report]\ncurator_chat = {CURATOR}\n"
                                       'spike_window = "1h"\n')
    async with App(config, clock=clock, env={"MONITOR_BOT_TOKEN": api.token}) as opened:
        yield opened


def replies(api: FakeBotApi) -> list[str]:
    return [m["text"] for m in api.sent]


def names(upload: Upload) -> list[str]:
    return [name for name, _ in upload.files]


async def test_report_from_staff_sends_the_workbook_and_the_charts(
    app: App, api: FakeBotApi
) -> None:
    api.push_message(DUTY_CHAT, IVANOVA, "/report 2025Q4")
    await app.process_updates()
    assert replies(api) == ["Готовлю отчёт за IV квартал 2025…"]
    document, album = api.uploads
    assert (document.method, document.chat_id, names(document), document.caption) == (
        "sendDocument", DUTY_CHAT, ["report_2025Q4.xlsx"], "Отчёт МЦУ за IV квартал 2025")
    book = load_workbook(io.BytesIO(document.files[0][1]))
    assert book["Сводка"]["B5"].value == 11  # incidents registered
    assert (album.method, album.chat_id, sorted(names(album))) == (
        "sendMediaGroup", DUTY_CHAT, ["report_2025Q4_heatmap.png", "report_2025Q4_on_time.png",
                                      "report_2025Q4_weeks.png"])


async def test_a_bad_period_is_answered_in_russian_and_nothing_is_sent(
    app: App, api: FakeBotApi
) -> None:
    for text in ("/report 2025Q5", "/report 2025-13", "/report 2025Q4 2025Q3",
                 "/report <b>" + "9" * 5000):
        api.push_message(DUTY_CHAT, IVANOVA, text)
    await app.process_updates()
    said = replies(api)
    assert said[0] == "Не понял период: квартала 5 нет: кварталы 1–4 ('2025Q5'). " \
                      "Пример: /report 2026Q3"
    assert "месяца 13 нет" in said[1] and "укажите один период" in said[2]
    assert "период слишком длинный" in said[3]
    assert api.uploads == []


async def test_report_without_a_period_is_the_quarter_so_far_and_strangers_get_nothing(
    app: App, api: FakeBotApi
) -> None:
    api.push_message(DUTY_CHAT, STRANGER, "/report")
    api.push_message(DUTY_CHAT, IVANOVA, "/report")
    await app.process_updates()
    assert [u.caption for u in api.uploads if u.method == "sendDocument"] == [
        "Отчёт МЦУ за I квартал 2026"]


async def test_the_curator_gets_the_past_quarter_once_on_the_first_working_day(
    app: App, api: FakeBotApi, clock: ManualClock
) -> None:
    # Q3 2026 ends on Wednesday 30 September; Thursday 1 October is a working day.
    clock.set(datetime(2026, 9, 30, 17, 0, tzinfo=ZONE))
    assert not await app.quarterly.tick()  # Q2's report was due in July: never sent now
    clock.set(datetime(2026, 10, 1, 8, 59, tzinfo=ZONE))
    assert not await app.quarterly.tick()
    clock.set(datetime(2026, 10, 1, 9, 0, tzinfo=ZONE))
    assert await app.quarterly.tick()
    assert not await app.quarterly.tick()
    clock.advance(timedelta(days=2))
    assert not await app.quarterly.tick()
    document, album = api.uploads
    assert (document.chat_id, names(document)) == (CURATOR, ["report_2026Q3.xlsx"])
    assert document.caption.endswith("Напоминание: отчёт нужно направить в ЦУР до "
                                     "5 октября 2026.")
    assert album.chat_id == CURATOR and len(album.files) == 3


async def test_a_reload_keeps_the_report_check_under_the_new_report_section(
    tmp_path: Path, app: App, api: FakeBotApi, clock: ManualClock, caplog,  # type: ignore[no-untyped-def]
) -> None:
    app.scheduler = AsyncIOScheduler(timezone=UTC)
    app.scheduler.start(paused=True)  # nothing runs: its jobs are only read here
    app.schedule_report()
    clock.set(datetime(2026, 10, 1, 9, 0, tzinfo=ZONE))
    other = CURATOR - 1
    path = tmp_path / "config.toml"
    report = f"\n[report]\ncurator_chat = {other}\ncheck_every = "
    path.write_text(CONFIG.format(url=api.base_url, extra=report + "15\n"), "utf-8")
    assert not await reload_config(app), "a bare number is no duration (check-config's trap)"
    assert "report.check_every: число 15 без единицы" in caplog.text
    path.write_text(CONFIG.format(url=api.base_url, extra=report + '"15m"\n'), "utf-8")
    assert await reload_config(app)
    job = app.scheduler.get_job(REPORT_JOB)
    assert job is not None and job.trigger.interval == timedelta(minutes=15)
    app.scheduler.shutdown(wait=False)
    assert await app.quarterly.tick()
    assert {upload.chat_id for upload in api.uploads} == {other}


async def test_after_the_new_year_holidays_the_curator_is_told_the_5th_has_passed(
    app: App, api: FakeBotApi, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 1, 9, 12, 0, tzinfo=ZONE))  # a holiday: nothing yet
    assert not await app.quarterly.tick()
    clock.set(datetime(2026, 1, 12, 9, 0, tzinfo=ZONE))
    assert await app.quarterly.tick()
    assert api.uploads[0].caption.startswith("Отчёт МЦУ за IV квартал 2025")
    assert "Срок направления в ЦУР — 5 января 2026 — уже прошёл" in api.uploads[0].caption


async def test_a_failed_upload_is_retried_at_the_next_check(
    app: App, api: FakeBotApi, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 1, 12, 9, 0, tzinfo=ZONE))
    api.fail_next(400, "Bad Request: chat not found", method="sendDocument")
    assert not await app.quarterly.tick()
    assert await app.quarterly.tick()


async def test_a_spike_is_alerted_once_to_the_alert_chats(
    app: App, api: FakeBotApi, clock: ManualClock
) -> None:
    opened = []
    for n in range(6):
        clock.advance(timedelta(minutes=5))
        result = await app.store.save_items_and_cursor(
            "news", [entry(f"w{n}", f"нет воды в доме {n}", when=clock.now(),
                           settlement="Кедровое")], {}, clock.now())
        opened += result.incidents
        await app.alert_spikes(result.incidents)
    await app.flush_outbox()
    spikes = [t for t in replies(api) if "Всплеск" in t]
    assert spikes == ["⚡️ <b>Всплеск: 5 жалоб(ы) «Дороги» — Кедровое за 1 ч 0 мин</b>\n"
                      f"Темы: Ямы\nИнциденты: {', '.join(f'№{n}' for n in opened[:5])}"]
    clock.advance(timedelta(hours=2))  # a new burst after a quiet window is a new spike
    for n in range(5):
        result = await app.store.save_items_and_cursor(
            "news", [entry(f"x{n}", f"снова нет воды {n}", when=clock.now(),
                           settlement="Кедровое")], {}, clock.now())
        await app.alert_spikes(result.incidents)
    await app.flush_outbox()
    assert len([t for t in replies(api) if "Всплеск" in t]) == 2


async def test_a_spike_counts_one_municipality_s_settlement(
    app: App, api: FakeBotApi, clock: ManualClock
) -> None:
    """Two municipalities of a region may each have a «Кедровое»: their complaints are two
    problems, not one spike (and a spike is counted from its problem's incidents alone)."""
    def complaint(number: str, municipality: str) -> ClassifiedItem:
        found = entry(number, f"нет воды в доме {number}", when=clock.now(),
                      settlement="Кедровое")
        assert found.incident is not None
        return replace(found, incident=replace(found.incident, municipality=municipality))

    for n in range(6):
        clock.advance(timedelta(minutes=5))
        result = await app.store.save_items_and_cursor(
            "news", [complaint(f"a{n}", "aramil" if n % 2 else "sysert")], {}, clock.now())
        await app.alert_spikes(result.incidents)
    await app.flush_outbox()
    assert [t for t in replies(api) if "Всплеск" in t] == []  # 3 and 3, not 6
    for n in range(2):
        clock.advance(timedelta(minutes=5))
        result = await app.store.save_items_and_cursor(
            "news", [complaint(f"b{n}", "sysert")], {}, clock.now())
        await app.alert_spikes(result.incidents)
    await app.flush_outbox()
    assert [t.split("</b>")[0] for t in replies(api) if "Всплеск" in t] == [
        "⚡️ <b>Всплеск: 5 жалоб(ы) «Дороги» — Кедровое за 1 ч 0 мин"]


async def test_a_spike_goes_to_the_route_of_its_group_and_settlement(
    tmp_path: Path, api: FakeBotApi, clock: ManualClock
) -> None:
    """Spike alerts are routed as incidents' alerts are: the route of that group and
    settlement (its forum topic), not every duty chat."""
    store = await golden_store(tmp_path / "m.db")
    await store.close()
    config = config_for(tmp_path, api, '\n[report]\nspike_window = "1h"\n\n[[alerts.routes]]\n'
                                       'name = "дороги Кедрового"\ngroups = ["Дороги"]\n'
                                       'settlements = ["Кедровое"]\nchat = -1005\nthread = 3\n')
    async with App(config, clock=clock, env={"MONITOR_BOT_TOKEN": api.token}) as app:
        for n in range(5):
            clock.advance(timedelta(minutes=5))
            result = await app.store.save_items_and_cursor(
                "news", [entry(f"w{n}", f"нет воды в доме {n}", when=clock.now(),
                               settlement="Кедровое")], {}, clock.now())
            await app.alert_spikes(result.incidents)
        await app.flush_outbox()
    spikes = [(m["chat_id"], m["message_thread_id"]) for m in api.sent if "Всплеск" in m["text"]]
    assert spikes == [(-1005, 3)]


async def test_two_daemons_on_postgresql_send_the_curators_report_once(
    tmp_path: Path, api: FakeBotApi, clock: ManualClock
) -> None:
    async with fresh_schema() as dsn:
        store = await PostgresStore.open(dsn)
        await fill_golden(store)
        await store.close()
        config = config_for(tmp_path, api, f"\n[report]\ncurator_chat = {CURATOR}\n")
        config = config.model_copy(update={"storage": StorageConfig(backend="postgresql")})
        env = {"MONITOR_BOT_TOKEN": api.token, "MONITOR_PG_DSN": dsn}
        clock.set(datetime(2026, 1, 12, 9, 0, tzinfo=ZONE))
        async with App(config, clock=clock, env=env) as one, \
                App(config, clock=clock, env=env) as two:
            ticks = await asyncio.gather(one.quarterly.tick(), two.quarterly.tick())
            assert sorted(ticks) == [False, True]  # both check at once: the moment is one's
            clock.advance(config.report.check_every)
            assert not await one.quarterly.tick() and not await two.quarterly.tick()
        assert [u.method for u in api.uploads] == ["sendDocument", "sendMediaGroup"]


async def test_a_send_outlasting_the_check_is_not_begun_again_by_another_daemon(
    tmp_path: Path, api: FakeBotApi, clock: ManualClock
) -> None:
    async with fresh_schema() as dsn:
        store = await PostgresStore.open(dsn)
        await fill_golden(store)
        config = config_for(tmp_path, api, f"\n[report]\ncurator_chat = {CURATOR}\n")
        config = config.model_copy(update={
            "storage": StorageConfig(backend="postgresql"),
            "telegram": config.telegram.model_copy(update={"timeout": timedelta(seconds=20)})})
        env = {"MONITOR_BOT_TOKEN": api.token, "MONITOR_PG_DSN": dsn}
        clock.set(datetime(2026, 1, 12, 9, 0, tzinfo=ZONE))
        api.delay_next(3.0, method="sendDocument")  # the upload is slow
        try:
            async with App(config, clock=clock, env=env) as one, \
                    App(config, clock=clock, env=env) as two:
                sending = asyncio.create_task(one.quarterly.tick())
                while "sendDocument" not in api.calls:
                    await asyncio.sleep(0.01)  # until the first daemon's upload is under way
                clock.advance(config.report.check_every)  # the next check: the other's moment
                await one.fleet.renew()  # both heartbeats go on meanwhile
                await two.fleet.renew()
                assert not await two.quarterly.tick()
                assert not sending.done()
                assert await sending
                assert not await two.quarterly.tick()
        finally:
            await store.close()
        assert [(u.method, u.chat_id) for u in api.uploads] == [
            ("sendDocument", CURATOR), ("sendMediaGroup", CURATOR)]
