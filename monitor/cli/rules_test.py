"""`monitor rules test`: replay stored items through a changed rule file and show what changes."""

from __future__ import annotations

import asyncio
import heapq
import json
import os
import sys
from collections import Counter, deque
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from common.fingerprints import Fingerprint, fingerprint
from monitor.config import AppConfig, build_ruleset, with_rules_from
from monitor.config.problems import ConfigError
from monitor.daemon.intake import Intake
from monitor.daemon.workcal import WorkingCalendar
from rules import RulesError
from storage import (
    SYSTEM,
    Action,
    ClassifiedItem,
    StorageError,
    Store,
    StoredItem,
    StoreLocation,
    open_read_only_store,
    open_scratch_store,
)

NONE = "—"


OPENS, JOINS, NOTHING = "opens", "joins", "none"
"""What an item does under a rule set: opens an incident, joins an open one as a repeat, or
needs no reaction."""


@dataclass(frozen=True, slots=True)
class Change:
    """One stored item whose verdict the new rules would change."""

    stored: StoredItem
    before: ClassifiedItem
    after: ClassifiedItem
    outcomes: tuple[str, str]
    """(before, after): OPENS, JOINS or NOTHING."""

    def as_json(self) -> dict[str, object]:
        """The change as plain data for `--format json`."""
        stored, item = self.stored, self.stored.item
        return {
            "item_id": stored.id, "source": item.source_id, "external_id": item.external_id,
            "network": stored.network, "url": item.url, "text": item.text,
            "is_official": item.is_official, "incident_id": stored.incident_id,
            "incident_status": stored.incident_status,
            "before": _verdict_json(self.before, self.outcomes[0]),
            "after": _verdict_json(self.after, self.outcomes[1]),
        }


@dataclass(slots=True)
class Bucket:
    """How many items changed one way, and the latest few of them."""

    limit: int
    count: int = 0
    latest: deque[Change] = field(init=False)

    def __post_init__(self) -> None:
        self.latest = deque(maxlen=self.limit)

    def add(self, change: Change) -> None:
        """Count the change and keep it among the latest examples."""
        self.count += 1
        if self.limit:
            self.latest.append(change)

    @property
    def examples(self) -> list[Change]:
        """The latest changes, newest first."""
        return list(reversed(self.latest))

    def as_json(self) -> dict[str, object]:
        """The count and the examples as plain data."""
        return {"count": self.count, "examples": [c.as_json() for c in self.examples]}


@dataclass(slots=True)
class Replay:
    """What the new rules would change; each item lands in at most one bucket."""

    limit: int = 20
    items: int = 0
    damaged: int = 0
    """Stored rows that could not be read and were skipped."""
    new_incidents: Bucket = field(init=False)
    lost_incidents: Bucket = field(init=False)
    new_repeats: Bucket = field(init=False)
    lost_repeats: Bucket = field(init=False)
    changed_groups: Bucket = field(init=False)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for name in BUCKETS:
            setattr(self, name, Bucket(self.limit))

    def file(self, change: Change) -> None:
        """Put a compared item in the bucket of its change, if it changed."""
        before, after = change.outcomes
        self.items += 1
        if after == OPENS and before != OPENS:
            self.new_incidents.add(change)
        elif before == OPENS and after != OPENS:
            self.lost_incidents.add(change)
        elif before == NOTHING and after == JOINS:
            self.new_repeats.add(change)
        elif before == JOINS and after == NOTHING:
            self.lost_repeats.add(change)
        elif change.before.group != change.after.group:
            self.changed_groups.add(change)
            self.transitions[(change.before.group or NONE, change.after.group or NONE)] += 1

    def as_json(self) -> dict[str, object]:
        """Every figure as plain data for `--format json`."""
        data: dict[str, object] = {"items": self.items, "damaged_rows": self.damaged}
        data.update((name, getattr(self, name).as_json()) for name in BUCKETS)
        data["changed_groups"] = {
            **self.changed_groups.as_json(),
            "transitions": [{"from": old, "to": new, "count": n}
                            for (old, new), n in _by_count(self.transitions)],
        }
        return data


BUCKETS = {
    "new_incidents": "Новые инциденты",
    "lost_incidents": "Пропавшие инциденты",
    "new_repeats": "Новые повторы (присоединятся к открытым инцидентам)",
    "lost_repeats": "Пропавшие повторы",
    "changed_groups": "Сменили группу",
}
"""Replay buckets by field, with their titles in the report."""


class Side:
    """One rule set's run over the stored items: its intake and, when repeats join incidents,
    a scratch store in memory where its incidents open, repeats join them and answers
    close them as in the daemon (answered when the real complaint was answered)."""

    def __init__(
        self, config: AppConfig, calendar: WorkingCalendar,
        fingerprinter: Callable[[str], Fingerprint | None],
    ) -> None:
        joins = config.repeats.enabled
        self.intake = Intake(config, build_ruleset(config), calendar,
                             fingerprinter if joins else None)
        self.scratch: Store | None = None
        self._answers: list[tuple[datetime, int]] = []
        self._pruned: datetime | None = None

    async def outcomes(self, poll: list[StoredItem]) -> list[tuple[ClassifiedItem, str]]:
        """Classify the items of one poll (one source, one moment) and save those that need a
        reaction in the scratch store, as the poller saved them: one page, one transaction."""
        now = poll[0].first_seen_at
        verdicts = [self.intake.classify(s.item, s.network, now) for s in poll]
        pending = [v for v in verdicts if v.incident is not None]
        repeats = self.intake.repeats
        if not pending or self.scratch is None:
            return [(v, NOTHING if v.incident is None else OPENS) for v in verdicts]
        await self._catch_up(self.scratch, now, repeats.window)
        result = await self.scratch.save_items_and_cursor(poll[0].item.source_id, pending, {},
                                                          now, repeats)
        found = []
        for stored, verdict in zip(poll, verdicts, strict=True):
            joined, incident = result.by_item.get(verdict.item.external_id, (None, 0))
            if joined is False and stored.answered_at is not None:
                heapq.heappush(self._answers, (stored.answered_at, incident))
            found.append((verdict, NOTHING if joined is None else JOINS if joined else OPENS))
        return found

    async def _catch_up(self, scratch: Store, now: datetime, window: timedelta) -> None:
        """Answer the scratch incidents answered by `now`; now and then forget the past."""
        while self._answers and self._answers[0][0] <= now:
            answered_at, incident = heapq.heappop(self._answers)
            await scratch.act(incident, Action("answer", SYSTEM), answered_at)
        if self._pruned is None or now - self._pruned >= window / 4:
            await scratch.forget_before(now - window)
            self._pruned = now


