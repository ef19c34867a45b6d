"""`monitor calendar`: working days and hours per month under the configured calendar."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

from monitor.config import AppConfig
from monitor.daemon.workcal import MonthNorm, WorkingCalendar, known_transfer_years

MONTHS = ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь",
          "октябрь", "ноябрь", "декабрь")


def hours(amount: timedelta) -> int | float:
    """Working time in hours: a whole number when it is whole, else to two decimals."""
    value = round(amount.total_seconds() / 3600, 2)
    return int(value) if value == int(value) else value


def calendar_command(config: AppConfig, year: int, output: str) -> int:
    """Print the year's months (text table or JSON list); 0 on success."""
    norms = WorkingCalendar(config.calendar).month_norms(year)
    known = known_transfer_years()
    if config.calendar.russian_holidays and known and year > max(known):
        print(f"Внимание: переносы выходных на {year} год пакету holidays ещё не известны "
              f"(последний известный год — {max(known)}); обновите пакет holidays или "
              "впишите переносы в [calendar] days_off и working_days.", file=sys.stderr)
    if output == "json":
        print(json.dumps([{"month": n.month, "working_days": n.working_days,
                           "working_hours": hours(n.working_time)} for n in norms],
                         ensure_ascii=False))
        return 0
    print(_table(year, norms))
    return 0


def _table(year: int, norms: list[MonthNorm]) -> str:
    lines = [f"Рабочее время {year} года по [calendar]",
             f"{'месяц':<10} {'рабочих дней':>13} {'рабочих часов':>14}"]
    for norm in norms:
        lines.append(f"{MONTHS[norm.month - 1]:<10} {norm.working_days:>13} "
                     f"{hours(norm.working_time):>14}")
    days = sum(n.working_days for n in norms)
    total = sum((n.working_time for n in norms), timedelta())
    lines.append(f"{'год':<10} {days:>13} {hours(total):>14}")
    return "\n".join(lines)
