"""`monitor rules test`: replay stored items through a changed rule file and show what changes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from monitor.config import AppConfig, build_ruleset, with_rules_from
from monitor.poller import Intake
from monitor.problems import ConfigError
from monitor.workcal import WorkingCalendar
from rules import RulesError
from storage import ClassifiedItem
from storage.replay import ReadOnlyDatabase, StoredItem

NONE = "—"


@dataclass(frozen=True, slots=True)
class Change:
    """One stored item whose verdict the new rules would change."""

    stored: StoredItem
    before: ClassifiedItem
    after: ClassifiedItem

    def as_json(self) -> dict[str, object]:
        """The change as plain data for `--format json`."""
        stored, item = self.stored, self.stored.item
        return {
            "item_id": stored.id, "source": item.source_id, "external_id": item.external_id,
            "network": stored.network, "url": item.url, "text": item.text,
            "is_official": item.is_official, "incident_id": stored.incident_id,
            "incident_status": stored.incident_status,
            "before": _verdict_json(self.before), "after": _verdict_json(self.after),
        }


@dataclass(slots=True)
class Bucket:
    """How many items changed one way, and the first few of them."""

    count: int = 0
    examples: list[Change] = field(default_factory=list)

    def add(self, change: Change, limit: int) -> None:
        """Count the change; keep it as an example while there is room."""
        self.count += 1
        if len(self.examples) < limit:
            self.examples.append(change)

    def as_json(self) -> dict[str, object]:
        """The count and the examples as plain data."""
        return {"count": self.count, "examples": [c.as_json() for c in self.examples]}


@dataclass(slots=True)
class Replay:
    """What the new rules would change; each item lands in at most one bucket."""

    items: int = 0
    new_incidents: Bucket = field(default_factory=Bucket)
    lost_incidents: Bucket = field(default_factory=Bucket)
    changed_groups: Bucket = field(default_factory=Bucket)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)

    def as_json(self) -> dict[str, object]:
        """Every figure as plain data for `--format json`."""
        return {
            "items": self.items,
            "new_incidents": self.new_incidents.as_json(),
            "lost_incidents": self.lost_incidents.as_json(),
            "changed_groups": {
                **self.changed_groups.as_json(),
                "transitions": [{"from": old, "to": new, "count": n}
                                for (old, new), n in _by_count(self.transitions)],
            },
        }


class Replayer:
    """Classifies stored items as the poller would under the old and the new rules."""

    def __init__(self, old: AppConfig, new: AppConfig, limit: int) -> None:
        calendar = WorkingCalendar(old.calendar)
        self._old = Intake(old, build_ruleset(old), calendar)
        self._new = Intake(new, build_ruleset(new), calendar)
        self._limit = limit
        # Deadlines are worked out but never shown; any aware moment will do.
        self._now = datetime.now(UTC)
        self.replay = Replay()

    def compare(self, stored: StoredItem) -> None:
        """Classify one item under both rule sets and file the difference, if any."""
        item, network = stored.item, stored.network
        change = Change(
            stored,
            self._old.classify(item, network, self._now),
            self._new.classify(item, network, self._now),
        )
        before, after = change.before.incident is not None, change.after.incident is not None
        replay = self.replay
        replay.items += 1
        if after and not before:
            replay.new_incidents.add(change, self._limit)
        elif before and not after:
            replay.lost_incidents.add(change, self._limit)
        elif change.before.group != change.after.group:
            replay.changed_groups.add(change, self._limit)
            replay.transitions[(change.before.group or NONE, change.after.group or NONE)] += 1


async def replay_items(path: Path, replayer: Replayer) -> Replay:
    """Read every stored item (read-only) and compare its verdicts under both rule sets."""
    async with ReadOnlyDatabase.open(path) as db:
        async for stored in db.stored_items():
            replayer.compare(stored)
    return replayer.replay


def rules_test_command(config: AppConfig, rules_path: str, limit: int, fmt: str) -> int:
    """Replay the stored items through `rules_path` instead of the config's rules."""
    try:
        new_config = with_rules_from(config, Path(rules_path))
    except ConfigError as exc:
        print(f"Правила {rules_path} содержат ошибки ({len(exc.problems)}):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    return replay_command(config, new_config, limit, fmt, label=rules_path)


def replay_command(
    config: AppConfig, new_config: AppConfig, limit: int, fmt: str, label: str = ""
) -> int:
    """Compare the stored items under both configs' rules and print the differences."""
    path = config.database_path
    try:
        replayer = Replayer(config, new_config, limit)
    except RulesError as exc:
        print(f"Ошибка в правилах: {exc}", file=sys.stderr)
        return 2
    if not path.exists() and fmt != "json":
        print(f"База {path} не найдена: сохранённых сообщений нет, проверять не на чем.")
        return 0
    try:
        replay = asyncio.run(replay_items(path, replayer)) if path.exists() else Replay()
    except sqlite3.Error as exc:
        print(f"Ошибка: база {path} не прочитана: {exc}", file=sys.stderr)
        return 1
    if fmt == "json":
        data = {"rules": label, "database": str(path), **replay.as_json()}
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print_replay(replay, label, path)
    return 0


def print_replay(replay: Replay, label: str, path: Path) -> None:
    """Print the counts, then up to the limit of examples of each kind of change."""
    print(f"Правила {label or '(новые)'} на {replay.items} сохранённых сообщениях ({path}):")
    buckets = (("Новые инциденты", replay.new_incidents),
               ("Пропавшие инциденты", replay.lost_incidents),
               ("Сменили группу", replay.changed_groups))
    for title, bucket in buckets:
        print(f"  {title.lower()}: {bucket.count}")
    if replay.transitions:
        print("Смены групп (было → стало):")
        for (old, new), count in _by_count(replay.transitions):
            print(f"  {old} → {new}: {count}")
    for title, bucket in buckets:
        if bucket.examples:
            print(f"\n{title} ({bucket.count}, показано {len(bucket.examples)}):")
            for change in bucket.examples:
                _print_change(change)
    if not any(bucket.count for _, bucket in buckets):
        print("Ничего не изменится.")


def _print_change(change: Change) -> None:
    stored, item = change.stored, change.stored.item
    text = " ".join(item.text.split())
    text = text[:117] + "…" if len(text) > 118 else text
    notes = " (официальный аккаунт)" if item.is_official else ""
    if stored.incident_id is not None:
        notes += f" (инцидент #{stored.incident_id}, {stored.incident_status})"
    print(f"  {item.source_id}/{item.external_id} {item.url}{notes}\n"
          f"    {text}\n"
          f"    было: {_verdict(change.before)} → стало: {_verdict(change.after)}")


def _verdict(verdict: ClassifiedItem) -> str:
    mark = "нужна реакция" if verdict.incident is not None else "без реакции"
    return f"{verdict.group or NONE} / {verdict.topic or NONE} [{mark}, {verdict.score:g}]"


def _verdict_json(verdict: ClassifiedItem) -> dict[str, object]:
    return {"group": verdict.group, "topic": verdict.topic, "actionable": verdict.actionable,
            "needs_reaction": verdict.incident is not None, "score": round(verdict.score, 2),
            "why": list(verdict.why)}


def _by_count(counts: Counter[tuple[str, str]]) -> list[tuple[tuple[str, str], int]]:
    return sorted(counts.items(), key=lambda entry: (-entry[1], entry[0]))
