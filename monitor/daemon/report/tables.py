"""The report as tables: one list of titled tables that the Markdown, CSV and XLSX writers
all render, so every format shows the same figures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from monitor.daemon.report.build import Report
from monitor.daemon.report.figures import PeriodFigures, percentile, ratio

Kind = Literal["text", "int", "share", "hours", "delta", "pp", "dhours", "time", "number"]
"""How a column's values are shown: shares are 0..1, hours are timedelta, pp are percentage
points (a difference of shares), d-kinds are signed differences."""
Cell = str | int | float | timedelta | datetime | None
TOP_PROBLEMS = 10
EVENT_NAMES = {
    "opened": "зарегистрирован", "repeat": "повтор жалобы", "alerted": "оповещение сотрудникам",
    "taken": "взят в работу", "answered": "окончательный ответ", "interim": "промежуточный ответ",
    "dismissed": "отклонён (ответ не нужен)", "snoozed": "оповещения отложены",
    "reclassified": "тема исправлена", "reopened": "возвращён в работу",
    "satisfied": "заявитель удовлетворён",
}
_CHANGE: dict[Kind, Kind] = {"int": "delta", "share": "pp", "hours": "dhours"}


@dataclass(frozen=True, slots=True)
class Table:
    """One table: a sheet of the XLSX, a CSV file, a section of the Markdown summary."""

    key: str
    """File and sheet name (ASCII, ≤ 31 characters)."""
    title: str
    columns: tuple[tuple[str, Kind], ...]
    rows: list[list[Cell]]
    row_kinds: tuple[Kind, ...] = ()
    """For a table whose rows mix figures (the summary): each row's kind, which its value
    columns take (the last column, the change, takes the kind of a difference)."""

    def kind(self, row: int, column: int) -> Kind:
        """How the cell at (row, column) is shown."""
        if not self.row_kinds or column == 0:
            return self.columns[column][1]
        own = self.row_kinds[row]
        return _CHANGE.get(own, own) if column == len(self.columns) - 1 else own


def change(kind: Kind, now: Cell, before: Cell) -> Cell:
    """now − before for a figure of `kind`; None when either side is missing."""
    if now is None or before is None or kind not in _CHANGE:
        return None
    if isinstance(now, timedelta) and isinstance(before, timedelta):
        return now - before
    if isinstance(now, int | float) and isinstance(before, int | float):
        return now - before
    return None


def _summary_rows(f: PeriodFigures) -> list[tuple[str, Kind, Cell]]:
    return [
        ("Сообщений жителей получено", "int", f.messages),
        ("Инцидентов зарегистрировано", "int", f.incidents),
        ("Отклонено как не требующие ответа", "int", len(f.dismissed)),
        ("Требовали ответа", "int", f.considered),
        ("Получили окончательный ответ", "int", f.answered),
        ("Доля получивших окончательный ответ", "share", ratio(f.answered, f.considered)),
        ("Получили любой ответ (промежуточный или окончательный)", "int", f.responded),
        ("Ответ в срок", "int", f.on_time),
        ("Учтено в доле ответов в срок", "int", f.on_time_base),
        ("Доля ответов в срок", "share", ratio(f.on_time, f.on_time_base)),
        ("Ответ с опозданием или без ответа после срока", "int", len(f.late)),
        ("Ждут ответа, срок ещё не наступил", "int", f.pending),
        ("Первый ответ: медиана, рабочих часов", "hours", percentile(f.first_working, 0.5)),
        ("Первый ответ: 90-й процентиль, рабочих часов", "hours",
         percentile(f.first_working, 0.9)),
        ("Первый ответ: медиана, календарных часов", "hours", percentile(f.first_calendar, 0.5)),
        ("Первый ответ: 90-й процентиль, календарных часов", "hours",
         percentile(f.first_calendar, 0.9)),
        ("С промежуточным ответом", "int", f.interim_incidents),
        ("Первый ответ был промежуточным", "int", f.interim_first),
        ("Только окончательный ответ, без промежуточного", "int", f.final_only),
        ("Возвращались в работу", "int", f.reopened_incidents),
    ]


def _compare(title_now: str, title_before: str, kind: Kind) -> tuple[tuple[str, Kind], ...]:
    return ((title_now, kind), (title_before, kind), ("Изменение", _CHANGE.get(kind, kind)))


def summary_table(report: Report) -> Table:
    """Every scalar figure, now, before and the change."""
    rows: list[list[Cell]] = []
    for (label, kind, now), (_, _, before) in zip(
            _summary_rows(report.now), _summary_rows(report.before), strict=True):
        rows.append([label, now, before, change(kind, now, before)])
    rows.append(["Всплесков (недель группа × пункт)", len(report.spikes),
                 len(report.spikes_before), len(report.spikes) - len(report.spikes_before)])
    kinds: tuple[Kind, ...] = (*(kind for _, kind, _ in _summary_rows(report.now)), "int")
    return Table("summary", "Сводка", (("Показатель", "text"),
                                       *_compare(report.period.label, report.previous.label,
                                                 "number")), rows, kinds)


def _counter_table(
    report: Report, key: str, title: str, heads: Sequence[str],
    pick: Callable[[PeriodFigures], Mapping[Any, int]],
) -> Table:
    now, before = pick(report.now), pick(report.before)
    names = sorted(set(now) | set(before), key=lambda k: (-now.get(k, 0), str(k)))
    rows: list[list[Cell]] = []
    for name in names:
        parts: list[Cell] = list(name) if isinstance(name, tuple) else [name]
        rows.append([*parts, now.get(name, 0), before.get(name, 0),
                     now.get(name, 0) - before.get(name, 0)])
    columns: tuple[tuple[str, Kind], ...] = tuple((h, "text") for h in heads)
    return Table(key, title, (*columns, *_compare(report.period.label, report.previous.label,
                                                  "int")), rows)


def report_tables(report: Report, zone: ZoneInfo) -> list[Table]:
    """Every table of the report, in the order it is printed."""
    return [
        summary_table(report),
        _counter_table(report, "networks", "Сообщения по сетям", ["Сеть"],
                       lambda f: f.by_network),
        _counter_table(report, "sources", "Сообщения по источникам", ["Сеть", "Источник"],
                       lambda f: f.by_source),
        _counter_table(report, "groups", "Инциденты по группам тем", ["Группа"],
                       lambda f: f.by_group),
        _counter_table(report, "themes", "Инциденты по темам ЦУР", ["Тема"],
                       lambda f: f.by_theme),
        _counter_table(report, "organisations", "Инциденты по организациям",
                       ["Организация"],
                       lambda f: f.by_organisation),
        _counter_table(report, "settlements", "Инциденты по населённым пунктам",
                       ["Населённый пункт"],
                       lambda f: f.by_settlement),
        on_time_table(report),
        events_table(report),
        late_table(report, zone),
        dismissed_table(report, zone),
        matrix_table(report),
        matrix_change_table(report),
        top_table(report),
        spikes_table(report),
        *municipality_tables(report),
    ]


def on_time_table(report: Report) -> Table:
    """The on-time share of each organisation, now and before."""
    now, before = report.now.on_time_by_organisation, report.before.on_time_by_organisation
    rows: list[list[Cell]] = []
    for name in sorted(set(now) | set(before)):
        ok, base = now.get(name, (0, 0))
        share, was = ratio(ok, base), ratio(*before.get(name, (0, 0)))
        rows.append([name, ok, base, share, was, change("share", share, was)])
    return Table("on_time", "Ответы в срок по организациям", (
        ("Организация", "text"), ("В срок", "int"), ("Учтено", "int"),
        (f"Доля, {report.period.label}", "share"), (f"Доля, {report.previous.label}", "share"),
        ("Изменение", "pp")), rows)


def municipality_tables(report: Report) -> list[Table]:
    """The region's report (`[[municipalities]]`, no scope): each municipality's incidents and
    on-time share, now and before; none for one municipality's report or a config of one."""
    if report.scope is not None or not report.municipality_names:
        return []
    now, before = report.now, report.before
    names = report.municipality_names
    keys = sorted(set(names) | set(now.by_municipality) | set(before.by_municipality),
                  key=lambda k: (-now.by_municipality.get(k, 0), names.get(k, k)))
    rows: list[list[Cell]] = []
    for key in keys:
        ok, base = now.on_time_by_municipality.get(key, (0, 0))
        share = ratio(ok, base)
        was = ratio(*before.on_time_by_municipality.get(key, (0, 0)))
        count, count_before = now.by_municipality.get(key, 0), before.by_municipality.get(key, 0)
        rows.append([names.get(key, key), count, count_before, count - count_before, ok, base,
                     share, was, change("share", share, was)])
    return [Table("municipalities", "По муниципалитетам", (
        ("Муниципалитет", "text"),
        *_compare(f"Инцидентов, {report.period.label}", f"Инцидентов, {report.previous.label}",
                  "int"),
        ("В срок", "int"), ("Учтено", "int"), (f"Доля в срок, {report.period.label}", "share"),
        (f"Доля в срок, {report.previous.label}", "share"), ("Изменение доли", "pp")), rows)]


