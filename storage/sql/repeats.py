"""Repeated complaints: the open incident a new one repeats, its band keys and its repeats."""

from __future__ import annotations

from datetime import datetime

from common.fingerprints import Fingerprint, fingerprint, resemblance
from storage.sql.db import Row, Tx
from storage.sql.timestamps import to_db
from storage.types import Repeat, RepeatRule

# Candidates sharing the most band keys are checked first; a true repeat shares most of them.
MAX_CANDIDATES = 20

FIND_SAME_TEXT = (
    "SELECT id FROM incidents WHERE fingerprint = ? AND opened_at >= ?"
    " AND status IN ('open', 'in_work')"
    " AND group_name IS NOT DISTINCT FROM ? AND municipality IS NOT DISTINCT FROM ?"
    " ORDER BY id LIMIT 1"
)
"""An open incident of the group and municipality, opened since a moment, whose normalised text
is the same."""

FIND_BY_BANDS = (
    "SELECT c.id, c.hits, i.text FROM ("
    " SELECT incident_id AS id, COUNT(*) AS hits FROM incident_bands"
    " WHERE band IN ({marks}) AND opened_at >= ? GROUP BY incident_id) AS c"
    " CROSS JOIN incidents i"  # CROSS: in SQLite the band keys drive, never `status`
    " WHERE i.id = c.id AND i.status IN ('open', 'in_work') AND i.group_name IS NOT DISTINCT FROM ?"
    " AND i.municipality IS NOT DISTINCT FROM ?"
    " ORDER BY c.hits DESC, c.id LIMIT ?"
)
"""Open incidents of the group and municipality, opened since a moment, sharing band keys: most
shared first. (The same words in two municipalities are two problems.)"""


async def find_repeated_incident(
    tx: Tx, text: Fingerprint, group: str | None, rule: RepeatRule,
    now: datetime, municipality: str | None = None,
) -> tuple[int, float] | None:
    """The open incident of the group and municipality a text repeats and how closely (1.0:
    the same text), or None."""
    since = to_db(now - rule.window)
    row = await tx.fetchone(FIND_SAME_TEXT, (text.exact, since, group, municipality))
    if row is not None:
        return int(row["id"]), 1.0
    if text.short:
        return None
    query = FIND_BY_BANDS.format(marks=", ".join("?" * len(text.bands)))
    candidates = await tx.fetchall(query, (*text.bands, since, group, municipality,
                                           MAX_CANDIDATES))
    best: tuple[int, float] | None = None
    for candidate in candidates:
        score = resemblance(text, candidate["text"])
        if score >= rule.similarity and (best is None or score > best[1]):
            best = int(candidate["id"]), score
    return best


async def remember_bands(
    tx: Tx, incident_id: int, text: Fingerprint, opened_at: str
) -> None:
    """Index a new incident's band keys so that its edited copies find it."""
    await tx.executemany(
        "INSERT INTO incident_bands (band, opened_at, incident_id) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        [(band, opened_at, incident_id) for band in text.bands],
    )


async def fingerprint_open_incidents(tx: Tx) -> int:
    """Give open incidents without a fingerprint (opened before the release that recognised
    repeats) their fingerprint and band keys, so that repeats join them too; return how many.
    A migration step: it runs once."""
    rows = await tx.fetchall(
        "SELECT id, text, opened_at FROM incidents WHERE fingerprint IS NULL AND status = 'open'"
    )
    done = 0
    for row in rows:
        found = fingerprint(row["text"])
        if found is None:
            continue
        await tx.execute("UPDATE incidents SET fingerprint = ? WHERE id = ?",
                         (found.exact, row["id"]))
        await remember_bands(tx, row["id"], found, row["opened_at"])
        done += 1
    return done


async def forget_texts_before(tx: Tx, moment: datetime) -> None:
    """Drop band keys of incidents opened before `moment`: no repeat can join them any more."""
    await tx.execute("DELETE FROM incident_bands WHERE opened_at < ?", (to_db(moment),))


async def add_repeat(
    tx: Tx, incident_id: int, item_id: int, similarity: float, joined_at: str
) -> None:
    """Record that an item joined an incident as a repeat of its complaint."""
    await tx.execute(
        "INSERT INTO incident_repeats (incident_id, item_id, joined_at, similarity)"
        " VALUES (?, ?, ?, ?)",
        (incident_id, item_id, joined_at, similarity),
    )


async def has_incident(tx: Tx, item_id: int) -> bool:
    """Whether an item already opened an incident or joined one."""
    row = await tx.fetchone(
        "SELECT EXISTS (SELECT 1 FROM incidents WHERE item_id = ?)"
        " OR EXISTS (SELECT 1 FROM incident_repeats WHERE item_id = ?)",
        (item_id, item_id),
    )
    return bool(row and row[0])


REPEATS_OF = (
    "SELECT r.item_id, i.source_id, i.external_id, i.url, r.joined_at, r.similarity"
    " FROM incident_repeats r JOIN items i ON i.id = r.item_id"
    " WHERE r.incident_id = ? ORDER BY r.joined_at, r.item_id"
)
"""The items that joined an incident, in the order they joined."""


def repeat_from(row: Row) -> Repeat:
    """A row of REPEATS_OF as a Repeat."""
    return Repeat(row["item_id"], row["source_id"], row["external_id"], row["url"],
                  datetime.fromisoformat(row["joined_at"]), row["similarity"])
