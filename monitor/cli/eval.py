"""`monitor eval`: measure the rules on a labelled CSV: precision, recall and F1 per ЦУР group."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from monitor.cli.classify import InputError
from monitor.cli.labelled import (
    ALSO,
    LabelMap,
    Row,
    html_to_text,
    label_key,
    load_label_map,
    reaction_value,
    read_rows,
)
from monitor.config import AppConfig, build_ruleset, configured_opinion
from monitor.config.problems import ConfigError
from rules import GROUPS, RuleSet, classify
from rules.opinion import NOISE, Opinion, OpinionError, load_opinion

NO_GROUP = "(нет группы)"
TOP_CONFUSIONS = 10
SHOWN_LINES = 20
@dataclass(slots=True)
class Tally:
    """What the rows came to: (true group, predicted group) pairs and the rows left out."""

    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    left_out: Counter[tuple[str, str]] = field(default_factory=Counter)
    malformed: list[int] = field(default_factory=list)
    rows: int = 0
    reactions: Counter[tuple[bool, bool]] = field(default_factory=Counter)
    """(needs a reaction by the label, by the rules) → rows, when the data has the flag."""
    unreadable_flags: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GroupScore:
    """Precision, recall and F1 of one group; `predicted` is how often the rules chose it."""

    group: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int

    @classmethod
    def of(cls, group: str, hits: int, support: int, predicted: int) -> GroupScore:
        """Score a group from its counts; an empty ratio counts as 0."""
        return cls(group, *_prf(hits, predicted, support), support, predicted)


@dataclass(frozen=True, slots=True)
class EvalInput:
    """Where the labelled rows are and how to read them."""

    data: Path
    text_column: str
    label_column: str
    label_map: Path | None = None
    skip_unmapped: bool = False
    reaction_column: str | None = None
    """A column that says whether the row needs a reaction (true/false, да/нет, 1/0)."""
    model: Path | None = None
    """A second-opinion model to measure instead of the configured one."""

    def rows(self) -> Iterator[Row]:
        """Stream the records of the data file."""
        return read_rows(self.data, self.text_column, self.label_column, self.reaction_column)

    def mapping(self) -> LabelMap:
        """Label → ЦУР group: the label map's, else the groups by their own names; raises
        ConfigError for a damaged map."""
        return load_label_map(self.label_map) if self.label_map else {g: g for g in GROUPS}


def eval_command(
    config: AppConfig, source: EvalInput, min_support: int = 20, fmt: str = "text"
) -> int:
    """Classify every labelled row and print the figures; return the exit code."""
    try:
        mapping = source.mapping()
        labels = Counter(label_key(r.label) for r in source.rows() if r.label is not None)
        missing = {k: n for k, n in labels.items() if k and k not in mapping}
        if missing and not source.skip_unmapped:
            _print_missing(missing, source.label_map)
            return 2
        opinion = load_opinion(source.model) if source.model else configured_opinion(config)
        tallies = tally_rows(source.rows(), mapping, build_ruleset(config), opinion)
    except OpinionError as exc:
        print(f"Ошибка: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(exc.described(f"Карта меток {source.label_map} содержит ошибки"), file=sys.stderr)
        return 2
    except InputError as exc:
        print(f"Ошибка: {exc}", file=sys.stderr)
        return 2
    tally = tallies["rules"]
    if not tally.pairs and not tally.reactions:
        print(f"Ошибка: в {source.data} нет строк для оценки (строк {tally.rows}, не учтено "
              f"{sum(tally.left_out.values())}, повреждено {len(tally.malformed)})",
              file=sys.stderr)
        return 2
    reports = {judge: Report.of(found, min_support) for judge, found in tallies.items()}
    if fmt == "json":
        shown = reports["rules"].as_json() if len(reports) == 1 else \
            {judge: report.as_json() for judge, report in reports.items()}
        print(json.dumps(shown, ensure_ascii=False, indent=2))
        return 0
    mapped = f" (карта меток {source.label_map})" if source.label_map else ""
    for judge, report in reports.items():
        if len(reports) > 1:
            print(f"=== {JUDGES[judge]} ===")
        print(f"Оценка: {JUDGES[judge]} на {source.data}{mapped}")
        print_report(report)
        print()
    if len(reports) > 1:
        _print_comparison(reports)
    return 0


def _print_comparison(reports: dict[str, Report]) -> None:
    """One line per judge: group accuracy and the reaction F1, side by side."""
    print("Сравнение (доля верных групп; F1 «нужна ли реакция»):")
    for judge, report in reports.items():
        reaction = report.reaction
        print(f"  {JUDGES[judge]:<24} {_figure(report.accuracy):>6}; "
              f"{'—' if reaction is None else f'{reaction.f1:.3f}'}")


Decision = tuple[str | None, bool]
"""A group (None: none found) and whether the text needs a reaction."""
JUDGES = {"rules": "правила", "model": "модель", "both": "правила + второе мнение"}
"""Who decides → its Russian name: the rules alone, the model alone, both (the model only
where the rules find no group)."""


def decisions(text: str, ruleset: RuleSet, opinion: Opinion | None) -> dict[str, Decision]:
    """The rules' decision on a text and, given a model, the model's and both together."""
    verdict = classify(text, ruleset)
    found = {"rules": (verdict.group, verdict.actionable)}
    if opinion is not None:
        name, _ = opinion.best(text)
        group, _ = opinion.best(text, among=GROUPS)
        found["model"] = (group, name != NOISE)
        joint = opinion.consult(text, verdict)
        found["both"] = (joint.group, joint.actionable)
    return found


def tally_rows(
    rows: Iterator[Row], mapping: LabelMap, ruleset: RuleSet, opinion: Opinion | None = None
) -> dict[str, Tally]:
    """Classify each usable row (HTML stripped) and count it; count the rows left out.
    One tally per judge: the rules, and with a model also the model and both."""
    tallies = {judge: Tally() for judge in (JUDGES if opinion else ("rules",))}
    tally = tallies["rules"]
    for row in rows:
        tally.rows += 1
        if row.label is None or row.text is None:
            tally.malformed.append(row.line)
            continue
        group = _group_of(label_key(row.label), mapping, tally)
        wanted = None if row.reaction is None else reaction_value(row.reaction)
        if row.reaction is not None and wanted is None:
            tally.unreadable_flags.append(row.line)
        if group is None and wanted is None:
            continue
        for judge, (found, actionable) in decisions(html_to_text(row.text), ruleset,
                                                    opinion).items():
            counts = tallies[judge]
            if group is not None:
                main, *also = group.split(ALSO)
                counts.pairs[(main, main if found in also else found or NO_GROUP)] += 1
            if wanted is not None:
                counts.reactions[(wanted, actionable)] += 1
    for counts in tallies.values():
        if counts is not tally:
            counts.rows, counts.left_out = tally.rows, tally.left_out
            counts.malformed, counts.unreadable_flags = tally.malformed, tally.unreadable_flags
    return tallies


def _group_of(label: str, mapping: LabelMap, tally: Tally) -> str | None:
    """The row's ЦУР group, or None (counted as left out with the reason)."""
    if not label:
        tally.left_out[("пустая метка", "")] += 1
    elif label not in mapping:
        tally.left_out[("нет в карте", label)] += 1
    elif mapping[label] is None:
        tally.left_out[("в карте без группы", label)] += 1
    return mapping.get(label) if label else None


