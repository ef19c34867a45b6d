"""Staff act from Telegram: buttons and commands through the real PTB client and the fake Bot
API, on a real SQLite file, with an injected clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.clock import ManualClock
from monitor.config import AppConfig, load_config
from monitor.daemon.app import App
from tests.fakes.bot_api import FakeBotApi
from tests.test_storage import COMPLAINT, entry

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # Wednesday 09:00 in Yekaterinburg
DUTY_CHAT, OTHER_CHAT = -1001234567890, -1009999999999
IVANOVA, STRANGER = 111, 999

CONFIG = f"""
[storage]
path = "m.db"

[telegram]
base_url = "{{url}}"
timeout = "2s"
long_poll = "1s"
{{extra}}

[[telegram.chats]]
id = {DUTY_CHAT}
name = "Дежурные"

[[telegram.staff]]
id = {IVANOVA}
name = "Иванова А. П."

[[topics]]
id = "pits"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["яма"]

[[topics]]
id = "snow"
group = "Дороги"
name = "Снег на дорогах"
organisation = "УГХ"
words = ["снег"]
"""


def config_for(tmp_path: Path, api: FakeBotApi, extra: str = "") -> AppConfig:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(url=api.base_url, extra=extra), encoding="utf-8")
    return load_config(path, env={}).config


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def app(tmp_path: Path, api: FakeBotApi) -> AsyncIterator[App]:
    clock = ManualClock(NOW)
    async with App(config_for(tmp_path, api), clock=clock, env={"MONITOR_BOT_TOKEN": api.token}) \
            as opened:
        yield opened


async def open_incident(app: App, number: str = "1", text: str = COMPLAINT) -> int:
    """Store a complaint (deadline NOW + 8 h, warning at + 7 h) and announce it."""
    result = await app.store.save_items_and_cursor("news", [entry(number, text)], {},
                                                   app.clock.now())
    await app.deadline_tick()
    await app.flush_outbox()
    return result.incidents[0]


def alert_of(api: FakeBotApi, incident_id: int) -> dict[str, Any]:
    """The last message the bot delivered about an incident (as Telegram shows it)."""
    return [m for m in api.delivered if f"Инцидент №{incident_id}:" in m["text"]][-1]


def buttons(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {"inline_keyboard": []}
    return [button["text"] for row in markup["inline_keyboard"] for button in row]


async def press(app: App, api: FakeBotApi, incident_id: int, verb: str,
                user: int = IVANOVA, chat: int = DUTY_CHAT) -> str:
    """Press a button under the incident's alert; return what the bot answered."""
    message = alert_of(api, incident_id)
    api.push_callback(chat, user, message["message_id"], f"inc:{incident_id}:{verb}")
    await app.process_updates()
    return str(api.callback_answers[-1].get("text", ""))


async def command(app: App, api: FakeBotApi, text: str, user: int = IVANOVA,
                  chat: int = DUTY_CHAT) -> list[str]:
    """Send a command; return the bot's replies to it."""
    before = len(api.sent)
    api.push_message(chat, user, text)
    await app.process_updates()
    return [m["text"] for m in api.sent[before:]]


def shown(api: FakeBotApi, message: dict[str, Any]) -> dict[str, Any]:
    """The message as it stands now, after edits."""
    return api.messages[(message["chat"]["id"], message["message_id"])]


async def test_a_new_incident_is_announced_at_once_with_its_buttons(app: App, api: FakeBotApi):
    incident_id = await open_incident(app)
    [message] = api.sent
    assert message["chat_id"] == DUTY_CHAT
    assert message["text"].startswith(
        f"🆕 <b>Новый инцидент</b>\nИнцидент №{incident_id}: Дороги / Ямы")
    assert "Ответственный: УГХ" in message["text"] and "Срок: 25.11.2026 17:00" in message["text"]
    assert buttons(message) == ["Взять в работу", "Ответ дан", "Ответ не нужен",
                                "Отложить на 2 ч", "Другая тема", "Открыть пост"]
    assert [c["command"] for c in api.commands] == [
        "status", "incident", "take", "answered", "interim", "dismiss", "snooze", "topic",
        "report", "help"]


