"""The report as Markdown (a summary to read) and CSV (one file per table, for spreadsheets)."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

from monitor.daemon.report.build import Report
from monitor.daemon.report.spikes import BASELINE_WEEKS, FACTOR, MIN_INCIDENTS
from monitor.daemon.report.tables import Cell, Kind, Table

_HOUR = timedelta(hours=1)
MD_ROWS = 50
"""The Markdown summary shows this many rows of a list; the XLSX and CSV hold them all."""


def hours(value: timedelta) -> float:
    """A duration in hours, to one decimal."""
    return round(value / _HOUR, 1)


def text_cell(kind: Kind, value: Cell, decimal: str = ",") -> str:
    """A cell as text: shares in %, hours with one decimal, differences signed."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return f"{value:%d.%m.%Y %H:%M}"
    if isinstance(value, timedelta):
        number: float = hours(value)
        sign = "+" if kind == "dhours" and number > 0 else ""
        return f"{sign}{number:.1f}".replace(".", decimal)
    if isinstance(value, str):
        return value
    if kind in ("share", "pp"):
        sign = "+" if kind == "pp" and value > 0 else ""
        unit = " %" if kind == "share" else " п.п."
        return f"{sign}{value * 100:.1f}".replace(".", decimal) + unit
    if kind == "delta":
        return f"{value:+d}" if isinstance(value, int) else f"{value:+.1f}"
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", decimal)
    return str(value)


def _md_table(table: Table) -> list[str]:
    lines = [f"## {table.title}", ""]
    if not table.rows:
        return [*lines, "Нет данных.", ""]
    lines.append("| " + " | ".join(title for title, _ in table.columns) + " |")
    lines.append("|" + "|".join("---" if kind == "text" else "---:"
                                for _, kind in table.columns) + "|")
    for r, row in enumerate(table.rows[:MD_ROWS]):
        cells = [text_cell(table.kind(r, c), value).replace("|", "\\|").replace("\n", " ")
                 for c, value in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    if len(table.rows) > MD_ROWS:
        lines += ["", f"Показаны первые {MD_ROWS} строк из {len(table.rows)}; полностью — "
                      "в XLSX и CSV."]
    return [*lines, ""]


def markdown(report: Report, tables: list[Table]) -> str:
    """The Markdown summary: header, method notes, every table."""
    lines = [
        f"# Отчёт МЦУ о работе с сообщениями жителей: {report.period.label}{report.whose}", "",
        f"Период: {report.period.first:%d.%m.%Y}–{report.period.last:%d.%m.%Y}; сравнение с "
        f"периодом {report.previous.label}. Составлен {report.made_at:%d.%m.%Y %H:%M}.", "",
        "Инциденты относятся к периоду по дате регистрации. Отклонённые как не требующие ответа "
        "не входят в доли ответов; ждущие ответа, чей срок ещё не наступил, не входят в долю "
        "ответов в срок. Первый ответ — промежуточный или окончательный, что раньше. "
        "Процентили — по ближайшему рангу. Всплеск: за неделю в населённом пункте по группе "
        f"не меньше {MIN_INCIDENTS} инцидентов и не меньше чем в {FACTOR:g} раза больше "
        f"среднего за {BASELINE_WEEKS} предыдущих недель (но не меньше 1). Определения — "
        "docs/report.md.", "",
    ]
    for table in tables:
        lines += _md_table(table)
    return "\n".join(lines)


def csv_value(kind: Kind, value: Cell) -> str:
    """A cell for CSV: numbers with a dot, shares in percent, hours as a number."""
    if value is None:
        return ""
    if isinstance(value, timedelta):
        return f"{hours(value):.1f}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    if kind in ("share", "pp") and isinstance(value, int | float):
        return f"{value * 100:.1f}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def write_csv(table: Table, folder: Path, prefix: str) -> Path:
    """One table as a CSV file (UTF-8 with BOM, so that Excel reads the Cyrillic)."""
    path = folder / f"{prefix}_{table.key}.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([title for title, _ in table.columns])
        for r, row in enumerate(table.rows):
            writer.writerow([csv_value(table.kind(r, c), v) for c, v in enumerate(row)])
    return path
