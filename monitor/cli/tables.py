"""Input tables for `classify` and `eval`: CSV with `,`, `;` or tab (as Russian Excel writes)
and `.xlsx` workbooks (first sheet), read as rows of strings with line numbers."""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TextIO

MAX_FIELD = 10_000_000
_DELIMITERS = (",", ";", "\t")
_SNIFF = 65_536
"""How much of the header line decides the separator."""


class InputError(Exception):
    """The input file cannot be read at all."""


class TableReader(Protocol):
    """What `csv.reader` returns: records and the line number reached."""

    @property
    def line_num(self) -> int: ...

    def __next__(self) -> list[str]: ...

    def __iter__(self) -> Iterator[list[str]]: ...


@contextmanager
def open_input(path: Path) -> Iterator[TextIO]:
    """Open a UTF-8 (BOM allowed) input file; unreadable or non-UTF-8 input is an InputError."""
    csv.field_size_limit(MAX_FIELD)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        msg = f"файл {path} не открыт: {exc.strerror or exc}"
        raise InputError(msg) from None
    with handle:
        try:
            yield handle
        except UnicodeDecodeError as exc:
            msg = f"файл {path} не в кодировке UTF-8 (байт {exc.start})"
            raise InputError(msg) from None


def is_workbook(path: Path) -> bool:
    """Whether the file is read as an Excel workbook (by its name)."""
    return path.suffix.lower() in (".xlsx", ".xlsm")


@contextmanager
def open_table(path: Path) -> Iterator[TableReader]:
    """Rows of a CSV (separator from the header line) or of a workbook's first sheet."""
    if is_workbook(path):
        with _open_workbook(path) as sheet:
            yield sheet
        return
    with open_input(path) as handle:
        header = handle.readline(_SNIFF)
        handle.seek(0)
        counts = {d: header.count(d) for d in _DELIMITERS}
        delimiter = max(_DELIMITERS, key=lambda d: counts[d]) if any(counts.values()) else ","
        yield csv.reader(handle, delimiter=delimiter)


class _SheetRows:
    """A worksheet read as csv.reader reads a file: lists of strings, `line_num` the row."""

    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self._rows = rows
        self._width: int | None = None
        self.line_num = 0

    def __iter__(self) -> _SheetRows:
        return self

    def __next__(self) -> list[str]:
        row = list(next(self._rows))
        self.line_num += 1
        if self._width is None:  # the header: trailing empty cells are no columns
            while row and row[-1] is None:
                row.pop()
            self._width = len(row)
        elif len(row) > self._width and all(v is None for v in row[self._width:]):
            row = row[:self._width]
        return ["" if value is None else _cell(value) for value in row]


def _cell(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@contextmanager
def _open_workbook(path: Path) -> Iterator[_SheetRows]:
    from openpyxl import load_workbook  # only `classify`/`eval` on a workbook pay for it

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except OSError as exc:
        msg = f"файл {path} не открыт: {exc.strerror or exc}"
        raise InputError(msg) from None
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        msg = f"файл {path} не читается как книга Excel .xlsx ({type(exc).__name__})"
        raise InputError(msg) from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise InputError(f"в книге {path} нет листов")
        yield _SheetRows(sheet.iter_rows(values_only=True))
    finally:
        book.close()
