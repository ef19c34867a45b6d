"""The second opinion: a small TF-IDF + logistic-regression model trained on labelled rows
(`monitor train`), consulted only where the rules find no group or topics of several groups
tie for the top score.

The model file is plain JSON (weights, vocabulary, classes), never a pickle: loading it runs
no code, and a damaged or hostile file is refused with a Russian message (`OpinionError`).
Predicting needs nothing but the standard library.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from operator import mul
from pathlib import Path

from rules.engine import Classification
from rules.groups import GROUPS

FORMAT = "mcu-monitor second opinion"
VERSION = 1
NOISE = "шум"
"""The class of rows that need no reaction (the labelled `actionable` column said false)."""
MAX_BYTES = 64 * 1024 * 1024
MAX_FEATURES = 500_000
STEM = 6
"""Words are cut to their first letters: a crude stem that folds most Russian endings."""
_WORD_RE = re.compile(r"[0-9a-zа-яё]+")


class OpinionError(Exception):
    """The model file cannot be used; the message is Russian and names the file."""


def features(text: str) -> Counter[str]:
    """The features of a text: cut words and pairs of neighbouring cut words."""
    stems = [w[:STEM] for w in _WORD_RE.findall(text.lower().replace("ё", "е")) if len(w) > 1]
    found = Counter(stems)
    found.update(f"{a} {b}" for a, b in zip(stems, stems[1:], strict=False))
    return found


@dataclass(frozen=True, slots=True)
class Opinion:
    """A trained model: per feature its idf and one weight per class."""

    classes: tuple[str, ...]
    intercept: tuple[float, ...]
    vocabulary: Mapping[str, tuple[float, tuple[float, ...]]]
    min_probability: float
    trained_on: tuple[str, ...] = ()

    def probabilities(self, text: str) -> dict[str, float]:
        """Class → probability for a text (sublinear tf-idf, l2-normalised, softmax)."""
        values: list[float] = []
        rows: list[tuple[float, ...]] = []
        for feature, count in features(text).items():
            known = self.vocabulary.get(feature)
            if known is not None:
                values.append((1.0 + math.log(count)) * known[0])
                rows.append(known[1])
        norm = math.sqrt(sum(value * value for value in values)) or 1.0
        scaled = [value / norm for value in values]
        # Per class, its intercept plus each feature's share in the features' order (the
        # same sums, added in the same order, as a loop over features would make), the
        # products and the sum made in C: a Python loop over features × classes cost a
        # twentieth of classifying a file.
        logits = [sum(map(mul, scaled, column), start)
                  for start, column in zip(self.intercept, zip(*rows, strict=True), strict=True)] \
            if rows else list(self.intercept)
        top = max(logits)
        exps = [math.exp(x - top) for x in logits]
        total = sum(exps)
        return {c: e / total for c, e in zip(self.classes, exps, strict=True)}

    def best(self, text: str, among: Sequence[str] | None = None) -> tuple[str, float]:
        """The most probable class (of `among`, when given) and its probability."""
        found = self.probabilities(text)
        if among is not None:
            found = {c: p for c, p in found.items() if c in among} or found
        name = max(found, key=lambda c: (found[c], c))
        return name, found[name]

    def consult(self, text: str, verdict: Classification) -> Classification:
        """The verdict after the second opinion, asked only where the rules could not decide:
        where topics of several groups tied, the model picks among those groups; where the
        rules found no group, the model's group (and a reaction) if it is sure enough that
        the text is a complaint. A verdict with one group is returned as it is."""
        if verdict.contenders:
            return self._break_tie(text, verdict)
        if verdict.group is not None:
            return verdict
        name, probability = self.best(text)
        if name == NOISE or probability < self.min_probability:
            return verdict
        why = f"второе мнение: модель — {name} ({probability:.2f})"
        return replace(verdict, group=name, actionable=True, why=(*verdict.why, why))

    def _break_tie(self, text: str, verdict: Classification) -> Classification:
        tied = {str(fields["group"]): fields
                for fields in map(dict, verdict.contenders)}
        name, probability = self.best(text, among=(str(verdict.group), *tied))
        if name not in tied:
            return verdict
        why = (f"второе мнение: при равном балле групп {verdict.group}, {', '.join(tied)} "
               f"модель выбрала {name} ({probability:.2f})")
        return replace(verdict, **tied[name], contenders=(),  # type: ignore[arg-type]
                       why=(*verdict.why, why))

    def to_json(self) -> dict[str, object]:
        """The model as the plain data its file holds."""
        return {
            "format": FORMAT, "version": VERSION, "classes": list(self.classes),
            "intercept": list(self.intercept), "min_probability": self.min_probability,
            "trained_on": list(self.trained_on),
            "vocabulary": {f: [idf, list(w)] for f, (idf, w) in self.vocabulary.items()},
        }

    def save(self, path: Path) -> None:
        """Write the model as JSON; raises OSError."""
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")),
                        encoding="utf-8")


def load_opinion(path: Path) -> Opinion:
    """Read and check a model file; raise OpinionError (Russian) for anything unusable."""
    return opinion_from(read_model(path), path)


def read_model(path: Path) -> bytes:
    """A model file's bytes; OpinionError (Russian) if it cannot be read or is too big."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise OpinionError(f"модель {path} не прочитана: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise OpinionError(f"модель {path} больше {MAX_BYTES // 2**20} МБ")
    return raw


