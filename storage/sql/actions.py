"""Acting on an incident: take, answer, dismiss, snooze, reclassify; one transaction each, with
its event, and (for the bot) the update that asked for it, so none is applied twice."""

from __future__ import annotations

import json
from datetime import datetime

from storage.sql.db import Database, Tx
from storage.sql.events import add_event
from storage.sql.incidents import OPEN, incident
from storage.sql.timestamps import from_db, to_db
from storage.types import Action, ActionOutcome, ActionResult, EventKind, IncidentEvent

BOT_UPDATE_KEY = "telegram_update_id"

_EVENTS: dict[str, EventKind] = {
    "take": "taken", "answer": "answered", "dismiss": "dismissed", "snooze": "snoozed",
    "reclassify": "reclassified", "interim": "interim", "reopen": "reopened",
    "satisfied": "satisfied",
}
_AFTER_ANSWER = ("reopen", "satisfied")
"""Actions that follow a final answer: only an answered incident takes them."""


async def act(
    db: Database, incident_id: int, action: Action, now: datetime,
    bot_update: int | None = None,
) -> ActionResult:
    """Apply one action; `bot_update` (a Telegram update id) is recorded in the same
    transaction. An incident that no longer waits for an answer is only reclassified."""
    async with db.transaction() as tx:
        if bot_update is not None:
            await save_bot_update(tx, bot_update, now)
        outcome, event = await act_in(tx, incident_id, action, now)
    if outcome == "unknown":
        return ActionResult("unknown")
    return ActionResult(outcome, await incident(db, incident_id), event)


async def act_in(
    tx: Tx, incident_id: int, action: Action, now: datetime
) -> tuple[ActionOutcome, IncidentEvent | None]:
    """`act` inside the caller's transaction (a poll that finds an official answer)."""
    row = await tx.fetchone(f"SELECT {OPEN} AS waiting, status FROM incidents WHERE id = ?",
                            (incident_id,))
    if row is None:
        return "unknown", None
    if action.kind in _AFTER_ANSWER:
        if row["status"] != "answered":
            return "not_answered", None
    elif not row["waiting"] and action.kind != "reclassify":
        return "not_open", None
    detail = await _apply(tx, incident_id, action, now)
    event = IncidentEvent(now, _EVENTS[action.kind], action.actor, detail)
    await add_event(tx, incident_id, now, event.kind, action.actor, **detail)
    return "done", event


async def _apply(
    tx: Tx, incident_id: int, action: Action, now: datetime
) -> dict[str, object]:
    """Change the incident row; return what the event log keeps of it."""
    who = action.actor.name or action.actor.kind
    params: dict[str, object] = {"id": incident_id, "now": to_db(now)}
    if action.kind == "take":
        sql = "UPDATE incidents SET status = 'in_work', assignee = :who WHERE id = :id"
        params["who"] = who
        detail: dict[str, object] = {}
    elif action.kind == "snooze":
        assert action.until is not None
        sql = "UPDATE incidents SET snoozed_until = :until WHERE id = :id"
        params["until"] = to_db(action.until)
        detail = {"until": action.until.isoformat()}
    elif action.kind == "reclassify":
        return await _reclassify(tx, incident_id, action)
    elif action.kind in ("interim", "reopen"):
        return await _new_term(tx, incident_id, action, now)
    elif action.kind == "satisfied":
        return _said(action, now)
    else:
        return await _close(tx, incident_id, action, now)
    await tx.execute(sql, params)
    return detail


async def _close(
    tx: Tx, incident_id: int, action: Action, now: datetime
) -> dict[str, object]:
    """Answer or dismiss: it waits no more, repeats no longer join it, no alert is sent."""
    who = action.actor.name or action.actor.kind
    if action.kind == "answer":
        at = action.at or now
        await tx.execute(
            "UPDATE incidents SET status = 'answered', answered_at = ?, answered_by = ?,"
            " answer_url = ?, answer_text = ?, snoozed_until = NULL WHERE id = ?",
            (to_db(at), who, action.link, action.text, incident_id))
        detail: dict[str, object] = {"answered_at": at.isoformat(), "link": action.link}
    else:
        await tx.execute(
            "UPDATE incidents SET status = 'closed', closed_at = ?, close_reason = ?,"
            " snoozed_until = NULL WHERE id = ?", (to_db(now), action.reason, incident_id))
        detail = {"reason": action.reason}
    await tx.execute("DELETE FROM incident_bands WHERE incident_id = ?", (incident_id,))
    await tx.execute("UPDATE outbox SET status = 'cancelled' WHERE incident_id = ?"
                     " AND status = 'pending'", (incident_id,))
    return {key: value for key, value in detail.items() if value is not None}


