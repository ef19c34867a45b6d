"""The report as an XLSX workbook (xlsxwriter, written row by row in constant memory): one
sheet per table, formatted for printing on A4, and a sheet with the charts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import xlsxwriter
from PIL import Image as PilImage

from monitor.daemon.report.build import Report
from monitor.daemon.report.render import hours
from monitor.daemon.report.tables import Cell, Kind, Table

SHEETS = {
    "summary": "Сводка", "networks": "Сети", "sources": "Источники", "groups": "Группы",
    "themes": "Темы ЦУР", "organisations": "Организации", "settlements": "Населённые пункты",
    "on_time": "В срок по организациям", "events": "События", "overdue": "Просроченные",
    "dismissed": "Отклонённые", "group_x_place": "Пункты × группы",
    "group_x_place_change": "Пункты × группы, изменение",
    "top": "Главные проблемы", "spikes": "Всплески", "municipalities": "Муниципалитеты",
}
"""Sheet name of each table (Excel allows 31 characters)."""
CHART_SHEET = "Графики"
HEADER_ROW = 2
"""Zero-based: row 0 is the table's title, row 1 the period, row 2 the column headings."""
_FORMATS: dict[Kind, str] = {
    "int": "0", "delta": "+0;-0;0", "share": "0.0%", "pp": "+0.0%;-0.0%;0.0%",
    "hours": "0.0", "dhours": "+0.0;-0.0;0.0", "time": "DD.MM.YYYY HH:MM", "number": "0.00",
}
_A4 = 9


def excel_value(value: Cell, zone: ZoneInfo) -> str | int | float | datetime | None:
    """A cell as Excel keeps it: hours as numbers, local times without a zone (Excel has none),
    shares as fractions (shown in %)."""
    if isinstance(value, timedelta):
        return hours(value)
    if isinstance(value, datetime):
        return value.astimezone(zone).replace(tzinfo=None)
    return value


def write_xlsx(
    report: Report, tables: list[Table], path: Path, zone: ZoneInfo,
    charts: Callable[[], list[Path]],
) -> Path:
    """Write the workbook; the PNG files `charts` gives, asked for once the tables' sheets are
    written (they may be drawn meanwhile), go on a sheet of their own."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True,
                                           "strings_to_numbers": False,
                                           "strings_to_urls": False})
    styles = _Styles(book)
    subtitle = (f"{report.period.label}{report.whose} ({report.period.first:%d.%m.%Y}–"
                f"{report.period.last:%d.%m.%Y}); составлен {report.made_at:%d.%m.%Y %H:%M}")
    for table in tables:
        _sheet(book.add_worksheet(SHEETS[table.key]), table, subtitle, zone, styles)
    pictures = charts()
    if pictures:
        sheet = book.add_worksheet(CHART_SHEET)
        sheet.write(0, 0, f"Графики: {report.period.label}", styles.title)
        row = 2
        for chart in pictures:
            sheet.insert_image(row, 0, str(chart), {"x_scale": 0.8, "y_scale": 0.8})
            with PilImage.open(chart) as image:
                row += int(image.height * 0.8 / 20) + 2
        _print_setup(sheet, landscape=True)
    book.close()
    return path


class _Styles:
    """The workbook's formats, made once."""

    def __init__(self, book: Any) -> None:
        self.title = book.add_format({"bold": True, "font_size": 13})
        self.head = book.add_format({"bold": True, "bg_color": "#DDE5F0", "border": 1,
                                     "text_wrap": True, "valign": "top"})
        self.text = book.add_format({"bottom": 1, "bottom_color": "#999999"})
        self.kinds = {kind: book.add_format({"num_format": fmt, "bottom": 1,
                                             "bottom_color": "#999999"})
                      for kind, fmt in _FORMATS.items()}


def _sheet(sheet: Any, table: Table, subtitle: str, zone: ZoneInfo, styles: _Styles) -> None:
    sheet.write(0, 0, table.title, styles.title)
    sheet.write(1, 0, subtitle)
    widths = [len(title) for title, _ in table.columns]
    for c, (title, _) in enumerate(table.columns):
        sheet.write(HEADER_ROW, c, title, styles.head)
    for r, row in enumerate(table.rows):
        line = HEADER_ROW + 1 + r
        for c, value in enumerate(row):
            shown = excel_value(value, zone)
            if shown is None or shown == "":
                sheet.write_blank(line, c, None, styles.text)
            elif isinstance(shown, str):
                sheet.write_string(line, c, shown, styles.text)
                if len(shown) > widths[c]:
                    widths[c] = min(len(shown), 60)
            elif isinstance(shown, datetime):
                sheet.write_datetime(line, c, shown, styles.kinds["time"])
            else:
                sheet.write_number(line, c, shown, styles.kinds.get(table.kind(r, c),
                                                                    styles.text))
    for c, width in enumerate(widths):
        wide = 17 if table.columns[c][1] == "time" else width
        sheet.set_column(c, c, min(max(wide, 8), 50) + 2)
    sheet.freeze_panes(HEADER_ROW + 1, 1)
    sheet.repeat_rows(HEADER_ROW)
    _print_setup(sheet, landscape=len(table.columns) > 5)


def _print_setup(sheet: Any, landscape: bool) -> None:
    if landscape:
        sheet.set_landscape()
    else:
        sheet.set_portrait()
    sheet.set_paper(_A4)
    sheet.fit_to_pages(1, 0)
    sheet.hide_gridlines(0)
    sheet.set_footer("&C&P / &N")
