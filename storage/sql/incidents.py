"""Incidents: listing them, finding those whose alert is due, and queueing alerts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from storage.sql.db import Database, Row, Tx
from storage.sql.timestamps import from_db, to_db
from storage.types import AlertProgress, DueAlert, IncidentRow

_COLUMNS = (
    "id, source_id, group_name, topic, topic_name, organisation, priority, status,"
    " opened_at, warn_at, due_at, warned_at, overdue_at, answered_at, url, text, settlement,"
    " (SELECT COUNT(*) FROM incident_repeats r WHERE r.incident_id = incidents.id) AS repeats,"
    " assignee, snoozed_until, closed_at, close_reason, answered_by, answer_url, answer_text,"
    " policy, policy_terms, clock_started_at, resolution_due_at, deadline_round,"
    " round_started_at, municipality, im_topic, address"
)
_TIMES = ("opened_at", "warn_at", "due_at", "warned_at", "overdue_at", "answered_at",
          "snoozed_until", "closed_at", "clock_started_at", "resolution_due_at",
          "round_started_at")
OPEN = "status IN ('open', 'in_work')"
"""Incidents that still wait for an answer (`storage.types.OPEN_STATUSES`)."""

_DUE_WHERE = f"{OPEN} AND next_alert_at <= :now"
DUE_ALERTS = (f"SELECT {_COLUMNS}, next_alert_at, alerted_until, announced_at FROM incidents"
              " {index} WHERE " + _DUE_WHERE + " ORDER BY next_alert_at, id LIMIT :limit")
"""Open incidents whose next alert step is due. A new incident, a moved deadline, a reopened
incident and a snooze set `next_alert_at` by trigger (SQLite's migration 0011, PostgreSQL's
0005), so whatever changes them is looked at by the next tick; the partial index over open
incidents keeps the tick fast on any number of them. `{index}` is a backend's hint to take it:
SQLite's planner, without statistics, would rather walk an index on `status`."""
_EXTRA = ("next_alert_at", "alerted_until", "announced_at")


def incident_row(row: Row) -> IncidentRow:
    """A row selected with _COLUMNS as an IncidentRow."""
    r = {key: row[key] for key in row.keys() if key not in _EXTRA}
    for key in _TIMES:
        r[key] = from_db(r[key])
    r["policy_terms"] = json.loads(r["policy_terms"]) if r["policy_terms"] else None
    return IncidentRow(**r)


async def open_counts(db: Database, now: datetime) -> dict[str | None, tuple[int, int]]:
    """Open incidents per group and how many of them are past due at `now` (see `Store`)."""
    rows = await db.fetchall(
        "SELECT group_name, COUNT(*) AS n, SUM(CASE WHEN due_at <= ? THEN 1 ELSE 0 END) AS late"
        f" FROM incidents WHERE {OPEN} GROUP BY group_name", (to_db(now),))
    return {row["group_name"]: (row["n"], row["late"] or 0) for row in rows}


async def list_incidents(
    db: Database, overdue_at: datetime | None = None, open_only: bool = False
) -> list[IncidentRow]:
    """Incidents, oldest first; only those still open with `open_only`, and only those open and
    past due at `overdue_at` with it."""
    where, params = [], []
    if open_only or overdue_at is not None:
        where.append(OPEN)
    if overdue_at is not None:
        where.append("due_at <= ?")
        params.append(to_db(overdue_at))
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM incidents{condition} ORDER BY id", params)
    return [incident_row(r) for r in rows]


PROBLEM = (
    "SELECT {columns} FROM incidents WHERE opened_at >= ? AND opened_at < ?"
    " AND group_name = ? AND settlement = ? AND municipality IS NOT DISTINCT FROM ?"
    " ORDER BY opened_at, id"
)
"""Incidents of one problem (group, settlement, municipality) opened in a span: a range of the
`incidents_opened` index, nothing read of other problems nor of event logs."""


