"""Labelled rows for `monitor eval`: the CSV of texts and labels, and the label map."""

from __future__ import annotations

import csv
import difflib
import html
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from monitor.cli.tables import InputError, TableReader, open_table
from monitor.config.problems import ConfigError, Problem
from rules import GROUPS

_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>]*>", re.DOTALL)

LabelMap = Mapping[str, str | None]
"""A label (whitespace collapsed) → its ЦУР group, or None for rows to leave out. A group
written «main|also» counts a verdict of either group as right (a routing that is genuinely
either, such as lighting of a road or a yard); the row is scored under the main one."""
ALSO = "|"


@dataclass(frozen=True, slots=True)
class Row:
    """One CSV record: its last line, text, label and (if asked for) whether it needs a
    reaction, as written; text and label are None when the record is malformed."""

    line: int
    text: str | None
    label: str | None
    reaction: str | None = None


def html_to_text(text: str) -> str:
    """Return the text without HTML tags and with entities unescaped (exports carry HTML)."""
    return html.unescape(_TAG.sub(" ", text)).replace("\xa0", " ")


YES = frozenset({"true", "1", "да", "yes", "y", "+"})
NO = frozenset({"false", "0", "нет", "no", "n", "-"})


def reaction_value(value: str) -> bool | None:
    """Whether a row's flag says it needs a reaction; None when it says neither."""
    word = value.strip().lower()
    return True if word in YES else False if word in NO else None


def label_key(label: str) -> str:
    """A label as matched against the map: surrounding and repeated whitespace ignored."""
    return " ".join(label.split())


def load_label_map(path: Path) -> dict[str, str | None]:
    """Read a `label,group` CSV; raise ConfigError naming every bad row at once."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "не в кодировке UTF-8" if isinstance(exc, UnicodeDecodeError) else (
            f"не прочитан: {exc.strerror or exc}")
        raise ConfigError([Problem(file, None, "", f"файл {reason}")]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    if "label" not in header or "group" not in header:
        found = ", ".join(header) or "ничего"
        msg = f"нужны колонки label и group; есть: {found}"
        raise ConfigError([Problem(file, 1 if header else None, "", msg)])
    mapping: dict[str, str | None] = {}
    lines: dict[str, int] = {}
    problems: list[Problem] = []
    for record in reader:
        if not any(cell.strip() for cell in record):
            continue
        line = reader.line_num
        label, group = _map_row(record, header, file, line, problems)
        if label is None:
            continue
        if label in mapping and mapping[label] != group:
            msg = f"метка {label!r} уже отнесена к {mapping[label]!r} в строке {lines[label]}"
            problems.append(Problem(file, line, "label", msg))
        mapping.setdefault(label, group)
        lines.setdefault(label, line)
    if not mapping and not problems:
        problems.append(Problem(file, None, "", "карта меток пуста"))
    if problems:
        raise ConfigError(problems)
    return mapping


def _map_row(
    record: list[str], header: list[str], file: str, line: int, problems: list[Problem]
) -> tuple[str | None, str | None]:
    if len(record) != len(header):
        msg = f"ожидалось {len(header)} колонок, в строке {len(record)}"
        problems.append(Problem(file, line, "", msg))
        return None, None
    label = label_key(record[header.index("label")])
    group = record[header.index("group")].strip() or None
    if not label:
        problems.append(Problem(file, line, "label", "пустая метка"))
        return None, None
    for part in [] if group is None else group.split(ALSO):
        if part not in GROUPS:
            close = difflib.get_close_matches(part, GROUPS, n=1)
            hint = f"; может быть, {close[0]!r}?" if close else ""
            msg = f"группа {part!r} не из рубрикатора ЦУР (rules.GROUPS){hint}"
            problems.append(Problem(file, line, "group", msg))
            return None, None
    return label, group


def read_rows(
    path: Path, text_column: str, label_column: str, reaction_column: str | None = None
) -> Iterator[Row]:
    """Yield one Row per CSV or workbook record, streaming; a malformed record yields a Row
    without data."""
    columns = (text_column, label_column, *([reaction_column] if reaction_column else []))
    with open_table(path) as reader:
        yield from _records(reader, path, *columns)


def _records(reader: TableReader, path: Path, *columns: str) -> Iterator[Row]:
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"файл {path} пуст") from None
    except csv.Error as exc:
        raise InputError(f"{path}: заголовок CSV повреждён ({exc})") from None
    absent = [c for c in columns if c not in header]
    if absent:
        names = ", ".join(repr(c) for c in absent)
        msg = f"в {path} нет колонки {names}; есть: {', '.join(header) or 'ничего'}"
        raise InputError(msg)
    places = [header.index(c) for c in columns]
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error:
            # The reader resumes at the next line; the broken record is counted, not fatal.
            yield Row(reader.line_num, None, None)
            continue
        if len(record) == len(header):
            yield Row(reader.line_num, *(record[at] for at in places))
        elif record:
            yield Row(reader.line_num, None, None)
