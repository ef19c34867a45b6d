"""`check-config --online` against the fakes: one harmless call per token and chat, a clear
Russian line per failure, exit code 1 when anything fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.cli import main
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.ok import FakeOk
from tests.fakes.vk import FakeVk

DUTY, MISSING, CITY = -1005555555555, -1006666666666, -1001906889117
ADMIN = -1007777777777
CONFIG = """
[telegram]
base_url = "{bot}"
timeout = "2s"

[[telegram.chats]]
id = {duty}
name = "Дежурные"

[[telegram.chats]]
id = {missing}
name = "Старый чат"

[alerts]
admin_chat = -1007777777777
night = "20:00-08:00"
night_chat = {duty}

[[sources]]
id = "city"
network = "telegram_bot"
chat_id = {city}

[[sources]]
id = "wall"
network = "vk"
group_id = 111
token_env = "VK_SERVICE_TOKEN"
base_url = "{vk}"

[[sources]]
id = "closed"
network = "vk"
group_id = 333
token_env = "VK_SERVICE_TOKEN"
base_url = "{vk}"

[[sources]]
id = "own"
network = "vk"
mode = "longpoll"
group_id = 111
token_env = "VK_GROUP_TOKEN"
base_url = "{vk}"

[[sources]]
id = "admin-ok"
network = "ok"
group_id = "55348644610059"
token_env = "OK_ACCESS_TOKEN"
application_key_env = "OK_APP_KEY"
application_secret_env = "OK_APP_SECRET"
base_url = "{ok}"
"""


async def check(path: Path, capsys) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code = await asyncio.to_thread(main, ["check-config", "--config", str(path), "--online"])
    return code, capsys.readouterr().out


async def test_every_token_and_chat_is_tried_once(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    async with FakeBotApi() as bot, FakeVk() as vk, FakeOk() as ok:
        bot.add_chat(DUTY, "Дежурные МЦУ")
        bot.add_chat(CITY, "Каменск: чат")
        bot.add_chat(ADMIN, "Админы")
        vk.add_token("svc", kind="service")
        vk.add_community(111, name="Администрация")
        vk.add_community(333, name="Закрытое")
        vk.deactivate_community(333, "banned")
        ok.add_application("KEY", "SECRET")
        ok.add_token("oktoken")
        ok.add_group("55348644610059", name="Администрация в ОК")
        path = tmp_path / "config.toml"
        path.write_text(CONFIG.format(bot=bot.base_url, vk=vk.base_url, ok=ok.base_url,
                                      duty=DUTY, missing=MISSING, city=CITY), encoding="utf-8")
        for name, value in (("MONITOR_BOT_TOKEN", bot.token), ("VK_SERVICE_TOKEN", "svc"),
                            ("VK_GROUP_TOKEN", "revoked"), ("OK_ACCESS_TOKEN", "oktoken"),
                            ("OK_APP_KEY", "KEY"), ("OK_APP_SECRET", "SECRET")):
            monkeypatch.setenv(name, value)
        code, out = await check(path, capsys)
        assert code == 1, out
        assert "✓ бот Telegram: токен принят, бот @mcu_alert_bot" in out
        assert "✓ чат дежурных «Дежурные» (-1005555555555): доступен («Дежурные МЦУ»)" in out
        assert ("✗ чат дежурных «Старый чат» (-1006666666666): Chat not found — бот не "
                "добавлен в чат или id неверен") in out
        assert "✓ чат источника city (-1001906889117): доступен" in out
        assert "✓ чат оповещений alerts.admin_chat (-1007777777777): доступен («Админы»)" in out
        assert "✓ источник wall (ВКонтакте): ключ принят, сообщество «Администрация»" in out
        assert "✗ источник closed (ВКонтакте): сообщество 333 недоступно (banned)" in out
        assert "✗ источник own (ВКонтакте):" in out
        assert "✓ источник admin-ok (Одноклассники): ключи приняты, группа «Администрация в ОК»" \
            in out
        assert bot.calls.count("getChat") == 4 and bot.calls.count("getMe") == 1
        assert vk.count("groups.getById") == 3 and len(ok.calls) == 1
        assert "revoked" not in out and bot.token not in out

        monkeypatch.setenv("OK_APP_SECRET", "wrong")
        monkeypatch.setenv("MONITOR_BOT_TOKEN", "4242424242:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsbw")
        code, out = await check(path, capsys)
        assert code == 1
        assert "✗ бот Telegram: Telegram отклонил токен из $MONITOR_BOT_TOKEN" in out
        assert "✗ источник admin-ok (Одноклассники):" in out
        assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsbw" not in out


async def test_unreachable_bot_api_and_missing_tokens(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(bot="http://127.0.0.1:9/bot", vk="http://127.0.0.1:9",
                                  ok="http://127.0.0.1:9", duty=DUTY, missing=MISSING,
                                  city=CITY), encoding="utf-8")
    for name in ("VK_SERVICE_TOKEN", "VK_GROUP_TOKEN", "OK_ACCESS_TOKEN", "OK_APP_KEY",
                 "OK_APP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MONITOR_BOT_TOKEN", "4242424242:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsbw")
    code, out = await check(path, capsys)
    assert code == 1
    assert "✗ бот Telegram: Bot API по адресу http://127.0.0.1:9/bot не отвечает" in out
    assert "✗ источник wall (ВКонтакте): нет токена в $VK_SERVICE_TOKEN" in out
    assert ("✗ источник admin-ok (Одноклассники): не заданы переменные окружения "
            "$OK_ACCESS_TOKEN, $OK_APP_KEY, $OK_APP_SECRET") in out


def test_without_online_nothing_is_called(write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    path = write_config("")
    assert main(["check-config", "--config", str(path)]) == 0
    assert "Проверка токенов" not in capsys.readouterr().out