def events_table(report: Report) -> Table:
    """Events of every kind in the logs of the period's incidents (kinds new to this release
    are listed under their own name)."""
    now, before = report.now.events, report.before.events
    rows: list[list[Cell]] = [
        [EVENT_NAMES.get(kind, kind), now.get(kind, 0), before.get(kind, 0),
         now.get(kind, 0) - before.get(kind, 0)]
        for kind in sorted(set(now) | set(before), key=lambda k: (-now.get(k, 0), k))]
    return Table("events", "События журнала инцидентов", (
        ("Событие", "text"), *_compare(report.period.label, report.previous.label, "int")), rows)


def late_table(report: Report, zone: ZoneInfo) -> Table:
    """Incidents answered late or unanswered past their deadline, the latest first."""
    rows: list[list[Cell]] = []
    for late in report.now.late:
        i = late.incident
        rows.append([i.id, i.opened_at.astimezone(zone), (i.first_due or i.due_at).astimezone(zone),
                     late.responded_at.astimezone(zone) if late.responded_at else "нет ответа",
                     late.late_calendar, late.late_working, i.organisation or "не назначена",
                     i.assignee or "", i.group_name or "", i.topic_name or "",
                     i.settlement or "", i.url])
    return Table("overdue", f"Просроченные ({len(rows)})", (
        ("№", "int"), ("Зарегистрирован", "time"), ("Срок", "time"), ("Первый ответ", "time"),
        ("Опоздание, календарных ч", "hours"), ("Опоздание, рабочих ч", "hours"),
        ("Кому направлен", "text"), ("Ответственный", "text"), ("Группа", "text"),
        ("Тема", "text"), ("Населённый пункт", "text"), ("Ссылка", "text")), rows)