def opinion_from(raw: bytes, path: Path) -> Opinion:
    """The model in a file's bytes (`path` names it in errors); OpinionError if unusable."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise OpinionError(f"модель {path} повреждена: не JSON ({exc})") from None
    try:
        return _opinion_of(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise OpinionError(f"модель {path} повреждена: {exc}") from None


def _opinion_of(data: object) -> Opinion:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("это не файл модели monitor train")
    if data.get("version") != VERSION:
        raise ValueError(f"версия {data.get('version')!r}, эта программа читает {VERSION}")
    classes = data["classes"]
    if not isinstance(classes, list) or not 2 <= len(classes) <= len(GROUPS) + 1 \
            or len(set(classes)) != len(classes):
        raise ValueError("список классов не задан или с повторами")
    unknown = [c for c in classes if c not in GROUPS and c != NOISE]
    if unknown:
        raise ValueError(f"классы не из групп ЦУР: {', '.join(map(repr, unknown[:3]))}")
    size = len(classes)
    intercept = _numbers(data["intercept"], size, "intercept")
    probability = data["min_probability"]
    if isinstance(probability, bool) or not isinstance(probability, int | float) \
            or not 0 <= probability <= 1:
        raise ValueError("min_probability должна быть числом от 0 до 1")
    vocabulary = data["vocabulary"]
    if not isinstance(vocabulary, dict) or len(vocabulary) > MAX_FEATURES:
        raise ValueError(f"словарь не задан или больше {MAX_FEATURES} признаков")
    table: dict[str, tuple[float, tuple[float, ...]]] = {}
    for feature, entry in vocabulary.items():
        if not isinstance(entry, list) or len(entry) != 2:
            raise ValueError(f"признак {feature[:40]!r}: ожидалось [idf, [веса]]")
        idf = _numbers([entry[0]], 1, f"idf признака {feature[:40]!r}")[0]
        table[feature] = (idf, _numbers(entry[1], size, f"веса признака {feature[:40]!r}"))
    trained = data.get("trained_on", [])
    if not isinstance(trained, list) or not all(isinstance(t, str) for t in trained):
        raise ValueError("trained_on должен быть списком строк")
    return Opinion(tuple(classes), intercept, table, float(probability), tuple(trained))


def _numbers(values: object, size: int, what: str) -> tuple[float, ...]:
    if not isinstance(values, list) or len(values) != size or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            and abs(v) < 1e6 for v in values):
        raise ValueError(f"{what}: нужно {size} конечных чисел")
    return tuple(float(v) for v in values)
