"""Every query of docs/report.md, run on the golden store, gives the report's own figures."""

from __future__ import annotations

import re
import sqlite3
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from monitor.config.settings import CalendarConfig
from monitor.daemon.report.build import Report, build_report
from monitor.daemon.report.figures import percentile
from monitor.daemon.report.period import parse_period
from monitor.daemon.report.tables import top_table
from monitor.daemon.workcal import WorkingCalendar
from storage.postgresql.adapter import translate
from storage.postgresql.store import PostgresStore
from storage.sql.timestamps import to_db
from tests.postgres import fresh_schema
from tests.report_store import AS_OF, ZONE, fill_golden, golden_store

DOC = Path(__file__).resolve().parents[1] / "docs" / "report.md"
_QUERY = re.compile(r"<!-- query: (\w+) -->\n```sql\n(.*?)```", re.DOTALL)
QUERIES = dict(_QUERY.findall(DOC.read_text(encoding="utf-8")))
PERIOD = parse_period("2025Q4")


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Report]:
    import asyncio

    async def make() -> tuple[Path, Report]:
        path = tmp_path_factory.mktemp("golden") / "m.db"
        store = await golden_store(path)
        try:
            report = await build_report(store, WorkingCalendar(CalendarConfig()), PERIOD, AS_OF)
        finally:
            await store.close()
        return path, report

    return asyncio.run(make())


def run(golden: tuple[Path, Report], name: str) -> list[tuple[Any, ...]]:
    start, end = PERIOD.bounds(ZONE)
    params = {"start": to_db(start), "end": to_db(end), "as_of": to_db(AS_OF),
              "first": PERIOD.first.isoformat(), "last": PERIOD.last.isoformat()}
    with sqlite3.connect(golden[0]) as conn:
        return conn.execute(QUERIES[name], params).fetchall()


def test_every_figure_has_a_query() -> None:
    assert set(QUERIES) == {
        "messages", "by_group", "by_theme", "by_organisation", "by_settlement", "dismissed",
        "answered", "on_time", "overdue", "first_response", "interim", "reopened", "events",
        "on_time_by_organisation", "group_x_settlement", "top_problems", "spikes"}


def test_counts(golden: tuple[Path, Report]) -> None:
    now = golden[1].now
    assert {(n, s): c for n, s, c in run(golden, "messages")} == dict(now.by_source)
    assert dict(run(golden, "by_group")) == dict(now.by_group)
    assert dict(run(golden, "by_theme")) == dict(now.by_theme)
    assert dict(run(golden, "by_organisation")) == dict(now.by_organisation)
    assert dict(run(golden, "by_settlement")) == dict(now.by_settlement)
    assert [r[0] for r in run(golden, "dismissed")] == [i.id for i in now.dismissed]
    assert run(golden, "answered") == [(now.considered, now.answered)]
    assert run(golden, "on_time") == [(now.pending, now.on_time_base, now.on_time)]
    assert run(golden, "reopened") == [(now.reopened_incidents,)]
    assert dict(run(golden, "events")) == dict(now.events)
    assert run(golden, "interim") == [(now.interim_incidents, now.interim_first,
                                       now.final_only)]
    assert {o: (a, b) for o, a, b in run(golden, "on_time_by_organisation")} == (
        now.on_time_by_organisation)
    assert {(g, p): n for p, g, n in run(golden, "group_x_settlement")} == dict(
        now.by_group_settlement)


def test_times_lateness_problems_and_spikes(golden: tuple[Path, Report]) -> None:
    report = golden[1]
    now = report.now
    hours = timedelta(hours=1)
    assert run(golden, "first_response") == [(
        round(percentile(now.first_calendar, 0.5) / hours, 1),  # type: ignore[operator]
        round(percentile(now.first_calendar, 0.9) / hours, 1))]  # type: ignore[operator]
    assert [(r[0], r[1], r[3]) for r in run(golden, "overdue")] == [
        (x.incident.id, x.incident.organisation, round(x.late_calendar / hours, 1))
        for x in now.late]
    top = top_table(report)
    assert run(golden, "top_problems") == [tuple(row[:4]) for row in top.rows]
    assert run(golden, "spikes") == [(f"{s.week:%Y-%m-%d}", s.group, s.settlement, s.incidents,
                                      s.baseline) for s in report.spikes]


_PG_QUERY = re.compile(r"<!-- query-postgresql: (\w+) -->\n```sql\n(.*?)```", re.DOTALL)
PG_QUERIES = {**QUERIES, **dict(_PG_QUERY.findall(DOC.read_text(encoding="utf-8")))}
"""PostgreSQL's text of each query: its own where docs/report.md gives one, else the same."""


def _plain(value: Any) -> Any:
    """A value as SQLite gives it: PostgreSQL's numerics as floats, its dates as text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


async def _run_on_postgresql() -> dict[str, list[tuple[Any, ...]]]:
    start, end = PERIOD.bounds(ZONE)
    # asyncpg binds by type: the span as the stored text, the moment and dates as themselves.
    params = {"start": to_db(start), "end": to_db(end), "as_of": AS_OF,
              "first": PERIOD.first, "last": PERIOD.last}
    async with fresh_schema() as dsn:
        store = await PostgresStore.open(dsn)
        try:
            await fill_golden(store)
        finally:
            await store.close()
        conn = await asyncpg.connect(dsn)
        try:
            found = {}
            for name, sql in PG_QUERIES.items():
                text, names = translate(sql)
                rows = await conn.fetch(text, *(params[n] for n in names))
                found[name] = [tuple(_plain(v) for v in row) for row in rows]
            return found
        finally:
            await conn.close()


def test_the_postgresql_queries_give_the_same_figures(golden: tuple[Path, Report]) -> None:
    import asyncio

    # Each SQLite answer is checked against the report's figures above; PostgreSQL's, on the
    # same golden store, must be equal to it.
    found = asyncio.run(_run_on_postgresql())
    assert {name: run(golden, name) for name in QUERIES} == found
