"""`monitor classify`: classify texts from the command line or a CSV/JSONL file."""

from __future__ import annotations

import csv
import gc
import json
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from monitor.cli.tables import MAX_FIELD, InputError, open_input, open_table
from monitor.config import AppConfig, build_ruleset, second_opinion
from rules import Classification, classify

if TYPE_CHECKING:
    # The pool module is imported by get_context().Pool when a file needs workers.
    from multiprocessing.pool import Pool

MAX_REMEMBERED = 1 << 16
"""Verdicts of distinct texts kept to answer repeats in a file (bounded memory)..."""
REMEMBERED_CHARS = 1 << 12
"""...of texts no longer than this: a file of long distinct texts is not held in memory."""
_LINE_ENDS = ("\n", "\r")
"""Files are read with newline="": a line may end in \r\n, \n or a lone \r."""
BATCH = 512
"""Lines written at once."""
CHUNK = 1024
"""Records a worker process classifies at a time; a file of fewer is classified in-process."""
CHUNK_CHARS = 1 << 20
"""...and at most this many characters of text in a chunk, besides its last text (which
may be up to MAX_FIELD)."""
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
    source: str | None = None, jobs: int | None = None,
) -> int:
    """Print one classification per text, in input order; return the exit code. A file of
    more than CHUNK records is classified by `jobs` worker processes (default: one per CPU
    available), the output the same as one process would write."""
    if not texts and not input_path:
        print("Укажите тексты или --input FILE", file=sys.stderr)
        return 2
    sources = {s.id: s.network for s in config.sources}
    if source is not None and source not in sources:
        known = ", ".join(sorted(sources)) or "нет ни одного"
        print(f"Источник {source!r} не описан в [[sources]] (есть: {known})", file=sys.stderr)
        return 2
    global _RENDER
    _RENDER = _renderer(config, source, sources.get(source) if source is not None else None,
                        fmt)
    # The rule set is tens of thousands of objects that live to the end: out of the garbage
    # collector's sight (and worker processes forked from here share its pages instead of
    # copying them). Classifying makes no reference cycles (a test checks), so the collector's
    # passes over a file's worth of verdicts, in this process and its workers, wait till the
    # command ends.
    gc.freeze()
    gc.disable()
    records: Iterator[Record] = iter(
        (n, t, None) for n, t in enumerate(texts, start=1)
    )
    if input_path:
        records = read_texts(Path(input_path), text_column)
    output = _Output(fmt)
    try:
        _classify_records(records, output, jobs or available_cpus())
    except InputError as exc:
        print(f"Ошибка: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Whoever read the output has gone (`| head`): stop, without a traceback, and without
        # another one when Python flushes standard output on its way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        gc.enable()
    return 1 if output.errors else 0


def _classify_records(records: Iterator[Record], output: _Output, workers: int) -> None:
    """Classify the records and write their lines; past the first chunk, in `workers`
    worker processes."""
    chunks = _chunks(records)
    run = _Run(output)
    pool: Pool | None = None
    try:
        # The first chunk is classified here: a file no bigger needs no workers, and the
        # words it resolved (a file's commonest) are remembered by every worker forked after.
        first = next(chunks, None)
        run.run((first,) if first else ())
        if first is not None and first.full and workers > 1 and _FORK:
            pool = multiprocessing.get_context("fork").Pool(workers)
        run.run(chunks, pool, workers)
    finally:
        if pool is not None:
            pool.terminate()  # every result wanted is in by now, or none is wanted any more
        output.flush()  # whatever ends the loop, what was classified is written


Render = Callable[[str], str]
"""A text to the lines printed for it: its verdict as a JSON line or as readable text."""
_RENDER: Render | None = None
"""What worker processes render with: set before they are forked, so they inherit it."""
_FORK = "fork" in multiprocessing.get_all_start_methods()


def _renderer(config: AppConfig, source: str | None, network: str | None, fmt: str) -> Render:
    """The daemon's verdict on a text (the rules, then the second opinion where they could
    not decide, `[rules] second_opinion`), written out in `fmt`."""
    ruleset = build_ruleset(config)
    opinion = second_opinion(config)

    def verdict(text: str) -> Classification:
        found = classify(text, ruleset, source=source, network=network)
        return found if opinion is None else opinion.consult(text, found)

    if fmt == "json":
        return lambda text: verdict(text).to_json() + "\n"
    return lambda text: _readable(text, verdict(text).as_dict())


def _render_texts(texts: list[str]) -> list[str]:
    """What a worker process does with a chunk's new texts."""
    assert _RENDER is not None  # noqa: S101 (set before any worker is forked)
    return [_RENDER(text) for text in texts]


def available_cpus() -> int:
    """CPUs this process may run on: how many worker processes classify a file by default."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


@dataclass(slots=True)
class _Chunk:
    """Consecutive records, each with its line when an earlier chunk already rendered the
    same text, and the distinct texts still to render."""

    records: list[tuple[int, str | None, str | None, str | None]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    full: bool = False
    """Cut at a limit, not at the end of the input: more records may follow."""


def _chunks(records: Iterator[Record]) -> Iterator[_Chunk]:
    """The records in chunks of at most CHUNK records and CHUNK_CHARS characters of text."""
    chunk, size = _Chunk(), 0
    try:
        for number, text, error in records:
            chunk.records.append((number, text, error, None))
            size += len(text or "")
            if len(chunk.records) >= CHUNK or size >= CHUNK_CHARS:
                chunk.full = True
                yield chunk
                chunk, size = _Chunk(), 0
    except InputError:
        if chunk.records:
            yield chunk  # what came before a damaged part of the file is still classified
        raise
    if chunk.records:
        yield chunk


class _Run:
    """Chunks rendered (in a pool's workers, a few chunks ahead, or here) and their lines
    written in input order."""

    def __init__(self, output: _Output) -> None:
        self.output = output
        # A verdict depends on the text alone here (one source for the whole run), and
        # files repeat texts (28% of the St Petersburg appeals are exact copies): a repeat
        # is written from memory. The memory is bounded: full, it starts again.
        self.seen: dict[str, str] = {}
        # Texts sent to the workers in chunks not written yet: a repeat of one is not sent
        # again, its line is remembered by the time its own chunk is written.
        self.sent: set[str] = set()

    def run(self, chunks: Iterable[_Chunk], pool: Pool | None = None, workers: int = 0) -> None:
        """Render and write every chunk, with `pool` (of `workers`) up to two chunks per
        worker ahead of the writing."""
        pending: deque[tuple[_Chunk, Callable[[], list[str]]]] = deque()
        try:
            for chunk in chunks:
                self.prepare(chunk)
                if pool is None:
                    self.write(chunk, _render_texts(chunk.texts))
                    continue
                pending.append((chunk, pool.apply_async(_render_texts, (chunk.texts,)).get))
                self.drain(pending, keep=2 * workers)
        except InputError:
            self.drain(pending)  # a damaged part of the file ends the reading, not what came before
            raise
        self.drain(pending)

    def drain(self, pending: deque[tuple[_Chunk, Callable[[], list[str]]]], keep: int = 0) -> None:
        """Wait for the oldest chunks in the workers and write them, until `keep` are left."""
        while len(pending) > keep:
            chunk, lines = pending.popleft()
            self.write(chunk, lines())

    def prepare(self, chunk: _Chunk) -> None:
        """Note the lines of texts already rendered, and which texts are new."""
        for place, (number, text, error, _) in enumerate(chunk.records):
            if text is None or error is not None:
                continue
            known = self.seen.get(text)
            if known is not None:
                chunk.records[place] = (number, text, error, known)
            elif text not in self.sent:
                if len(text) <= REMEMBERED_CHARS:
                    self.sent.add(text)
                chunk.texts.append(text)

    def write(self, chunk: _Chunk, lines: list[str]) -> None:
        """Write a chunk's records in order: lines, and errors in their place."""
        fresh = dict(zip(chunk.texts, lines, strict=True))
        for number, text, error, known in chunk.records:
            if error is not None or text is None:
                self.output.error(number, error or "")
                continue
            # A repeat of a text sent in this chunk or an earlier one: its line is fresh or
            # remembered (unless the memory started again meanwhile: rendered here then).
            line = known or fresh.get(text) or self.seen.get(text) or _render_texts([text])[0]
            if len(text) <= REMEMBERED_CHARS:
                if len(self.seen) >= MAX_REMEMBERED:
                    self.seen.clear()
                self.seen[text] = line
            self.output.add(line)
        self.sent.difference_update(chunk.texts)


class _Output:
    """Lines to standard output a batch at a time, errors in their place."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.errors = 0
        # One write call per batch, not per line; the batch is written before anything
        # else is printed, so the order stays the input's.
        self.batch: list[str] = []

    def add(self, line: str) -> None:
        self.batch.append(line)
        if len(self.batch) >= BATCH:
            self.flush()

    def error(self, number: int, error: str) -> None:
        self.errors += 1
        self.flush()
        _print_error(number, error, self.fmt)

    def flush(self) -> None:
        """Write the lines kept and forget them."""
        if self.batch:
            sys.stdout.write("".join(self.batch))
            self.batch.clear()


def _print_error(number: int, error: str, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps({"line": number, "error": error, "group": None, "topic": None,
                          "actionable": False, "settlement": None, "address": None,
                          "score": 0, "why": []},
                         ensure_ascii=False))
    print(f"Ошибка: {error}", file=sys.stderr)


def _readable(text: str, result: dict[str, object]) -> str:
    short = " ".join(text.split())
    short = short[:77] + "…" if len(short) > 78 else short
    group = result["group"] or "—"
    mark = "нужна реакция" if result["actionable"] else "без реакции"
    place = ", ".join(str(p) for p in (result["settlement"], result["address"]) if p) \
        or "место не найдено"
    why = "; ".join(str(w) for w in result["why"]) or "ничего не совпало"  # type: ignore[attr-defined]
    return (f"{short}\n  → {group} / {result['topic'] or '—'} [{mark}, {result['score']}, {place}]:"
            f" {why}\n")
