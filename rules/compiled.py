"""The compiled forms of rule entries: what rules.compiler makes and classify reads."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from rules.morph import Slots

Placed = list[tuple[int, tuple[int, ...]]]
"""(position, terms) of positional terms (`near` parts, places) in the order met."""


@dataclass(frozen=True, slots=True)
class Term:
    """A word or phrase, shared by every rule that spells it, with what it does to each."""

    # A phrase is indexed by its `anchor`, its rarest-looking word, so phrases that start
    # with «не», «в», «нет» are not tried at every «не» of every text; `others` (offset from
    # the anchor, keys; nearest first) place the other words.
    words: Slots
    anchor: int
    after: int
    others: tuple[tuple[int, frozenset[str]], ...]
    scoring: Mapping[int, float]
    labels: Mapping[int, str]
    veto_labels: Mapping[int, str]
    requires: tuple[int, ...]
    excludes: tuple[int, ...]
    parts: tuple[tuple[int, int], ...]
    places: tuple[int, ...]
    streets: tuple[str, ...] = ()
    """The gazetteer streets a place term names (for the address of a verdict)."""

    @property
    def effects(self) -> bool:
        """Whether the term vetoes or satisfies a rule besides scoring."""
        return bool(self.requires or self.excludes)


@dataclass(frozen=True, slots=True)
class Near:
    """A compiled `near` entry: a term of every part within `within` words scores `points`."""

    rule: int
    parts: tuple[frozenset[int], ...]
    within: int
    points: float
    label: str
    others: tuple[frozenset[int], ...]
    """The parts besides the one whose terms trigger the check."""

    def span(self, placed: Placed) -> tuple[int, int]:
        """The narrowest (first, last) positions with a term of every part (all occur)."""
        # The narrowest window that ends at a hit starts at the oldest of the parts' latest
        # hits; of equally narrow windows the first in the text wins.
        if len(self.parts) == 2:
            return _pair_span(self.parts[0], self.parts[1], placed)
        hits = [(position, index) for position, terms in placed for term_id in terms
                for index, part in enumerate(self.parts) if term_id in part]
        hits.sort()
        latest = [-1] * len(self.parts)
        first, last = hits[0][0], hits[-1][0]
        for position, part in hits:
            latest[part] = position
            start = min(latest)
            if start >= 0 and position - start < last - first:
                first, last = start, position
        return first, last


def _pair_span(one: frozenset[int], other: frozenset[int], placed: Placed) -> tuple[int, int]:
    """Near.span of an entry of two parts, the usual kind, in half the time."""
    hits = []
    for position, terms in placed:
        for term_id in terms:
            if term_id in one:
                hits.append((position, 0))
            if term_id in other:
                hits.append((position, 1))
    hits.sort()
    latest_one = latest_other = -1
    first, last = hits[0][0], hits[-1][0]
    for position, part in hits:
        if part:
            latest_other = position
        else:
            latest_one = position
        start = min(latest_one, latest_other)
        if start >= 0 and position - start < last - first:
            first, last = start, position
    return first, last


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled `regex` entry."""

    regex: re.Pattern[str]
    rule: int
    points: float


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a rule applies; an empty set means everywhere."""

    sources: frozenset[str]
    networks: frozenset[str]
    settlements: frozenset[str]

    def fits(self, source: str | None, network: str | None, settlement: str | None) -> bool:
        """Whether a message from `source`/`network` about `settlement` is in scope."""
        return (
            (not self.sources or source in self.sources)
            and (not self.networks or network in self.networks)
            and (not self.settlements or settlement in self.settlements)
        )