async def test_take_then_answer_from_the_buttons(app: App, api: FakeBotApi) -> None:
    incident_id = await open_incident(app)
    message = alert_of(api, incident_id)
    assert await press(app, api, incident_id, "take") == \
        "Инцидент №1 взят в работу (Иванова А. П.)."
    incident = await app.store.incident(incident_id)
    assert incident is not None and (incident.status, incident.assignee) == \
        ("in_work", "Иванова А. П.")
    now_shown = shown(api, message)
    assert "👤 Взят в работу — Иванова А. П., 25.11.2026 09:00" in now_shown["text"]
    assert buttons(now_shown) == ["Ответ дан", "Ответ не нужен", "Отложить на 2 ч",
                                  "Другая тема", "Открыть пост"]

    app.clock.advance(timedelta(minutes=20))  # type: ignore[attr-defined]
    assert "ответ дан" in await press(app, api, incident_id, "answer")
    incident = await app.store.incident(incident_id)
    assert incident is not None and incident.status == "answered"
    assert incident.answered_at == NOW + timedelta(minutes=20)
    assert buttons(shown(api, message)) == ["Открыть пост"]
    assert "✅ Ответ дан — Иванова А. П., 25.11.2026 09:20" in shown(api, message)["text"]
    kinds = [e.kind for e in await app.store.events_of(incident_id)]
    assert kinds == ["opened", "alerted", "taken", "answered"]


async def test_an_answered_incident_is_never_alerted_again(app: App, api: FakeBotApi) -> None:
    answered = await open_incident(app, "1")
    left_alone = await open_incident(app, "2", "Во дворе яма, машины не проедут")
    await press(app, api, answered, "answer")
    for hours in (7, 8, 30):
        app.clock.set(NOW + timedelta(hours=hours, seconds=1))  # type: ignore[attr-defined]
        await app.deadline_tick()
        await app.flush_outbox()
    titles = [(m["text"].split("\n")[1].split(":")[0], m["text"].split("\n")[0])
              for m in api.sent]
    assert (f"Инцидент №{answered}", "🔴 <b>Срок ответа истёк</b>") not in titles
    assert (f"Инцидент №{left_alone}", "🔴 <b>Срок ответа истёк</b>") in titles


async def test_dismiss_closes_without_an_answer(app: App, api: FakeBotApi) -> None:
    incident_id = await open_incident(app)
    assert "ответ не нужен" in await press(app, api, incident_id, "dismiss")
    incident = await app.store.incident(incident_id)
    assert incident is not None and incident.status == "closed"
    assert incident.closed_at == NOW and incident.answered_at is None


async def test_a_snooze_silences_alerts_then_reminds(app: App, api: FakeBotApi) -> None:
    incident_id = await open_incident(app)
    app.clock.set(NOW + timedelta(hours=6, minutes=30))  # type: ignore[attr-defined]
    assert "отложен до 25.11.2026 17:30" in await press(app, api, incident_id, "snooze")
    sent = len(api.sent)
    app.clock.set(NOW + timedelta(hours=7, minutes=1))  # warning time, still snoozed
    await app.deadline_tick()
    await app.flush_outbox()
    assert len(api.sent) == sent, "no alert while snoozed"
    app.clock.set(NOW + timedelta(hours=8, minutes=31))  # snooze over, deadline passed
    await app.deadline_tick()
    await app.flush_outbox()
    await app.deadline_tick()
    await app.flush_outbox()
    [reminder] = api.sent[sent:]
    assert reminder["text"].startswith("🔔 <b>Напоминание</b>")
    assert "просрочен на 31 мин" in reminder["text"]
    assert "Взять в работу" in buttons(reminder)


async def test_someone_not_on_the_staff_list_is_refused(
    app: App, api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="monitor.daemon.staff")
    incident_id = await open_incident(app)
    answer = await press(app, api, incident_id, "answer", user=STRANGER)
    assert answer.startswith("Нет прав")
    assert "отказано пользователю 999" in caplog.text
    replies = await command(app, api, f"/answered {incident_id}", user=STRANGER)
    assert replies == ["Нет прав: действовать могут только сотрудники из списка "
                       "[[telegram.staff]]."]
    replies = await command(app, api, "/start", user=STRANGER, chat=STRANGER)
    assert "Ваш id в Telegram: <code>999</code>" in replies[0]
    incident = await app.store.incident(incident_id)
    assert incident is not None and incident.status == "open"
    assert [e.kind for e in await app.store.events_of(incident_id)] == ["opened", "alerted"]


async def test_staff_in_a_chat_that_is_not_listed_are_refused(app: App, api: FakeBotApi):
    incident_id = await open_incident(app)
    replies = await command(app, api, f"/take {incident_id}", chat=OTHER_CHAT)
    assert replies[0].startswith("Нет прав")
    replies = await command(app, api, f"/take {incident_id}", chat=IVANOVA)  # private chat
    assert replies == [f"Инцидент №{incident_id} взят в работу (Иванова А. П.)."]


