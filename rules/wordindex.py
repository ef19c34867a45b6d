"""The word index: what each distinct text word does, resolved once and remembered.

classify looks every word of a text up here: the terms it matches by itself, whether its
position matters (`near` parts, places), the phrases anchored on it and the phrase words
it can stand for. Phrase checks walk a small tree of neighbours admitted so far, one set
test per neighbour however many phrases share a prefix.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from rules.morph import forget_words, known_keys, token_keys

# Words resolved to what they do, per rule set; cleared when full to bound memory.
MEMO_SIZE = 1 << 17
GROUP_MEMO_SIZE = 1 << 12

Scoring = tuple[tuple[int, float], ...]
"""(rule, points) for each rule a term scores in; empty for a term that only vetoes or enables."""
Counted = tuple[tuple[int, Scoring], ...]
"""(term, its scoring) of the terms that count, which a text word matches by itself."""
PhraseHit = tuple[int, int, int, tuple[tuple[int, int], ...], bool, Scoring | None]
"""A phrase as matching needs it: (term, anchor, words after the anchor, words still to check
as (offset from the anchor, slot), whether its position matters, its scoring if it counts)."""
Node = tuple[tuple[PhraseHit, ...], "Groups"]
"""What a neighbour admits: (phrases now complete, groups of those that need more words)."""
Groups = tuple[tuple[int, frozenset[int], dict[frozenset[int], Node], "PhraseGroup"], ...]
"""(offset, slots, admitted, group) of each group of phrases that check the word at `offset`."""


class Entry:
    """What a text word matches by itself, and which words of phrases it can be."""

    __slots__ = ("words", "placed", "groups", "fills")

    def __init__(
        self, words: Counted, placed: tuple[int, ...], groups: Groups, fills: frozenset[int]
    ) -> None:
        self.words = words  # terms that count, in id order
        self.placed = placed  # terms whose position matters
        self.groups = groups  # phrases anchored on this word
        self.fills = fills  # phrase slots (non-anchor phrase words) this word fits


class Filler(tuple):  # type: ignore[type-arg]
    """A word that matches nothing by itself; `fills` as in Entry."""

    # An empty tuple is false, so classify skips these words in C (`compress`), while a
    # phrase check still reads `fills` of a neighbour without a lookup.
    words: ClassVar[Counted] = ()
    placed: ClassVar[tuple[int, ...]] = ()
    groups: ClassVar[Groups] = ()
    fills: frozenset[int]

    @classmethod
    def of(cls, fills: frozenset[int]) -> Filler:
        filler = cls()
        filler.fills = fills
        return filler


Word = Entry | Filler
NO_MATCH = Filler.of(frozenset())


@dataclass(slots=True)
class PhraseGroup:
    """Phrases anchored on one word that check the word at `offset` from it next."""

    # What a neighbour admits is remembered per set of slots it fits, as a node of the same
    # kind: a phrase check is one set test per word, however many phrases share a prefix
    # («… на дороге»: twenty phrases, one test for «на», one for the word before it).
    offset: int
    candidates: tuple[tuple[int, PhraseHit], ...]
    admitted: dict[frozenset[int], Node] = field(default_factory=dict)

    def admit(self, fills: frozenset[int]) -> Node:
        """The phrases whose word at `offset` fits one of `fills`, as a node to go on from."""
        fits = [hit for slot, hit in self.candidates if slot in fills]
        node = (tuple(hit for hit in fits if not hit[3]),
                phrase_groups(hit for hit in fits if hit[3]))
        if len(self.admitted) >= GROUP_MEMO_SIZE:
            self.admitted.clear()
        self.admitted[fills] = node
        return node


def phrase_groups(hits: Iterable[PhraseHit]) -> Groups:
    """Phrases grouped by the offset of the next word they check, in order of offset."""
    by_offset: dict[int, list[tuple[int, PhraseHit]]] = {}
    for term_id, anchor, after, rest, spot, scoring in hits:
        offset, slot = rest[0]
        by_offset.setdefault(offset, []).append(
            (slot, (term_id, anchor, after, rest[1:], spot, scoring)))
    groups = [PhraseGroup(offset, tuple(found)) for offset, found in sorted(by_offset.items())]
    return tuple((g.offset, frozenset(slot for slot, _ in g.candidates), g.admitted, g)
                 for g in groups)


@dataclass(frozen=True, eq=False)
class WordIndex:
    """Lemma (or «=form») → term ids, and the per-word entries classify reads, made by
    rules.compiler from the compiled terms."""

    words: Mapping[str, tuple[int, ...]]
    """Key → one-word terms."""
    phrases: Mapping[str, tuple[int, ...]]
    """Key of a phrase's anchor word → phrases."""
    slots: Mapping[str, tuple[int, ...]]
    """Key → the phrase slots (non-anchor phrase words) it fits."""
    phrase_hits: Mapping[int, PhraseHit]
    """Phrase term → what matching needs of it."""
    pairs: Counted
    """(term, its scoring) of every term: one shared object per term for Entry.words."""
    counted: frozenset[int]
    positional: frozenset[int]
    forms: Mapping[str, frozenset[str]]
    """Dictionary word form → the lemma keys above it is a form of (rules.morph.expand_forms):
    a known text word is looked up here, not parsed."""
    padding: tuple[Word, ...]
    """As many NO_MATCH as a phrase reaches from its anchor. Put after a text's words, they
    are what a phrase check finds past the last word or, by a negative index, before the
    first: no bounds test in the loop."""
    keys: frozenset[str] = field(init=False, repr=False)
    """Every key above: a word with none of them matches nothing, found with one set test."""
    # Caches of what the frozen fields above determine: filling or clearing them changes no answer.
    memo: dict[str, Word] = field(default_factory=dict, repr=False)
    groups: dict[frozenset[int], Groups] = field(default_factory=dict, repr=False)
    shared: dict[Hashable, Word] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", frozenset((*self.words, *self.phrases, *self.slots)))

    def entry(self, token: str) -> Word:
        """What a text word does: remembered, or resolved now."""
        found = self.memo.get(token)
        return self.resolve(token) if found is None else found

    def forget(self, limit: int) -> None:
        """Forget the resolved words (and the word memos of rules.morph) once more than
        `limit` are kept: a bound tighter than MEMO_SIZE for a process that runs for months
        (about 1 KB a word in all); answers stay the same, known words are resolved again."""
        if len(self.memo) > limit:
            self._forget()
            forget_words(limit)

    def resolve(self, token: str) -> Word:
        """What a text word does, computed once per distinct word."""
        keys = known_keys(token, self.forms)
        if keys is None:
            keys = token_keys(token)
        if self.keys.isdisjoint(keys):  # most words of a text
            return self._remember(token, NO_MATCH)
        words: set[int] = set()
        phrases: set[int] = set()
        fills: set[int] = set()
        for key in keys:
            words.update(self.words.get(key, ()))
            phrases.update(self.phrases.get(key, ()))
            fills.update(self.slots.get(key, ()))
        # Words that do the same share one entry («яма», «ямы», «яму»…): fewer objects for
        # the CPU cache to hold.
        slots = frozenset(fills)
        entry = self.shared.get(slots)  # a Filler is false: test for None
        if entry is None:
            entry = self.shared[slots] = Filler.of(slots) if slots else NO_MATCH
        if words or phrases:
            counted = tuple(self.pairs[t] for t in sorted(words & self.counted))
            placed = tuple(sorted(words & self.positional))
            groups = self._groups(phrases)
            same = (counted, placed, id(groups), slots)  # groups: one object per phrase set
            entry = self.shared.get(same) or self.shared.setdefault(
                same, Entry(counted, placed, groups, entry.fills))
        return self._remember(token, entry)

    def _remember(self, token: str, entry: Word) -> Word:
        if len(self.memo) >= MEMO_SIZE:
            self._forget()
        self.memo[token] = entry
        return entry

    def _forget(self) -> None:
        """Empty the caches when full (bounded memory)."""
        self.memo.clear()
        self.groups.clear()
        self.shared.clear()

    def _groups(self, phrases: set[int]) -> Groups:
        """Phrases anchored on a word, grouped by the offset of their nearest other word."""
        key = frozenset(phrases)
        if key not in self.groups:
            self.groups[key] = phrase_groups(self.phrase_hits[n] for n in sorted(phrases))
        return self.groups[key]
