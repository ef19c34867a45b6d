"""The fake Bot API's staff-bot side, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    Update,
)
from telegram.error import BadRequest, Conflict, NetworkError, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters
from telegram.request import HTTPXRequest

from tests.fakes.bot_api import CONFLICT, FakeBotApi

STAFF_CHAT = -1001234567890
DUTY_OFFICER = 214659520
ACK = InlineKeyboardMarkup([[InlineKeyboardButton("Принято", callback_data="ack:vk:-1_55")]])
NOT_MODIFIED = (
    "Message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def _request() -> HTTPXRequest:
    return HTTPXRequest(httpx_kwargs={"trust_env": False})


def _bot(api: FakeBotApi) -> Bot:
    return Bot(api.token, base_url=api.base_url, request=_request(), get_updates_request=_request())


async def _until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until `condition` holds (requests in flight need real I/O)."""
    async with asyncio.timeout(2):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    async with _bot(api) as opened:
        yield opened


async def test_offset_confirms_earlier_updates(api: FakeBotApi, bot: Bot) -> None:
    ids = [api.push_message(STAFF_CHAT, DUTY_OFFICER, f"жалоба {n}") for n in range(3)]

    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [u.update_id for u in await bot.get_updates()] == ids, "nothing confirmed yet"
    [first] = await bot.get_updates(offset=ids[1], limit=1)
    assert (first.update_id, first.message.text) == (ids[1], "жалоба 1")
    assert [u["update_id"] for u in api.confirmed_updates] == ids[:1]
    assert await bot.get_updates(offset=ids[-1] + 1) == ()
    assert api.pending_updates == ()
    assert [u["update_id"] for u in api.confirmed_updates] == ids


async def test_negative_offset_keeps_only_the_newest(api: FakeBotApi, bot: Bot) -> None:
    ids = [api.push_message(STAFF_CHAT, DUTY_OFFICER, "жалоба") for _ in range(3)]

    assert [u.update_id for u in await bot.get_updates(offset=-1)] == ids[-1:]
    assert len(api.confirmed_updates) == 2


async def test_messages_parse_as_ptb_updates(api: FakeBotApi, bot: Bot) -> None:
    api.push_message(DUTY_OFFICER, DUTY_OFFICER, "/start", first_name="Иван", username="ivan_p")
    api.push_message(STAFF_CHAT, DUTY_OFFICER, "/ack@mcu_alert_bot 42", title="Смена")
    api.push_message(STAFF_CHAT, DUTY_OFFICER, "/принять 42")

    private, group, cyrillic = await bot.get_updates()

    assert private.message.chat.type == "private"
    assert private.message.chat.username == private.message.from_user.username == "ivan_p"
    assert private.effective_user.first_name == "Иван"
    assert not private.effective_user.is_bot
    assert private.message.entities == (MessageEntity("bot_command", 0, 6),)
    assert group.message.chat.type == "supergroup" and group.message.chat.title == "Смена"
    assert group.message.entities == (MessageEntity("bot_command", 0, 18),)
    assert filters.COMMAND.check_update(group)
    assert cyrillic.message.entities == ()


def test_push_message_refuses_impossible_chats(api: FakeBotApi) -> None:
    with pytest.raises(ValueError, match="private chat"):
        api.push_message(42, DUTY_OFFICER, "привет", chat_type="private")
    with pytest.raises(ValueError, match="channel"):
        api.push_message(STAFF_CHAT, DUTY_OFFICER, "привет", chat_type="channel")


async def test_allowed_updates_filters_and_persists(api: FakeBotApi, bot: Bot) -> None:
    api.push_message(STAFF_CHAT, DUTY_OFFICER, "болтовня")
    query_id = api.push_callback(STAFF_CHAT, DUTY_OFFICER, 77, "ack:vk:-1_55")

    [only] = await bot.get_updates(allowed_updates=["callback_query"])
    assert only.callback_query.id == query_id
    api.push_message(STAFF_CHAT, DUTY_OFFICER, "ещё болтовня")
    assert await bot.get_updates(offset=only.update_id + 1) == (), "the setting persists"
    api.push_message(STAFF_CHAT, DUTY_OFFICER, "/ack")
    [command] = await bot.get_updates(allowed_updates=[])
    assert command.message.text == "/ack"
    assert [u["message"]["text"] for u in api.updates.skipped] == ["болтовня", "ещё болтовня"]


