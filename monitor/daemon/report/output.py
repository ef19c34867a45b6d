"""Make a report's files: Markdown, CSV, XLSX and PNG charts, in one folder."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.config import AppConfig
from monitor.config.municipalities import Municipalities
from monitor.daemon.report.build import Report, Scope, build_report
from monitor.daemon.report.period import Period
from monitor.daemon.report.render import markdown, write_csv
from monitor.daemon.report.tables import report_tables
from monitor.daemon.workcal import WorkingCalendar
from storage import Store

FORMATS = ("xlsx", "csv", "md", "png")
"""What `--format` accepts; the charts (png) go into the XLSX too when both are made."""


def parse_formats(text: str) -> list[str]:
    """«xlsx,csv» → ["xlsx", "csv"]; raise ValueError (in Russian) for an unknown format."""
    asked = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [part for part in asked if part not in FORMATS]
    if unknown or not asked:
        msg = (f"неизвестный формат: {', '.join(unknown)}; " if unknown else "формат не указан; "
               ) + f"допустимые: {','.join(FORMATS)}"
        raise ValueError(msg)
    return list(dict.fromkeys(asked))


def write_report(
    report: Report, folder: Path, zone: ZoneInfo, formats: Collection[str] = FORMATS
) -> list[Path]:
    """Write the report in `formats` into `folder` (created if needed); return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f"report_{report.period.slug}"
    if report.scope is not None:
        prefix += f"_{report.scope.municipality}"
    tables = report_tables(report, zone)
    made: list[Path] = []
    charts: list[Path] = []
    if "png" in formats or "xlsx" in formats:
        from monitor.daemon.report.charts import write_charts  # matplotlib: only when needed

        charts = write_charts(report, folder, prefix)
        if "png" in formats:
            made += charts
    if "xlsx" in formats:
        from monitor.daemon.report.xlsx import write_xlsx

        made.append(write_xlsx(report, tables, folder / f"{prefix}.xlsx", zone, charts))
    if "png" not in formats:
        for chart in charts:  # drawn only to go into the workbook
            chart.unlink()
    if "csv" in formats:
        made += [write_csv(table, folder, prefix) for table in tables]
    if "md" in formats:
        path = folder / f"{prefix}.md"
        path.write_text(markdown(report, tables), encoding="utf-8")
        made.append(path)
    return made


def themes(config: AppConfig) -> dict[str, str]:
    """Topic id → the ЦУР's own theme name (`im_topic` where the topic has one), else its name."""
    return {t.id: getattr(t, "im_topic", None) or t.name for t in config.topics}


def report_scope(config: AppConfig, municipality: str | None) -> Scope | None:
    """The scope of one municipality's report (None: the whole store); ValueError (Russian) for
    an id `[[municipalities]]` does not have."""
    if municipality is None:
        return None
    known = Municipalities(config)
    known.check(municipality)
    return Scope(municipality, known.name(municipality), known.sources_of(municipality))


async def make_report(
    store: Store, config: AppConfig, period: Period, as_of: datetime, folder: Path,
    formats: Collection[str] = FORMATS, scope: Scope | None = None,
) -> list[Path]:
    """Read the period from the store and write its files (drawing runs in a worker thread,
    so a daemon keeps polling meanwhile); of one municipality with `scope` (`report_scope`),
    else of the whole store with a table by municipality (when there are any)."""
    calendar = WorkingCalendar(config.calendar)
    names = {m.id: m.name for m in config.municipalities}
    report = await build_report(store, calendar, period, as_of, themes(config),
                                scope, names)
    return await asyncio.to_thread(write_report, report, folder, calendar.zone, formats)
