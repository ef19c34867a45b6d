"""Compile rules into a RuleSet: lemmatise every term once and index it by its words."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from itertools import chain
from typing import Any

from rules.compiled import Near, Pattern, Scope, Term
from rules.engine import RuleSet
from rules.groups import GROUPS
from rules.model import (
    LIST_MARK,
    ListConfig,
    MatchRules,
    MentionsConfig,
    NoiseConfig,
    RulesConfig,
    TermSpec,
    TopicConfig,
    rule_problems,
    term_text,
    term_weight,
)
from rules.morph import EXACT, FUNCTION_WORDS, Slots, expand_forms, term_words
from rules.places import SettlementLike, place_terms
from rules.wordindex import NO_MATCH, PhraseHit, Scoring, WordIndex

_EXACT_MARK_RE = re.compile(r"(?<!\S)=")

NearChecks = dict[int, tuple[frozenset[int], tuple[tuple[int, "Near"], ...]]]
"""A term that triggers `near` checks → (terms of their other parts, (number, entry)…)."""
Expanded = list[tuple[Slots, str, float | None]]
"""The terms one written entry stands for: (words, label, own weight or None)."""
NearSpec = tuple[int, int, int, float, str]
"""A `near` entry before terms are shared: (rule, parts, within, points, label)."""


class RulesError(ValueError):
    """The rules cannot be compiled; `problems` lists every reason at once."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Use:
    """What one spelling means to one rule (or place), before equal spellings are shared."""

    rule: int = -1
    points: float = 0.0
    label: str = ""
    require: int = -1
    exclude: bool = False
    part: tuple[int, int] | None = None
    place: int = -1
    street: str = ""


def compile_rules(
    topics: Sequence[TopicConfig],
    rules: RulesConfig,
    *,
    noise: Sequence[NoiseConfig] = (),
    lists: Mapping[str, ListConfig] | None = None,
    mentions: MentionsConfig | None = None,
    settlements: Sequence[SettlementLike] = (),
    place_required: Collection[str] = (),
) -> RuleSet:
    """Lemmatise every rule term and index it, so classification cost ignores topic count."""
    lists = lists or {}
    problems = rule_problems(chain(topics, noise), lists)
    if problems:
        raise RulesError(problems)
    active = tuple(t for t in topics if t.enabled)
    quiet = tuple(n for n in noise if n.enabled)
    builder = _Builder(rules.phrase_weight, lists)
    for index, rule in enumerate(chain(active, quiet)):
        builder.add_rule(index, rule)
    for place in place_terms(settlements):
        builder.uses.append((place.words, Use(place=place.settlement, street=place.street)))
    terms = builder.terms()
    nears, near_checks = builder.nears(terms)
    needs = {rule: frozenset(ids) for rule, ids in builder.needs.items()}
    return RuleSet(
        topics=active,
        noise=quiet,
        min_score=rules.min_score,
        terms=terms,
        nears=nears,
        near_checks=near_checks,
        trigger_terms=frozenset(near_checks),
        patterns=tuple(builder.patterns),
        needs=needs,
        scopes=builder.scopes,
        settlements=tuple(s.name for s in settlements),
        place_required=frozenset(place_required),
        verdicts=tuple(_topic_fields(topic) for topic in active),
        topic_count=len(active),
        **_mention_views(mentions, builder, terms, rules),
        **_views(terms, needs.keys() | builder.scopes.keys()),
    )


def _mention_views(
    mentions: MentionsConfig | None, builder: _Builder, terms: tuple[Term, ...],
    rules: RulesConfig,
) -> dict[str, Any]:
    """The RuleSet fields of `[mentions]`: landmark terms, whether «?» counts, the signals."""
    if mentions is None or not mentions.enabled:
        return {}
    landmarks = frozenset(key for spec in mentions.landmarks
                          for words, _, _ in builder.expand(spec) for key in words[0])
    return {"neutral": _neutral(terms, landmarks), "questions": mentions.questions,
            "signals": _signals(mentions, rules, builder.lists)}


