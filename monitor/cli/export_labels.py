"""`monitor export-labels`: the topics staff corrected, as a labelled CSV for `monitor eval`."""

from __future__ import annotations

import csv
import os
import secrets
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.cli.database import CommandFailed, existing_store
from monitor.config import AppConfig
from rules import GROUPS
from storage import Store

COLUMNS = ("text", "group", "topic")


@dataclass(frozen=True, slots=True)
class LabelRow:
    """An incident's text with the ЦУР group and topic id staff gave it."""

    text: str
    group: str
    topic: str


async def corrected_rows(store: Store) -> tuple[list[LabelRow], int]:
    """Rows of incidents whose topic staff corrected, oldest first, and how many of them
    were left out because their group is not a ЦУР group."""
    # The Store has no query for incidents by event kind, so every incident's log is read:
    # fine for a municipality's thousands of incidents; a Store method would do it in one.
    rows: list[LabelRow] = []
    left_out = 0
    for incident in await store.list_incidents():
        events = await store.events_of(incident.id)
        if not any(event.kind == "reclassified" for event in events):
            continue
        if incident.group_name not in GROUPS:
            left_out += 1
            continue
        rows.append(LabelRow(incident.text, incident.group_name, incident.topic or ""))
    return rows, left_out


def write_csv(path: Path, rows: Sequence[LabelRow]) -> None:
    """Write the rows with a header as UTF-8 CSV: a temporary file beside `path`, then a
    rename, so a reader never sees half a file. Raises OSError."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(descriptor, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows((row.text, row.group, row.topic) for row in rows)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


async def export_labels(config: AppConfig, out: Path) -> int:
    """Write the corrected topics to `out` and say how many rows; return the exit code."""
    try:
        async with existing_store(config.store_location(os.environ)) as store:
            rows, left_out = await corrected_rows(store)
    except CommandFailed as exc:
        print(exc.message, file=sys.stderr)
        return exc.code
    try:
        write_csv(out, rows)
    except OSError as exc:
        print(f"Не удалось записать {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"Записано строк: {len(rows)} в {out} (колонки {', '.join(COLUMNS)}).")
    if left_out:
        print(f"Пропущено инцидентов без группы из рубрикатора ЦУР: {left_out}.")
    if rows:
        print(f"Оценка правил на них: monitor eval --config {shlex.quote(str(config.path))} "
              f"--data {shlex.quote(str(out))} --text-column text --label-column group")
    return 0