class Replayer:
    """Runs stored items, oldest first, through the old and the new rules as the poller
    would: a repeat of an open complaint joins its incident instead of opening one."""

    def __init__(self, old: AppConfig, new: AppConfig, limit: int) -> None:
        calendar = WorkingCalendar(old.calendar)
        # Both sides fingerprint the same texts: a fingerprint (a MinHash, ~0.3 ms) is made once.
        fingerprinter = lru_cache(maxsize=4096)(fingerprint)
        self._sides = (Side(old, calendar, fingerprinter), Side(new, calendar, fingerprinter))
        self.replay = Replay(limit)

    async def compare(self, poll: list[StoredItem]) -> None:
        """Run the items of one poll under both rule sets and file each difference."""
        before, after = [await side.outcomes(poll) for side in self._sides]
        for stored, (old, was), (new, becomes) in zip(poll, before, after, strict=True):
            self.replay.file(Change(stored, old, new, (was, becomes)))

    async def run(self, path: StoreLocation) -> Replay:
        """Read every stored item (read-only), poll by poll, and compare both rule sets."""
        async with AsyncExitStack() as stack:
            for side in self._sides:
                if side.intake.repeats.join:
                    side.scratch = await open_scratch_store()
                    stack.push_async_callback(side.scratch.close)
            async with open_read_only_store(path) as db:
                poll: list[StoredItem] = []
                async for stored in db.stored_items():
                    if poll and (stored.first_seen_at, stored.item.source_id) != \
                            (poll[0].first_seen_at, poll[0].item.source_id):
                        await self.compare(poll)
                        poll = []
                    poll.append(stored)
                if poll:
                    await self.compare(poll)
                self.replay.damaged = db.damaged
        return self.replay


def rules_test_command(config: AppConfig, rules_path: str, limit: int, fmt: str) -> int:
    """Replay the stored items through `rules_path` instead of the config's rules."""
    try:
        new_config = with_rules_from(config, Path(rules_path))
    except ConfigError as exc:
        print(exc.described(f"Правила {rules_path} содержат ошибки"), file=sys.stderr)
        return 2
    return replay_command(config, new_config, limit, fmt, label=rules_path)


def replay_command(
    config: AppConfig, new_config: AppConfig, limit: int, fmt: str, label: str = ""
) -> int:
    """Compare the stored items under both configs' rules and print the differences."""
    path = config.store_location(os.environ)
    try:
        replayer = Replayer(config, new_config, limit)
    except RulesError as exc:
        print(f"Ошибка в правилах: {exc}", file=sys.stderr)
        return 2
    exists = not isinstance(path, Path) or path.exists()
    if not exists and fmt != "json":
        print(f"База {path} не найдена: сохранённых сообщений нет, проверять не на чем.")
        return 0
    try:
        replay = asyncio.run(replayer.run(path)) if exists else Replay(limit)
    except StorageError as exc:
        print(f"Ошибка: {exc}", file=sys.stderr)
        return 1
    if fmt == "json":
        data = {"rules": label, "database": str(path), **replay.as_json()}
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print_replay(replay, label, path)
    return 0


def print_replay(replay: Replay, label: str, path: StoreLocation) -> None:
    """Print the counts, then up to the limit of examples of each kind of change."""
    print(f"Правила {label or '(новые)'} на {replay.items} сохранённых сообщениях ({path}):")
    if replay.damaged:
        print(f"  пропущено повреждённых записей в базе: {replay.damaged}")
    buckets = [(title, getattr(replay, name)) for name, title in BUCKETS.items()]
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
          f"    было: {_verdict(change.before, change.outcomes[0])} → "
          f"стало: {_verdict(change.after, change.outcomes[1])}")


OUTCOME_MARKS = {OPENS: "новый инцидент", JOINS: "повтор открытого инцидента",
                 NOTHING: "без реакции"}


def _verdict(verdict: ClassifiedItem, outcome: str) -> str:
    mark = OUTCOME_MARKS[outcome]
    return f"{verdict.group or NONE} / {verdict.topic or NONE} [{mark}, {verdict.score:g}]"


def _verdict_json(verdict: ClassifiedItem, outcome: str) -> dict[str, object]:
    return {"group": verdict.group, "topic": verdict.topic, "actionable": verdict.actionable,
            "needs_reaction": verdict.incident is not None, "outcome": outcome,
            "score": round(verdict.score, 2), "why": list(verdict.why)}


def _by_count(counts: Counter[tuple[str, str]]) -> list[tuple[tuple[str, str], int]]:
    return sorted(counts.items(), key=lambda entry: (-entry[1], entry[0]))
