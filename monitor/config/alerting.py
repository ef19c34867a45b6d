"""`[alerts]`: when alerts fire around an incident's deadline and to whom escalations go."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from common.durations import Duration, PositiveDuration, format_duration, parse_duration
from monitor.config.templates import AlertTemplates
from rules.model import Priority

_PERCENT = re.compile(r"^\s*(\d{1,3}(?:[.,]\d+)?)\s*%\s*$")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class WarningPoint(_Section):
    """One warning before the deadline: at a share of the time allowed («80%») or a fixed lead
    time before it («1h»). Exactly one of the two is set."""

    share: float | None = None
    lead: timedelta | None = None

    @property
    def label(self) -> str:
        """How the point is written in the config (and in an alert's reason)."""
        if self.share is not None:
            return f"{round(self.share * 100, 2):g}%"
        assert self.lead is not None
        return f"-{format_duration(self.lead)}"


def _parse_point(value: object) -> object:
    if isinstance(value, WarningPoint | dict):
        return value
    match = _PERCENT.match(value) if isinstance(value, str) else None
    if match:
        share = float(match.group(1).replace(",", ".")) / 100
        if not 0 < share < 1:
            msg = f"точка предупреждения {value!r}: доля должна быть больше 0% и меньше 100%"
            raise ValueError(msg)
        return WarningPoint(share=share)
    try:
        lead = parse_duration(value)
    except ValueError:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise  # a bare number: the duration's own message asks for a unit
        msg = (f"точка предупреждения {value!r} не распознана: пишите долю срока («80%») "
               "или время до срока («1h», «30m»)")
        raise ValueError(msg) from None
    if lead <= timedelta(0):
        msg = f"точка предупреждения {value!r}: время до срока должно быть больше нуля"
        raise ValueError(msg)
    return WarningPoint(lead=lead)


Point = Annotated[WarningPoint, BeforeValidator(_parse_point)]
AlertClock = Literal["working", "calendar"]
UrgentKind = Literal["opened", "warning", "overdue", "reminder", "escalation"]


def _parse_time(value: object) -> object:
    if isinstance(value, time):
        return value
    match = re.match(r"^\s*(\d{1,2}):(\d{2})\s*$", value) if isinstance(value, str) else None
    try:
        if match:
            return time(int(match.group(1)), int(match.group(2)))
    except ValueError:
        pass
    msg = f"время {value!r} не распознано: пишите \"08:30\""
    raise ValueError(msg)


DayTime = Annotated[time, BeforeValidator(_parse_time)]


class Escalation(_Section):
    """One step of the escalation chain: `after` the deadline (on the working or calendar
    clock), an overdue incident is told to someone higher (`chats`, with `name` in the text)."""

    name: str = Field(min_length=1)
    after: PositiveDuration
    clock: AlertClock = "working"
    chats: tuple[int, ...] = Field(min_length=1)
    municipality: str | None = None
    """Only incidents of this municipality (`[[municipalities]]`); none: every incident."""


def _parse_hours(value: object) -> object:
    """«22:00-08:00»: a span of the day that may run past midnight."""
    if isinstance(value, tuple):
        return value
    match = _HOURS.match(value) if isinstance(value, str) else None
    if not match:
        msg = f"часы {value!r} не распознаны: пишите \"20:00-08:00\""
        raise ValueError(msg)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError as exc:
        msg = f"часы {value!r}: {exc}"
        raise ValueError(msg) from None
    if start == end:
        msg = f"часы {value!r}: начало и конец совпадают"
        raise ValueError(msg)
    return start, end


DayHours = Annotated[tuple[time, time], BeforeValidator(_parse_hours)]


def within(hours: tuple[time, time], moment: time) -> bool:
    """Whether a local time of day falls in [start, end), which may run past midnight."""
    start, end = hours
    return start <= moment < end if start < end else moment >= start or moment < end


class Route(_Section):
    """Where the alerts of some incidents go (`[[alerts.routes]]`): those of the organisations,
    topic groups, settlements and priorities listed (each list that is given must match; an
    empty list matches all) go to `chat` (forum topic `thread`), at night to `night_chat`
    (`night_thread`). The first route that matches wins, unless it says `continue = true`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1)
    organisations: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    settlements: tuple[str, ...] = ()
    priorities: tuple[Priority, ...] = ()
    municipality: str | None = None
    """Only incidents of this municipality (`[[municipalities]]`); none: any."""
    chat: int
    thread: int | None = Field(None, gt=0)
    night_chat: int | None = None
    night_thread: int | None = Field(None, gt=0)
    keep_going: bool = Field(False, alias="continue")


class AlertsConfig(_Section):
    """`[alerts]`: the alert steps of every incident.

    Without `warnings`, the one warning comes at the policy's `warn_before` (as before this
    section existed). Reminders follow the overdue alert at growing gaps (`reminders`; the last
    gap repeats) up to `max_reminders`. Escalations go to their own chats.
    """

    warnings: tuple[Point, ...] | None = None
    warning_clock: AlertClock = "working"
    """The clock of warning shares and lead times."""
    reminders: tuple[PositiveDuration, ...] = ()
    max_reminders: int = Field(10, ge=0, le=1000)
    escalations: tuple[Escalation, ...] = ()
    routes: tuple[Route, ...] = ()
    """Without routes (or when none matches) alerts go to every [[telegram.chats]]."""
    night: DayHours | None = None
    """Local hours of the night shift («20:00-08:00»): alerts then go to night chats."""
    night_chat: int | None = None
    """The duty chat at night for incidents whose route names no night chat of its own."""
    night_thread: int | None = Field(None, gt=0)
    group_window: Duration = timedelta(0)
    """Alerts to one chat that come within this window go as one message («и ещё 7
    инцидентов»); 0 sends each alone."""
    quiet: DayHours | None = None
    """Local quiet hours («22:00-08:00»): alerts that are not urgent wait until they end."""
    urgent: tuple[UrgentKind, ...] = ("overdue", "escalation")
    """Kinds of alerts that quiet hours never hold."""
    urgent_priorities: tuple[Priority, ...] = ("critical",)
    """Priorities whose every alert is urgent."""
    per_chat_per_minute: int = Field(20, ge=1, le=20)
    """Messages to one chat in any minute at most (Telegram allows about 20 to a group)."""
    digest_at: DayTime | None = None
    """Local time of the morning digest to every chat («08:30»); none: no digest."""
    templates: AlertTemplates = AlertTemplates()
    admin_chat: int | None = None
    """Where system alerts go (a source refused or silent, a token near its cap); none: every
    [[telegram.chats]]."""
    admin_thread: int | None = Field(None, gt=0)
    cap_share: float = Field(0.8, gt=0, le=1)
    """A token is near its daily cap when the planned calls reach this share of it."""

    @model_validator(mode="after")
    def _night_needs_hours(self) -> AlertsConfig:
        night_chats = [self.night_chat, *(r.night_chat for r in self.routes)]
        if self.night is None and any(chat is not None for chat in night_chats):
            msg = "указан ночной чат, но не указаны ночные часы: добавьте night = \"20:00-08:00\""
            raise ValueError(msg)
        names = [route.name for route in self.routes]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            msg = f"повторяется имя маршрута: {', '.join(repeated)}"
            raise ValueError(msg)
        return self


KeyPath = tuple[str | int, ...]


def unlisted_chats(alerts: AlertsConfig, listed: set[int]) -> list[tuple[KeyPath, int]]:
    """Chats `[alerts]` sends to that `[[telegram.chats]]` does not list, with where each is
    named: staff there get alerts but cannot press their buttons."""
    named: list[tuple[KeyPath, int | None]] = [(("alerts", "night_chat"), alerts.night_chat),
                                               (("alerts", "admin_chat"), alerts.admin_chat)]
    for index, route in enumerate(alerts.routes):
        named += [(("alerts", "routes", index, "chat"), route.chat),
                  (("alerts", "routes", index, "night_chat"), route.night_chat)]
    for index, escalation in enumerate(alerts.escalations):
        named += [(("alerts", "escalations", index, "chats"), chat) for chat in escalation.chats]
    return [(where, chat) for where, chat in named if chat is not None and chat not in listed]


def unknown_route_values(
    alerts: AlertsConfig, known: dict[str, frozenset[str]]
) -> list[tuple[KeyPath, str]]:
    """Values a route matches on that no incident can have (a typo makes a route idle): per
    key of `known` (organisations, groups, settlements), the values not among the known."""
    found: list[tuple[KeyPath, str]] = []
    for index, route in enumerate(alerts.routes):
        for key, values in known.items():
            for value in getattr(route, key):
                if value not in values:
                    found.append((("alerts", "routes", index, key), value))
    return found
