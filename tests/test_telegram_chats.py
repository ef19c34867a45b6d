"""`monitor telegram chats` against the fake Bot API: one getUpdates, nothing confirmed."""

from __future__ import annotations

import asyncio
import logging
import socket
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.cli import main
from tests.fakes.bot_api import CONFLICT, FakeBotApi

TOKEN_ENV = "MONITOR_TEST_CHATS_TOKEN"
STAFF_CHAT = -1001234567890
ANNA = 214659520
PETR = 318220411


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


def write_config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[telegram]\ntoken_env = "{TOKEN_ENV}"\nbase_url = "{base_url}"\n'
                    'timeout = "2s"\n', encoding="utf-8")
    return path


async def chats(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command in a thread: it has its own event loop, the fake serves from ours."""
    code = await asyncio.to_thread(main, ["telegram", "chats", "--config", str(config)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def toml_blocks(out: str, header: str) -> list[dict[str, object]]:
    """The config snippets the command suggests under `header`, parsed as TOML."""
    lines = out.splitlines()
    return [tomllib.loads("\n".join(lines[i + 1:i + 3]))
            for i, line in enumerate(lines) if line == header]


async def test_lists_a_group_and_a_private_user_once_each(
    api: FakeBotApi, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, api.token)
    api.push_message(STAFF_CHAT, ANNA, "/start@mcu_alert_bot", title="Дежурная смена",
                     first_name="Анна", username="anna_duty")
    api.push_message(STAFF_CHAT, ANNA, "ещё раз", title="Дежурная смена", first_name="Анна",
                     username="anna_duty")
    api.push_message(PETR, PETR, "/start", first_name="Пётр")
    api.push_callback(STAFF_CHAT, PETR, 7, "take:1", first_name="Пётр")
    code, out, err = await chats(write_config(tmp_path, api.base_url), capsys)
    assert (code, err) == (0, "")
    assert "Бот @mcu_alert_bot: обновлений 4" in out
    chat_lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert chat_lines.count(f"  {STAFF_CHAT:<16} {'супергруппа':<12} Дежурная смена") == 1
    assert chat_lines.count(f"  {PETR:<16} {'личный':<12} Пётр") == 1
    assert chat_lines.count(f"  {ANNA:<16} {'':<12} Анна (@anna_duty)") == 1
    assert chat_lines.count(f"  {PETR:<16} {'':<12} Пётр") == 1
    assert toml_blocks(out, "[[telegram.chats]]") == [{"id": STAFF_CHAT,
                                                        "name": "Дежурная смена"}]
    assert toml_blocks(out, "[[telegram.staff]]") == [{"id": ANNA, "name": "Анна"},
                                                       {"id": PETR, "name": "Пётр"}]
    assert api.calls == ["getMe", "getUpdates"]
    assert len(api.pending_updates) == 4 and api.confirmed_updates == ()
    assert api.token not in out


async def test_no_updates_says_how_to_get_some(
    api: FakeBotApi, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, api.token)
    code, out, _ = await chats(write_config(tmp_path, api.base_url), capsys)
    assert code == 0
    assert "новых обновлений нет" in out and "/start@mcu_alert_bot" in out


async def test_hostile_titles_and_names_are_printed_safely(
    api: FakeBotApi, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, api.token)
    title = '<b>Смена</b>\x1b[2J\x1b]0;pwned\x07 \u202e"x\\y\r\nid = 1\n[[telegram.staff]]\x9b'
    api.push_message(-4005006007, ANNA, "привет", chat_type="group", title=title,
                     first_name="Анна\x1b[31m\u200f\n<i>&amp;</i>\x00")
    code, out, err = await chats(write_config(tmp_path, api.base_url), capsys)
    assert (code, err) == (0, "")
    assert not any(ch in out for ch in "\x1b\x07\x00\r\u202e\u200f\x9b")
    shown = '<b>Смена</b>[2J]0;pwned "x\\y id = 1 [[telegram.staff]]'
    assert f"  {-4005006007:<16} {'группа':<12} {shown}" in out.splitlines()
    assert toml_blocks(out, "[[telegram.chats]]") == [{"id": -4005006007, "name": shown}]
    assert toml_blocks(out, "[[telegram.staff]]") == [{"id": ANNA, "name": "Анна[31m <i>&amp;</i>"}]


async def test_another_reader_is_a_conflict(
    api: FakeBotApi, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, api.token)
    api.push_message(ANNA, ANNA, "/start")
    api.fail_next(409, CONFLICT, method="getUpdates")
    code, out, err = await chats(write_config(tmp_path, api.base_url), capsys)
    assert (code, out) == (1, "")
    assert "читает другой процесс" in err and "демон" in err and "журнале демона" in err
    assert len(api.pending_updates) == 1


async def test_a_webhook_is_its_own_conflict(
    api: FakeBotApi, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, api.token)
    api.fail_next(409, "Conflict: can't use getUpdates method while webhook is active; use "
                       "deleteWebhook to delete the webhook first", method="getUpdates")
    code, _, err = await chats(write_config(tmp_path, api.base_url), capsys)
    assert code == 1 and "webhook" in err


@pytest.mark.parametrize("token", [
    "4242424242:AAF-wrong_Token_0123456789abcdefghij",  # well formed, refused: 401
    "not_a_token_but_a_secret_0123456789",  # not a token at all: 404
])
async def test_a_refused_token_is_never_printed(
    api: FakeBotApi, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, token: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    monkeypatch.setenv(TOKEN_ENV, token)
    code, out, err = await chats(write_config(tmp_path, api.base_url), capsys)
    assert (code, out) == (1, "")
    assert f"Telegram не принял токен бота из переменной {TOKEN_ENV}" in err
    secret = token.partition(":")[2] or token
    assert secret not in err and secret not in caplog.text
    assert "<token>" in caplog.text  # httpx logged the URL, masked
    assert api.calls == ["getMe"]


async def test_the_token_is_masked_in_log_lines_on_success(
    api: FakeBotApi, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    monkeypatch.setenv(TOKEN_ENV, api.token)
    api.push_message(ANNA, ANNA, "/start")
    code, out, _ = await chats(write_config(tmp_path, api.base_url), capsys)
    assert code == 0
    secret = api.token.partition(":")[2]
    assert secret not in out and secret not in caplog.text and "getUpdates" in caplog.text


async def test_a_missing_token_is_a_config_error(
    api: FakeBotApi, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    code, out, err = await chats(write_config(tmp_path, api.base_url), capsys)
    assert (code, out) == (2, "")
    assert f"переменная окружения {TOKEN_ENV} с токеном бота не задана" in err
    monkeypatch.setenv(TOKEN_ENV, "  ")
    assert (await chats(write_config(tmp_path, api.base_url), capsys))[0] == 2
    assert api.calls == []


async def test_no_route_to_telegram(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(TOKEN_ENV, "4242424242:AAF-fake_Token_0123456789abcdefghijk")
    code, out, err = await chats(write_config(tmp_path, f"http://127.0.0.1:{port}/bot"), capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"Не удалось связаться с Telegram (http://127.0.0.1:{port}/bot)")
    assert "0123456789abcdefghijk" not in err
