"""Items, their versions, classifications, cursors and new incidents: saved in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from connectors.base import Cursor
from storage.sql.db import Database, Tx
from storage.sql.events import add_event
from storage.sql.repeats import (
    add_repeat,
    find_repeated_incident,
    forget_texts_before,
    has_incident,
    remember_bands,
)
from storage.sql.threads import answer_in_thread, follow_answer
from storage.sql.timestamps import to_db
from storage.types import SYSTEM, ClassifiedItem, PollResult, RepeatRule


async def load_cursor(db: Database, source_id: str) -> Cursor | None:
    """Return the stored cursor of a source, or None before its first poll."""
    stored = await _stored_cursor(db, source_id)
    return None if stored is None else json.loads(stored)


async def save_items_and_cursor(
    db: Database,
    source_id: str,
    entries: Sequence[ClassifiedItem],
    cursor: Cursor,
    now: datetime,
    repeats: RepeatRule | None = None,
) -> PollResult:
    """Store items (edits as new versions), open their incidents and move the cursor, atomically.

    With `repeats` that join, an item that repeats an open incident joins it instead.
    """
    result = PollResult()
    seen_at = to_db(now)
    stored = json.dumps(dict(cursor), sort_keys=True)
    if not entries and await _stored_cursor(db, source_id) == stored:
        return result  # nothing new: no unit of work (each one queues for the writer lock)
    async with db.transaction() as tx:
        if repeats is not None and entries:
            await forget_texts_before(tx, now - repeats.window)
        for entry in entries:
            item_id, changed, is_new = await _upsert_item(tx, entry, seen_at, result)
            if is_new and entry.answers is not None:
                await answer_in_thread(tx, entry, now, result)
            if is_new and await follow_answer(tx, entry, now, result):
                continue  # the citizen's word on the answer: no incident of its own
            if not changed or entry.incident is None:
                continue
            if not is_new and await has_incident(tx, item_id):
                continue  # an edit never opens a second incident nor joins another
            await _open_or_join(tx, item_id, entry, now, repeats, result)
        await tx.execute(
            "INSERT INTO cursors (source_id, cursor, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (source_id) DO UPDATE SET cursor = excluded.cursor, "
            "updated_at = excluded.updated_at",
            (source_id, stored, seen_at),
        )
    return result


async def _stored_cursor(db: Database, source_id: str) -> str | None:
    """A source's cursor as stored (its JSON text), or None before its first poll."""
    row = await db.fetchone("SELECT cursor FROM cursors WHERE source_id = ?", (source_id,))
    return None if row is None else str(row["cursor"])


async def _open_or_join(
    tx: Tx,
    item_id: int,
    entry: ClassifiedItem,
    now: datetime,
    repeats: RepeatRule | None,
    result: PollResult,
) -> None:
    """Join the open incident the item repeats, if any; otherwise open the item's own."""
    seen_at = to_db(now)
    incident = entry.incident
    text = incident.fingerprint if incident is not None else None
    if repeats is not None and repeats.join and incident is not None and text is not None:
        found = await find_repeated_incident(tx, text, entry.group, repeats, now,
                                             incident.municipality)
        if found is not None:
            incident_id, similarity = found
            await add_repeat(tx, incident_id, item_id, similarity, seen_at)
            await add_event(tx, incident_id, seen_at, "repeat", SYSTEM, item_id=item_id,
                            url=entry.item.url, similarity=round(similarity, 3))
            result.repeats.append(incident_id)
            result.by_item[entry.item.external_id] = (True, incident_id)
            return
    opened = await _open_incident(tx, item_id, entry, seen_at)
    if opened is None:
        return
    policy = entry.incident.policy if entry.incident is not None else None
    await add_event(tx, opened, seen_at, "opened", SYSTEM, item_id=item_id,
                    **({} if policy is None else {"policy": policy}))
    if text is not None and repeats is not None:
        await remember_bands(tx, opened, text, seen_at)
    result.incidents.append(opened)
    result.by_item[entry.item.external_id] = (False, opened)


