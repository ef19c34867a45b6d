"""An incident's thread: the official answers to it and the citizen's later messages.

A citizen's message after the final answer, in reply to anything in the thread, reopens the
incident (with a new term) or records that the citizen is satisfied, as `FollowUp` says.
"""

from __future__ import annotations

from datetime import datetime

from storage.sql.actions import act_in
from storage.sql.db import Tx
from storage.sql.timestamps import from_db
from storage.types import Action, ActionKind, Actor, ClassifiedItem, FollowUp, PollResult

DEFAULT_POLICY = "default"

_INCIDENT_OF_ITEM = (
    "SELECT n.id FROM items i JOIN incidents n ON n.item_id = i.id"
    " WHERE i.source_id = :source AND i.external_id = :item"
    " UNION ALL SELECT r.incident_id FROM items i JOIN incident_repeats r ON r.item_id = i.id"
    " JOIN incidents n ON n.id = r.incident_id"
    " WHERE i.source_id = :source AND i.external_id = :item AND n.source_id = :source"
    " UNION ALL SELECT incident_id FROM incident_thread"
    " WHERE source_id = :source AND external_id = :item"
)
"""The incident an item opened, the one it joined as a repeat in the same source, or the one
whose thread it is in (an official answer, the citizen's later message): a reply in one
community does not answer the resident who wrote in another."""


async def incident_of(tx: Tx, source_id: str, external_id: str) -> int | None:
    """The incident an item belongs to in its source (see `_INCIDENT_OF_ITEM`), or None."""
    row = await tx.fetchone(_INCIDENT_OF_ITEM, {"source": source_id, "item": external_id})
    return None if row is None else int(row[0])


async def answer_in_thread(
    tx: Tx, entry: ClassifiedItem, now: datetime, result: PollResult
) -> None:
    """An official answer to a citizen's item answers that item's incident, as of the answer's
    publication: finally, or (an interim answer) with a follow-up term; an incident already
    answered or closed is left as it is."""
    item = entry.item
    assert entry.answers is not None
    incident_id = await incident_of(tx, item.source_id, entry.answers)
    if incident_id is None:
        return
    await join_thread(tx, item.source_id, item.external_id, incident_id)
    actor = Actor("official", item.author, item.author_id)
    follow = entry.follow_up
    if follow is not None and follow.kind == "interim":
        action = Action("interim", actor, at=item.published_at, link=item.url, text=item.text,
                        term=await term_for(tx, incident_id, follow))
    else:
        action = Action("answer", actor, at=item.published_at, link=item.url, text=item.text)
    outcome, _ = await act_in(tx, incident_id, action, now)
    if outcome == "done":
        (result.interim if action.kind == "interim" else result.answered).append(incident_id)


async def join_thread(
    tx: Tx, source_id: str, external_id: str, incident_id: int
) -> None:
    """Record that an item is in an incident's thread (once)."""
    await tx.execute("INSERT INTO incident_thread (source_id, external_id, incident_id)"
                     " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                     (source_id, external_id, incident_id))


async def term_for(
    tx: Tx, incident_id: int, follow: FollowUp
) -> tuple[datetime, datetime] | None:
    """The new term under the incident's policy (its own, else the default one)."""
    row = await tx.fetchone("SELECT policy FROM incidents WHERE id = ?", (incident_id,))
    policy = row[0] if row is not None and row[0] in follow.terms else DEFAULT_POLICY
    return follow.terms.get(policy)


_ANSWERED = (
    "SELECT n.status, n.answered_at, i.author FROM incidents n JOIN items i ON i.id = n.item_id"
    " WHERE n.id = ?"
)


async def follow_answer(
    tx: Tx, entry: ClassifiedItem, now: datetime, result: PollResult
) -> bool:
    """A citizen's new message in an answered incident's thread: reopen it or record thanks.

    Only the author of the incident's message counts (when both names are known), and only
    within `FollowUp.within` of the final answer. Return whether the message was taken so
    (it then opens no incident of its own)."""
    item, follow = entry.item, entry.follow_up
    parent = item.parent_external_id
    if follow is None or follow.kind not in ("reopen", "satisfied") or parent is None:
        return False
    incident_id = await incident_of(tx, item.source_id, parent)
    if incident_id is None:
        return False
    row = await tx.fetchone(_ANSWERED, (incident_id,))
    answered_at = from_db(row["answered_at"]) if row is not None else None
    if row is None or row["status"] != "answered" or answered_at is None:
        return False
    if follow.within is not None and item.published_at - answered_at > follow.within:
        return False
    if row["author"] and item.author and row["author"] != item.author:
        return False
    actor = Actor("citizen", item.author, item.author_id)
    kind: ActionKind = "reopen" if follow.kind == "reopen" else "satisfied"
    term = await term_for(tx, incident_id, follow) if kind == "reopen" else None
    action = Action(kind, actor, at=item.published_at, link=item.url, text=item.text, term=term)
    outcome, _ = await act_in(tx, incident_id, action, now)
    if outcome != "done":
        return False
    await join_thread(tx, item.source_id, item.external_id, incident_id)
    (result.reopened if kind == "reopen" else result.satisfied).append(incident_id)
    return True