def _views(terms: tuple[Term, ...], conditional: Set[int]) -> dict[str, Any]:
    """The views of the terms that classification reads, by RuleSet field."""
    vetoers = _vetoers(terms, conditional)
    return {
        "index": _word_index(terms),
        "effectful": _which(terms, lambda t: t.effects),
        "place_terms": _which(terms, lambda t: t.places),
        "vetoers": vetoers,
        "guarded": frozenset(vetoers),
    }


def _word_index(terms: tuple[Term, ...]) -> WordIndex:
    """The word index over the compiled terms."""
    # Equal scorings are one object: the few that most texts touch stay in the CPU cache.
    shared: dict[Scoring, Scoring] = {}
    scorings = tuple(shared.setdefault(items, items)
                     for items in (tuple(term.scoring.items()) for term in terms))
    counted = _which(terms, lambda t: t.scoring or t.effects)
    positional = _which(terms, lambda t: t.parts or t.places)
    slots = {keys: n for n, keys in enumerate(dict.fromkeys(
        keys for term in terms for _, keys in term.others))}

    def phrase_hit(term_id: int, term: Term) -> PhraseHit:
        rest = tuple((offset, slots[keys]) for offset, keys in term.others)
        scoring = scorings[term_id] if term_id in counted else None
        return (term_id, term.anchor, term.after, rest, term_id in positional, scoring)

    words = _index(terms, phrases=False)
    phrases = _index(terms, phrases=True)
    fills = _grouped((key, slot) for keys, slot in slots.items() for key in keys)
    return WordIndex(
        words=words,
        phrases=phrases,
        slots=fills,
        forms=expand_forms(sorted({key for keys in (words, phrases, fills) for key in keys
                                   if not key.startswith(EXACT)})),
        phrase_hits={n: phrase_hit(n, term) for n, term in enumerate(terms)
                     if len(term.words) > 1},
        pairs=tuple(enumerate(scorings)),
        counted=counted,
        positional=positional,
        padding=(NO_MATCH,) * max((abs(n) for t in terms for n, _ in t.others), default=0),
    )


def _neutral(terms: tuple[Term, ...], landmarks: frozenset[str]) -> frozenset[int]:
    """Terms that only name a landmark: «парк», or a preposition and one landmark «в парке».
    A phrase of two landmarks («река на дороге») was written to say more, so it is not."""
    if not landmarks:
        return frozenset()

    def naming(term: Term) -> bool:
        content = [slot for slot in term.words if FUNCTION_WORDS.isdisjoint(slot)]
        return len(content) == 1 and not landmarks.isdisjoint(content[0])

    return _which(terms, naming)


def _signals(
    mentions: MentionsConfig, rules: RulesConfig, lists: Mapping[str, ListConfig]
) -> RuleSet | None:
    """The signals as a rule set of their own: looked for only in texts that matched nothing
    but landmarks, so that «не» or «когда» cost nothing in every other text."""
    if not mentions.signals:
        return None
    topic = TopicConfig(id="signals", group=GROUPS[0], name="признаки жалобы или вопроса",
                        organisation="-", phrases=mentions.signals)
    return compile_rules([topic], rules, lists=lists)


def _which(terms: tuple[Term, ...], test: Callable[[Term], object]) -> frozenset[int]:
    """Ids of the terms that pass `test`."""
    return frozenset(n for n, term in enumerate(terms) if test(term))


def _vetoers(terms: tuple[Term, ...], conditional: Set[int]) -> dict[int, frozenset[int] | None]:
    """Rules that can be withdrawn → the terms that exclude them (None: requirement or scope)."""
    vetoers: dict[int, frozenset[int] | None] = {
        rule: frozenset(found) for rule, found in _grouped(
            (rule, term_id) for term_id, term in enumerate(terms) for rule in term.excludes
        ).items()}
    vetoers.update(dict.fromkeys(conditional))
    return vetoers