async def test_stale_forged_and_unknown_buttons_change_nothing(app: App, api: FakeBotApi):
    incident_id = await open_incident(app)
    await press(app, api, incident_id, "dismiss")
    assert await press(app, api, incident_id, "answer") == \
        "Инцидент №1 уже закрыт (ответ не нужен): ничего не изменено."
    message = alert_of(api, incident_id)
    for data in ("inc:1:delete", "inc:01:take", "x" * 64, "inc:1:topic:нет"):
        api.push_callback(DUTY_CHAT, IVANOVA, message["message_id"], data)
        await app.process_updates()
        assert api.callback_answers[-1]["text"] == "Кнопка не распознана: ничего не изменено."
    # Another number under this alert: the alert says which incident its buttons are about.
    api.push_callback(DUTY_CHAT, IVANOVA, message["message_id"], "inc:77:answer")
    await app.process_updates()
    assert api.callback_answers[-1]["text"] == \
        "Инцидент №1 уже закрыт (ответ не нужен): ничего не изменено."
    events = await app.store.events_of(incident_id)
    assert [e.kind for e in events] == ["opened", "alerted", "dismissed"]
    await app.process_updates()  # the next read confirms what was handled
    assert not api.pending_updates, "every update was confirmed"


async def test_a_button_naming_another_number_acts_on_the_incident_of_its_alert(
    app: App, api: FakeBotApi
) -> None:
    """After `monitor migrate` renumbered a municipality's incidents, buttons under alerts sent
    before still carry the old numbers, which may now be another incident's: the alert the
    button sits under says which incident it is."""
    first = await open_incident(app)
    second = await open_incident(app, "2", "Огромная яма во дворе на Мира 3, колесо пробили")
    api.push_callback(DUTY_CHAT, IVANOVA, alert_of(api, second)["message_id"],
                      f"inc:{first}:answer")
    await app.process_updates()
    assert [(i.id, i.status) for i in await app.store.list_incidents()] == \
        [(first, "open"), (second, "answered")]
    assert "Ответ дан" in shown(api, alert_of(api, second))["text"]


async def test_another_topic_from_a_short_list(app: App, api: FakeBotApi) -> None:
    incident_id = await open_incident(app)
    message = alert_of(api, incident_id)
    await press(app, api, incident_id, "topics")
    assert buttons(shown(api, message)) == ["Снег на дорогах", "« Назад", "Открыть пост"]
    assert "тема исправлена на «snow»" in await press(app, api, incident_id, "topic:snow")
    incident = await app.store.incident(incident_id)
    assert incident is not None and (incident.topic, incident.topic_name) == \
        ("snow", "Снег на дорогах")
    [event] = [e for e in await app.store.events_of(incident_id) if e.kind == "reclassified"]
    assert event.detail == {"from_group": "Дороги", "from_topic": "pits", "group": "Дороги",
                            "topic": "snow"}


async def test_commands(app: App, api: FakeBotApi) -> None:
    first = await open_incident(app, "1")
    second = await open_incident(app, "2", "Снег не убран, яма под снегом")
    app.clock.advance(timedelta(hours=9))  # type: ignore[attr-defined]
    [status] = await command(app, api, "/status@mcu_alert_bot")
    assert status.splitlines()[0] == "<b>Открытые инциденты: 2</b>"
    assert f"🔴 №{first} просрочен на 1 ч 0 мин" in status
    assert await command(app, api, f"/take №{first}") == \
        [f"Инцидент №{first} взят в работу (Иванова А. П.)."]
    assert await command(app, api, f"/snooze {second} 30m") == \
        [f"Инцидент №{second} отложен до 25.11.2026 18:30."]
    assert await command(app, api, f"/answered {first} https://vk.com/wall-1_2?reply=3") == \
        [f"Инцидент №{first}: ответ дан (Иванова А. П.)."]
    assert await command(app, api, f"/dismiss {second} спам, не жалоба") == \
        [f"Инцидент №{second} закрыт: ответ не нужен (Иванова А. П.)."]
    [card] = await command(app, api, f"/incident {first}")
    assert "Статус: ответ дан" in card and "https://vk.com/wall-1_2?reply=3" in card
    assert "взят в работу — Иванова А. П." in card
    assert await command(app, api, "/status") == ["Открытых инцидентов нет."]
    incident = await app.store.incident(second)
    assert incident is not None and incident.close_reason == "спам, не жалоба"