def dismissed_table(report: Report, zone: ZoneInfo) -> Table:
    """Incidents dismissed as needing no answer, with the reason given."""
    rows: list[list[Cell]] = [
        [i.id, i.opened_at.astimezone(zone), i.group_name or "", i.topic_name or "",
         i.settlement or "", i.close_reason or "", i.url] for i in report.now.dismissed]
    return Table("dismissed", f"Отклонённые как не требующие ответа ({len(rows)})", (
        ("№", "int"), ("Зарегистрирован", "time"), ("Группа", "text"), ("Тема", "text"),
        ("Населённый пункт", "text"), ("Причина", "text"), ("Ссылка", "text")), rows)


def matrix(figures: PeriodFigures) -> tuple[list[str], list[str], list[list[int]]]:
    """Settlements (rows, most incidents first), groups (columns) and their counts."""
    pairs = figures.by_group_settlement
    groups = sorted({g for g, _ in pairs}, key=lambda g: (-figures.by_group[g], g))
    places = sorted({s for _, s in pairs}, key=lambda s: (-figures.by_settlement[s], s))
    return places, groups, [[pairs.get((g, s), 0) for g in groups] for s in places]


def matrix_table(report: Report) -> Table:
    """The picture of problems: settlements × groups, incidents of the period."""
    places, groups, counts = matrix(report.now)
    rows: list[list[Cell]] = [[place, *line, sum(line)] for place, line in zip(
        places, counts, strict=True)]
    return Table("group_x_place", "Картина проблем: населённые пункты × группы", (
        ("Населённый пункт", "text"), *((g, "int") for g in groups), ("Всего", "int")), rows)


def matrix_change_table(report: Report) -> Table:
    """The same picture as a change: incidents of the period minus those of the previous one,
    for every settlement and group either period has."""
    now, before = report.now, report.before
    pairs = set(now.by_group_settlement) | set(before.by_group_settlement)
    both = Counter(now.by_group) + Counter(before.by_group)
    places_count = Counter(now.by_settlement) + Counter(before.by_settlement)
    groups = sorted({g for g, _ in pairs}, key=lambda g: (-both[g], g))
    places = sorted({p for _, p in pairs}, key=lambda p: (-places_count[p], p))
    rows: list[list[Cell]] = []
    for place in places:
        line = [now.by_group_settlement.get((g, place), 0)
                - before.by_group_settlement.get((g, place), 0) for g in groups]
        rows.append([place, *line, sum(line)])
    return Table("group_x_place_change",
                 f"Картина проблем: изменение к периоду {report.previous.label}",
                 (("Населённый пункт", "text"), *((g, "delta") for g in groups),
                  ("Всего", "delta")), rows)


def top_table(report: Report) -> Table:
    """The most frequent problems (group, theme, settlement), with the previous period."""
    table = _counter_table(report, "top", "Главные проблемы",
                           ["Группа", "Тема", "Населённый пункт"],
                           lambda f: f.by_problem)
    rows = [r for r in table.rows if isinstance(r[3], int) and r[3] > 0][:TOP_PROBLEMS]
    return Table(table.key, f"Главные проблемы (первые {TOP_PROBLEMS})", table.columns, rows)


def spikes_table(report: Report) -> Table:
    """The weeks a group's complaints in a settlement were well above its baseline."""
    rows: list[list[Cell]] = [
        [f"{s.week:%d.%m.%Y}", s.group, s.settlement, s.incidents, s.baseline,
         s.incidents / max(s.baseline, 1.0)] for s in report.spikes]
    return Table("spikes", f"Всплески ({len(rows)})", (
        ("Неделя с", "text"), ("Группа", "text"), ("Населённый пункт", "text"),
        ("Инцидентов за неделю", "int"), ("Обычно в неделю", "number"),
        ("Во сколько раз выше", "number")), rows)