def _grouped(pairs: Iterable[tuple[Any, int]]) -> dict[Any, tuple[int, ...]]:
    """(key, id) pairs as key → ids in the order met."""
    found: dict[Any, list[int]] = {}
    for key, item in pairs:
        found.setdefault(key, []).append(item)
    return {key: tuple(items) for key, items in found.items()}


def _index(terms: tuple[Term, ...], *, phrases: bool) -> dict[str, tuple[int, ...]]:
    """Term ids by the keys of their anchor word: of one-word terms, or of phrases."""
    return _grouped((key, term_id) for term_id, term in enumerate(terms)
                    if (len(term.words) > 1) == phrases for key in term.words[term.anchor])


def _topic_fields(topic: TopicConfig) -> dict[str, object]:
    return {"group": topic.group, "topic": topic.id, "topic_name": topic.name,
            "organisation": topic.organisation, "priority": topic.priority, "sla": topic.sla}


def build_term(words: Slots, uses: Sequence[Use]) -> Term:
    """A term and the views of its uses that classification needs."""
    scoring: dict[int, float] = {}
    labels: dict[int, str] = {}
    veto_labels: dict[int, str] = {}
    for use in uses:
        if use.points:
            scoring[use.rule] = max(scoring.get(use.rule, 0.0), use.points)
            labels.setdefault(use.rule, use.label)
        if use.exclude:
            veto_labels.setdefault(use.rule, use.label)
    # A phrase is indexed by its rarest-looking word, so phrases that start with «не», «в»,
    # «нет» are not tried at every «не» of every text.
    anchor = max(range(len(words)), key=lambda slot: (min(map(len, words[slot])), -slot))
    others = sorted(((n - anchor, keys) for n, keys in enumerate(words) if n != anchor),
                    key=lambda other: (abs(other[0]), other[0]))
    return Term(
        words=words,
        anchor=anchor,
        after=len(words) - 1 - anchor,
        others=tuple(others),
        scoring=scoring,
        labels=labels,
        veto_labels=veto_labels,
        requires=tuple(sorted({u.require for u in uses if u.require >= 0})),
        excludes=tuple(sorted({u.rule for u in uses if u.exclude})),
        parts=tuple(sorted({u.part for u in uses if u.part is not None})),
        places=tuple(sorted({u.place for u in uses if u.place >= 0})),
        streets=tuple(sorted({u.street for u in uses if u.street})),
    )


