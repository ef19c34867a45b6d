"""Make a report's files: Markdown, CSV, XLSX and PNG charts, in one folder."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable, Collection
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.config import AppConfig
from monitor.config.municipalities import Municipalities
from monitor.daemon.report.build import Report, Scope, build_report
from monitor.daemon.report.figures import PeriodFigures
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


Draw = Callable[[Report, Path, str], list[Path]]
"""Draws a report's charts into a folder under a file prefix; returns the PNG files."""


def draw_here(report: Report, folder: Path, prefix: str) -> list[Path]:
    """Draw the charts in this thread (matplotlib imported only when a chart is asked for)."""
    from monitor.daemon.report.charts import write_charts

    return write_charts(report, folder, prefix)


def write_report(
    report: Report, folder: Path, zone: ZoneInfo, formats: Collection[str] = FORMATS,
    draw: Draw = draw_here,
) -> list[Path]:
    """Write the report in `formats` into `folder` (created if needed); return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f"report_{report.period.slug}"
    if report.scope is not None:
        prefix += f"_{report.scope.municipality}"
    tables = report_tables(report, zone)
    made: list[Path] = []
    charts: list[Path] = []
    if "xlsx" in formats:
        from monitor.daemon.report.xlsx import write_xlsx

        def drawn() -> list[Path]:  # after the tables' sheets: a worker draws meanwhile
            charts.extend(draw(report, folder, prefix))
            return charts

        made.append(write_xlsx(report, tables, folder / f"{prefix}.xlsx", zone, drawn))
    elif "png" in formats:
        charts = draw(report, folder, prefix)
    if "png" in formats:
        made[:0] = charts
    else:
        for chart in charts:  # drawn only to go into the workbook
            chart.unlink()
    if "csv" in formats:
        made += [write_csv(table, folder, prefix) for table in tables]
    if "md" in formats:
        path = folder / f"{prefix}.md"
        path.write_text(markdown(report, tables), encoding="utf-8")
        made.append(path)
    return made


class ChartWorker:
    """Draws the charts in a process of its own, started before the store is read so that its
    imports (matplotlib's) and then its drawing run beside the reading and the workbook on
    another core: for `monitor report`, a command of its own (a daemon draws in its thread).
    `spawn`, not fork: the command has threads. Use as a context manager."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_import_charts)
        self._pool.submit(int)  # start the process (and its imports) now

    def __enter__(self) -> ChartWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(cancel_futures=True)

    def __call__(self, report: Report, folder: Path, prefix: str) -> list[Path]:
        # The charts read the period's counters only: the long lists stay here.
        slim = replace(report, now=_counters(report.now), before=_counters(report.before),
                       spikes=[], spikes_before=[])
        return self._pool.submit(draw_here, slim, folder, prefix).result()


def _counters(figures: PeriodFigures) -> PeriodFigures:
    return replace(figures, dismissed=[], late=[], first_working=[], first_calendar=[])


def _import_charts() -> None:
    import monitor.daemon.report.charts  # noqa: F401  (imported while the parent reads)


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
    formats: Collection[str] = FORMATS, scope: Scope | None = None, draw: Draw = draw_here,
) -> list[Path]:
    """Read the period from the store and write its files (in a worker thread, so a daemon
    keeps polling meanwhile; the charts where `draw` draws them); of one municipality with
    `scope` (`report_scope`), else of the whole store with a table by municipality (when there
    are any)."""
    calendar = WorkingCalendar(config.calendar)
    names = {m.id: m.name for m in config.municipalities}
    report = await build_report(store, calendar, period, as_of, themes(config),
                                scope, names)
    return await asyncio.to_thread(write_report, report, folder, calendar.zone, formats, draw)