async def _upsert_item(
    tx: Tx, entry: ClassifiedItem, seen_at: str, result: PollResult
) -> tuple[int, bool, bool]:
    """Insert or update an item; return its id, whether it changed and whether it is new."""
    item = entry.item
    row = await tx.fetchone(
        "SELECT id, content_hash, version FROM items WHERE source_id = ? AND external_id = ?",
        (item.source_id, item.external_id),
    )
    if item.deleted:  # a mark: nothing to store of an item never seen, no new version
        if row is not None:
            await tx.execute("UPDATE items SET deleted_at = COALESCE(deleted_at, ?)"
                             " WHERE id = ?", (seen_at, row["id"]))
        return (0 if row is None else int(row["id"])), False, False
    classification = (entry.group, entry.topic, int(entry.actionable), entry.score,
                      json.dumps(list(entry.why), ensure_ascii=False), entry.settlement)
    if row is None:
        inserted = await tx.fetchone(
            "INSERT INTO items (source_id, external_id, network, kind, url, author, is_official,"
            " published_at, first_seen_at, last_seen_at, text, content_hash, version,"
            " group_name, topic, actionable, score, why, settlement)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?) RETURNING id",
            (item.source_id, item.external_id, entry.network, item.kind, item.url, item.author,
             int(item.is_official), to_db(item.published_at), seen_at, seen_at, item.text,
             entry.content_hash, *classification),
        )
        assert inserted is not None  # RETURNING always yields the new row
        item_id, version, is_new = int(inserted[0]), 1, True
        result.new_items += 1
    elif row["content_hash"] != entry.content_hash:
        item_id, version, is_new = int(row["id"]), int(row["version"]) + 1, False
        await tx.execute(
            "UPDATE items SET text = ?, content_hash = ?, version = ?, last_seen_at = ?,"
            " group_name = ?, topic = ?, actionable = ?, score = ?, why = ?, settlement = ?"
            " WHERE id = ?",
            (item.text, entry.content_hash, version, seen_at, *classification, item_id),
        )
        result.new_versions += 1
    else:
        return int(row["id"]), False, False
    await tx.execute(
        "INSERT INTO item_versions (item_id, version, text, content_hash, seen_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (item_id, version, item.text, entry.content_hash, seen_at),
    )
    return item_id, True, is_new


async def _open_incident(
    tx: Tx, item_id: int, entry: ClassifiedItem, seen_at: str
) -> int | None:
    incident = entry.incident
    assert incident is not None
    terms = None if incident.policy_terms is None else json.dumps(
        dict(incident.policy_terms), ensure_ascii=False, sort_keys=True)
    started = seen_at if incident.clock_started_at is None else to_db(incident.clock_started_at)
    resolution = (None if incident.resolution_due_at is None
                  else to_db(incident.resolution_due_at))
    row = await tx.fetchone(
        "INSERT INTO incidents (item_id, source_id, group_name, topic, topic_name, organisation,"
        " priority, opened_at, warn_at, due_at, url, text, settlement, fingerprint, policy,"
        " policy_terms, clock_started_at, resolution_due_at, municipality, im_topic, address)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (item_id) DO NOTHING RETURNING id",
        (item_id, entry.item.source_id, entry.group, entry.topic, incident.topic_name,
         incident.organisation, incident.priority, seen_at, to_db(incident.warn_at),
         to_db(incident.due_at), entry.item.url, entry.item.text, entry.settlement,
         incident.fingerprint.exact if incident.fingerprint is not None else None,
         incident.policy, terms, started, resolution, incident.municipality, incident.im_topic,
         incident.address),
    )
    return None if row is None else int(row[0])


async def item_versions(db: Database, source_id: str, external_id: str) -> list[str]:
    """Return the texts of every stored version of an item, oldest first."""
    rows = await db.fetchall(
        "SELECT v.text FROM item_versions v JOIN items i ON i.id = v.item_id"
        " WHERE i.source_id = ? AND i.external_id = ? ORDER BY v.version",
        (source_id, external_id),
    )
    return [row["text"] for row in rows]
