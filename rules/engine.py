"""Compile rules into a lemma index and classify texts against it, as a pure function."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import chain

from rules.model import (
    LIST_MARK,
    ListConfig,
    MatchRules,
    NoiseConfig,
    RulesConfig,
    TermSpec,
    TopicConfig,
    rule_problems,
    term_text,
    term_weight,
)
from rules.morph import WORD_RE, Slots, normalise_text, term_words, token_keys
from rules.places import SettlementLike, pick_settlement, place_terms

# Tokens resolved to the terms they can match, per rule set; cleared when full to bound memory.
MEMO_SIZE = 1 << 17
GROUP_MEMO_SIZE = 1 << 12
_EXACT_MARK_RE = re.compile(r"(?<!\S)=")
_LETTER_RE = re.compile(r"[^\W\d_]")
NO_PLACE = "источник требует упоминания места: населённый пункт не найден"

Groups = tuple[tuple[int, dict[str, tuple["PhraseHit", ...]], "PhraseGroup"], ...]
"""(offset, admitted, group) of each group of phrases anchored on a word."""
MemoEntry = tuple[()] | tuple[tuple[int, ...], tuple[int, ...], Groups]
"""For a text word: (terms that count, terms whose position matters, phrases anchored on it)."""
Spots = list[tuple[int, int]]
"""(term, position) of matched terms whose position matters: `near` parts and places."""
Evidence = tuple[int, float, str]
"""(rule, points, why) of a `near` or `regex` entry that matched."""
Context = tuple[str | None, str | None, str | None]
"""(source, network, settlement) of the message, for scopes."""


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


@dataclass(frozen=True, slots=True)
class Term:
    """A word or phrase, shared by every rule that spells it, with what it does to each."""

    # A phrase is indexed by its `anchor`, its rarest-looking word, so phrases that start with
    # «не», «в», «нет» are not tried at every «не» of every text; `others` (offset from the
    # anchor, keys; nearest first) place the other words.
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

    @classmethod
    def build(cls, words: Slots, uses: Sequence[Use]) -> Term:
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
        anchor = max(range(len(words)), key=lambda slot: (min(map(len, words[slot])), -slot))
        others = sorted(((n - anchor, keys) for n, keys in enumerate(words) if n != anchor),
                        key=lambda other: (abs(other[0]), other[0]))
        return cls(
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
        )

    @property
    def effects(self) -> bool:
        """Whether the term vetoes or satisfies a rule besides scoring."""
        return bool(self.requires or self.excludes)


PhraseHit = tuple[int, int, int, tuple[tuple[int, frozenset[str]], ...], bool, bool]
"""A phrase as matching needs it: (term, anchor, words after it, other words to check,
whether its position matters, whether it counts)."""


@dataclass(slots=True)
class PhraseGroup:
    """Phrases anchored on one word whose nearest other word sits at `offset` from it."""

    # Which of them a neighbouring word admits is remembered per neighbour, so a phrase
    # check is one dict lookup in the common case, however many phrases share the anchor.
    offset: int
    candidates: tuple[tuple[frozenset[str], PhraseHit], ...]
    admitted: dict[str, tuple[PhraseHit, ...]] = field(default_factory=dict)

    def admit(self, neighbour: str) -> tuple[PhraseHit, ...]:
        """Phrases whose word at `offset` can be `neighbour`."""
        keys = token_keys(neighbour)
        found = tuple(hit for slot, hit in self.candidates if not slot.isdisjoint(keys))
        if len(self.admitted) >= GROUP_MEMO_SIZE:
            self.admitted.clear()
        self.admitted[neighbour] = found
        return found


@dataclass(frozen=True, slots=True)
class Near:
    """A compiled `near` entry: a term of every part within `within` words scores `points`."""

    rule: int
    parts: tuple[frozenset[int], ...]
    within: int
    points: float
    label: str


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


@dataclass(frozen=True)
class Classification:
    """The verdict on one text: the winning topic (if any), whether to react, and why."""

    group: str | None = None
    topic: str | None = None
    topic_name: str | None = None
    organisation: str | None = None
    priority: str | None = None
    sla: str | None = None
    actionable: bool = False
    score: float = 0.0
    why: tuple[str, ...] = ()
    settlement: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The verdict as plain data for storage and alerts."""
        data = asdict(self)
        del data["sla"]
        data["score"] = round(self.score, 2)
        data["why"] = list(self.why)
        return data

    def to_json(self) -> str:
        """The verdict as a JSON object with Russian text left readable."""
        return json.dumps(self.as_dict(), ensure_ascii=False)

    def place_required(self) -> Classification:
        """This verdict for a source with `require_place`: no settlement, no reaction."""
        if self.settlement is not None or not self.actionable:
            return self
        return replace(self, actionable=False, why=(*self.why, NO_PLACE))


