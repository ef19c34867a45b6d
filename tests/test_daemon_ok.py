"""The whole daemon process on Odnoklassniki: a resident's comment under the group's topic opens
an incident, the group's reply to it answers the incident at the reply's time, SIGTERM stops the
daemon cleanly, and the token's calls keep to the configured rate (two groups read with one
token, their first round asking for three times as many calls as the rate allows in a second).

Time is the file clock ($MONITOR_CLOCK_FILE) the test moves; nothing sleeps until a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import FAST_DAEMON, PITS_TOPIC, ROOT
from tests.fakes.ok import FakeOk
from tests.test_daemon import wait_for

START = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
GROUP, DISTRICT = "55348644610059", "55348644610060"
RESIDENT = "577155456789"
APP_KEY, APP_SECRET = "CBAFAKEAPPKEYFORDAEMON", "app-secret-for-daemon"
TOKEN = "tkn1-daemon-token"
RATE = 5

Incidents = list[dict[str, object]]

CONFIG = """
[storage]
path = "m.db"
""" + FAST_DAEMON + """
[[sources]]
id = "admin-ok"
network = "ok"
group_id = "{group}"
token_env = "OK_TOKEN"
application_key_env = "OK_APP_KEY"
application_secret_env = "OK_APP_SECRET"
base_url = "{url}"
interval = "1s"
jitter = "0s"
rate = {rate}

[[sources]]
id = "district-ok"
network = "ok"
group_id = "{district}"
token_env = "OK_TOKEN"
application_key_env = "OK_APP_KEY"
application_secret_env = "OK_APP_SECRET"
base_url = "{url}"
interval = "1s"
jitter = "0s"
rate = {rate}

""" + PITS_TOPIC


async def incidents(path: Path) -> Incidents:
    """What `monitor incidents --format json` says, from another process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "incidents", "--config", str(path), "--format", "json",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, err.decode()
    return list(json.loads(out))


async def until(path: Path, condition: Callable[[Incidents], bool],
                seconds: float = 10.0) -> Incidents:
    """Ask for the incidents until `condition` holds on them; fail after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        found = await incidents(path)
        if condition(found):
            return found
        assert loop.time() < deadline, f"never happened; incidents: {found}"
        await asyncio.sleep(0.1)


async def test_the_groups_reply_answers_the_residents_comment(tmp_path: Path) -> None:
    clock_file = tmp_path / "clock"
    clock_file.write_text(START.isoformat(), encoding="utf-8")
    async with FakeOk() as ok:
        ok.add_application(APP_KEY, APP_SECRET)
        ok.add_token(TOKEN)
        ok.add_group(GROUP, name="Администрация Каменского округа")
        ok.add_group(DISTRICT, name="Новости района")
        ok.add_user(RESIDENT, "Анна Смирнова")
        topic = ok.add_topic(GROUP, "График уборки снега", date=START - timedelta(hours=1))
        question = ok.add_comment(topic, "Яма у школы, когда засыплете?", user=RESIDENT,
                                  date=START - timedelta(minutes=20))
        for group in (GROUP, DISTRICT):  # comments to read in the first round, no complaints
            for n in range(6):
                news = ok.add_topic(group, f"Новость {n}", date=START - timedelta(hours=2 + n))
                ok.add_comment(news, "Спасибо за информацию", user=RESIDENT,
                               date=START - timedelta(hours=1))
        path = tmp_path / "config.toml"
        path.write_text(CONFIG.format(group=GROUP, district=DISTRICT, url=ok.base_url,
                                      rate=RATE), encoding="utf-8")
        env = {**os.environ, "OK_TOKEN": TOKEN, "OK_APP_KEY": APP_KEY,
               "OK_APP_SECRET": APP_SECRET, "MONITOR_CLOCK_FILE": str(clock_file)}
        env.pop("MONITOR_BOT_TOKEN", None)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(path), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            await wait_for(lambda: ok.count("discussions.getComments", TOKEN) >= 13, 15)
            opened = await until(path, lambda found: len(found) == 1)
            answered_at = START + timedelta(minutes=40)
            clock_file.write_text((answered_at + timedelta(minutes=1)).isoformat(),
                                  encoding="utf-8")
            ok.add_comment(topic, "Засыплем в пятницу", date=answered_at, reply_to=question)
            done = await until(path, lambda found: found[0]["status"] == "answered")
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 15)
        assert process.returncode == 0, stderr.decode()
    (incident,) = opened
    assert (incident["source"], incident["status"]) == ("admin-ok", "open")
    (answered,) = done
    assert answered["id"] == incident["id"]
    assert answered["answered_at"] == answered_at.isoformat()
    assert ok.count("discussions.getComments", TOKEN) >= 14, "the reply was read"
    assert {c.token for c in ok.calls} == {TOKEN}
    assert len(ok.calls) >= 3 * RATE
    assert ok.max_calls_per_second(TOKEN) <= RATE
