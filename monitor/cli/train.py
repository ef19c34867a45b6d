"""`monitor train`: fit the second opinion (TF-IDF + logistic regression) on labelled rows in
`monitor eval`'s format and write it as a JSON model file (`rules.opinion`).

The fitting is a few dozen lines of numpy (already installed with matplotlib): multinomial
logistic regression with an L2 penalty, minimised by full-batch gradient descent (Adam) on the
sparse tf-idf rows. scikit-learn would bring scipy, joblib and narwhals (about 142 MB unpacked)
for the same kind of fit on a few thousand rows.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.cli.classify import InputError
from monitor.cli.eval import EvalInput
from monitor.cli.labelled import (
    ALSO,
    LabelMap,
    html_to_text,
    label_key,
    reaction_value,
)
from monitor.config.problems import ConfigError
from rules.opinion import NOISE, Opinion, features

MIN_ROWS = 10
ROUNDING = 5


@dataclass(frozen=True, slots=True)
class Example:
    """A training row: text and class (a ЦУР group, or NOISE for a row needing no reaction)."""

    text: str
    label: str


def examples_of(source: EvalInput) -> tuple[list[Example], int]:
    """The usable rows of a file (read as `monitor eval` reads it) and how many were left
    out; raises InputError, ConfigError."""
    mapping = source.mapping()
    found: list[Example] = []
    left_out = 0
    for row in source.rows():
        label = _label_of(row.label, row.reaction, mapping)
        if row.text is None or label is None or not row.text.strip():
            left_out += 1
            continue
        found.append(Example(html_to_text(row.text), label))
    return found, left_out


def _label_of(label: str | None, reaction: str | None, mapping: LabelMap) -> str | None:
    if reaction is not None and reaction_value(reaction) is False:
        return NOISE
    group = mapping.get(label_key(label)) if label is not None else None
    return group.split(ALSO)[0] if group else None


def fit(examples: Sequence[Example], c: float = 10.0, min_df: int = 2, steps: int = 300,
        min_probability: float = 0.5, trained_on: Iterable[str] = ()) -> Opinion:
    """Fit TF-IDF (sublinear tf, smoothed idf, l2 rows) + multinomial logistic regression
    whose objective is the summed log-loss plus ‖W‖²/(2c), as scikit-learn's C."""
    import numpy as np

    counted = [features(e.text) for e in examples]
    df: Counter[str] = Counter(f for row in counted for f in row)
    names = sorted(f for f, n in df.items() if n >= min_df)
    index = {f: i for i, f in enumerate(names)}
    rows = len(examples)
    idf = np.array([math.log((1 + rows) / (1 + df[f])) + 1 for f in names])
    classes = sorted({e.label for e in examples}, key=lambda c: (c == NOISE, c))
    target = np.array([classes.index(e.label) for e in examples])
    row_of, column, value = [], [], []
    for r, found in enumerate(counted):
        cells = [(index[f], (1 + math.log(n)) * idf[index[f]]) for f, n in found.items()
                 if f in index]
        norm = math.sqrt(sum(v * v for _, v in cells)) or 1.0
        for j, v in cells:
            row_of.append(r)
            column.append(j)
            value.append(v / norm)
    weights, intercept = _descend(np.array(row_of), np.array(column), np.array(value),
                                  target, len(names), len(classes), c, steps)
    vocabulary = {f: (round(float(idf[j]), ROUNDING),
                      tuple(round(float(w), ROUNDING) for w in weights[j]))
                  for f, j in index.items()}
    return Opinion(tuple(classes), tuple(round(float(b), ROUNDING) for b in intercept),
                   vocabulary, min_probability, tuple(trained_on))


def _descend(
    row_of: Any, column: Any, value: Any, target: Any, width: int, classes: int, c: float,
    steps: int,
) -> tuple[Any, Any]:
    """Adam on the mean log-loss + ‖W‖²/(2·c·rows); the intercept is not penalised."""
    import numpy as np

    rows = len(target)
    onehot = np.zeros((rows, classes))
    onehot[np.arange(rows), target] = 1.0
    weights = np.zeros((width, classes))
    intercept = np.zeros(classes)
    moments = [np.zeros_like(weights), np.zeros_like(weights), np.zeros(classes),
               np.zeros(classes)]
    rate, beta1, beta2 = 0.05, 0.9, 0.999
    for step in range(1, steps + 1):
        logits = np.tile(intercept, (rows, 1))
        np.add.at(logits, row_of, value[:, None] * weights[column])
        logits -= logits.max(axis=1, keepdims=True)
        chances = np.exp(logits)
        chances /= chances.sum(axis=1, keepdims=True)
        error = (chances - onehot) / rows
        grad_w = np.zeros_like(weights)
        np.add.at(grad_w, column, value[:, None] * error[row_of])
        grad_w += weights / (c * rows)
        grad_b = error.sum(axis=0)
        for k, (grad, param) in enumerate(((grad_w, weights), (grad_b, intercept))):
            first, second = moments[2 * k], moments[2 * k + 1]
            first *= beta1
            first += (1 - beta1) * grad
            second *= beta2
            second += (1 - beta2) * grad * grad
            param -= rate * (first / (1 - beta1 ** step)) / (
                np.sqrt(second / (1 - beta2 ** step)) + 1e-8)
    return weights, intercept


def train_command(sources: Sequence[EvalInput], out: Path, c: float,
                  min_probability: float) -> int:
    """Read every file, fit the model, write it; print what it learnt from; exit code."""
    examples: list[Example] = []
    try:
        for source in sources:
            found, left_out = examples_of(source)
            examples += found
            print(f"{source.data}: строк для обучения {len(found)}, не учтено {left_out}")
    except ConfigError as exc:
        print(exc.described("Карта меток содержит ошибки"), file=sys.stderr)
        return 2
    except InputError as exc:
        print(f"Ошибка: {exc}", file=sys.stderr)
        return 2
    labels = Counter(e.label for e in examples)
    if len(examples) < MIN_ROWS or len(labels) < 2:
        print(f"Ошибка: для обучения нужно не меньше {MIN_ROWS} строк и двух классов; есть "
              f"{len(examples)} строк, классов {len(labels)}", file=sys.stderr)
        return 2
    model = fit(examples, c=c, min_probability=min_probability,
                trained_on=[str(s.data) for s in sources])
    try:
        model.save(out)
    except OSError as exc:
        print(f"Не удалось записать {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    shown = ", ".join(f"{label} {n}" for label, n in labels.most_common())
    print(f"Модель записана в {out}: строк {len(examples)}, признаков {len(model.vocabulary)}; "
          f"классы: {shown}")
    return 0
