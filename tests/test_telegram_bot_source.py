"""Chats and channels the bot is in, through the real PTB client and the fake Bot API: kept as
they arrive, read by their `telegram_bot` source, answered in a thread."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.clock import ManualClock
from connectors.telegram_bot import external_id
from monitor.config import AppConfig, load_config
from monitor.config.problems import ConfigError
from monitor.daemon.app import App
from tests.conftest import PITS_TOPIC
from tests.fakes.bot_api import FakeBotApi

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
DUTY, GROUP, CHANNEL, DISCUSSION = -1001234567890, -1001906889117, -1001000000001, -1001000000002
CITIZEN, HEAD = 214659520, 7654321

CONFIG = f"""
[storage]
path = "m.db"

[telegram]
base_url = "{{url}}"
timeout = "2s"

[[telegram.chats]]
id = {DUTY}
name = "Дежурные"

[[sources]]
id = "martyush-chat"
network = "telegram_bot"
chat_id = {GROUP}

[[sources]]
id = "admin-channel"
network = "telegram_bot"
chat_id = {CHANNEL}
discussion_chat_id = {DISCUSSION}

[[official_accounts]]
network = "telegram_bot"
id = {HEAD}
name = "Глава округа"

""" + PITS_TOPIC


def config_for(tmp_path: Path, api: FakeBotApi) -> AppConfig:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(url=api.base_url), encoding="utf-8")
    return load_config(path, env={}).config


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


def message(chat: int, number: int, text: str | None, *, user: int | None = CITIZEN,
            when: datetime = NOW, reply_to: int | None = None, **extra: Any) -> dict[str, Any]:
    chat_type = "channel" if chat == CHANNEL else "supergroup"
    body: dict[str, Any] = {"message_id": number, "date": int(when.timestamp()),
                            "chat": {"id": chat, "type": chat_type, "title": "Чат"}, **extra}
    if user is not None:
        body["from"] = {"id": user, "is_bot": False, "first_name": "Житель"}
    if text is not None:
        body["text"] = text
    if reply_to is not None:
        body["reply_to_message"] = {"message_id": reply_to, "date": int(NOW.timestamp()),
                                    "chat": body["chat"], "text": "…"}
    return body


async def cycle(app: App) -> None:
    await app.process_updates()
    await app.poll_all()


async def test_a_reply_in_the_group_answers_the_citizen(tmp_path: Path, api: FakeBotApi):
    clock = ManualClock(NOW)
    env = {"MONITOR_BOT_TOKEN": api.token}
    async with App(config_for(tmp_path, api), clock=clock, env=env) as app:
        api.push_update("message", message(GROUP, 10, "Яма у подъезда на Ленина 5"))
        api.push_update("message", message(GROUP, 11, "Во дворе яма, не проехать",
                                           user=CITIZEN + 1))
        await cycle(app)
        first, second = await app.store.list_incidents()
        assert first.url == f"https://t.me/c/{str(GROUP)[4:]}/10"
        answered = NOW + timedelta(minutes=30)
        api.push_update("message", message(GROUP, 12, "Засыплем до пятницы", user=HEAD,
                                           when=answered, reply_to=10))
        clock.advance(timedelta(hours=1))
        await cycle(app)
        first, second = await app.store.list_incidents()
        assert (first.status, first.answered_at, first.answered_by) == \
            ("answered", answered, "Глава округа")
        assert second.status == "open"


async def test_comments_under_a_channel_post_and_the_channel_s_answer(
    tmp_path: Path, api: FakeBotApi
) -> None:
    clock = ManualClock(NOW)
    env = {"MONITOR_BOT_TOKEN": api.token}
    async with App(config_for(tmp_path, api), clock=clock, env=env) as app:
        channel = {"id": CHANNEL, "type": "channel", "title": "Администрация"}
        api.push_update("channel_post", message(CHANNEL, 5, "План ремонта дорог", user=None,
                                                sender_chat=channel))
        api.push_update("message", message(DISCUSSION, 40, "План ремонта дорог", user=None,
                                           sender_chat=channel, is_automatic_forward=True))
        api.push_update("message", message(DISCUSSION, 41, "А яму на Мира когда?",
                                           reply_to=40))
        api.push_update("message", message(DISCUSSION, 42, "Завтра, бригада выехала",
                                           user=None, sender_chat=channel, reply_to=41,
                                           when=NOW + timedelta(minutes=5)))
        await cycle(app)
        [incident] = await app.store.list_incidents()
        assert incident.text == "А яму на Мира когда?"
        assert (incident.status, incident.answered_at) == \
            ("answered", NOW + timedelta(minutes=5))


async def test_edits_stickers_huge_captions_and_staff_chats(
    tmp_path: Path, api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    clock = ManualClock(NOW)
    env = {"MONITOR_BOT_TOKEN": api.token}
    async with App(config_for(tmp_path, api), clock=clock, env=env) as app:
        api.push_update("message", message(GROUP, 1, "Яма"))
        api.push_update("edited_message", message(GROUP, 1, "Яма, и глубокая",
                                                  edit_date=int(NOW.timestamp()) + 60))
        api.push_update("message", message(GROUP, 2, None, sticker={"file_id": "x"}))
        api.push_update("message", message(GROUP, 3, None, caption="Яма " + "ы" * 50_000,
                                           photo=[{"file_id": "p"}]))
        api.push_update("message", message(GROUP, 4, None, poll={"id": "1"}))
        api.push_update("my_chat_member", {"chat": {"id": GROUP}, "date": 1})
        api.push_message(DUTY, CITIZEN, "Яма у нас в чате дежурных")
        await cycle(app)
        assert await app.store.item_versions("martyush-chat", f"tg:{GROUP}:1") == [
            "Яма", "Яма, и глубокая"]
        [caption] = await app.store.item_versions("martyush-chat", f"tg:{GROUP}:3")
        assert len(caption) == 20_000
        assert await app.store.item_versions("martyush-chat", f"tg:{GROUP}:2") == []
        texts = [i.text for i in await app.store.list_incidents()]
        assert "Яма у нас в чате дежурных" not in texts
        assert caplog.text.count("без текста (sticker)") == 1, "each kind of notice once"
        assert caplog.text.count("без текста (poll)") == 1
        assert caplog.text.count("PTB не читает") == 1, "an unreadable shape is said once"
        await app.process_updates()
        assert not api.pending_updates


async def test_an_update_kept_before_a_crash_is_read_once(tmp_path: Path, api: FakeBotApi):
    clock = ManualClock(NOW)
    env = {"MONITOR_BOT_TOKEN": api.token}
    config = config_for(tmp_path, api)
    async with App(config, clock=clock, env=env) as app:
        api.push_update("message", message(GROUP, 7, "Яма у школы"))
        await app.process_updates()  # kept; the daemon dies before it confirms or polls
    async with App(config, clock=clock, env=env) as app:
        await cycle(app)
        await cycle(app)
        assert [i.text for i in await app.store.list_incidents()] == ["Яма у школы"]


def test_a_staff_chat_is_never_a_source(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[[telegram.chats]]\nid = {DUTY}\nname = "Дежурные"\n\n[[sources]]\n'
                    f'id = "x"\nnetwork = "telegram_bot"\nchat_id = {DUTY}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert "чат дежурных из [[telegram.chats]] не может быть источником" in str(caught.value)


async def test_a_group_that_removed_the_bot_is_said_once(
    tmp_path: Path, api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"MONITOR_BOT_TOKEN": api.token}
    async with App(config_for(tmp_path, api), clock=ManualClock(NOW), env=env) as app:
        api.push_update("my_chat_member", {
            "chat": {"id": GROUP, "type": "supergroup", "title": "Мартюш"},
            "from": {"id": CITIZEN, "is_bot": False, "first_name": "Админ"},
            "date": int(NOW.timestamp()),
            "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True,
                                                             "first_name": "bot"}},
            "new_chat_member": {"status": "kicked", "until_date": 0,
                                "user": {"id": 1, "is_bot": True, "first_name": "bot"}}})
        api.push_update("message", message(GROUP, 30, "Яма"))
        await cycle(app)
        assert caplog.text.count(f"бота удалили из чата {GROUP}") == 1
        assert len(await app.store.list_incidents()) == 1, "the rest keeps working"


async def test_kept_updates_past_one_page_are_read_on_without_a_gap(
    tmp_path: Path, api: FakeBotApi
) -> None:
    """Many updates kept during an outage, two a poll: the cursor moves only past those read."""
    clock = ManualClock(NOW)
    env = {"MONITOR_BOT_TOKEN": api.token}
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(url=api.base_url).replace(
        f"chat_id = {GROUP}\n", f"chat_id = {GROUP}\npage = 2\n"), encoding="utf-8")
    async with App(load_config(path, env={}).config, clock=clock, env=env) as app:
        for number in range(1, 8):
            api.push_update("message", message(GROUP, number, f"Сообщение {number}"))
        await app.process_updates()
        for _ in range(4):
            await app.poll_all()
        stored = [number for number in range(1, 8)
                  if await app.store.item_versions("martyush-chat", external_id(GROUP, number))]
        assert stored == list(range(1, 8))