NOTHING = Classification()
_new = object.__new__


def _verdict(
    topic: Mapping[str, object], actionable: bool, score: float, why: tuple[str, ...],
    settlement: str | None,
) -> Classification:
    """A Classification from a topic's prepared fields, for a quarter of the __init__ cost."""
    # The frozen dataclass __init__ sets ten fields through object.__setattr__, a tenth of
    # the whole classification budget; filling the instance dict directly keeps it frozen.
    verdict: Classification = _new(Classification)
    fields = verdict.__dict__
    fields.update(topic)
    fields["actionable"] = actionable
    fields["score"] = score
    fields["why"] = why
    fields["settlement"] = settlement
    return verdict


class RulesError(ValueError):
    """The rules cannot be compiled; `problems` lists every reason at once."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, eq=False)
class RuleSet:
    """Compiled rules: shared terms, and indexes from a lemma (or «=form») to term ids."""

    topics: tuple[TopicConfig, ...]
    noise: tuple[NoiseConfig, ...]
    min_score: float
    terms: tuple[Term, ...]
    word_index: Mapping[str, tuple[int, ...]]
    phrase_index: Mapping[str, tuple[int, ...]]
    counted: frozenset[int] = frozenset()
    scorings: tuple[Mapping[int, float], ...] = ()
    effectful: frozenset[int] = frozenset()
    positional: frozenset[int] = frozenset()
    nears: tuple[Near, ...] = ()
    triggers: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    place_terms: frozenset[int] = frozenset()
    patterns: tuple[Pattern, ...] = ()
    needs: Mapping[int, frozenset[int]] = field(default_factory=dict)
    scopes: Mapping[int, Scope] = field(default_factory=dict)
    conditional: frozenset[int] = frozenset()
    settlements: tuple[str, ...] = ()
    place_required: frozenset[str] = frozenset()
    verdicts: tuple[Mapping[str, object], ...] = ()
    memo: dict[str, MemoEntry] = field(default_factory=dict, repr=False)
    groups: dict[frozenset[int], Groups] = field(default_factory=dict, repr=False)

    def resolve(self, token: str) -> MemoEntry:
        """Terms a text word can match, or () — computed once per distinct word."""
        words: set[int] = set()
        phrases: set[int] = set()
        for key in token_keys(token):
            words.update(self.word_index.get(key, ()))
            phrases.update(self.phrase_index.get(key, ()))
        entry: MemoEntry = ()
        if words or phrases:
            entry = (tuple(sorted(words & self.counted)), tuple(sorted(words & self.positional)),
                     self._groups(phrases))
        if len(self.memo) >= MEMO_SIZE:
            self.memo.clear()
            self.groups.clear()
        self.memo[token] = entry
        return entry

    def _groups(self, phrases: set[int]) -> Groups:
        """Phrases anchored on a word, grouped by the offset of their nearest other word."""
        key = frozenset(phrases)
        if key not in self.groups:
            by_offset: dict[int, list[tuple[frozenset[str], PhraseHit]]] = {}
            for term_id in sorted(phrases):
                term = self.terms[term_id]
                offset, slot = term.others[0]
                hit = (term_id, term.anchor, term.after, term.others[1:],
                       term_id in self.positional, term_id in self.counted)
                by_offset.setdefault(offset, []).append((slot, hit))
            groups = [PhraseGroup(offset, tuple(found)) for offset, found in by_offset.items()]
            self.groups[key] = tuple((g.offset, g.admitted, g) for g in sorted(
                groups, key=lambda group: group.offset))
        return self.groups[key]

    def rule(self, index: int) -> MatchRules:
        """A topic (indexes first) or a noise rule (indexes after the topics)."""
        count = len(self.topics)
        return self.topics[index] if index < count else self.noise[index - count]


# --- compilation -------------------------------------------------------------------------


def compile_rules(
    topics: Sequence[TopicConfig],
    rules: RulesConfig,
    *,
    noise: Sequence[NoiseConfig] = (),
    lists: Mapping[str, ListConfig] | None = None,
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
        builder.uses.append((place.words, Use(place=place.settlement)))
    terms = builder.terms()
    word_index: dict[str, list[int]] = {}
    phrase_index: dict[str, list[int]] = {}
    for term_id, term in enumerate(terms):
        index_ = word_index if len(term.words) == 1 else phrase_index
        for key in term.words[term.anchor]:
            index_.setdefault(key, []).append(term_id)
    nears, triggers = builder.nears(terms)
    return RuleSet(
        topics=active,
        noise=quiet,
        min_score=rules.min_score,
        terms=terms,
        word_index={key: tuple(ids) for key, ids in word_index.items()},
        phrase_index={key: tuple(ids) for key, ids in phrase_index.items()},
        counted=frozenset(n for n, t in enumerate(terms) if t.scoring or t.effects),
        scorings=tuple(term.scoring for term in terms),
        effectful=frozenset(n for n, t in enumerate(terms) if t.effects),
        positional=frozenset(n for n, t in enumerate(terms) if t.parts or t.places),
        nears=nears,
        triggers=triggers,
        place_terms=frozenset(n for n, t in enumerate(terms) if t.places),
        patterns=tuple(builder.patterns),
        needs={rule: frozenset(ids) for rule, ids in builder.needs.items()},
        scopes=builder.scopes,
        conditional=frozenset(builder.needs) | frozenset(builder.scopes),
        settlements=tuple(s.name for s in settlements),
        place_required=frozenset(place_required),
        verdicts=tuple(_topic_fields(topic) for topic in active),
    )


def _topic_fields(topic: TopicConfig) -> dict[str, object]:
    return {"group": topic.group, "topic": topic.id, "topic_name": topic.name,
            "organisation": topic.organisation, "priority": topic.priority, "sla": topic.sla}


Expanded = list[tuple[Slots, str, float | None]]
"""The terms one written entry stands for: (words, label, own weight or None)."""
NearSpec = tuple[int, int, int, float, str]
"""A `near` entry before terms are shared: (rule, parts, within, points, label)."""


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
        return tuple(Term.build(words, uses) for words, uses in by_words.items())

    def nears(self, terms: tuple[Term, ...]) -> tuple[tuple[Near, ...], dict[int, tuple[int, ...]]]:
        """`near` entries with the term ids of each part, and the terms that trigger a check."""
        # Only a term of an entry's smallest part triggers the check: «яма» near «@yard»
        # is looked at where «яма» occurs, not at every «двор».
        parts: list[list[set[int]]] = [[set() for _ in range(spec[1])] for spec in self.near_specs]
        for term_id, term in enumerate(terms):
            for number, part in term.parts:
                parts[number][part].add(term_id)
        nears = []
        triggers: dict[int, list[int]] = {}
        for number, (rule, _, within, points, label) in enumerate(self.near_specs):
            nears.append(Near(rule, tuple(map(frozenset, parts[number])), within, points, label))
            trigger = min(parts[number], key=lambda part: (len(part), -_shortest(part, terms)))
            for term_id in trigger:
                triggers.setdefault(term_id, []).append(number)
        return tuple(nears), {term: tuple(found) for term, found in triggers.items()}


def _shortest(part: set[int], terms: tuple[Term, ...]) -> int:
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


# --- classification ----------------------------------------------------------------------


def classify(
    text: str, ruleset: RuleSet, *, source: str | None = None, network: str | None = None
) -> Classification:
    """Decide the topic of `text` and whether it needs a reaction; pure, never raises on text."""
    lowered = text.lower()
    tokens = WORD_RE.findall(lowered)
    if not tokens:
        return NOTHING
    matched, spots = _match(tokens, ruleset)
    extra = _match_patterns(normalise_text(lowered, tokens), ruleset.patterns) \
        if ruleset.patterns else []
    settlement = None
    if spots:
        present = {term_id for term_id, _ in spots}
        if not ruleset.place_terms.isdisjoint(present):
            settlement = _settlement(spots, ruleset)
        if not ruleset.triggers.keys().isdisjoint(present):
            extra += _near_hits(tokens, spots, present, ruleset)
    if not matched and not extra:
        return Classification(settlement=settlement) if settlement else NOTHING
    verdict = _decide(matched, extra, ruleset, (source, network, settlement))
    if verdict.actionable:
        # Texts without letters (emoji, numbers) never need a reaction.
        if not tokens[0].isalpha() and not _LETTER_RE.search(lowered):
            return replace(verdict, actionable=False)
        if source in ruleset.place_required:
            return verdict.place_required()
    return verdict


def _match(tokens: list[str], ruleset: RuleSet) -> tuple[dict[int, str], Spots]:
    """Matched term ids → the text's own words that matched (in text order), and spots."""
    memo_get = ruleset.memo.get
    matched: dict[int, str] = {}
    spots: Spots = []
    size = len(tokens)
    for position, token in enumerate(tokens):
        entry = memo_get(token)
        if entry is None:
            entry = ruleset.resolve(token)
        if not entry:
            continue
        words, placed, groups = entry
        for term_id in words:
            if term_id not in matched:
                matched[term_id] = token
        for term_id in placed:
            spots.append((term_id, position))
        for offset, admitted, group in groups:
            near = position + offset
            if 0 <= near < size:
                found = admitted.get(tokens[near])
                if found is None:
                    found = group.admit(tokens[near])
                if found:
                    _match_phrases(tokens, position, found, matched, spots)
    return matched, spots


