"""Human durations in config: "90s", "30m", "8h", "2d", "1h30m"."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

_PART = re.compile(r"(\d+)\s*([smhd])")
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhd]\s*)+$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> timedelta:
    """Turn "8h", "30m", "1h30m" into a timedelta. A bare number is refused: `first_response
    = 8` meant eight hours to the one who wrote it, not eight seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(_error(value))
    if isinstance(value, float) and not math.isfinite(value):  # 1e400 is inf in TOML
        raise ValueError(_error(value))
    if isinstance(value, int | float):
        number = int(value) if float(value).is_integer() else value
        msg = (f"число {value!r} без единицы измерения: пишите \"{number}s\", \"{number}m\" "
               f"или \"{number}h\" (s — секунды, m — минуты, h — часы, d — дни)")
        raise ValueError(msg)
    if not isinstance(value, str) or not _WHOLE.match(value.lower()):
        raise ValueError(_error(value))
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(value.lower()))
    try:  # "99999999999d" is past what a timedelta holds: OverflowError, not ValueError
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(_error(value)) from None


def format_duration(delta: timedelta) -> str:
    """Write a timedelta back the way config spells it ("1h30m")."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _error(value: object) -> str:
    examples = '"90s", "30m", "8h", "2d"'
    return f"длительность {value!r} не распознана: пишите, например, {examples}"


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        msg = "длительность должна быть больше нуля"
        raise ValueError(msg)
    return value


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        msg = "длительность не может быть отрицательной"
        raise ValueError(msg)
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_not_negative)]
"""A pydantic field type that reads "8h"-style durations (zero allowed)."""

PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
"""A duration that must be longer than zero (deadlines, timeouts, intervals)."""
