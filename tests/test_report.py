"""The quarterly report on the golden store (tests/report_store.py): exact figures, the files
and the XLSX read back cell by cell."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from monitor.config.settings import CalendarConfig
from monitor.daemon.report.build import Report, build_report
from monitor.daemon.report.figures import percentile
from monitor.daemon.report.output import ChartWorker, write_report
from monitor.daemon.report.period import parse_period
from monitor.daemon.report.tables import report_tables
from monitor.daemon.workcal import WorkingCalendar
from tests.report_store import AS_OF, BACKENDS, ZONE, golden_on

H = timedelta(hours=1)
THEMES = {"water": "Нет воды (тема ЦУР)"}


@pytest.fixture(params=BACKENDS)
async def report(request: pytest.FixtureRequest, tmp_path: Path) -> Report:
    """The golden report, made from the golden store on each backend: the same figures."""
    async with golden_on(request.param, tmp_path / "m.db") as store:
        return await build_report(store, WorkingCalendar(CalendarConfig()),
                                  parse_period("2025Q4"), AS_OF, THEMES)


def test_messages_by_network_and_source(report: Report) -> None:
    now, before = report.now, report.before
    assert (now.messages, before.messages) == (12, 2)
    assert dict(now.by_network) == {"telegram_web": 6, "vk": 6}
    assert dict(now.by_source) == {("telegram_web", "news"): 6, ("vk", "vk_kedr"): 6}


def test_incidents_by_group_theme_organisation_and_settlement(report: Report) -> None:
    now = report.now
    assert now.incidents == 11
    assert dict(now.by_group) == {"ЖКХ": 8, "Дороги": 1, "Благоустройство": 2}
    assert dict(now.by_theme) == {"Нет воды (тема ЦУР)": 8, "Ямы": 1, "Мусор": 2}
    assert dict(now.by_organisation) == {"Водоканал": 8, "УГХ": 1, "УБ": 2}
    assert dict(now.by_settlement) == {"Кедровое": 7, "Сысерть": 2, "Арамиль": 1,
                                       "не определён": 1}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_theme_stored_with_an_incident_comes_first(backend: str, tmp_path: Path) -> None:
    async with golden_on(backend, tmp_path / "m.db") as store:
        async with store.database.transaction() as tx:
            await tx.execute("UPDATE incidents SET im_topic = ? WHERE topic = ?",
                             ("Навалы мусора", "litter"))
            await tx.execute("UPDATE incidents SET im_topic = ? WHERE url = ?",
                             ("Аварии в системе водоснабжения", "https://example.org/news/a"))
        report = await build_report(store, WorkingCalendar(CalendarConfig()),
                                    parse_period("2025Q4"), AS_OF, THEMES)
    assert dict(report.now.by_theme) == {"Нет воды (тема ЦУР)": 7, "Ямы": 1, "Навалы мусора": 2,
                                         "Аварии в системе водоснабжения": 1}


def test_answered_and_on_time_shares(report: Report) -> None:
    now, before = report.now, report.before
    assert [i.url for i in now.dismissed] == ["https://example.org/news/e"]
    assert (now.considered, now.answered, now.responded) == (10, 8, 8)
    assert (now.pending, now.on_time, now.on_time_base) == (1, 7, 9)
    assert now.on_time_by_organisation == {"Водоканал": (7, 8), "УГХ": (0, 1)}
    assert (before.considered, before.answered, before.on_time, before.on_time_base) == (
        2, 2, 1, 2)


def test_first_response_on_the_working_and_the_calendar_clock(report: Report) -> None:
    now, before = report.now, report.before
    minutes = [timedelta(minutes=m) for m in (20, 30, 40, 50, 60)]
    assert now.first_working == [*minutes, 1.5 * H, 7 * H, 9 * H]
    assert now.first_calendar == [*minutes, 23 * H, 25 * H, 89.5 * H]
    assert percentile(now.first_working, 0.5) == timedelta(minutes=50)
    assert percentile(now.first_working, 0.9) == 9 * H
    assert percentile(now.first_calendar, 0.9) == 89.5 * H
    assert before.first_working == [2 * H, 16 * H]
    assert before.first_calendar == [2 * H, 48 * H]


def test_interim_reopened_and_every_event_kind(report: Report) -> None:
    now = report.now
    assert (now.interim_incidents, now.interim_first, now.final_only) == (1, 1, 7)
    assert now.reopened_incidents == 1
    assert dict(now.events) == {"opened": 11, "answered": 9, "interim": 1, "dismissed": 1,
                                "taken": 1, "reopened": 1, "satisfied": 1}


def test_the_overdue_list_with_lateness_and_route(report: Report) -> None:
    late = [(x.incident.url[-1], x.late_calendar, x.late_working, x.incident.organisation,
             x.incident.assignee) for x in report.now.late]
    assert late == [("d", 311 * H, 7 * H, "Водоканал", None),
                    ("c", 16 * H, 1 * H, "УГХ", "Иванова")]


def test_the_picture_of_problems_and_the_spike(report: Report) -> None:
    now = report.now
    assert now.by_group_settlement[("ЖКХ", "Кедровое")] == 7
    assert now.by_problem.most_common(1) == [(("ЖКХ", "Нет воды (тема ЦУР)", "Кедровое"), 7)]
    assert [(s.group, s.settlement, s.week, s.incidents, s.baseline) for s in report.spikes] == [
        ("ЖКХ", "Кедровое", date(2025, 12, 8), 5, 0.25)]
    assert report.spikes_before == []


def test_every_summary_figure_has_its_change(report: Report) -> None:
    summary = {row[0]: row[1:] for row in report_tables(report, ZONE)[0].rows}
    assert summary["Инцидентов зарегистрировано"] == [11, 2, 9]
    assert summary["Доля ответов в срок"] == pytest.approx([7 / 9, 0.5, 7 / 9 - 0.5])
    assert summary["Первый ответ: медиана, рабочих часов"] == [
        timedelta(minutes=50), 2 * H, timedelta(minutes=50) - 2 * H]
    assert summary["Всплесков (недель группа × пункт)"] == [1, 0, 1]


def test_the_xlsx_read_back_cell_by_cell(report: Report, tmp_path: Path) -> None:
    files = write_report(report, tmp_path / "out", ZONE, ["xlsx", "png"])
    names = sorted(p.name for p in files)
    assert names == ["report_2025Q4.xlsx", "report_2025Q4_heatmap.png",
                     "report_2025Q4_on_time.png", "report_2025Q4_weeks.png"]
    book = load_workbook(tmp_path / "out" / "report_2025Q4.xlsx")
    assert book.sheetnames[0] == "Сводка" and book.sheetnames[-1] == "Графики"
    summary = book["Сводка"]
    assert summary["A1"].value == "Сводка"
    assert [c.value for c in summary[3]] == ["Показатель", "IV квартал 2025",
                                             "III квартал 2025", "Изменение"]
    assert [c.value for c in summary[4]] == ["Сообщений жителей получено", 12, 2, 10]
    on_time = next(r for r in summary.iter_rows(min_row=4) if r[0].value == "Доля ответов в срок")
    assert on_time[1].value == pytest.approx(7 / 9) and on_time[1].number_format == "0.0%"
    assert on_time[3].number_format == "+0.0%;-0.0%;0.0%"
    median = next(r for r in summary.iter_rows(min_row=4)
                  if r[0].value == "Первый ответ: 90-й процентиль, календарных часов")
    assert [c.value for c in median[1:]] == [89.5, 48.0, 41.5]
    overdue = book["Просроченные"]
    assert [c.value for c in overdue[4]][3:8] == ["нет ответа", 311.0, 7.0, "Водоканал", None]
    assert overdue.cell(4, 3).value.isoformat() == "2025-12-30T10:00:00"
    assert overdue.print_title_rows == "$3:$3"
    assert overdue.page_setup.orientation == "landscape"
    places = book["Пункты × группы"]
    assert [c.value for c in places[3]] == ["Населённый пункт", "ЖКХ", "Благоустройство",
                                            "Дороги", "Всего"]
    assert [c.value for c in places[4]] == ["Кедровое", 7, 0, 0, 7]
    change = book["Пункты × группы, изменение"]
    assert [c.value for c in change[3]] == ["Населённый пункт", "ЖКХ", "Благоустройство",
                                            "Дороги", "Всего"]
    assert [c.value for c in change[4]] == ["Кедровое", 7, 0, 0, 7]
    assert [c.value for c in change[5]] == ["Сысерть", -1, 1, 0, 0]
    assert change.cell(5, 2).number_format == "+0;-0;0"
    spikes = book["Всплески"]
    assert [c.value for c in spikes[4]][:5] == ["08.12.2025", "ЖКХ", "Кедровое", 5, 0.25]
    events = {r[0].value: r[1].value for r in book["События"].iter_rows(min_row=4)}
    assert events["промежуточный ответ"] == 1 and events["заявитель удовлетворён"] == 1


def test_markdown_and_csv(report: Report, tmp_path: Path) -> None:
    files = write_report(report, tmp_path, ZONE, ["md", "csv"])
    text = (tmp_path / "report_2025Q4.md").read_text(encoding="utf-8")
    assert "| Доля ответов в срок | 77,8 % | 50,0 % | +27,8 п.п. |" in text
    assert "| Первый ответ: медиана, рабочих часов | 0,8 | 2,0 | -1,2 |" in text
    overdue = (tmp_path / "report_2025Q4_overdue.csv").read_text(encoding="utf-8-sig")
    assert overdue.splitlines()[1].startswith("6,2025-12-29T10:00+05:00,2025-12-30T10:00+05:00,"
                                              "нет ответа,311.0,7.0,Водоканал")
    assert len([p for p in files if p.suffix == ".csv"]) == 15
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_damaged_event_detail_and_unknown_kinds_are_still_counted(
    backend: str, tmp_path: Path
) -> None:
    from tests.report_store import WATER, _entry, _open, local

    async with golden_on(backend, tmp_path / "m.db") as store:
        number = await _open(store, _entry("z", WATER, local(10, 6, 9), local(10, 6, 17), None))
        async with store.database.transaction() as tx:
            for kind, detail in (("answered", "{not json answered_at"),
                                 ("interim", '{"answered_at": "2025-10-06T10:00:00"}'),
                                 ("escalated", "[]")):
                await tx.execute(
                    "INSERT INTO incident_events (incident_id, at, kind, actor_kind, detail)"
                    " VALUES (?, ?, ?, 'staff', ?)",
                    (number, local(10, 6, 11).isoformat(), kind, detail))
        report = await build_report(store, WorkingCalendar(CalendarConfig()),
                                    parse_period("2025Q4"), AS_OF)
    # Neither detail gives a usable answer time: both answers count at the event's own time.
    assert report.now.first_calendar[-4:] == [2 * H, 23 * H, 25 * H, 89.5 * H]
    assert report.now.events["escalated"] == 1 and report.now.events["answered"] == 10


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_late_interim_answer_is_late_whatever_term_it_starts(
    backend: str, tmp_path: Path
) -> None:
    """An interim answer moves `due_at` to its follow-up term; the first response is still
    measured against the deadline it replaced, and so is a final answer before a reopening."""
    from storage import Action
    from tests.report_store import STAFF, WATER, _entry, _open, local

    async with golden_on(backend, tmp_path / "m.db") as store:
        late = await _open(store, _entry("late", WATER, local(10, 6, 9), local(10, 6, 17), None))
        term = (local(10, 15, 17), local(10, 16, 17))
        await store.act(late, Action("interim", STAFF, at=local(10, 7, 10), term=term),
                        local(10, 7, 10))
        timely = await _open(store, _entry("ok", WATER, local(10, 6, 9), local(10, 6, 17), None))
        await store.act(timely, Action("answer", STAFF, at=local(10, 6, 12)), local(10, 6, 12))
        await store.act(timely, Action("reopen", STAFF, at=local(10, 20, 9), term=term),
                        local(10, 20, 9))
        report = await build_report(store, WorkingCalendar(CalendarConfig()),
                                    parse_period("2025Q4"), AS_OF)
    late_ids = {entry.incident.id: entry for entry in report.now.late}
    assert late in late_ids and timely not in late_ids
    assert late_ids[late].late_calendar == 17 * H
    assert late_ids[late].incident.first_due == local(10, 6, 17)


def test_charts_drawn_in_a_process_of_their_own_are_the_same_files(
    report: Report, tmp_path: Path
) -> None:
    # `monitor report` draws in a worker process, from the period's counters only.
    here = write_report(report, tmp_path / "here", ZONE, ["png", "xlsx"])
    with ChartWorker() as worker:
        there = write_report(report, tmp_path / "there", ZONE, ["png", "xlsx"], worker)
    assert [p.name for p in here] == [p.name for p in there]
    for mine, theirs in zip(here, there, strict=True):
        if mine.suffix == ".png":
            assert mine.read_bytes() == theirs.read_bytes()
    sheets = [load_workbook(p).sheetnames for p in (here[-1], there[-1])]
    assert sheets[0] == sheets[1] and sheets[0][-1] == "Графики"
