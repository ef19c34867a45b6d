"""Typed, frozen models of every config section except sources and topics."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from common.durations import Duration, PositiveDuration, format_duration
from rules.model import Priority

_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _parse_interval(value: object) -> tuple[time, time]:
    if isinstance(value, tuple):
        return value  # type: ignore[return-value]
    match = _INTERVAL.match(value) if isinstance(value, str) else None
    if not match:
        msg = f"интервал {value!r} не распознан: пишите \"09:00-13:00\""
        raise ValueError(msg)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h2 == 24 and m2 == 0:
        h2, m2 = 23, 59
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError as exc:
        msg = f"интервал {value!r}: {exc}"
        raise ValueError(msg) from None
    if start >= end:
        msg = f"интервал {value!r}: начало должно быть раньше конца"
        raise ValueError(msg)
    return start, end


TimeInterval = Annotated[tuple[time, time], BeforeValidator(_parse_interval)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = ("09:00-13:00", "14:00-18:00")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class WeekHours(_Section):
    """Working intervals per weekday; an empty list is a day off."""

    mon: tuple[TimeInterval, ...] = _DAY  # type: ignore[assignment]
    tue: tuple[TimeInterval, ...] = _DAY  # type: ignore[assignment]
    wed: tuple[TimeInterval, ...] = _DAY  # type: ignore[assignment]
    thu: tuple[TimeInterval, ...] = _DAY  # type: ignore[assignment]
    fri: tuple[TimeInterval, ...] = _DAY  # type: ignore[assignment]
    sat: tuple[TimeInterval, ...] = ()
    sun: tuple[TimeInterval, ...] = ()

    @field_validator("*", mode="after")
    @classmethod
    def _no_overlap(cls, value: tuple[tuple[time, time], ...]) -> tuple[tuple[time, time], ...]:
        ordered = tuple(sorted(value))
        for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
            if start < end:
                msg = "интервалы рабочего времени пересекаются"
                raise ValueError(msg)
        return ordered

    def for_weekday(self, index: int) -> tuple[tuple[time, time], ...]:
        """Return the intervals of a weekday, Monday being 0."""
        return getattr(self, WEEKDAYS[index])  # type: ignore[no-any-return]


class CalendarConfig(_Section):
    """`[calendar]`: the municipality's time zone and working calendar."""

    timezone: str = "Asia/Yekaterinburg"
    hours: WeekHours = WeekHours()
    russian_holidays: bool = True
    pre_holiday_shortening: Duration = timedelta(hours=1)
    moved_working_day_hours: Weekday = "mon"
    days_off: tuple[date, ...] = ()
    working_days: tuple[date, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"часовой пояс {value!r} неизвестен (пример: \"Asia/Yekaterinburg\")"
            raise ValueError(msg) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """Return the municipality's time zone."""
        return ZoneInfo(self.timezone)


Clock = Literal["working", "calendar", "working_days"]
"""working: working hours of [calendar]; calendar: round the clock; working_days: whole working
days, the term ending at the close of the last one (counted from the next day)."""
ClockStart = Literal["published", "detected"]


class SlaPolicy(_Section):
    """Deadlines: the first response, optionally the resolution (a final answer), the follow-up
    after an interim answer or a reopening; each on its clock; when the clock starts; how early
    to warn."""

    first_response: PositiveDuration = timedelta(hours=8)
    clock: Clock = "working"
    warn_before: Duration = timedelta(hours=1)
    resolution: PositiveDuration | None = None
    resolution_clock: Clock | None = None
    """None: the clock of `first_response`."""
    follow_up: PositiveDuration = timedelta(days=7)
    follow_up_clock: Clock = "working_days"
    clock_start: ClockStart = "detected"
    """detected: when the daemon found the message; published: when it was written (a message
    caught up after downtime is already late)."""

    @model_validator(mode="after")
    def _whole_working_days(self) -> SlaPolicy:
        for amount, clock, key in ((self.first_response, self.clock, "first_response"),
                                   (self.resolution, self.resolution_clock or self.clock,
                                    "resolution"),
                                   (self.follow_up, self.follow_up_clock, "follow_up")):
            if clock == "working_days" and amount is not None and amount % timedelta(days=1):
                msg = (f"{key}: на часах working_days срок — целое число рабочих дней "
                       f"(например \"7d\"), а не {format_duration(amount)}")
                raise ValueError(msg)
        return self


class SlaConfig(SlaPolicy):
    """`[sla]`: the default policy, named policies, and policies per priority."""

    policies: dict[str, SlaPolicy] = Field(default_factory=dict)
    by_priority: dict[Priority, SlaPolicy] = Field(default_factory=dict)


class TelegramChat(_Section):
    """A staff chat that receives alerts."""

    id: int
    name: str = Field(min_length=1)
    municipality: str | None = None
    """The municipality whose alerts it gets (`[[municipalities]]`); none: a regional chat."""


class OfficialAccount(_Section):
    """An account whose posts and replies are the administration's (`[[official_accounts]]`):
    never a citizen's message; its reply in a thread answers the citizen. A community is
    listed by its negative id (as VK writes `from_id`)."""

    network: str = Field(min_length=1)
    id: int
    name: str = Field(min_length=1)


class StaffMember(_Section):
    """A person who may act on incidents through the bot (`[[telegram.staff]]`)."""

    id: int = Field(gt=0)
    """Their Telegram user id (`monitor telegram chats` shows it)."""
    name: str = Field(min_length=1)


class TelegramConfig(_Section):
    """`[telegram]`: the staff bot; its token comes only from the environment."""

    token_env: str = "MONITOR_BOT_TOKEN"
    base_url: str = "https://api.telegram.org/bot"
    timeout: PositiveDuration = timedelta(seconds=10)
    max_attempts: int = Field(8, ge=1, le=100)
    retry_base: PositiveDuration = timedelta(seconds=15)
    chats: tuple[TelegramChat, ...] = ()
    staff: tuple[StaffMember, ...] = ()
    announce_new: bool = True
    """Tell the chats about every new incident as soon as it opens."""
    updates: bool = True
    """Read the bot's updates: staff buttons and commands (one reader per bot token)."""
    long_poll: PositiveDuration = timedelta(seconds=25)
    """How long one getUpdates call waits for an update."""

    def staff_member(self, user_id: int) -> StaffMember | None:
        """The staff member with this Telegram user id, or None."""
        return next((s for s in self.staff if s.id == user_id), None)


class StorageConfig(_Section):
    """`[storage]`: the SQLite file (relative to the config file's folder), or PostgreSQL with
    its DSN in the environment variable `dsn_env` (never in the file)."""

    backend: Literal["sqlite", "postgresql"] = "sqlite"
    path: str = "monitor.db"
    dsn_env: str = "MONITOR_PG_DSN"
    lease_ttl: PositiveDuration = timedelta(seconds=60)
    """PostgreSQL: how long a daemon's leases outlive its last renewal."""
    lease_renew: PositiveDuration = timedelta(seconds=20)
    """PostgreSQL: how often a daemon renews its leases and takes its share (well under the TTL)."""

    @model_validator(mode="before")
    @classmethod
    def _no_dsn_in_file(cls, data: object) -> object:
        if isinstance(data, dict) and "dsn" in data:
            msg = ("строку подключения не пишут в файл (в ней пароль): укажите dsn_env — "
                   "переменную окружения, в которой она лежит")
            raise ValueError(msg)
        return data


class DaemonConfig(_Section):
    """`[daemon]`: how often the background jobs run and how long shutdown may take."""

    deadline_tick: PositiveDuration = timedelta(seconds=30)
    outbox_interval: PositiveDuration = timedelta(seconds=10)
    misfire_grace: Duration = timedelta(seconds=60)
    shutdown_grace: Duration = timedelta(seconds=20)
    first_poll_spread: Duration = timedelta(seconds=10)
    user_agent: str = "mcu-monitor/0.1 (+municipal control centre; polite polling)"
    http: str | None = None
    """`host:port` of `/healthz` and `/metrics` (e.g. "127.0.0.1:9464"); off when unset."""
    outbox_stuck: PositiveDuration = timedelta(minutes=15)
    """An alert due this long and still unsent makes `/healthz` answer 503."""
    log_format: Literal["text", "json"] = "text"
    """"json": one JSON object per log line (for journald and log collectors)."""

    @field_validator("http")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            split_address(value)
        return value


def split_address(value: str) -> tuple[str, int]:
    """"127.0.0.1:9464" or "[::1]:9464" → (host, port); ValueError in Russian otherwise."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or int(port) > 65535:
        msg = f'адрес {value!r} не распознан: пишите "127.0.0.1:9464" (хост:порт)'
        raise ValueError(msg)
    return host, int(port)


class ReportConfig(_Section):
    """`[report]`: the quarterly report to the ЦУР and alerts of spikes (docs/report.md)."""

    curator_chat: int | None = None
    """The chat that gets the past quarter's report on the first working day after it (with
    `[[municipalities]]`: the whole region's report; each municipality's goes to its own
    `curator_chat`)."""
    check_every: PositiveDuration = timedelta(minutes=30)
    """How often the daemon looks whether the quarterly report is due."""
    spike_alerts: bool = True
    spike_incidents: int = Field(5, ge=2, le=1000)
    """A spike: this many incidents of one group in one settlement within `spike_window`."""
    spike_window: PositiveDuration = timedelta(hours=1)


class Settlement(_Section):
    """A settlement of the municipality, with other spellings and its streets."""

    name: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    streets: tuple[str, ...] = ()
    municipality: str | None = None
    """The municipality it lies in (`[[municipalities]]`): its incidents are that one's."""


class PlacesConfig(_Section):
    """`[places]`: the municipality's gazetteer, used to tell where a message is about."""

    municipality: str = ""
    settlements: tuple[Settlement, ...] = ()


class RepeatsConfig(_Section):
    """`[repeats]`: when a repeated complaint joins an open incident instead of a new one."""

    enabled: bool = True
    window: PositiveDuration = timedelta(days=3)
    similarity: float = Field(0.8, gt=0, le=1)
