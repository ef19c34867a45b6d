"""The gazetteer: settlement names and streets as index terms; which settlement a text is about."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from rules.morph import EXACT, HOUSE_NUMBER, WORD_RE, Slots, analyzer, lemmas, normalise_word

_CASES = ("nomn", "gent", "datv", "accs", "ablt", "loct")
_STREET_MARKERS = (
    "улица", "ул", "переулок", "пер", "проспект", "пр", "пр-т", "пр-кт", "бульвар", "б-р",
    "шоссе", "площадь", "пл", "проезд", "тракт", "микрорайон", "мкр", "мкрн", "квартал", "кв-л",
    "набережная", "наб", "тупик", "аллея",
)
_STREET_PREPOSITIONS = ("на", "по", "с", "со", "у", "около", "возле", "от", "до", "напротив",
                        "вдоль")
"""«на Титова мусор»: a street of the gazetteer after one of these needs no street word."""
HOUSE_MARKERS = frozenset({"д", "дом"})
"""Words between a street and its house number: «Бажова, д. 5»."""


class SettlementLike(Protocol):
    """A gazetteer entry: `[[places.settlements]]` in the config."""

    @property
    def name(self) -> str: ...

    @property
    def aliases(self) -> tuple[str, ...]: ...

    @property
    def streets(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class PlaceTerm:
    """A spelling that points at one settlement: its name, an alias, or a street of its own."""

    words: Slots
    settlement: int
    text: str
    street: str = ""
    """The street's name as the gazetteer writes it, for a street term."""


@lru_cache(maxsize=4096)
def name_forms(word: str) -> frozenset[str]:
    """The singular case forms of a (proper) name word: «Мартюш» → «Мартюше», «Мартюша»…"""
    # Lemmas of unknown proper nouns are guesses («мартюше» → «мартюша»?), so names are
    # matched by their own declension instead: each nominative parse inflected to each case.
    word = normalise_word(word)
    if "-" in word:
        return _hyphenated_forms(word)
    parses = analyzer().parse(word)
    nominative = [p for p in parses if p.tag.case == "nomn"] or parses
    forms = {word}
    for parse in nominative:
        for case in _CASES:
            inflected = parse.inflect({case})
            if inflected is not None:
                forms.add(inflected.word.replace("ё", "е"))
    return frozenset(forms)


def _hyphenated_forms(word: str) -> frozenset[str]:
    """«Каменск-Уральский» → «Каменске-Уральском»…: the parts agree in case."""
    parts = word.split("-")
    forms = {word}
    for case in _CASES:
        declined = [_case_form(part, case) for part in parts]
        forms.add("-".join(declined))
    return frozenset(forms)


def _case_form(word: str, case: str) -> str:
    parses = [p for p in analyzer().parse(word) if p.tag.case == "nomn"]
    for parse in parses:
        inflected = parse.inflect({case})
        if inflected is not None:
            return str(inflected.word).replace("ё", "е")
    return word


def name_words(name: str) -> Slots:
    """Index keys for each word of a place name: its own case forms, exactly."""
    words = WORD_RE.findall(name.lower())
    return tuple(frozenset(EXACT + form for form in name_forms(word)) for word in words)


def _marker_slot() -> frozenset[str]:
    keys: set[str] = set()
    for marker in _STREET_MARKERS:
        keys.add(EXACT + marker)
        if len(marker) > 3 and "-" not in marker:
            keys.update(lemmas(marker))
    return frozenset(keys)


def place_terms(settlements: Sequence[SettlementLike]) -> list[PlaceTerm]:
    """Terms for every settlement name and alias, and for streets found in one settlement only."""
    terms: list[PlaceTerm] = []
    owners: dict[Slots, set[int]] = {}
    names: dict[Slots, str] = {}
    for index, settlement in enumerate(settlements):
        for spelling in (settlement.name, *settlement.aliases):
            words = name_words(spelling)
            if words:
                terms.append(PlaceTerm(words, index, spelling))
        for street in settlement.streets:
            words = name_words(street)
            if words:
                owners.setdefault(words, set()).add(index)
                names.setdefault(words, street)
    if owners:
        # A street of one settlement only: after a street word («ул. Бажова»), after a
        # preposition («на Титова мусор») or before a house number («Бажова 5 нет воды»).
        marker = _marker_slot()
        preposition = frozenset(EXACT + word for word in _STREET_PREPOSITIONS)
        number = frozenset((HOUSE_NUMBER,))
        for words, found in owners.items():
            if len(found) == 1:
                index = found.pop()
                street = names[words]
                terms += [PlaceTerm((marker, *words), index, "улица", street),
                          PlaceTerm((preposition, *words), index, "улица", street),
                          PlaceTerm((*words, number), index, "улица", street)]
    return terms


def pick_settlement(mentions: Sequence[tuple[int, int]]) -> int | None:
    """The settlement mentioned most often (ties: the first mentioned) of (place, position)."""
    if not mentions:
        return None
    counts: dict[int, int] = {}
    first: dict[int, int] = {}
    for place, position in mentions:
        counts[place] = counts.get(place, 0) + 1
        first[place] = min(first.get(place, position), position)
    return max(counts, key=lambda place: (counts[place], -first[place]))
