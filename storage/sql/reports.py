"""Read-only queries for the quarterly report: residents' messages per source, incidents of a
span with their event logs tallied; spike alerts; once-only jobs. Plain portable SQL, the same
on SQLite and PostgreSQL (no JSON functions: details are read here)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from storage.report_types import MessageCount, ReportIncident, ResponseEvent
from storage.sql.db import Database, Tx
from storage.sql.outbox import add_notices
from storage.sql.timestamps import to_db
from storage.types import AlertMessage

MESSAGE_COUNTS = (
    "SELECT network, source_id, COUNT(*) AS messages FROM items"
    " WHERE published_at >= :start AND published_at < :end AND is_official = 0"
    " GROUP BY network, source_id ORDER BY network, source_id"
)
INCIDENTS = (
    "SELECT id, group_name, topic, topic_name, organisation, settlement, priority, status,"
    " opened_at, due_at, url, assignee, close_reason,"
    " (SELECT COUNT(*) FROM incident_repeats r WHERE r.incident_id = incidents.id) AS repeats,"
    " municipality, im_topic"
    " FROM incidents WHERE opened_at >= :start AND opened_at < :end{scope} ORDER BY opened_at"
)
EVENTS = (
    "SELECT e.id, e.incident_id, e.kind, e.at, e.detail FROM incident_events e"
    " JOIN incidents i ON i.id = e.incident_id"
    " WHERE i.opened_at >= :start AND i.opened_at < :end{scope}"
)
"""The event logs of a span's incidents, in one pass (tallied and read in code)."""
SCOPE = " AND municipality = :municipality"
"""`{scope}` of INCIDENTS and EVENTS for one municipality's report (else empty)."""


async def message_counts(db: Database, start: datetime, end: datetime) -> list[MessageCount]:
    """Residents' messages published in [start, end), per network and source."""
    rows = await db.fetchall(MESSAGE_COUNTS, {"start": to_db(start), "end": to_db(end)})
    return [MessageCount(r["network"], r["source_id"], int(r["messages"])) for r in rows]


async def report_incidents(
    db: Database, start: datetime, end: datetime, response_kinds: Sequence[str],
    municipality: str | None = None,
) -> list[ReportIncident]:
    """Incidents opened in [start, end) (of `municipality` only, when given), in the order they
    were opened, each with its events tallied by kind and its events of `response_kinds` in
    log order. Rows are read in batches
    and repeated names shared, so that a region's quarter fits in little memory."""
    span = {"start": to_db(start), "end": to_db(end)}
    scope = ""
    if municipality is not None:
        span["municipality"], scope = municipality, SCOPE
    wanted = frozenset(response_kinds)
    tally: dict[int, dict[str, int]] = {}
    responses: dict[int, list[tuple[int, ResponseEvent]]] = defaultdict(list)
    first_due: dict[int, tuple[int, datetime]] = {}
    words: dict[str, str] = {}  # one string object for each of the few names that repeat
    names: dict[str | None, str | None] = {}  # the same for names that may be missing
    share = names.setdefault
    async for batch in db.stream(EVENTS.format(scope=scope), span):
        for event_id, number, kind, at, detail in batch:
            kinds = tally.get(number)
            if kinds is None:
                kinds = tally[number] = {}
            seen = kinds.get(kind)
            if seen is None:
                kinds[words.setdefault(kind, kind)] = 1
            else:
                kinds[kind] = seen + 1
            if kind in wanted:
                moment = _answered_at(detail) or _moment(at)
                responses[number].append((event_id, ResponseEvent(kind, moment)))
            if kind in NEW_TERM_KINDS and (replaced := _detail_moment(detail, "due_before")):
                if number not in first_due or event_id < first_due[number][0]:
                    first_due[number] = (event_id, replaced)
    found = []
    async for batch in db.stream(INCIDENTS.format(scope=scope), span):
        for (number, group, topic, topic_name, organisation, settlement, priority, status,
             opened_at, due_at, url, assignee, close_reason, repeats, where, im_topic) in batch:
            answers = responses.pop(number, None)
            found.append(ReportIncident(
                number, share(group, group), share(topic, topic), share(topic_name, topic_name),
                share(organisation, organisation), share(settlement, settlement),
                words.setdefault(priority, priority), words.setdefault(status, status),
                _moment(opened_at), _moment(due_at), url, share(assignee, assignee),
                close_reason, int(repeats), tuple(sorted(tally.pop(number, {}).items())),
                () if answers is None else (answers[0][1],) if len(answers) == 1
                else tuple(event for _, event in sorted(answers)),
                first_due=first_due.pop(number, (0, None))[1],
                municipality=share(where, where), im_topic=share(im_topic, im_topic)))
    return found


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


_ANSWER_TIMES = ("answered_at", "said_at")
"""Where an event's detail keeps when the answer was given: a final answer's `answered_at`, an
interim answer's (or a citizen's message's) `said_at` (`storage.sql.actions`)."""


