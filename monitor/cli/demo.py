"""`monitor demo`: the real daemon against simulated networks on 127.0.0.1, on a fast clock, in a
temporary folder — a live view of what happens and a closing summary read from the store."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.cli import CLOCK_FILE_ENV
from monitor.cli.demo_day import (
    DAY,
    DAY_START,
    DUTY_CHAT,
    STAFF_ID,
    STAFF_NAME,
    Answer,
    DemoWorld,
    Event,
    demo_config_path,
)
from monitor.config import load_config
from storage import IncidentRow, open_read_only_store, open_store

ZONE = ZoneInfo("Asia/Yekaterinburg")
_NUMBER = re.compile(r"Инцидент №(\d+)")
_STEP = 0.1
"""Seconds of wall time between two moves of the clock."""
TAKE_AFTER, ANSWER_AFTER = timedelta(minutes=20), timedelta(minutes=50)
"""The staff member takes every other new incident this long after it is announced, and
presses «Ответ дан» this long after it was announced."""


@dataclass(slots=True)
class DemoSummary:
    """The closing figures, all read from the store."""

    messages: int
    by_group: Counter[str]
    answered_on_time: int
    overdue: int
    open_now: int
    end: datetime

    @classmethod
    def of(cls, incidents: list[IncidentRow], messages: int, end: datetime) -> DemoSummary:
        """Count what the store holds at the end of the demo."""
        on_time = overdue = 0
        for incident in incidents:
            done = incident.answered_at or incident.closed_at
            if incident.answered_at is not None and incident.answered_at <= incident.due_at:
                on_time += 1
            elif incident.due_at <= end and (done is None or done > incident.due_at):
                overdue += 1
        groups = Counter(i.group_name or "без группы" for i in incidents)
        return cls(messages, groups, on_time, overdue, sum(i.is_open for i in incidents), end)

    def lines(self) -> list[str]:
        """The summary as the operator reads it."""
        total = sum(self.by_group.values())
        lines = [f"Итог на {self.end.astimezone(ZONE):%d.%m.%Y %H:%M} (Екатеринбург):",
                 f"  сообщений сохранено: {self.messages}",
                 f"  инцидентов: {total}"]
        lines += [f"    {group}: {n}" for group, n in sorted(self.by_group.items())]
        lines += [f"  отвечено в срок: {self.answered_on_time}",
                  f"  просрочено: {self.overdue}",
                  f"  ещё открыто: {self.open_now}"]
        return lines


@dataclass(slots=True)
class _Staff:
    """A duty officer who presses buttons under the bot's announcements."""

    presses: list[tuple[datetime, int, int, str]] = field(default_factory=list)

    def announced(self, number: int, message_id: int, at: datetime) -> None:
        if number % 2 == 0:
            self.presses.append((at + TAKE_AFTER, number, message_id, "take"))
            self.presses.append((at + ANSWER_AFTER, number, message_id, "answer"))

    def due(self, now: datetime) -> list[tuple[int, int, str]]:
        ready = [(n, m, verb) for at, n, m, verb in self.presses if at <= now]
        self.presses = [p for p in self.presses if p[0] > now]
        return ready


def demo_command(speed: float, duration: timedelta, folder: str | None) -> int:
    """Run the demo; return the exit code."""
    where = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="monitor-demo-"))
    where.mkdir(parents=True, exist_ok=True)
    if any(where.iterdir()):
        print(f"Папка {where} не пуста: демонстрации нужна пустая папка", file=sys.stderr)
        return 2
    print(f"Демонстрация: сети имитируются на 127.0.0.1, часы идут в {speed:g} раз быстрее; "
          f"папка {where}")
    return asyncio.run(_demo(where, speed, duration))