def _match_phrases(
    tokens: list[str],
    position: int,
    found: tuple[PhraseHit, ...],
    matched: dict[int, str],
    spots: Spots,
) -> None:
    """Record the phrases anchored at `position` whose nearest word fits, if the rest fits."""
    size = len(tokens)
    for term_id, anchor, after, rest, spot, counts in found:
        start = position - anchor
        end = position + after
        if start < 0 or end >= size or (term_id in matched and not spot):
            continue
        for offset, keys in rest:
            if keys.isdisjoint(token_keys(tokens[position + offset])):
                break
        else:
            if spot:
                spots.append((term_id, start))
            if counts and term_id not in matched:
                matched[term_id] = " ".join(tokens[start : end + 1])


def _match_patterns(text: str, patterns: Sequence[Pattern]) -> list[Evidence]:
    """Every `regex` entry found in the normalised text."""
    found = []
    for pattern in patterns:
        hit = pattern.regex.search(text)
        if hit is not None:
            shown = " ".join(hit.group(0).split())[:60]
            evidence = f"regex «{pattern.regex.pattern}» ({shown})"
            found.append((pattern.rule, pattern.points, evidence))
    return found


def _settlement(spots: Spots, ruleset: RuleSet) -> str | None:
    """The settlement the text is about, from the places among the spots."""
    terms = ruleset.terms
    place = pick_settlement([(p, at) for t, at in spots for p in terms[t].places])
    return None if place is None else ruleset.settlements[place]