@dataclass(frozen=True, slots=True)
class ReactionScore:
    """How well the rules tell rows that need a reaction from those that do not."""

    precision: float
    recall: float
    f1: float
    accuracy: float
    false_alarms: int
    missed: int
    rows: int
    noise_precision: float
    """The same three for the other class, rows that need no reaction: how many of the rows
    the rules let pass are noise, and how much of the noise they let pass."""
    noise_recall: float
    noise_f1: float

    @classmethod
    def of(cls, counts: Counter[tuple[bool, bool]]) -> ReactionScore | None:
        """Scores of (labelled, predicted) counts; None without rows."""
        rows = sum(counts.values())
        if not rows:
            return None
        hits, alarms, missed = counts[(True, True)], counts[(False, True)], counts[(True, False)]
        quiet = counts[(False, False)]
        precision, recall, f1 = _prf(hits, hits + alarms, hits + missed)
        accuracy = (hits + quiet) / rows
        return cls(precision, recall, f1, accuracy, alarms, missed, rows,
                   *_prf(quiet, quiet + missed, quiet + alarms))


def _prf(hits: int, predicted: int, support: int) -> tuple[float, float, float]:
    """Precision, recall and F1 of a class from its counts; an empty ratio counts as 0."""
    precision = hits / predicted if predicted else 0.0
    recall = hits / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def scores(pairs: Counter[tuple[str, str]]) -> list[GroupScore]:
    """Per-group scores, the groups with most rows first; groups only predicted come last."""
    support: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for (true, guess), count in pairs.items():
        support[true] += count
        predicted[guess] += count
        if true == guess:
            hits[true] += count
    groups = {*support, *predicted} - {NO_GROUP}
    ordered = sorted(groups, key=lambda g: (-support[g], g))
    return [GroupScore.of(g, hits[g], support[g], predicted[g]) for g in ordered]