_NEW_TERM = (
    "UPDATE incidents SET warn_at = :warn, due_at = :due, round_started_at = :at,"
    " deadline_round = deadline_round + 1, warned_at = NULL, overdue_at = NULL,"
    " snoozed_until = NULL{reopen} WHERE id = :id"
)
_REOPEN = (", status = 'open', announced_at = NULL, answered_at = NULL, answered_by = NULL,"
           " answer_url = NULL, answer_text = NULL")


async def _new_term(
    tx: Tx, incident_id: int, action: Action, now: datetime
) -> dict[str, object]:
    """An interim answer or a reopening: a new term from `at`; alerts of the old one are void,
    and a reopened incident is announced again."""
    assert action.term is not None
    warn, due = action.term
    at = action.at or now
    # The deadline this term replaces: the one the first response is measured against.
    before = await tx.fetchone("SELECT due_at FROM incidents WHERE id = ?", (incident_id,))
    sql = _NEW_TERM.format(reopen=_REOPEN if action.kind == "reopen" else "")
    await tx.execute(sql, {"warn": to_db(warn), "due": to_db(due), "at": to_db(at),
                           "id": incident_id})
    await tx.execute("UPDATE outbox SET status = 'cancelled' WHERE incident_id = ?"
                     " AND status = 'pending'", (incident_id,))
    replaced_due = None if before is None else from_db(before["due_at"])
    replaced = {} if replaced_due is None else {"due_before": replaced_due.isoformat()}
    return {**_said(action, now), "due_at": due.isoformat(), **replaced}


def _said(action: Action, now: datetime) -> dict[str, object]:
    """What the log keeps of an answer or a citizen's message: when, where, what."""
    detail: dict[str, object] = {"said_at": (action.at or now).isoformat()}
    if action.link is not None:
        detail["link"] = action.link
    if action.text is not None:
        detail["text"] = action.text[:500]
    return detail


async def _reclassify(
    tx: Tx, incident_id: int, action: Action
) -> dict[str, object]:
    """Staff say which topic it really is: the incident takes it, the log keeps both."""
    topic = action.topic
    assert topic is not None
    before = await tx.fetchone("SELECT group_name, topic FROM incidents WHERE id = ?",
                          (incident_id,))
    assert before is not None  # act() found it in this transaction
    await tx.execute(
        "UPDATE incidents SET group_name = ?, topic = ?, topic_name = ?, organisation = ?,"
        " im_topic = ? WHERE id = ?",
        (topic.group, topic.id, topic.name, topic.organisation, topic.im_topic, incident_id))
    return {"from_group": before["group_name"], "from_topic": before["topic"],
            "group": topic.group, "topic": topic.id}


async def save_bot_update(tx: Tx, update_id: int, now: datetime) -> None:
    """Record that the bot has handled every update up to this id, and when."""
    await tx.execute(
        "INSERT INTO bot_state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (BOT_UPDATE_KEY, json.dumps({"id": update_id, "at": to_db(now)})),
    )


async def last_bot_update(db: Database) -> tuple[int, datetime] | None:
    """The id of the last Telegram update the bot handled and when, or None."""
    row = await db.fetchone("SELECT value FROM bot_state WHERE key = ?", (BOT_UPDATE_KEY,))
    if row is None:
        return None
    value = json.loads(row["value"])
    return int(value["id"]), datetime.fromisoformat(value["at"])


async def keep_bot_update(
    db: Database, update_id: int, chat_id: int, payload: str, now: datetime
) -> None:
    """Keep a chat's update for its source to read, and mark it handled, in one transaction."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO bot_inbox (update_id, chat_id, received_at, payload)"
            " VALUES (?, ?, ?, ?)",
            (update_id, chat_id, to_db(now), payload))
        await save_bot_update(tx, update_id, now)


async def kept_bot_updates(
    db: Database, chat_ids: list[int], after: int, limit: int
) -> list[tuple[int, str]]:
    """Kept updates of these chats after an inbox position, oldest first: (position, JSON)."""
    marks = ", ".join("?" * len(chat_ids))
    rows = await db.fetchall(
        f"SELECT id, payload FROM bot_inbox WHERE chat_id IN ({marks}) AND id > ?"
        " ORDER BY id LIMIT ?", (*chat_ids, after, limit))
    return [(int(r["id"]), str(r["payload"])) for r in rows]