def _near_hits(
    tokens: list[str], spots: Spots, present: set[int], ruleset: RuleSet
) -> list[Evidence]:
    """Every `near` entry whose parts all occur close enough to each other."""
    triggers = ruleset.triggers
    numbers = {number for term_id in present for number in triggers.get(term_id, ())}
    found = []
    for number in sorted(numbers):
        near = ruleset.nears[number]
        for part in near.parts:
            if part.isdisjoint(present):
                break
        else:
            span = _shortest_span(near.parts, spots)
            if span[1] - span[0] <= near.within:
                shown = " ".join(tokens[span[0] : span[1] + 1])
                found.append((near.rule, near.points, f"{near.label} ({shown})"))
    return found


def _shortest_span(parts: tuple[frozenset[int], ...], spots: Spots) -> tuple[int, int]:
    """The narrowest (first, last) positions holding a term of every part (all are present)."""
    hits = sorted((position, index) for index, part in enumerate(parts)
                  for term_id, position in spots if term_id in part)
    counts = [0] * len(parts)
    have = 0
    best = (hits[0][0], hits[-1][0])
    left = 0
    for position, part in hits:
        counts[part] += 1
        have += counts[part] == 1
        while have == len(parts):
            first, first_part = hits[left]
            if position - first < best[1] - best[0]:
                best = (first, position)
            counts[first_part] -= 1
            have -= counts[first_part] == 0
            left += 1
    return best


