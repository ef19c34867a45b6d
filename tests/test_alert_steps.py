"""Alert steps: warnings at shares and lead times, overdue, growing reminders, escalations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from common.clock import ManualClock
from monitor.config import load_config
from monitor.config.alerting import AlertsConfig
from monitor.config.problems import ConfigError
from monitor.config.settings import CalendarConfig
from monitor.daemon.alert_steps import AlertSchedule, due_steps
from monitor.daemon.alerts import queue_due_alerts
from monitor.daemon.routing import Router
from monitor.daemon.workcal import WorkingCalendar
from storage import SYSTEM, Action, IncidentRow, open_store
from storage.types import DueAlert
from tests.test_storage import entry

EKB = ZoneInfo("Asia/Yekaterinburg")


def ekb(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=EKB).astimezone(UTC)


def incident(opened: datetime, due: datetime, warn: datetime | None = None) -> IncidentRow:
    return IncidentRow(
        id=1, source_id="news", group_name="Дороги", topic="pits", topic_name="Ямы",
        organisation="УГХ", priority="normal", status="open", opened_at=opened,
        warn_at=warn or due - timedelta(hours=1), due_at=due, warned_at=None, overdue_at=None,
        answered_at=None, url="https://t.me/news/1", text="яма",
    )


FULL = AlertsConfig.model_validate({
    "warnings": ["50%", "80%", "30m"],
    "reminders": ["1h", "2h", "4h"],
    "max_reminders": 4,
    "escalations": [
        {"name": "начальник МЦУ", "after": "2h", "chats": [-1]},
        {"name": "куратор", "after": "1d", "clock": "calendar", "chats": [-2]},
    ],
})


def test_every_step_falls_where_the_config_says() -> None:
    schedule = AlertSchedule(FULL, WorkingCalendar(CalendarConfig()), announce=True)
    # Wednesday 09:00-17:00 local holds 7 working hours (lunch 13:00-14:00).
    steps = schedule.steps(incident(ekb(25, 9), ekb(25, 17)))
    assert [(s.kind, s.label, s.at) for s in steps] == [
        ("opened", "", ekb(25, 9)),
        ("warning", "50%", ekb(25, 12, 30)),
        ("warning", "80%", ekb(25, 15, 36)),
        ("warning", "-30m", ekb(25, 16, 30)),
        ("overdue", "", ekb(25, 17)),
        ("reminder", "1", ekb(25, 18)),
        ("reminder", "2", ekb(25, 20)),
        ("reminder", "3", ekb(26, 0)),
        ("reminder", "4", ekb(26, 4)),
        ("escalation", "начальник МЦУ", ekb(26, 10)),  # two working hours: 17-18, 09-10
        ("escalation", "куратор", ekb(26, 17)),
    ]
    assert len({s.reason for s in steps}) == len(steps), "every step has its own reason"


def test_without_warnings_the_policys_warn_before_is_the_one_warning() -> None:
    schedule = AlertSchedule(AlertsConfig(), WorkingCalendar(CalendarConfig()), announce=False)
    steps = schedule.steps(incident(ekb(25, 9), ekb(25, 17), warn=ekb(25, 16)))
    assert [(s.kind, s.at) for s in steps] == [("warning", ekb(25, 16)), ("overdue", ekb(25, 17))]


def test_a_moved_deadline_gives_its_steps_new_reasons() -> None:
    schedule = AlertSchedule(FULL, WorkingCalendar(CalendarConfig()), announce=True)
    first = {s.reason for s in schedule.steps(incident(ekb(25, 9), ekb(25, 17)))}
    moved = {s.reason for s in schedule.steps(incident(ekb(25, 9), ekb(27, 17)))}
    assert first & moved == {"opened"}


def test_a_tick_after_downtime_sends_the_latest_step_and_every_escalation() -> None:
    schedule = AlertSchedule(FULL, WorkingCalendar(CalendarConfig()), announce=True)
    row = incident(ekb(25, 9), ekb(25, 17))
    steps = schedule.steps(row)
    now = ekb(26, 18)
    found = due_steps(steps, DueAlert(row, ekb(25, 9), ekb(25, 9)), now)
    assert [(s.kind, s.label) for s in found.steps] == [
        ("reminder", "4"), ("escalation", "начальник МЦУ"), ("escalation", "куратор")]
    assert (found.alerted_until, found.next_at) == (now, None)
    quiet = due_steps(steps, DueAlert(row, ekb(25, 12), ekb(25, 9)), ekb(25, 12))
    assert (quiet.steps, quiet.next_at) == ((), ekb(25, 12, 30))


@pytest.mark.parametrize(("value", "message"), [
    ('warnings = ["150%"]', "больше 0% и меньше 100%"),
    ('warnings = ["скоро"]', "не распознана"),
    ('warnings = ["0m"]', "больше нуля"),
    ("warnings = [3600]", "без единицы измерения"),
    ("reminders = [30]", "без единицы измерения"),
    ("group_window = 60", "без единицы измерения"),
    ("reminders = [\"0s\"]", "больше нуля"),
    ('escalations = [{ name = "глава", after = "1h", chats = [] }]', "escalations"),
    ("max_reminders = -1", "max_reminders"),
    ("wrong = 1", "wrong"),
])
def test_bad_alert_settings_are_refused_in_russian(
    tmp_path: Path, value: str, message: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[alerts]\n{value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert message in str(caught.value) and "config.toml:2" in str(caught.value)


async def test_one_tick_works_through_more_incidents_than_one_batch(tmp_path: Path) -> None:
    config = load_config(_empty(tmp_path), env={}).config
    schedule = AlertSchedule(config.alerts, WorkingCalendar(config.calendar), announce=True)
    store = await open_store(tmp_path / "m.db")
    try:
        now = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
        items = [entry(str(n), f"яма {n}") for n in range(25)]
        await store.save_items_and_cursor("news", items, {}, now)
        queued = await queue_due_alerts(store, ManualClock(now), schedule,
                                        Router(config, sending=False), EKB, limit=10)
        assert queued == 25 and await store.due_alerts(now) == []
    finally:
        await store.close()


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("", encoding="utf-8")
    return path


async def test_a_reopened_incident_is_announced_again_once(tmp_path: Path) -> None:
    config = load_config(_empty(tmp_path), env={}).config
    schedule = AlertSchedule(config.alerts, WorkingCalendar(config.calendar), announce=True)
    router = Router(config, sending=False)
    store = await open_store(tmp_path / "m.db")
    try:
        clock = ManualClock(datetime(2026, 11, 25, 4, 0, tzinfo=UTC))
        [number] = (await store.save_items_and_cursor("news", [entry("1", "яма")], {},
                                                      clock.now())).incidents
        assert await queue_due_alerts(store, clock, schedule, router, EKB) == 1
        clock.advance(timedelta(hours=1))
        await store.act(number, Action("answer", SYSTEM), clock.now())
        clock.advance(timedelta(hours=1))
        async with store.database.transaction() as tx:  # type: ignore[attr-defined]
            # What a reopening does (the deadline side): open, unannounced, a new term.
            await tx.execute("UPDATE incidents SET status = 'open', announced_at = NULL,"
                             " due_at = ? WHERE id = ?",
                             ((clock.now() + timedelta(days=7)).isoformat(), number))
        assert await queue_due_alerts(store, clock, schedule, router, EKB) == 1
        assert await queue_due_alerts(store, clock, schedule, router, EKB) == 0
        # (the first announcement, never flushed here, was cancelled by the answer)
        reasons = [r.reason for r in await store.pending_alerts(clock.now())]
        assert reasons == ["opened:2026-12-02T06:00+00:00"]
    finally:
        await store.close()
