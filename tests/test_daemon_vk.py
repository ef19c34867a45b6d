"""The whole daemon process on VKontakte: a citizen's comment opens an incident and the
community's reply in the thread answers it at the reply's time — on a wall read by polling, and
on the administration's own community through long poll; a search finds an unlisted one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import FAST_DAEMON, PITS_TOPIC, ROOT
from tests.fakes.vk import FakeVk
from tests.test_daemon import wait_for

START = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
WALL, OWN, ELSEWHERE = 111, 222, 333
CITIZEN = 5551234

CONFIG = """
[storage]
path = "m.db"
""" + FAST_DAEMON + """
[[sources]]
id = "district-wall"
network = "vk"
group_id = {wall}
token_env = "VK_SERVICE_TOKEN"
base_url = "{url}"
interval = "1s"
jitter = "0s"

[[sources]]
id = "admin-lp"
network = "vk"
mode = "longpoll"
group_id = {own}
token_env = "VK_GROUP_TOKEN"
backfill_token_env = "VK_SERVICE_TOKEN"
base_url = "{url}"
interval = "1s"
jitter = "0s"
wait = "1s"

[[sources]]
id = "search"
network = "vk"
mode = "search"
query = ["Мартюш"]
token_env = "VK_SERVICE_TOKEN"
base_url = "{url}"
interval = "1s"
jitter = "0s"

""" + PITS_TOPIC


async def incidents(path: Path) -> list[dict[str, object]]:
    """What `monitor incidents --format json` says, from another process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "incidents", "--config", str(path), "--format", "json",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    return list(json.loads(out))


async def test_replies_in_threads_answer_incidents(tmp_path: Path) -> None:
    clock_file = tmp_path / "clock"
    clock_file.write_text(START.isoformat(), encoding="utf-8")
    async with FakeVk(now=START.timestamp()) as vk:
        for group in (WALL, OWN, ELSEWHERE):
            vk.add_community(group, name=f"Сообщество {group}")
        vk.add_token("svc", kind="service")
        vk.add_token("grp", kind="community", group_id=OWN)
        wall_post = vk.add_post(WALL, "Новости района", date=START - timedelta(hours=1))
        own_post = vk.add_post(OWN, "Администрация: график работ", date=START - timedelta(hours=1))
        vk.add_post(ELSEWHERE, "В Мартюше яма на въезде", date=START - timedelta(minutes=30),
                    from_id=CITIZEN + 1)
        wall_top = vk.add_comment(WALL, wall_post, "Яма у школы", from_id=CITIZEN,
                                  date=START - timedelta(minutes=20))
        path = tmp_path / "config.toml"
        path.write_text(CONFIG.format(wall=WALL, own=OWN, url=vk.base_url), encoding="utf-8")
        env = {**os.environ, "VK_SERVICE_TOKEN": "svc", "VK_GROUP_TOKEN": "grp",
               "MONITOR_CLOCK_FILE": str(clock_file)}
        env.pop("MONITOR_BOT_TOKEN", None)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(path), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            await wait_for(lambda: vk.count("groups.getLongPollServer") >= 1, 20)
            own_top = vk.add_comment(OWN, own_post, "Яма во дворе на Мира 3", from_id=CITIZEN,
                                     date=START + timedelta(minutes=1))
            await wait_for(lambda: vk.count("wall.getComments") >= 1, 20)
            opened = await until(path, lambda found: len(found) == 3)
            wall_answer = START + timedelta(minutes=40)
            vk.add_comment(WALL, wall_post, "Засыплем в пятницу", from_id=-WALL,
                           date=wall_answer, reply_to_comment=wall_top)
            own_answer = START + timedelta(minutes=45)
            vk.add_comment(OWN, own_post, "Бригада выехала", from_id=-OWN, date=own_answer,
                           reply_to_comment=own_top)
            done = await until(path, lambda found: sum(i["status"] == "answered"
                                                        for i in found) == 2)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode == 0, stderr.decode()
    by_source = {str(i["source"]): i for i in done}
    assert {str(i["source"]) for i in opened} == {"district-wall", "admin-lp", "search"}
    assert by_source["district-wall"]["answered_at"] == wall_answer.isoformat()
    assert by_source["admin-lp"]["answered_at"] == own_answer.isoformat()
    assert by_source["search"]["status"] == "open"
    assert vk.max_calls_per_second("svc") <= 3


async def until(path: Path, condition) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    for _ in range(150):
        found = await incidents(path)
        if condition(found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened; incidents: {found}")