async def test_bad_commands_get_a_clear_answer(app: App, api: FakeBotApi) -> None:
    incident_id = await open_incident(app)
    assert await command(app, api, "/take") == ["Нужен номер инцидента: /take N"]
    assert await command(app, api, "/take 555") == ["Инцидента №555 нет."]
    assert await command(app, api, f"/answered {incident_id} javascript:alert(1)") == \
        ["Ссылка на ответ должна начинаться с https:// или http://."]
    assert await command(app, api, f"/answered {incident_id} http://[::1") == \
        ["Ссылка на ответ должна начинаться с https:// или http://."]
    assert (await command(app, api, f"/snooze {incident_id} вечность"))[0].startswith(
        "Отложить можно")
    assert (await command(app, api, f"/topic {incident_id} <b>нет</b>"))[0] == (
        "Темы «&lt;b&gt;нет&lt;/b&gt;» нет в конфигурации: /topic N ТЕМА, где ТЕМА — id темы.")
    assert await command(app, api, "/sudo rm") == ["Такой команды нет. /help — что умеет бот."]
    assert (await command(app, api, "/help"))[0].startswith("<b>Бот монитора МЦУ</b>")
    incident = await app.store.incident(incident_id)
    assert incident is not None and incident.status == "open"


async def test_an_update_stored_before_a_crash_is_never_applied_twice(
    tmp_path: Path, api: FakeBotApi
) -> None:
    clock = ManualClock(NOW)
    env = {"MONITOR_BOT_TOKEN": api.token}
    config = config_for(tmp_path, api)
    async with App(config, clock=clock, env=env) as app:
        incident_id = await open_incident(app)
        message = alert_of(api, incident_id)
        # Stored, then the daemon dies before its next getUpdates confirms the update.
        api.push_callback(DUTY_CHAT, IVANOVA, message["message_id"], f"inc:{incident_id}:take")
        assert app.updates is not None
        await app.updates.poll_once(0)
        assert len(api.pending_updates) == 1, "Telegram still holds it: not yet confirmed"
        # Pushed but never read: the daemon dies before it.
        api.push_message(DUTY_CHAT, IVANOVA, f"/answered {incident_id}")
    async with App(config, clock=clock, env=env) as app:
        await app.process_updates()
        await app.process_updates()
        kinds = [e.kind for e in await app.store.events_of(incident_id)]
        assert kinds == ["opened", "alerted", "taken", "answered"]
    assert not api.pending_updates


async def test_announcements_can_be_switched_off(tmp_path: Path, api: FakeBotApi) -> None:
    config = config_for(tmp_path, api, extra="announce_new = false")
    clock = ManualClock(NOW)
    async with App(config, clock=clock, env={"MONITOR_BOT_TOKEN": api.token}) as app:
        await open_incident(app)
        assert api.sent == []
        clock.set(NOW + timedelta(hours=7, seconds=1))
        await app.deadline_tick()
        await app.flush_outbox()
        assert [m["text"].split("\n")[0][:12] for m in api.sent] == ["⏳ <b>Скоро и"]


async def test_a_second_reader_of_the_token_only_pauses_reading(
    app: App, api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    """409 Conflict (another daemon, or `monitor telegram chats` for a moment) is not the end:
    the reader backs off and reads again."""
    updates = app.updates
    assert updates is not None
    api.fail_next(409, "Conflict: terminated by other getUpdates request", method="getUpdates")
    stop = asyncio.Event()
    reader = asyncio.create_task(updates.run(stop))
    for _ in range(500):
        if updates.failures:
            break
        await asyncio.sleep(0.01)
    assert updates.failures == 1 and "409 Conflict" in caplog.text
    assert not reader.done(), "the reader goes on after a 409"
    stop.set()
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)


async def test_a_button_under_an_old_alert_still_acts(app: App, api: FakeBotApi) -> None:
    """Telegram sends an old message as inaccessible (date 0): its chat and id are enough."""
    incident_id = await open_incident(app)
    message = alert_of(api, incident_id)
    api.push_update("callback_query", {
        "id": "4382bfdwdsb323b2d9", "chat_instance": "-1",
        "from": {"id": IVANOVA, "is_bot": False, "first_name": "Анна"},
        "data": f"inc:{incident_id}:answer",
        "message": {"message_id": message["message_id"], "date": 0,
                    "chat": {"id": DUTY_CHAT, "type": "supergroup", "title": "Дежурные"}}})
    await app.process_updates()
    incident = await app.store.incident(incident_id)
    assert incident is not None and incident.status == "answered"


async def test_after_a_silent_week_new_updates_are_heard_whatever_their_numbers(
    app: App, api: FakeBotApi
) -> None:
    """Telegram numbers updates anew after a week without any; an old, higher offset must not
    hide them (it is no longer sent once older than a day)."""
    await app.store.save_bot_update(10**12, NOW - timedelta(days=8))
    assert await command(app, api, "/help") != []
