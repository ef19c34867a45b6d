"""The event log of each incident: who did what and when, written with the change itself."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from storage.sql.db import Database, Tx
from storage.sql.timestamps import to_db
from storage.types import Actor, EventKind, IncidentEvent

_INSERT = (
    "INSERT INTO incident_events (incident_id, at, kind, actor_kind, actor_name, actor_ref,"
    " detail) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


async def add_event(
    tx: Tx, incident_id: int, at: datetime | str, kind: EventKind,
    actor: Actor, **detail: object,
) -> None:
    """Append one event to an incident's log, inside the caller's transaction."""
    await add_events(tx, at, kind, actor, [(incident_id, detail)])


async def add_events(
    tx: Tx, at: datetime | str, kind: EventKind, actor: Actor,
    details: Iterable[tuple[int, Mapping[str, object]]],
) -> None:
    """Append one event of a kind to each incident's log (incident id, detail), in one go."""
    moment = at if isinstance(at, str) else to_db(at)
    await tx.executemany(_INSERT, [
        (incident_id, moment, kind, actor.kind, actor.name, actor.ref,
         json.dumps(dict(detail), ensure_ascii=False, sort_keys=True))
        for incident_id, detail in details])


async def events_of(db: Database, incident_id: int) -> list[IncidentEvent]:
    """An incident's log, in the order it was written."""
    rows = await db.fetchall(
        "SELECT at, kind, actor_kind, actor_name, actor_ref, detail FROM incident_events"
        " WHERE incident_id = ? ORDER BY id", (incident_id,),
    )
    return [IncidentEvent(datetime.fromisoformat(r["at"]), r["kind"],
                          Actor(r["actor_kind"], r["actor_name"], r["actor_ref"]),
                          _detail(r["detail"])) for r in rows]


def _detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