NEW_TERM_KINDS = frozenset({"interim", "reopened"})
"""Events that start a new term; their detail's `due_before` is the deadline they replaced."""


def _answered_at(detail: str) -> datetime | None:
    """The answer time an event's detail names (aware ISO 8601), or None."""
    return _detail_moment(detail, *_ANSWER_TIMES)


def _detail_moment(detail: str, *keys: str) -> datetime | None:
    """The first of `keys` an event's detail holds, as an aware moment; None if it holds none
    or the detail is damaged."""
    for key in keys:  # most details hold none: no JSON to parse
        if key in detail:
            break
    else:
        return None
    try:
        said = json.loads(detail)
        value = next((said[key] for key in keys if key in said), None)
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except (ValueError, AttributeError, TypeError):
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


async def job_done(db: Database, key: str) -> bool:
    """Whether a once-only job (a quarter's report to the curator) has been recorded done."""
    return await db.fetchone("SELECT 1 FROM bot_state WHERE key = ?", (key,)) is not None


async def mark_job_done(db: Database, key: str, now: datetime) -> None:
    """Record a once-only job as done (its claim, if any, goes: nothing is left to claim)."""
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO bot_state (key, value) VALUES (?, ?)"
                         " ON CONFLICT (key) DO NOTHING", (key, json.dumps({"at": to_db(now)})))
        await tx.execute("DELETE FROM bot_state WHERE key = ?", (_CLAIM_OF + key,))


_CLAIM_OF = "claim:"
"""A once-only job's claim is the bot_state row `claim:<job key>`: {"by": claimer, "until":
the claim's own term}."""

ClaimAlive = Callable[[Tx, str | None, datetime | None, datetime], Awaitable[bool]]
"""Whether a claim's holder still holds it at `now` (the backend's rule: see the stores)."""


async def claim_job(
    db: Database, key: str, me: str, now: datetime, hold: timedelta, alive: ClaimAlive
) -> bool:
    """Claim a once-only job for `me` right before running it: False when it is done, or
    another claimer holds it and `alive` says it still lives. A claim already `me`'s is
    renewed (a retry). Two claimers at once take turns: the row's key is unique and a
    takeover only replaces the claim it read."""
    mine = json.dumps({"by": me, "until": to_db(now + hold)})
    claim = _CLAIM_OF + key
    async with db.transaction() as tx:
        if await tx.fetchone("SELECT 1 FROM bot_state WHERE key = ?", (key,)) is not None:
            return False
        if await tx.execute("INSERT INTO bot_state (key, value) VALUES (?, ?)"
                            " ON CONFLICT (key) DO NOTHING", (claim, mine)) == 1:
            return True
        row = await tx.fetchone("SELECT value FROM bot_state WHERE key = ?", (claim,))
        if row is None:
            return False  # given back this instant: the next check claims it
        holder, until = _claim(row["value"])
        if holder != me and await alive(tx, holder, until, now):
            return False
        return await tx.execute("UPDATE bot_state SET value = ? WHERE key = ? AND value = ?",
                                (mine, claim, row["value"])) == 1


async def release_job(db: Database, key: str, me: str) -> None:
    """Give back `me`'s claim of a job that did not run through (any claimer may try next)."""
    claim = _CLAIM_OF + key
    async with db.transaction() as tx:
        row = await tx.fetchone("SELECT value FROM bot_state WHERE key = ?", (claim,))
        if row is not None and _claim(row["value"])[0] == me:
            await tx.execute("DELETE FROM bot_state WHERE key = ? AND value = ?",
                             (claim, row["value"]))


def _claim(value: str) -> tuple[str | None, datetime | None]:
    """A claim's holder and term; (None, None) for a damaged claim (anyone may take it)."""
    try:
        said = json.loads(value)
        holder, until = said.get("by"), datetime.fromisoformat(said.get("until"))
    except (ValueError, AttributeError, TypeError):
        return None, None
    if not isinstance(holder, str) or until.tzinfo is None:
        return None, None
    return holder, until


async def queue_spike_alert(
    db: Database, key: str, messages: Sequence[AlertMessage], since: datetime, now: datetime,
) -> int:
    """Queue a spike's alert as a notice (no one incident: outbox reason `key:<moment>`), unless
    an alert of the same spike `key` was queued since `since`; one transaction. Return the rows
    added."""
    async with db.transaction() as tx:
        # The reasons `key:…` are those between `key:` and `key;` (':' + 1), read by the
        # outbox_reason index.
        if await tx.fetchone("SELECT 1 FROM outbox WHERE reason > ? AND reason < ?"
                             " AND created_at >= ? LIMIT 1",
                             (f"{key}:", f"{key};", to_db(since))) is not None:
            return 0
        return await add_notices(tx, f"{key}:{to_db(now)}", messages, now)
