"""`monitor classify`: classify texts from the command line or a CSV/JSONL file."""

from __future__ import annotations

import csv
import gc
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from monitor.cli.tables import MAX_FIELD, InputError, open_input, open_table
from monitor.config import AppConfig, build_ruleset, second_opinion
from rules import Classification, classify

MAX_REMEMBERED = 1 << 16
"""Verdicts of distinct texts kept to answer repeats in a file (bounded memory)."""
_LINE_ENDS = ("\n", "\r")
"""Files are read with newline="": a line may end in \r\n, \n or a lone \r."""
BATCH = 512
"""JSON lines written at once."""
Record = tuple[int, str | None, str | None]
"""(line number, text or None, error or None) for one input record."""


def read_texts(path: Path, text_column: str) -> Iterator[Record]:
    """Yield (line, text, error) per record of a CSV (`,` or `;`), Excel workbook, JSONL or
    plain text file (one text per line), in order, streaming."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".json", ".txt"):
        yield from _table(path, text_column)
        return
    with open_input(path) as handle:
        if suffix == ".txt":
            yield from _lines(handle)
        else:
            yield from _jsonl(handle)


def _lines(handle: TextIO) -> Iterator[Record]:
    """Non-empty lines; a line over MAX_FIELD characters is reported, never held whole."""
    number = 0
    while line := handle.readline(MAX_FIELD + 1):
        number += 1
        if len(line) > MAX_FIELD and not line.endswith(_LINE_ENDS):
            while (rest := handle.readline(MAX_FIELD)) and not rest.endswith(_LINE_ENDS):
                pass
            yield number, None, f"строка {number}: длиннее {MAX_FIELD:,} символов".replace(",", " ")
            continue
        if line.strip():
            yield number, line.rstrip("\r\n"), None


def _jsonl(handle: Iterable[str]) -> Iterator[Record]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"строка {number}: не JSON ({exc.msg})"
            continue
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str):
            yield number, None, f"строка {number}: нет строкового поля \"text\""
            continue
        yield number, text, None


def _table(path: Path, column: str) -> Iterator[Record]:
    with open_table(path) as reader:
        try:
            fields = next(reader, [])
            if column not in fields:
                msg = f"в {path} нет колонки {column!r}; есть: {', '.join(fields) or 'ничего'}"
                raise InputError(msg)
            place = fields.index(column)
            for row in reader:
                if not row:
                    continue
                if len(row) <= place:
                    yield reader.line_num, None, f"строка {reader.line_num}: колонка пуста"
                else:
                    yield reader.line_num, row[place], None
        except csv.Error as exc:
            msg = f"{path}, строка {reader.line_num}: CSV повреждён ({exc})"
            raise InputError(msg) from None


def classify_command(
    config: AppConfig, texts: list[str], input_path: str | None, text_column: str, fmt: str,
    source: str | None = None,
) -> int:
    """Print one classification per text, in input order; return the exit code."""
    if not texts and not input_path:
        print("Укажите тексты или --input FILE", file=sys.stderr)
        return 2
    sources = {s.id: s.network for s in config.sources}
    if source is not None and source not in sources:
        known = ", ".join(sorted(sources)) or "нет ни одного"
        print(f"Источник {source!r} не описан в [[sources]] (есть: {known})", file=sys.stderr)
        return 2
    network = sources.get(source) if source is not None else None
    ruleset = build_ruleset(config)
    opinion = second_opinion(config)

    def verdict(text: str) -> Classification:
        """The daemon's verdict: the rules, then the second opinion where they could not
        decide (`[rules] second_opinion`)."""
        found = classify(text, ruleset, source=source, network=network)
        return found if opinion is None else opinion.consult(text, found)

    # The rule set is tens of thousands of objects that live to the end: out of the garbage
    # collector's sight, its full passes over a file's worth of verdicts cost less.
    gc.freeze()
    records: Iterator[Record] = iter(
        (n, t, None) for n, t in enumerate(texts, start=1)
    )
    if input_path:
        records = read_texts(Path(input_path), text_column)
    errors = 0
    # A verdict depends on the text alone here (one source for the whole run), and files
    # repeat texts (28% of the St Petersburg appeals are exact copies): a repeat is written
    # from memory. The memory is bounded: full, it starts again.
    seen: dict[str, str] = {}
    # JSON lines go out a batch at a time (one write call per batch, not per line); the
    # batch is written before anything else is printed, so the order stays the input's.
    batch: list[str] = []
    try:
        for number, text, error in records:
            if error is not None or text is None:
                errors += 1
                _flush(batch)
                _print_error(number, error or "", fmt)
                continue
            if fmt != "json":
                _print_result(text, verdict(text).as_dict())
                continue
            line = seen.get(text)
            if line is None:
                if len(seen) >= MAX_REMEMBERED:
                    seen.clear()
                line = seen[text] = verdict(text).to_json() + "\n"
            batch.append(line)
            if len(batch) >= BATCH:
                _flush(batch)
    except InputError as exc:
        _flush(batch)
        print(f"Ошибка: {exc}", file=sys.stderr)
        return 2
    finally:
        _flush(batch)  # whatever ends the loop, what was classified is written
    return 1 if errors else 0


def _flush(batch: list[str]) -> None:
    """Write the JSON lines kept in `batch` and empty it."""
    if batch:
        sys.stdout.write("".join(batch))
        batch.clear()


def _print_error(number: int, error: str, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps({"line": number, "error": error, "group": None, "topic": None,
                          "actionable": False, "settlement": None, "address": None,
                          "score": 0, "why": []},
                         ensure_ascii=False))
    print(f"Ошибка: {error}", file=sys.stderr)


def _print_result(text: str, result: dict[str, object]) -> None:
    short = " ".join(text.split())
    short = short[:77] + "…" if len(short) > 78 else short
    group = result["group"] or "—"
    mark = "нужна реакция" if result["actionable"] else "без реакции"
    place = ", ".join(str(p) for p in (result["settlement"], result["address"]) if p) \
        or "место не найдено"
    why = "; ".join(str(w) for w in result["why"]) or "ничего не совпало"  # type: ignore[attr-defined]
    print(f"{short}\n  → {group} / {result['topic'] or '—'} [{mark}, {result['score']}, {place}]:"
          f" {why}")