class _Builder:
    """Collects the uses of every term, the `near` and `regex` entries, needs and scopes."""

    def __init__(self, phrase_weight: float, lists: Mapping[str, ListConfig]) -> None:
        self.phrase_weight = phrase_weight
        self.lists = lists
        self.uses: list[tuple[Slots, Use]] = []
        self.near_specs: list[NearSpec] = []
        self.patterns: list[Pattern] = []
        self.needs: dict[int, set[int]] = {}
        self.scopes: dict[int, Scope] = {}
        self._requirements = 0

    def expand(self, spec: TermSpec) -> Expanded:
        """The terms an entry stands for: itself, or every term of the list it names."""
        text = term_text(spec).strip()
        if not text.startswith(LIST_MARK):
            return [(term_words(text), _shown(text), term_weight(spec))]
        weight = term_weight(spec)
        return [
            (term_words(term_text(t)), f"{_shown(term_text(t))}» из «{text}",
             weight if weight is not None else term_weight(t))
            for t in self.lists[text[1:]].terms
        ]

    def add_rule(self, index: int, rule: MatchRules) -> None:
        """Everything one topic or noise rule contributes."""
        scored: list[tuple[Slots, Use]] = []
        for key, default in (("words", 1.0), ("phrases", self.phrase_weight)):
            for spec in getattr(rule, key):
                for words, label, own in self.expand(spec):
                    points = (default if own is None else own) * rule.weight
                    prefix = "фраза " if len(words) > 1 else ""
                    scored.append((words, Use(index, points, f"{prefix}«{label}»")))
        self.uses += _merge_same(scored)
        for spec in rule.exclude:
            self.uses += [(w, Use(index, exclude=True, label=f"«{label}»"))
                          for w, label, _ in self.expand(spec)]
        for spec in rule.require:
            self._requirements += 1
            self.needs.setdefault(index, set()).add(self._requirements)
            self.uses += [(w, Use(require=self._requirements)) for w, _, _ in self.expand(spec)]
        for near in rule.near:
            number = len(self.near_specs)
            points = (near.weight or self.phrase_weight) * rule.weight
            label = "рядом " + " + ".join(f"«{_shown(t)}»" for t in near.terms)
            self.near_specs.append((index, len(near.terms), near.within, points, label))
            for part, spec in enumerate(near.terms):
                self.uses += [(w, Use(part=(number, part))) for w, _, _ in self.expand(spec)]
        for pattern in rule.regex:
            compiled = re.compile(pattern.pattern)
            self.patterns.append(Pattern(compiled, index, pattern.weight * rule.weight))
        if rule.scoped:
            self.scopes[index] = Scope(frozenset(rule.sources), frozenset(rule.networks),
                                       frozenset(rule.settlements))

    def terms(self) -> tuple[Term, ...]:
        """One term per distinct spelling, whatever the number of rules that use it."""
        by_words: dict[Slots, list[Use]] = {}
        for words, use in self.uses:
            by_words.setdefault(words, []).append(use)
        return tuple(build_term(words, uses) for words, uses in by_words.items())

    def nears(self, terms: tuple[Term, ...]) -> tuple[tuple[Near, ...], NearChecks]:
        """`near` entries with the term ids of each part, and what a triggering term checks."""
        # Only a term of an entry's smallest part triggers the check: «яма» near «@yard»
        # is looked at where «яма» occurs, not at every «двор».
        parts: list[list[set[int]]] = [[set() for _ in range(spec[1])] for spec in self.near_specs]
        for term_id, term in enumerate(terms):
            for number, part in term.parts:
                parts[number][part].add(term_id)
        nears = []
        triggers: dict[int, list[tuple[int, Near]]] = {}
        for number, (rule, _, within, points, label) in enumerate(self.near_specs):
            sets = tuple(map(frozenset, parts[number]))
            trigger = min(range(len(sets)),
                          key=lambda n: (len(sets[n]), -_shortest(sets[n], terms)))
            near = Near(rule, sets, within, points, label, sets[:trigger] + sets[trigger + 1:])
            nears.append(near)
            for term_id in sets[trigger]:
                triggers.setdefault(term_id, []).append((number, near))
        checks = {term: (frozenset(chain.from_iterable(
            part for _, near in found for part in near.others)), tuple(found))
            for term, found in triggers.items()}
        return tuple(nears), checks


def _shortest(part: Set[int], terms: tuple[Term, ...]) -> int:
    """The length of the shortest key of any word of a part's terms: short words are common."""
    return min((len(key) for t in part for slot in terms[t].words for key in slot), default=0)


def _shown(text: str) -> str:
    return _EXACT_MARK_RE.sub("", text.strip())


def _merge_same(uses: list[tuple[Slots, Use]]) -> list[tuple[Slots, Use]]:
    """Count «яма» and «ямы» in one rule once: terms whose every word shares a lemma are one."""
    merged: list[tuple[Slots, Use]] = []
    by_first: dict[tuple[int, str], list[int]] = {}
    for words, use in uses:
        near = sorted({n for key in words[0] for n in by_first.get((len(words), key), ())})
        same = next((n for n in near if _same(merged[n][0], words)), None)
        if same is None:
            same = len(merged)
            merged.append((words, use))
        else:
            other, first = merged[same]
            union = tuple(a | b for a, b in zip(other, words, strict=True))
            merged[same] = (union, first if first.points >= use.points else use)
        for key in merged[same][0][0]:
            by_first.setdefault((len(words), key), []).append(same)
    return merged


def _same(one: Slots, other: Slots) -> bool:
    return len(one) == len(other) and all(
        not a.isdisjoint(b) for a, b in zip(one, other, strict=True)
    )
