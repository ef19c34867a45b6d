"""`[alerts]`: when alerts fire around an incident's deadline and to whom escalations go."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from common.durations import PositiveDuration, parse_duration

_PERCENT = re.compile(r"^\s*(\d{1,3}(?:[.,]\d+)?)\s*%\s*$")


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
        return f"-{int(self.lead.total_seconds())}s"


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
        msg = (f"точка предупреждения {value!r} не распознана: пишите долю срока («80%») "
               "или время до срока («1h», «30m»)")
        raise ValueError(msg) from None
    if lead <= timedelta(0):
        msg = f"точка предупреждения {value!r}: время до срока должно быть больше нуля"
        raise ValueError(msg)
    return WarningPoint(lead=lead)


Point = Annotated[WarningPoint, BeforeValidator(_parse_point)]
AlertClock = Literal["working", "calendar"]


class Escalation(_Section):
    """One step of the escalation chain: `after` the deadline (on the working or calendar
    clock), an overdue incident is told to someone higher (`chats`, with `name` in the text)."""

    name: str = Field(min_length=1)
    after: PositiveDuration
    clock: AlertClock = "working"
    chats: tuple[int, ...] = Field(min_length=1)


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