@dataclass(frozen=True, slots=True)
class Report:
    """Every figure of one evaluation."""

    per_group: list[GroupScore]
    accuracy: float | None
    macro_f1: float | None
    macro_f1_all: float | None
    min_support: int
    confusions: list[tuple[str, str, int]]
    left_out: list[tuple[str, str, int]]
    malformed: list[int]
    counts: dict[str, int]
    reaction: ReactionScore | None = None
    unreadable_flags: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, tally: Tally, min_support: int) -> Report:
        """Score a non-empty tally; macro-F1 is over groups with at least `min_support` rows."""
        per_group = scores(tally.pairs)
        evaluated = sum(tally.pairs.values())
        correct = sum(n for (true, guess), n in tally.pairs.items() if true == guess)
        confusions = sorted(((t, g, n) for (t, g), n in tally.pairs.items() if t != g),
                            key=lambda c: (-c[2], c[0], c[1]))
        left_out = sorted(((r, label, n) for (r, label), n in tally.left_out.items()),
                          key=lambda entry: (-entry[2], entry[0], entry[1]))
        counts = {
            "rows": tally.rows, "evaluated": evaluated, "correct": correct,
            "no_group": sum(n for (_, g), n in tally.pairs.items() if g == NO_GROUP),
            "left_out": sum(tally.left_out.values()), "malformed": len(tally.malformed),
            "groups_over_min_support": sum(1 for s in per_group if s.support >= min_support),
            "unreadable_flags": len(tally.unreadable_flags),
        }
        return cls(
            per_group=per_group,
            accuracy=correct / evaluated if evaluated else None,
            macro_f1=_mean([s.f1 for s in per_group if s.support >= min_support]),
            macro_f1_all=_mean([s.f1 for s in per_group if s.support > 0]),
            min_support=min_support,
            confusions=confusions[:TOP_CONFUSIONS],
            left_out=left_out,
            malformed=tally.malformed[:SHOWN_LINES],
            counts=counts,
            reaction=ReactionScore.of(tally.reactions),
            unreadable_flags=tally.unreadable_flags[:SHOWN_LINES],
        )

    def as_json(self) -> dict[str, object]:
        """The figures as plain data, as `--format json` prints them."""
        return {
            "per_group": [asdict(s) for s in self.per_group],
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "macro_f1_all": self.macro_f1_all,
            "min_support": self.min_support,
            "confusions": [{"true": t, "predicted": g, "count": n}
                           for t, g, n in self.confusions],
            "left_out": [{"reason": r, "label": label, "rows": n}
                         for r, label, n in self.left_out],
            "malformed_lines": self.malformed,
            "counts": self.counts,
            "reaction": asdict(self.reaction) if self.reaction else None,
            "unreadable_reaction_lines": self.unreadable_flags,
        }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _print_missing(missing: dict[str, int], label_map: Path | None) -> None:
    if label_map:
        print(f"Ошибка: меток нет в карте {label_map} ({len(missing)}); добавьте их "
              "(пустая группа — не учитывать) или запустите с --skip-unmapped:", file=sys.stderr)
    else:
        print(f"Ошибка: метки не являются группами ЦУР ({len(missing)}); укажите "
              "--label-map FILE или --skip-unmapped:", file=sys.stderr)
    for label, count in sorted(missing.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {label!r}: {count} стр.", file=sys.stderr)


def print_report(report: Report) -> None:
    """Print the figures as a readable Russian table and summary."""
    counts = report.counts
    width = max([len("группа"), *(len(s.group) for s in report.per_group)])
    print(f"{'группа':<{width}}  {'точность':>8}  {'полнота':>8}  {'F1':>6}  {'строк':>6}")
    for s in report.per_group:
        print(f"{s.group:<{width}}  {s.precision:>8.3f}  {s.recall:>8.3f}  {s.f1:>6.3f}"
              f"  {s.support:>6}")
    print()
    print(f"Доля верных групп (accuracy): {_figure(report.accuracy)} "
          f"({counts['correct']} из {counts['evaluated']})")
    print(f"Macro-F1 (группы с ≥{report.min_support} строк): {_figure(report.macro_f1)} "
          f"(групп: {counts['groups_over_min_support']})")
    print(f"Macro-F1 (все группы): {_figure(report.macro_f1_all)}")
    print(f"Без группы (ни одна тема не набрала балл): {counts['no_group']} стр.")
    _print_left_out(report)
    if report.confusions:
        print(f"Частые ошибки (истинная → предсказанная), до {TOP_CONFUSIONS}:")
    for true, guess, count in report.confusions:
        print(f"  {true} → {guess}: {count}")
    if report.reaction is not None or report.unreadable_flags:
        _print_reaction(report)


def _print_reaction(report: Report) -> None:
    score = report.reaction
    if score is not None:
        print(f"Нужна ли реакция ({score.rows} стр.): точность {score.precision:.3f}, "
              f"полнота {score.recall:.3f}, F1 {score.f1:.3f}, доля верных {score.accuracy:.3f}; "
              f"лишних срабатываний {score.false_alarms}, пропущено {score.missed}")
        print(f"  шум (не нужна реакция): точность {score.noise_precision:.3f}, "
              f"полнота {score.noise_recall:.3f}, F1 {score.noise_f1:.3f}")
    if report.unreadable_flags:
        total = report.counts["unreadable_flags"]
        more = ", …" if total > len(report.unreadable_flags) else ""
        print(f"  непонятная отметка реакции (нужно true/false, да/нет, 1/0): {total} стр. "
              f"(строки {', '.join(map(str, report.unreadable_flags))}{more})")


def _figure(value: float | None) -> str:
    return "— (нет таких групп)" if value is None else f"{value:.3f}"


def _print_left_out(report: Report) -> None:
    counts = report.counts
    if not report.left_out and not counts["malformed"]:
        print(f"Учтены все строки: {counts['rows']}.")
        return
    print(f"Не учтены {counts['left_out'] + counts['malformed']} из {counts['rows']} стр.:")
    for reason, label, rows in report.left_out:
        print(f"  {reason}{f' {label!r}' if label else ''}: {rows}")
    if counts["malformed"]:
        more = ", …" if counts["malformed"] > len(report.malformed) else ""
        print(f"  повреждённые строки CSV: {counts['malformed']} "
              f"(строки {', '.join(map(str, report.malformed))}{more})")