def _decide(
    matched: dict[int, str], extra: list[Evidence], ruleset: RuleSet, context: Context
) -> Classification:
    scores, vetoed = _score(matched, extra, ruleset, context)
    count = len(ruleset.topics)
    floor = ruleset.min_score
    best, score = -1, 0.0
    noisy: list[int] = []
    for rule, points in scores.items():
        if rule >= count:
            if points >= floor:
                noisy.append(rule)
        elif points > score or (points == score and rule < best):
            best, score = rule, points
    terms = ruleset.terms
    why = [f"{label} ({form})" for t, form in matched.items()
           if (label := terms[t].labels.get(best)) is not None]
    if extra or noisy or vetoed:
        why += _explain_more(matched, extra, ruleset, best, noisy, vetoed)
    if best < 0:
        if why or context[2]:
            return Classification(why=tuple(why), settlement=context[2])
        return NOTHING
    enough = score >= floor
    if not enough:
        why.append(f"балл {round(score, 2):g} ниже порога {floor:g}")
    return _verdict(ruleset.verdicts[best], enough and not noisy, score, tuple(why), context[2])


def _score(
    matched: dict[int, str], extra: list[Evidence], ruleset: RuleSet, context: Context
) -> tuple[dict[int, float], list[int]]:
    """Scores of the rules still standing, and the rules removed by an exclusion."""
    scorings = ruleset.scorings
    scores: dict[int, float] = {}
    get = scores.get
    for term_id in matched:
        scoring = scorings[term_id]
        if scores.keys().isdisjoint(scoring):
            scores.update(scoring)
        else:
            for rule, points in scoring.items():
                scores[rule] = get(rule, 0.0) + points
    for rule, points, _ in extra:
        scores[rule] = get(rule, 0.0) + points
    effects = ruleset.effectful.intersection(matched)
    if effects or not ruleset.conditional.isdisjoint(scores):
        return scores, _withdraw(scores, effects, ruleset, context)
    return scores, []


def _withdraw(
    scores: dict[int, float], effects: frozenset[int], ruleset: RuleSet, context: Context
) -> list[int]:
    """Drop rules vetoed by an exclusion, missing a required term, or out of scope."""
    terms = ruleset.terms
    vetoed = [rule for t in effects for rule in terms[t].excludes if rule in scores]
    dropped = set(vetoed)
    needs, scopes = ruleset.needs, ruleset.scopes
    if not scores.keys().isdisjoint(needs):
        satisfied = {need for t in effects for need in terms[t].requires}
        dropped.update(r for r in scores if r in needs and not needs[r] <= satisfied)
    if not scores.keys().isdisjoint(scopes):
        dropped.update(r for r in scores if r in scopes and not scopes[r].fits(*context))
    for rule in dropped:
        del scores[rule]
    return list(dict.fromkeys(vetoed)) if len(vetoed) > 1 else vetoed


def _explain_more(
    matched: dict[int, str],
    extra: list[Evidence],
    ruleset: RuleSet,
    best: int,
    noisy: list[int],
    vetoed: list[int],
) -> list[str]:
    """Evidence beyond the winner's words: its near/regex hits, noise, and exclusions."""
    terms = ruleset.terms
    why = [text for rule, _, text in extra if rule == best]
    for rule in noisy:
        name = ruleset.rule(rule).id
        why += [f"шум {name}: {terms[t].labels[rule]} ({form})" for t, form in matched.items()
                if rule in terms[t].scoring]
        why += [f"шум {name}: {text}" for index, _, text in extra if index == rule]
    for rule in vetoed:
        removed = "тема {} снята" if rule < len(ruleset.topics) else "шум {} снят"
        name = removed.format(ruleset.rule(rule).id)
        why += [f"{name} исключением {terms[t].veto_labels[rule]} ({form})"
                for t, form in matched.items() if rule in terms[t].excludes]
    return why