async def test_long_poll_wakes_when_an_update_arrives(api: FakeBotApi, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await _until(lambda: api.polling)
    assert not poll.done()

    update_id = api.push_message(STAFF_CHAT, DUTY_OFFICER, "пожар")

    assert [u.update_id for u in await poll] == [update_id]


async def test_empty_long_poll_is_cut_short() -> None:
    async with FakeBotApi(long_poll_cap=0.1) as api, _bot(api) as bot:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await bot.get_updates(timeout=50) == ()
        assert 0.1 <= loop.time() - started < 1


async def test_a_newer_poll_terminates_the_waiting_one(api: FakeBotApi) -> None:
    async with _bot(api) as first, _bot(api) as second:
        waiting = asyncio.create_task(first.get_updates(timeout=30))
        await _until(lambda: api.polling)

        assert await second.get_updates(timeout=0) == ()
        with pytest.raises(Conflict) as conflict:
            await waiting
    assert conflict.value.message == CONFLICT
    assert api.calls.count("getUpdates") == 2


async def test_wire_format_of_updates_and_conflict(api: FakeBotApi) -> None:
    update_id = api.push_message(STAFF_CHAT, DUTY_OFFICER, "Жалоба")
    url = f"{api.base_url}{api.token}/getUpdates"
    async with aiohttp.ClientSession() as session:

        async def post(**form: str) -> tuple[int, bytes]:
            async with session.post(url, data=form) as response:
                return response.status, await response.read()

        status, body = await post(timeout="0")
        waiting = asyncio.create_task(post(offset=str(update_id + 1), timeout="30"))
        await _until(lambda: api.polling)
        assert await post(timeout="0") == (200, b'{"ok":true,"result":[]}')
        assert await waiting == (
            409, b'{"ok":false,"error_code":409,"description":"%s"}' % CONFLICT.encode()
        )
    assert status == 200
    assert body.startswith(b'{"ok":true,"result":[{"update_id":%d,\n"message":{' % update_id)
    assert b'"text":"\\u0416\\u0430\\u043b\\u043e\\u0431\\u0430"' in body
    assert json.loads(body)["result"][0]["message"]["chat"]["id"] == STAFF_CHAT


async def test_callback_carries_the_bot_message_and_is_answered_once(
    api: FakeBotApi, bot: Bot
) -> None:
    sent = await bot.send_message(STAFF_CHAT, "<b>Новый пост</b>", parse_mode="HTML",
                                  reply_markup=ACK)
    query_id = api.push_callback(STAFF_CHAT, DUTY_OFFICER, sent.message_id, "ack:vk:-1_55")

    [update] = await bot.get_updates(allowed_updates=["message", "callback_query"])
    query = update.callback_query
    assert (query.id, query.data, query.from_user.id) == (query_id, "ack:vk:-1_55", DUTY_OFFICER)
    assert query.message.text == "Новый пост" and query.message.reply_markup == ACK
    assert query.message.from_user.is_bot and query.chat_instance
    assert await query.answer("Принято", show_alert=True) is True
    assert api.callback_answers == [
        {"callback_query_id": query_id, "text": "Принято", "show_alert": True, "url": None,
         "cache_time": 0},
    ]
    with pytest.raises(BadRequest, match="Query is too old"):
        await query.answer()
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("123")


async def test_callback_on_an_unknown_message_gets_a_minimal_one(
    api: FakeBotApi, bot: Bot
) -> None:
    api.push_callback(STAFF_CHAT, DUTY_OFFICER, 9000, "ack:1")

    [update] = await bot.get_updates()

    message = update.callback_query.message
    assert (message.message_id, message.chat.id) == (9000, STAFF_CHAT)
    assert message.is_accessible and message.text is None


async def test_edit_message_text_replaces_text_and_keyboard(api: FakeBotApi, bot: Bot) -> None:
    sent = await bot.send_message(STAFF_CHAT, "<b>Новый пост</b>", parse_mode="HTML",
                                  reply_markup=ACK)

    edited = await bot.edit_message_text(
        "<b>Новый пост</b>\n✅ Принято: Иван", STAFF_CHAT, sent.message_id, parse_mode="HTML"
    )

    assert edited.text == "Новый пост\n✅ Принято: Иван"
    assert edited.reply_markup is None, "editMessageText without reply_markup drops it"
    assert edited.edit_date is not None and edited.message_id == sent.message_id
    assert api.messages[(STAFF_CHAT, sent.message_id)]["text"] == edited.text
    assert [e["method"] for e in api.edits] == ["editMessageText"]


async def test_edit_refusals_map_to_bad_request(api: FakeBotApi, bot: Bot) -> None:
    sent = await bot.send_message(STAFF_CHAT, "<b>Пост</b>", parse_mode="HTML", reply_markup=ACK)
    mid = sent.message_id

    with pytest.raises(BadRequest) as same:
        await bot.edit_message_text("<strong>Пост</strong>", STAFF_CHAT, mid,
                                    parse_mode="HTML", reply_markup=ACK)
    assert same.value.message == NOT_MODIFIED
    assert (await bot.edit_message_text("<i>Пост</i>", STAFF_CHAT, mid, parse_mode="HTML",
                                        reply_markup=ACK)).text == "Пост"
    with pytest.raises(BadRequest, match="^Message to edit not found$"):
        await bot.edit_message_text("Пост", STAFF_CHAT, mid + 100)
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.edit_message_text("<b>Пост", STAFF_CHAT, mid, parse_mode="HTML")
    api.push_message(STAFF_CHAT, DUTY_OFFICER, "жалоба")
    user_message_id = api.pending_updates[-1]["message"]["message_id"]
    assert user_message_id > mid, "users' messages share the id sequence"
    with pytest.raises(BadRequest, match="^Message can't be edited$"):
        await bot.edit_message_text("чужое", STAFF_CHAT, user_message_id)


async def test_edit_reply_markup_removes_the_keyboard_once(api: FakeBotApi, bot: Bot) -> None:
    sent = await bot.send_message(STAFF_CHAT, "Пост", reply_markup=ACK)

    edited = await bot.edit_message_reply_markup(STAFF_CHAT, sent.message_id)

    assert edited.reply_markup is None and edited.text == "Пост"
    with pytest.raises(BadRequest) as same:
        await bot.edit_message_reply_markup(STAFF_CHAT, sent.message_id)
    assert same.value.message == NOT_MODIFIED
    restored = await bot.edit_message_reply_markup(STAFF_CHAT, sent.message_id, reply_markup=ACK)
    assert restored.reply_markup == ACK
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        too_long = InlineKeyboardButton("x", callback_data="x" * 65)
        await bot.edit_message_reply_markup(STAFF_CHAT, sent.message_id,
                                            reply_markup=InlineKeyboardMarkup([[too_long]]))


async def test_set_my_commands_records_and_validates(api: FakeBotApi, bot: Bot) -> None:
    commands = [BotCommand("ack", "Принять оповещение"), BotCommand("/status", " Сводка ")]

    assert await bot.set_my_commands(commands, scope=BotCommandScopeAllGroupChats(),
                                     language_code="ru")

    assert api.commands == [
        {"command": "ack", "description": "Принять оповещение"},
        {"command": "status", "description": "Сводка"},
    ]
    assert api.command_settings[-1]["scope"] == {"type": "all_group_chats"}
    assert api.command_settings[-1]["language_code"] == "ru"
    refused = {
        "Bot_command_invalid": [BotCommand("Ack", "Принять")],
        "Command length must not exceed 32": [BotCommand("a" * 33, "Принять")],
        "Command description must be non-empty": [BotCommand("ack", "  ")],
        "Command description length must not exceed 256": [BotCommand("ack", "я" * 257)],
        "Bot_commands_too_much": [BotCommand(f"c{n}", "x") for n in range(101)],
    }
    for message, bad in refused.items():
        with pytest.raises(BadRequest) as error:
            await bot.set_my_commands(bad)
        assert error.value.message == message
    assert len(api.command_settings) == 1


async def test_injected_failures_and_delays_cover_new_methods(
    api: FakeBotApi, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter warns about its type otherwise
    api.fail_next(502, "Bad Gateway", method="getUpdates")
    api.fail_next(429, "Too Many Requests: retry after 1", retry_after=1,
                  method="answerCallbackQuery")
    api.delay_next(0.01, method="setMyCommands")
    query_id = api.push_callback(STAFF_CHAT, DUTY_OFFICER, 1, "ack:1")

    with pytest.raises(NetworkError):
        await bot.get_updates()
    with pytest.raises(RetryAfter):
        await bot.answer_callback_query(query_id)
    assert await bot.answer_callback_query(query_id)
    assert await bot.set_my_commands([BotCommand("ack", "Принять")])
    assert {m: api.calls.count(m) for m in ("getUpdates", "answerCallbackQuery")} == {
        "getUpdates": 1, "answerCallbackQuery": 2,
    }


async def test_a_ptb_application_polls_the_fake(
    api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    handled: list[str] = []

    async def on_ack(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("Принято", reply_markup=ACK)
        handled.append("command")

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("Готово")
        await update.callback_query.edit_message_reply_markup(None)
        handled.append("button")

    app = (
        Application.builder().token(api.token).base_url(api.base_url)
        .request(_request()).get_updates_request(_request()).build()
    )
    app.add_handler(CommandHandler("ack", on_ack))
    app.add_handler(CallbackQueryHandler(on_button))
    async with app:
        await app.start()
        await app.updater.start_polling(allowed_updates=["message", "callback_query"])
        api.push_message(STAFF_CHAT, DUTY_OFFICER, "/ack@mcu_alert_bot")
        await _until(lambda: handled == ["command"])
        api.push_callback(STAFF_CHAT, DUTY_OFFICER, api.delivered[-1]["message_id"], "ack:1")
        await _until(lambda: handled == ["command", "button"])
        await app.updater.stop()
        await app.stop()

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert api.calls[:2] == ["getMe", "deleteWebhook"]
    assert api.pending_updates == () and len(api.confirmed_updates) == 2
    assert api.callback_answers[0]["text"] == "Готово"
    assert "reply_markup" not in api.messages[(STAFF_CHAT, api.delivered[-1]["message_id"])]
