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

BAND_HITS = (
    "SELECT incident_id, COUNT(*) AS hits FROM incident_bands"
    " WHERE band IN ({marks}) AND opened_at >= ? GROUP BY incident_id"
)
"""Incidents opened since a moment sharing band keys with a text, and how many each shares."""

OPEN_IN_GROUP = (
    "SELECT id FROM incidents WHERE id IN ({marks}) AND status IN ('open', 'in_work')"
    " AND group_name IS NOT DISTINCT FROM ? AND municipality IS NOT DISTINCT FROM ?"
)
"""Which of some incidents are open and of the group and municipality. (The same words in two
municipalities are two problems.)"""

TEXTS_OF = "SELECT id, text FROM incidents WHERE id IN ({marks})"

_IDS_PER_QUERY = 500

# The three steps are three index lookups by key on either backend. One join of the band
# counts with incidents left the plan to statistics, and on tables PostgreSQL had not analysed
# yet (a new region's first hours) it walked every open incident for every band count:
# 0.3 s per new complaint at 2,000 incidents, under the writer lock (bench/pg_fleet.py).


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
    hits = {int(r[0]): int(r[1]) for r in await tx.fetchall(
        BAND_HITS.format(marks=", ".join("?" * len(text.bands))), (*text.bands, since))}
    found = list(hits)
    eligible: list[int] = []
    for start in range(0, len(found), _IDS_PER_QUERY):
        chunk = found[start:start + _IDS_PER_QUERY]
        eligible += [int(r[0]) for r in await tx.fetchall(
            OPEN_IN_GROUP.format(marks=", ".join("?" * len(chunk))),
            (*chunk, group, municipality))]
    eligible.sort(key=lambda n: (-hits[n], n))
    best: tuple[int, float] | None = None
    top = eligible[:MAX_CANDIDATES]
    if not top:
        return None
    for candidate in await tx.fetchall(TEXTS_OF.format(marks=", ".join("?" * len(top))), top):
        score = resemblance(text, candidate["text"])
        number = int(candidate["id"])
        if score >= rule.similarity and (
                best is None or score > best[1] or (score == best[1] and _before(
                    number, best[0], hits))):
            best = number, score
    return best


def _before(number: int, other: int, hits: dict[int, int]) -> bool:
    """Whether a candidate comes first among equals: more band keys shared, then older."""
    return (-hits[number], number) < (-hits[other], other)


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