async def _demo(where: Path, speed: float, duration: timedelta) -> int:
    async with DemoWorld() as world:
        path = demo_config_path(where)
        path.write_text(world.config_text(), encoding="utf-8")
        config = load_config(path, env=world.env()).config
        clock = where / "clock"
        _set_clock(clock, DAY_START)
        env = {**os.environ, **world.env(), CLOCK_FILE_ENV: str(clock)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(path), env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        started = asyncio.Event()
        log_task = asyncio.create_task(_keep_log(process, where / "daemon.log", started))
        try:
            await asyncio.wait_for(started.wait(), 120)
            end = await _play(world, clock, speed, duration)
        except TimeoutError:
            print("Демон не запустился за 2 минуты; журнал: " + str(where / "daemon.log"),
                  file=sys.stderr)
            return 1
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)
            await log_task
    summary = await read_summary(config.database_path, end)
    print("\n".join(summary.lines()))
    print(f"База: {config.database_path}\nПопробуйте: monitor incidents --config {path}")
    return 0 if process.returncode == 0 else 1


async def _play(world: DemoWorld, clock: Path, speed: float, duration: timedelta) -> datetime:
    loop = asyncio.get_running_loop()
    begun = loop.time()
    staff = _Staff()
    pending: list[Event] = sorted(DAY, key=lambda e: e.at)
    seen = 0
    now = DAY_START
    while (elapsed := loop.time() - begun) < duration.total_seconds():
        now = DAY_START + timedelta(seconds=elapsed * speed)
        _set_clock(clock, now)
        while pending and DAY_START + timedelta(minutes=pending[0].at) <= now:
            event = pending.pop(0)
            mark = "✅" if isinstance(event, Answer) else "✉️"
            _say(now, f"{mark} {world.publish(event, now)}")
        for message in world.bot.delivered[seen:]:
            seen += 1
            _alert(now, message, staff)
        for number, message_id, verb in staff.due(now):
            world.bot.push_callback(DUTY_CHAT, STAFF_ID, message_id, f"inc:{number}:{verb}")
            button = "«Взять в работу»" if verb == "take" else "«Ответ дан»"
            _say(now, f"👤 {STAFF_NAME} нажимает {button} — инцидент №{number}")
        await asyncio.sleep(_STEP)
    return now


def _alert(now: datetime, message: dict[str, object], staff: _Staff) -> None:
    text = str(message.get("text", ""))  # as Telegram shows it: no formatting left
    chat = message.get("chat")
    found = _NUMBER.search(text)
    if found is None or not isinstance(chat, dict) or chat.get("id") != DUTY_CHAT:
        return
    number = int(found.group(1))
    first = text.split("\n", 1)[0]
    _say(now, f"📣 {first} — №{number}: {_topic_line(text)}")
    if "Новый инцидент" in first:
        staff.announced(number, int(str(message["message_id"])), now)


def _topic_line(text: str) -> str:
    for line in text.split("\n"):
        if _NUMBER.search(line):
            return line.split(":", 1)[-1].strip()
    return ""


def _say(now: datetime, line: str) -> None:
    print(f"{now.astimezone(ZONE):%H:%M}  {line}", flush=True)


def _set_clock(path: Path, moment: datetime) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(moment.isoformat(), encoding="utf-8")
    os.replace(temporary, path)


async def _keep_log(process: asyncio.subprocess.Process, log: Path, started: asyncio.Event) -> None:
    """Write the daemon's log to a file; show its errors; say when it has started."""
    assert process.stderr is not None
    with log.open("w", encoding="utf-8") as file:
        while line := await process.stderr.readline():
            text = line.decode("utf-8", "replace")
            file.write(text)
            if "монитор запущен" in text:
                started.set()
            elif " ERROR " in text:
                print(f"        журнал демона: {text.strip()}", flush=True)


async def read_summary(database: Path, end: datetime) -> DemoSummary:
    """The closing figures from the demo's store (the daemon has stopped)."""
    store = await open_store(database)
    try:
        incidents = await store.list_incidents()
    finally:
        await store.close()
    messages = 0
    async with open_read_only_store(database) as stored:
        async for _ in stored.stored_items():
            messages += 1
    return DemoSummary.of(incidents, messages, end)
