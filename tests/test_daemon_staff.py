"""The whole daemon process closes the loop: a complaint is announced, a staff member presses
«Ответ дан», and no overdue alert ever comes; the complaint left alone is alerted overdue.

Time is the file clock ($MONITOR_CLOCK_FILE) the test moves; nothing sleeps until a deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import DUTY_TELEGRAM, FAST_DAEMON, PITS_TOPIC, ROOT
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.tme import FakeTme
from tests.test_daemon import wait_for
from tests.test_daemon_vk import until

START = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # Wednesday 09:00 in Yekaterinburg
DUTY_CHAT, IVANOVA = -1001234567890, 111

CONFIG = """
[storage]
path = "m.db"
""" + FAST_DAEMON + DUTY_TELEGRAM + """
[[telegram.staff]]
id = {staff}
name = "Иванова А. П."

[[sources]]
id = "news"
network = "telegram_web"
channel = "kamensk_news"
base_url = "{tme}"
interval = "1s"
jitter = "0s"

""" + PITS_TOPIC


def kinds(api: FakeBotApi, number: int) -> list[str]:
    """The first line of every message sent about incident №number."""
    return [m["text"].split("\n")[0] for m in api.sent
            if f"\nИнцидент №{number}:" in m["text"]]


def delivered(api: FakeBotApi, number: int) -> dict[str, Any]:
    return next(m for m in api.delivered if f"Инцидент №{number}:" in m["text"])


async def test_a_staff_answer_stops_every_later_alert(tmp_path: Path) -> None:
    clock_file = tmp_path / "clock"
    clock_file.write_text(START.isoformat(), encoding="utf-8")
    async with FakeTme("kamensk_news") as tme, FakeBotApi() as api:
        tme.add_post(1, START - timedelta(minutes=20), "Яма у подъезда на Ленина 5")
        tme.add_post(2, START - timedelta(minutes=10), "Во дворе на Мира 3 яма, не проехать")
        path = tmp_path / "config.toml"
        path.write_text(CONFIG.format(bot=api.base_url, tme=tme.base_url, chat=DUTY_CHAT,
                                      staff=IVANOVA), encoding="utf-8")
        env = {**os.environ, "MONITOR_BOT_TOKEN": api.token,
               "MONITOR_CLOCK_FILE": str(clock_file)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(path), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            await wait_for(lambda: kinds(api, 1) and kinds(api, 2), 20)
            assert kinds(api, 1) == kinds(api, 2) == ["🆕 <b>Новый инцидент</b>"]
            api.push_callback(DUTY_CHAT, IVANOVA, delivered(api, 1)["message_id"],
                              "inc:1:answer")
            await wait_for(lambda: api.edits, 20)
            clock_file.write_text((START + timedelta(hours=9)).isoformat(), encoding="utf-8")
            await wait_for(lambda: len(kinds(api, 2)) == 2, 20)
            # A few more ticks: nothing may come for the answered incident.
            ticks = len(api.calls)
            await wait_for(lambda: api.calls.count("getUpdates") > 3 and len(api.calls) > ticks,
                           20)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 20)
        log = stderr.decode()
        assert process.returncode == 0, log
    assert kinds(api, 1) == ["🆕 <b>Новый инцидент</b>"], log
    assert kinds(api, 2) == ["🆕 <b>Новый инцидент</b>", "🔴 <b>Срок ответа истёк</b>"], log
    edited = api.messages[(DUTY_CHAT, delivered(api, 1)["message_id"])]
    assert "Ответ дан — Иванова А. П., 25.11.2026 09:00" in edited["text"]
    assert "идёт по часам из $MONITOR_CLOCK_FILE" in log


BOT_SOURCE_CONFIG = """
[storage]
path = "m.db"
""" + FAST_DAEMON + DUTY_TELEGRAM + """
[[sources]]
id = "martyush-chat"
network = "telegram_bot"
chat_id = {group}
interval = "1s"
jitter = "0s"

[[official_accounts]]
network = "telegram_bot"
id = {head}
name = "Глава округа"

""" + PITS_TOPIC


async def test_a_citizen_in_a_group_is_answered_in_the_thread(tmp_path: Path) -> None:
    """Through the daemon process: a citizen writes in a group the bot is in, staff are told,
    the head of the district replies to the message, the incident is answered at that time."""
    group, head, citizen = -1001906889117, 7654321, 214659520
    clock_file = tmp_path / "clock"
    clock_file.write_text(START.isoformat(), encoding="utf-8")
    async with FakeBotApi() as api:
        path = tmp_path / "config.toml"
        path.write_text(BOT_SOURCE_CONFIG.format(bot=api.base_url, chat=DUTY_CHAT, group=group,
                                                 head=head), encoding="utf-8")
        env = {**os.environ, "MONITOR_BOT_TOKEN": api.token,
               "MONITOR_CLOCK_FILE": str(clock_file)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(path), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        chat = {"id": group, "type": "supergroup", "title": "Мартюш"}
        try:
            api.push_update("message", {
                "message_id": 10, "date": int(START.timestamp()), "chat": chat,
                "from": {"id": citizen, "is_bot": False, "first_name": "Житель"},
                "text": "Яма у подъезда на Ленина 5, когда засыплете?"})
            await wait_for(lambda: kinds(api, 1), 20)
            answered = START + timedelta(minutes=12)
            api.push_update("message", {
                "message_id": 11, "date": int(answered.timestamp()), "chat": chat,
                "from": {"id": head, "is_bot": False, "first_name": "Глава"},
                "text": "Засыплем до пятницы",
                "reply_to_message": {"message_id": 10, "date": int(START.timestamp()),
                                     "chat": chat, "text": "Яма у подъезда"}})
            await until(path, lambda found: found[0]["status"] == "answered")
            clock_file.write_text((START + timedelta(hours=9)).isoformat(), encoding="utf-8")
            ticks = api.calls.count("getUpdates")
            await wait_for(lambda: api.calls.count("getUpdates") > ticks + 2, 20)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 20)
        log = stderr.decode()
        assert process.returncode == 0, log
    assert kinds(api, 1) == ["🆕 <b>Новый инцидент</b>"], "answered: no overdue alert"
    assert "ответов официальных лиц 1" in log
