"""`monitor report`: the quarterly report to the regional centre as XLSX, CSV, Markdown and
PNG charts in a folder."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from pathlib import Path

from common.clock import Clock
from monitor.cli.database import CommandFailed, existing_store
from monitor.config import AppConfig
from monitor.daemon.report.build import whose
from monitor.daemon.report.output import (
    ChartWorker,
    draw_here,
    make_report,
    parse_formats,
    report_scope,
)
from monitor.daemon.report.period import PeriodError, parse_period


async def report_command(
    config: AppConfig, clock: Clock, period_text: str, out: str, formats_text: str,
    municipality: str | None = None,
) -> int:
    """Write the report of a period (of one municipality, if given) into `out`; print the files
    made; return the exit code."""
    try:
        period = parse_period(period_text)
        formats = parse_formats(formats_text)
        scope = report_scope(config, municipality)
    except (PeriodError, ValueError) as exc:
        print(f"Ошибка: {exc}", file=sys.stderr)
        return 2
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        print(f"Ошибка: {folder} — не папка", file=sys.stderr)
        return 2
    # A command of its own making one report: the 10⁵ rows it reads make no reference cycles,
    # so the cycle collector's repeated passes over them (a tenth of the CPU time) wait till it
    # ends.
    gc.disable()
    try:
        async with existing_store(config.store_location(os.environ)) as store:
            with contextlib.ExitStack() as stack:
                # The charts are drawn in a process of their own, its imports begun now.
                draw = (stack.enter_context(ChartWorker()) if {"xlsx", "png"} & set(formats)
                        else draw_here)
                files = await make_report(store, config, period, clock.now(), folder, formats,
                                          scope, draw)
    except CommandFailed as exc:
        print(exc.message, file=sys.stderr)
        return exc.code
    except OSError as exc:
        print(f"Ошибка: файлы отчёта в {folder} не записаны: {exc}", file=sys.stderr)
        return 1
    finally:
        gc.enable()
    print(f"Отчёт за {period.label}{whose(scope)}: {len(files)} файл(ов) в {folder}")
    for path in files:
        print(f"  {path.name}")
    return 0
