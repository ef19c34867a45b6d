"""Report periods: a quarter, a month or a span of dates, as staff write them, in local time."""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS = 366
_QUARTER = re.compile(r"^(\d{4})-?[QqКк]([1-4])$")
_QUARTER_ANY = re.compile(r"^(\d{4})-?[QqКк](\d+)$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_SPAN = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
_MONTHS = ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август",
           "сентябрь", "октябрь", "ноябрь", "декабрь")
_ROMAN = ("I", "II", "III", "IV")
HINT = "ожидалось 2026Q3, 2026-09 или 2026-07-01..2026-09-30"


class PeriodError(ValueError):
    """A period staff wrote that cannot be read (the message is in Russian)."""


@dataclass(frozen=True, slots=True)
class Period:
    """Local dates `first`..`last` (both included) and what kind of period they are."""

    first: date
    last: date
    kind: str = "span"
    """quarter, month or span: says what the previous period is."""

    @property
    def label(self) -> str:
        """How the report names it: «III квартал 2026», «сентябрь 2026», «01.07.2026–…»."""
        if self.kind == "quarter":
            return f"{_ROMAN[(self.first.month - 1) // 3]} квартал {self.first.year}"
        if self.kind == "month":
            return f"{_MONTHS[self.first.month - 1]} {self.first.year}"
        return f"{self.first:%d.%m.%Y}–{self.last:%d.%m.%Y}"

    @property
    def slug(self) -> str:
        """A file-name part: 2026Q3, 2026-09, 2026-07-01_2026-09-30."""
        if self.kind == "quarter":
            return f"{self.first.year}Q{(self.first.month - 1) // 3 + 1}"
        if self.kind == "month":
            return f"{self.first:%Y-%m}"
        return f"{self.first:%Y-%m-%d}_{self.last:%Y-%m-%d}"

    @property
    def days(self) -> int:
        """Its length in days."""
        return (self.last - self.first).days + 1

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """Local midnight of the first day and of the day after the last: [start, end)."""
        return (datetime.combine(self.first, time(), zone),
                datetime.combine(self.last + timedelta(days=1), time(), zone))

    def previous(self) -> Period:
        """The period just before, of the same kind (a span: of the same length)."""
        if self.kind == "quarter":
            return quarter_of(self.first - timedelta(days=1))
        if self.kind == "month":
            last = self.first - timedelta(days=1)
            return Period(last.replace(day=1), last, "month")
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))


def quarter_of(day: date) -> Period:
    """The calendar quarter a date falls in."""
    first = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    after = date(first.year + (first.month == 10), (first.month + 2) % 12 + 1, 1)
    return Period(first, after - timedelta(days=1), "quarter")


def parse_period(text: str) -> Period:
    """Read «2026Q3», «2026-09» or «2026-07-01..2026-09-30»; raise PeriodError otherwise."""
    value = text.strip()
    if not value:
        raise PeriodError(f"период не указан: {HINT}")
    if len(value) > 40:
        raise PeriodError(f"период слишком длинный ({len(value)} символов): {HINT}")
    if match := _QUARTER.match(value):
        return quarter_of(date(_year(match.group(1)), int(match.group(2)) * 3, 1))
    if match := _QUARTER_ANY.match(value):
        raise PeriodError(f"квартала {match.group(2)} нет: кварталы 1–4 ({value!r})")
    if match := _MONTH.match(value):
        month = int(match.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"месяца {month} нет: месяцы 01–12 ({value!r})")
        year = _year(match.group(1))
        return Period(date(year, month, 1), date(year, month, monthrange(year, month)[1]),
                      "month")
    if match := _SPAN.match(value):
        first, last = _date(match.group(1)), _date(match.group(2))
        if last < first:
            raise PeriodError(f"конец периода {last:%d.%m.%Y} раньше начала {first:%d.%m.%Y}")
        if (last - first).days + 1 > MAX_DAYS:
            raise PeriodError(f"период длиннее {MAX_DAYS} дней: разбейте его на кварталы")
        return Period(first, last)
    raise PeriodError(f"не понимаю период {value!r}: {HINT}")


def _year(text: str) -> int:
    year = int(text)
    if not 2000 <= year <= 2100:
        raise PeriodError(f"год {year} вне 2000–2100")
    return year


def _date(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"нет такой даты: {text}") from None
    _year(str(day.year))
    return day