async def problem_incidents(
    db: Database, group: str, settlement: str, municipality: str | None,
    start: datetime, end: datetime,
) -> list[IncidentRow]:
    """Incidents of a group in a settlement (and municipality) opened in [start, end), oldest
    first."""
    rows = await db.fetchall(PROBLEM.format(columns=_COLUMNS),
                             (to_db(start), to_db(end), group, settlement, municipality))
    return [incident_row(r) for r in rows]


async def incident(db: Database, incident_id: int) -> IncidentRow | None:
    """One incident by its number, or None."""
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM incidents WHERE id = ?", (incident_id,))
    return None if row is None else incident_row(row)


async def due_alerts(
    db: Database, now: datetime, limit: int = 1000, index: str = ""
) -> list[DueAlert]:
    """Open incidents whose next alert step is due now, the longest waiting first (`index`: the
    backend's hint, see DUE_ALERTS)."""
    rows = await db.fetchall(DUE_ALERTS.replace("{index}", index),
                             {"now": to_db(now), "limit": limit})
    return [DueAlert(incident_row(row), from_db(row["next_alert_at"]),  # type: ignore[arg-type]
                     from_db(row["alerted_until"]), row["announced_at"] is not None)
            for row in rows]


async def queue_alerts(db: Database, progress: Sequence[AlertProgress], now: datetime) -> int:
    """Write incidents' due alert steps to the outbox and move their alert schedules on, in one
    transaction; return rows added.

    An incident is skipped unless it is still open and still at the `next_alert_at` the tick
    read: staff may have answered it, or another tick queued its steps, meanwhile. The outbox
    keeps one row per incident, reason and chat, so a step never goes twice to a chat.
    """
    if not progress:
        return 0
    moment = to_db(now)
    added = 0
    async with db.transaction() as tx:
        current = await _still_due(tx, [p.incident_id for p in progress])
        kept = [p for p in progress if current.get(p.incident_id) == to_db(p.seen)]
        rows = [(p.incident_id, step.reason, m.chat_id, m.thread_id, m.text, m.link,
                 _db(step.not_before) or moment, moment)
                for p in kept for step in p.steps for m in step.messages]
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start:start + _ROWS_PER_INSERT]
            added += await tx.execute(
                "INSERT INTO outbox (incident_id, reason, chat_id, thread_id, text, link,"
                " next_attempt_at, created_at) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
                + " ON CONFLICT (incident_id, reason, chat_id) WHERE incident_id IS NOT NULL"
                " DO NOTHING", [value for row in chunk for value in row])
        await tx.executemany(
            "UPDATE incidents SET"
            " announced_at = CASE WHEN :announced THEN COALESCE(announced_at, :now)"
            "  ELSE announced_at END,"
            " warned_at = CASE WHEN :warned THEN COALESCE(warned_at, :now) ELSE warned_at END,"
            " overdue_at = CASE WHEN due_at <= :now THEN COALESCE(overdue_at, :now)"
            "  ELSE overdue_at END,"
            " snoozed_until = CASE WHEN :ended THEN NULL ELSE snoozed_until END,"
            " alerted_until = :until, next_alert_at = :next WHERE id = :id",
            [{"now": moment, "announced": p.alerted_until is not None,
              "warned": any(s.kind == "warning" for s in p.steps),
              "ended": p.snooze_ended, "until": _db(p.alerted_until),
              "next": _db(p.next_alert_at), "id": p.incident_id} for p in kept],
        )
    return added


async def _still_due(tx: Tx, ids: list[int]) -> dict[int, str]:
    """`next_alert_at` of those of the incidents that are still open."""
    found: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        rows = await tx.fetchall(f"SELECT id, next_alert_at FROM incidents WHERE id IN ({marks})"
                                 f" AND {OPEN}", chunk)
        found.update({row[0]: row[1] for row in rows})
    return found


_ROWS_PER_INSERT = 500
"""Outbox rows per INSERT: one statement a batch (its changed-row count is what was added), 4,000
parameters, within SQLite's and PostgreSQL's limits."""


def _db(moment: datetime | None) -> str | None:
    return None if moment is None else to_db(moment)
