"""Repeated complaints: the open incident a new one repeats, its band keys and its mentions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from common.fingerprints import TextPrint, resemblance, text_print
from storage.db import Database, to_db

# Candidates sharing the most band keys are checked first; a true repeat shares most of them.
MAX_CANDIDATES = 20

FIND_SAME_TEXT = (
    "SELECT id FROM incidents WHERE fingerprint = ? AND opened_at >= ? AND status = 'open'"
    " AND group_name IS ? ORDER BY id LIMIT 1"
)
"""An open incident of the group, opened since a moment, whose normalised text is the same."""

FIND_BY_BANDS = (
    "SELECT c.id, c.hits, i.text FROM ("
    " SELECT incident_id AS id, COUNT(*) AS hits FROM incident_bands"
    " WHERE band IN ({marks}) AND opened_at >= ? GROUP BY incident_id) AS c"
    " CROSS JOIN incidents i ON i.id = c.id"  # CROSS: the band keys drive, never `status`
    " WHERE i.status = 'open' AND i.group_name IS ? ORDER BY c.hits DESC, c.id LIMIT ?"
)
"""Open incidents of the group, opened since a moment, sharing band keys: most shared first."""


@dataclass(frozen=True, slots=True)
class DuplicateRule:
    """When a new complaint joins an open incident: opened within `window`, this similar."""

    window: timedelta
    similarity: float


@dataclass(frozen=True, slots=True)
class Mention:
    """An item that repeated an incident's complaint and joined it instead of opening one."""

    item_id: int
    source_id: str
    external_id: str
    url: str
    joined_at: datetime
    similarity: float


async def find_repeated_incident(
    tx: aiosqlite.Connection, text: TextPrint, group: str | None, rule: DuplicateRule,
    now: datetime,
) -> tuple[int, float] | None:
    """The open incident a text repeats and how closely (1.0: the same text), or None."""
    since = to_db(now - rule.window)
    async with tx.execute(FIND_SAME_TEXT, (text.fingerprint, since, group)) as cursor:
        row = await cursor.fetchone()
    if row is not None:
        return int(row["id"]), 1.0
    if text.short:
        return None
    query = FIND_BY_BANDS.format(marks=", ".join("?" * len(text.bands)))
    async with tx.execute(query, (*text.bands, since, group, MAX_CANDIDATES)) as cursor:
        candidates = list(await cursor.fetchall())
    best: tuple[int, float] | None = None
    for candidate in candidates:
        score = resemblance(text, candidate["text"])
        if score >= rule.similarity and (best is None or score > best[1]):
            best = int(candidate["id"]), score
    return best


async def remember_bands(
    tx: aiosqlite.Connection, incident_id: int, text: TextPrint, opened_at: str
) -> None:
    """Index a new incident's band keys so that its edited copies find it."""
    await tx.executemany(
        "INSERT OR IGNORE INTO incident_bands (band, opened_at, incident_id) VALUES (?, ?, ?)",
        [(band, opened_at, incident_id) for band in text.bands],
    )


async def print_unprinted_incidents(tx: aiosqlite.Connection, since: datetime) -> int:
    """Give open incidents opened since `since` without a print (before the first release
    that recognised repeats, or while `[duplicates]` was off) their fingerprint and band keys,
    so that repeats join them too; returns how many were printed. Idempotent."""
    async with tx.execute(
        "SELECT id, text, opened_at FROM incidents WHERE fingerprint IS NULL AND status = 'open'"
        " AND opened_at >= ?", (to_db(since),),
    ) as cursor:
        rows = list(await cursor.fetchall())
    printed = 0
    for incident_id, text, opened_at in rows:
        found = text_print(text)
        if found is None:
            continue
        await tx.execute("UPDATE incidents SET fingerprint = ? WHERE id = ?",
                         (found.fingerprint, incident_id))
        await remember_bands(tx, incident_id, found, opened_at)
        printed += 1
    return printed


async def forget_texts_before(tx: aiosqlite.Connection, moment: datetime) -> None:
    """Drop band keys of incidents opened before `moment`: no repeat can join them any more."""
    await tx.execute("DELETE FROM incident_bands WHERE opened_at < ?", (to_db(moment),))


async def add_mention(
    tx: aiosqlite.Connection, incident_id: int, item_id: int, similarity: float, joined_at: str
) -> None:
    """Record that an item joined an incident as a repeat of its complaint."""
    await tx.execute(
        "INSERT INTO incident_mentions (incident_id, item_id, joined_at, similarity)"
        " VALUES (?, ?, ?, ?)",
        (incident_id, item_id, joined_at, similarity),
    )


async def has_incident(tx: aiosqlite.Connection, item_id: int) -> bool:
    """Whether an item already opened an incident or joined one."""
    async with tx.execute(
        "SELECT EXISTS (SELECT 1 FROM incidents WHERE item_id = ?)"
        " OR EXISTS (SELECT 1 FROM incident_mentions WHERE item_id = ?)",
        (item_id, item_id),
    ) as cursor:
        row = await cursor.fetchone()
    return bool(row and row[0])


async def mentions_of(db: Database, incident_id: int) -> list[Mention]:
    """The items that joined an incident, in the order they joined."""
    rows = await db.fetchall(
        "SELECT m.item_id, i.source_id, i.external_id, i.url, m.joined_at, m.similarity"
        " FROM incident_mentions m JOIN items i ON i.id = m.item_id"
        " WHERE m.incident_id = ? ORDER BY m.joined_at, m.item_id",
        (incident_id,),
    )
    return [
        Mention(r["item_id"], r["source_id"], r["external_id"], r["url"],
                datetime.fromisoformat(r["joined_at"]), r["similarity"])
        for r in rows
    ]
