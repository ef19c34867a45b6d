"""The report's charts as PNG (matplotlib, Agg backend: no display needed): incidents by week
and group, on-time share by organisation, the settlement × group heat map."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)
from matplotlib.figure import Figure  # noqa: E402

from monitor.daemon.report.build import Report  # noqa: E402
from monitor.daemon.report.figures import ratio  # noqa: E402
from monitor.daemon.report.spikes import period_weeks  # noqa: E402
from monitor.daemon.report.tables import matrix  # noqa: E402

TOP_GROUPS = 7
HEAT_PLACES = 40
"""The heat map shows the settlements with most incidents; the table holds them all."""
OTHERS = "прочие группы"
_DPI = 100


def write_charts(report: Report, folder: Path, prefix: str) -> list[Path]:
    """Render every chart into `folder`; return the PNG paths."""
    made = []
    for name, draw in (("weeks", _weeks), ("on_time", _on_time), ("heatmap", _heatmap)):
        figure = draw(report)
        path = folder / f"{prefix}_{name}.png"
        figure.savefig(path, dpi=_DPI)  # laid out when made: no second drawing pass
        plt.close(figure)
        made.append(path)
    return made


def _weeks(report: Report) -> Figure:
    """Stacked bars: incidents per week, by group (the biggest groups, the rest together)."""
    figures = report.now
    weeks = period_weeks(report.period.first, report.period.last)
    groups = [g for g, _ in figures.by_group.most_common(TOP_GROUPS)]
    series: dict[str, list[int]] = {g: [0] * len(weeks) for g in groups}
    index = {week: n for n, week in enumerate(weeks)}
    for (week, group), count in figures.by_week_group.items():
        if week in index:
            series.setdefault(group if group in groups else OTHERS, [0] * len(weeks))
            series[group if group in groups else OTHERS][index[week]] += count
    figure, axes = plt.subplots(figsize=(11, 5), layout="constrained")
    bottom = [0] * len(weeks)
    labels = [f"{w:%d.%m}" for w in weeks]
    for group, counts in series.items():
        axes.bar(labels, counts, bottom=bottom, label=group)
        bottom = [a + b for a, b in zip(bottom, counts, strict=True)]
    axes.set_title(f"Инциденты по неделям и группам: {report.period.label}")
    axes.set_xlabel("неделя с понедельника")
    axes.set_ylabel("инцидентов")
    if series:
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.tick_params(axis="x", labelrotation=45)
    return figure


def _on_time(report: Report) -> Figure:
    """Horizontal bars: each organisation's share answered on time, with the counts."""
    rows = [(name, ratio(ok, base), ok, base)
            for name, (ok, base) in report.now.on_time_by_organisation.items()]
    rows.sort(key=lambda r: (r[1] if r[1] is not None else -1, r[0]))
    figure, axes = plt.subplots(figsize=(10, max(2.5, 0.5 * len(rows) + 1.5)),
                                layout="constrained")
    names = [r[0] for r in rows]
    shares = [100 * (r[1] or 0) for r in rows]
    axes.barh(names, shares, color="#4C72B0")
    for n, (_, share, ok, base) in enumerate(rows):
        text = f"{100 * share:.0f} % ({ok} из {base})" if share is not None else "—"
        inside = share is not None and share > 0.75  # no room after the bar: write inside it
        axes.text(100 * (share or 0) + (-1 if inside else 1), n, text, va="center", fontsize=9,
                  ha="right" if inside else "left", color="white" if inside else "black")
    axes.set_xlim(0, 100)
    axes.set_xlabel("доля ответов в срок, %")
    axes.set_title(f"Ответы в срок по организациям: {report.period.label}")
    return figure


def _heatmap(report: Report) -> Figure:
    """Settlements × groups, incidents of the period, darker for more."""
    places, groups, counts = matrix(report.now)
    shown = f" (первые {HEAT_PLACES} из {len(places)})" if len(places) > HEAT_PLACES else ""
    places, counts = places[:HEAT_PLACES], counts[:HEAT_PLACES]
    figure, axes = plt.subplots(figsize=(max(6, 1.1 * len(groups) + 3),
                                         max(3, 0.45 * len(places) + 2)), layout="constrained")
    if places and groups:
        image = axes.imshow(counts, cmap="YlOrRd", aspect="auto")
        axes.set_xticks(range(len(groups)), groups, rotation=35, ha="right", fontsize=8)
        axes.set_yticks(range(len(places)), places, fontsize=8)
        top = max(max(line) for line in counts)
        for y, line in enumerate(counts):
            for x, value in enumerate(line):
                if value:
                    axes.text(x, y, str(value), ha="center", va="center", fontsize=8,
                              color="white" if value > top * 0.6 else "black")
        figure.colorbar(image, ax=axes, label="инцидентов")
    else:
        axes.text(0.5, 0.5, "нет инцидентов", ha="center", va="center")
        axes.set_axis_off()
    axes.set_title(f"Картина проблем: населённые пункты{shown} × группы, "
                   f"{report.period.label}")
    return figure
