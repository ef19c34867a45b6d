"""The event log of each incident: who did what and when, written with the change itself."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from storage.sql.db import Database, Tx
from storage.sql.timestamps import to_db
from storage.types import Actor, EventKind, IncidentEvent


async def add_event(
    tx: Tx, incident_id: int, at: datetime | str, kind: EventKind,
    actor: Actor, **detail: object,
) -> None:
    """Append one event to an incident's log, inside the caller's transaction."""
    moment = at if isinstance(at, str) else to_db(at)
    await tx.execute(
        "INSERT INTO incident_events (incident_id, at, kind, actor_kind, actor_name, actor_ref,"
        " detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (incident_id, moment, kind, actor.kind, actor.name, actor.ref,
         json.dumps(detail, ensure_ascii=False, sort_keys=True)),
    )


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
