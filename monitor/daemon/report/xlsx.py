"""The report as an XLSX workbook: one sheet per table, formatted for printing, and a sheet
with the charts."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.drawing.image import Image
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from monitor.daemon.report.build import Report
from monitor.daemon.report.render import hours
from monitor.daemon.report.tables import Cell, Kind, Table

SHEETS = {
    "summary": "Сводка", "networks": "Сети", "sources": "Источники", "groups": "Группы",
    "themes": "Темы ЦУР", "organisations": "Организации", "settlements": "Населённые пункты",
    "on_time": "В срок по организациям", "events": "События", "overdue": "Просроченные",
    "dismissed": "Отклонённые", "group_x_place": "Пункты × группы",
    "top": "Главные проблемы", "spikes": "Всплески",
}
"""Sheet name of each table (Excel allows 31 characters)."""
CHART_SHEET = "Графики"
HEADER_ROW = 3
"""Row 1 is the table's title, row 2 the period, row 3 the column headings."""
_FORMATS: dict[Kind, str] = {
    "int": "0", "delta": "+0;-0;0", "share": "0.0%", "pp": "+0.0%;-0.0%;0.0%",
    "hours": "0.0", "dhours": "+0.0;-0.0;0.0", "time": "DD.MM.YYYY HH:MM", "number": "0.00",
}
_THIN = Side(style="thin", color="999999")
_HEAD_FILL = PatternFill("solid", fgColor="DDE5F0")


def excel_value(kind: Kind, value: Cell, zone: ZoneInfo) -> str | int | float | datetime | None:
    """A cell as Excel keeps it: hours as numbers, local times without a zone (Excel has none),
    shares as fractions (shown in %)."""
    if isinstance(value, timedelta):
        return hours(value)
    if isinstance(value, datetime):
        return value.astimezone(zone).replace(tzinfo=None)
    return value


def write_xlsx(
    report: Report, tables: list[Table], path: Path, zone: ZoneInfo, charts: list[Path]
) -> Path:
    """Write the workbook; `charts` (PNG files) go on a sheet of their own."""
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for table in tables:
        _sheet(book.create_sheet(SHEETS[table.key]), table, report, zone)
    if charts:
        sheet = book.create_sheet(CHART_SHEET)
        sheet["A1"] = f"Графики: {report.period.label}"
        sheet["A1"].font = Font(bold=True, size=13)
        row = 3
        for chart in charts:
            image = Image(str(chart))
            sheet.add_image(image, f"A{row}")
            row += int(image.height / 20) + 2
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.fitToWidth = 1
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
    book.save(path)
    return path


def _sheet(sheet: Worksheet, table: Table, report: Report, zone: ZoneInfo) -> None:
    sheet["A1"] = table.title
    sheet["A1"].font = Font(bold=True, size=13)
    sheet["A2"] = (f"{report.period.label} ({report.period.first:%d.%m.%Y}–"
                   f"{report.period.last:%d.%m.%Y}); составлен {report.made_at:%d.%m.%Y %H:%M}")
    widths = [len(title) for title, _ in table.columns]
    for c, (title, _) in enumerate(table.columns, start=1):
        cell = sheet.cell(HEADER_ROW, c, title)
        cell.font = Font(bold=True)
        cell.fill = _HEAD_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cell.border = Border(top=_THIN, bottom=_THIN, left=_THIN, right=_THIN)
    for r, row in enumerate(table.rows):
        for c, value in enumerate(row):
            kind = table.kind(r, c)
            cell = sheet.cell(HEADER_ROW + 1 + r, c + 1, excel_value(kind, value, zone))
            if kind in _FORMATS and not isinstance(value, str):
                cell.number_format = _FORMATS[kind]
            cell.border = Border(bottom=_THIN)
            widths[c] = max(widths[c], min(len(str(value or "")), 60))
    for c, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(c)].width = min(max(width, 8), 50) + 2
    sheet.freeze_panes = sheet.cell(HEADER_ROW + 1, 2)
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    sheet.page_setup.orientation = "landscape" if len(table.columns) > 5 else "portrait"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.gridLines = True
    sheet.oddFooter.center.text = "&P / &N"
