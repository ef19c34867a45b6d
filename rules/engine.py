"""The compiled rule set and the pure classifier that runs texts against it."""

from __future__ import annotations

import json
import json.encoder
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import compress
from typing import Final

from common.text import LINK_RE
from rules.compiled import Near, Pattern, Placed, Scope, Term
from rules.model import MatchRules, NoiseConfig, TopicConfig
from rules.morph import HOUSE_NUMBER, HOUSE_NUMBER_RE, WORD_RE, normalise_text
from rules.places import HOUSE_MARKERS, pick_settlement
from rules.wordindex import Node, PhraseHit, Scoring, Word, WordIndex

_LETTER_RE = re.compile(r"[^\W\d_]")
NO_PLACE = "источник требует упоминания места: населённый пункт не найден"
MENTION = "упоминание без жалобы и вопроса: совпали только слова-ориентиры"

Evidence = tuple[int, float, str | tuple[str, int, int]]
"""(rule, points, why) of a `near` or `regex` entry that matched; a `near` entry's why is
(label, first, last position), written out only when `why` is read."""
Context = tuple[str | None, str | None, str | None]
"""(source, network, settlement) of the message, for scopes."""


class _Reasons:
    """`Classification.why`: given, or written out on first use from what classify kept."""

    # Most verdicts are stored by topic and never explained; the reasons cost more to
    # write than to find, so classify keeps its evidence and writes them when asked.
    def __get__(self, verdict: object, owner: type | None = None) -> tuple[str, ...]:
        if verdict is None:
            return ()
        fields = verdict.__dict__
        evidence = fields.get("_evidence")
        if evidence is None:
            return fields.get("why", ())  # type: ignore[no-any-return]
        why = _explain(*evidence)
        fields["why"] = why
        fields.pop("_evidence", None)
        return why


TopicFields = tuple[tuple[str, object], ...]
"""A topic's verdict fields (group, topic, topic_name, organisation, priority, sla) as pairs."""


class _Contenders:
    """`Classification.contenders`: given, or worked out on first use from the scores kept."""

    # Few callers ask (the second opinion): computing it for every verdict cost 13% of
    # classifying, keeping the scores costs nothing.
    def __get__(self, verdict: object, owner: type | None = None) -> tuple[object, ...]:
        if verdict is None:
            return ()
        fields = verdict.__dict__
        tied = fields.pop("_tied", None)
        if tied is None:
            return fields.get("contenders", ())  # type: ignore[no-any-return]
        found = fields["contenders"] = _contenders(*tied)
        return found


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
    why: tuple[str, ...] = _Reasons()  # type: ignore[assignment]
    settlement: str | None = None
    address: str | None = None
    """The street (and house number) of the gazetteer the text names: «Бажова, 5»."""
    contenders: tuple[TopicFields, ...] = _Contenders()  # type: ignore[assignment]
    """Topics of other groups that tied with the winner's score (their verdict fields as
    (name, value) pairs, hashable like the verdict, one topic per group): where a second
    opinion may choose (`rules.opinion`). Not in `as_dict`; worked out only when read."""

    def as_dict(self) -> dict[str, object]:
        """The verdict as plain data for storage and alerts."""
        # Field by field, not dataclasses.asdict: its deep copy cost a sixth of classifying
        # a file. The order is the fields' (JSON output depends on it); `sla` is left out.
        return {"group": self.group, "topic": self.topic, "topic_name": self.topic_name,
                "organisation": self.organisation, "priority": self.priority,
                "actionable": self.actionable, "score": round(self.score, 2),
                "why": list(self.why), "settlement": self.settlement, "address": self.address}

    def to_json(self) -> str:
        """The verdict as a JSON object with Russian text left readable: the text of
        json.dumps(self.as_dict(), ensure_ascii=False), written from pieces."""
        # A file of verdicts spends more on json.dumps than on its reasons: the topic's five
        # fields are written once per topic, the rest by json's own C string encoder.
        head = (self.group, self.topic, self.topic_name, self.organisation, self.priority)
        start = _HEADS.get(head)
        if start is None:
            if len(_HEADS) >= _MAX_HEADS:
                _HEADS.clear()
            start = _HEADS[head] = _head(head)
        score = round(self.score, 2)
        return (f"{start}{'true' if self.actionable else 'false'}, \"score\": "
                f"{_number(score)}, \"why\": [{', '.join(map(_string, self.why))}],"
                f" \"settlement\": {_optional(self.settlement)},"
                f" \"address\": {_optional(self.address)}}}")

    def place_required(self) -> Classification:
        """This verdict for a source with `require_place`: no settlement, no reaction."""
        if self.settlement is not None or not self.actionable:
            return self
        return replace(self, actionable=False, why=(*self.why, NO_PLACE))


_string = json.encoder.encode_basestring
"""A str as JSON with non-ASCII letters kept: the encoder json.dumps(ensure_ascii=False) uses."""
_HEADS: dict[tuple[str | None, ...], str] = {}
_MAX_HEADS = 1 << 12
_HEAD_KEYS = ("group", "topic", "topic_name", "organisation", "priority")


def _optional(value: str | None) -> str:
    return "null" if value is None else _string(value)


def _number(value: float) -> str:
    """A score as json.dumps writes it (int or float, repr; NaN and infinities its way)."""
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    return json.dumps(value)


def _head(values: tuple[str | None, ...]) -> str:
    """`{"group": …, "priority": …, "actionable": ` of a verdict, as to_json writes it."""
    fields = ", ".join(f"\"{key}\": {_optional(value)}" for key, value in zip(
        _HEAD_KEYS, values, strict=True))
    return f"{{{fields}, \"actionable\": "


NOTHING = Classification()
# Makes a verdict without running __init__: see _decide, the one place that uses it.
_new = object.__new__


@dataclass(frozen=True, eq=False)
class RuleSet:
    """Compiled rules: shared terms, the word index, and the views of them that
    classification reads, all made by rules.compiler."""

    topics: tuple[TopicConfig, ...]
    noise: tuple[NoiseConfig, ...]
    min_score: float
    terms: tuple[Term, ...]
    index: WordIndex
    nears: tuple[Near, ...] = ()
    near_checks: Mapping[int, tuple[frozenset[int], tuple[tuple[int, Near], ...]]] = field(
        default_factory=dict)
    """A term that triggers `near` checks → (terms of their other parts, (number, entry)…)."""
    patterns: tuple[Pattern, ...] = ()
    needs: Mapping[int, frozenset[int]] = field(default_factory=dict)
    scopes: Mapping[int, Scope] = field(default_factory=dict)
    settlements: tuple[str, ...] = ()
    place_required: frozenset[str] = frozenset()
    verdicts: tuple[Mapping[str, object], ...] = ()
    effectful: frozenset[int] = frozenset()
    place_terms: frozenset[int] = frozenset()
    trigger_terms: frozenset[int] = frozenset()
    vetoers: Mapping[int, frozenset[int] | None] = field(default_factory=dict)
    """Rules an exclusion, a requirement or a scope can withdraw → the terms that exclude
    them (None: they have a requirement or a scope)."""
    guarded: frozenset[int] = frozenset()
    topic_count: int = 0
    neutral: frozenset[int] = frozenset()
    """Terms made of `[mentions]` landmarks: a text that matched only these is a mention…"""
    questions: bool = False
    """…unless it has a «?» (when questions count)…"""
    signals: RuleSet | None = None
    """…or a signal of a complaint or a question, looked for only then."""

    def rule(self, index: int) -> MatchRules:
        """A topic (indexes first) or a noise rule (indexes after the topics)."""
        count = len(self.topics)
        return self.topics[index] if index < count else self.noise[index - count]


# --- classification ----------------------------------------------------------------------

Found = tuple[list[str], list[Word], dict[int, Scoring], Placed, dict[int, tuple[int, int]]]
"""What a text matched: (its words, what each does, matched terms in text order → scoring,
positional terms, phrases → their first and last position); fields read by the names below."""
# A plain tuple, not a NamedTuple: one is made per text, and a NamedTuple (made, read and
# freed) costs 2-4% of classify, measured. Final lets mypy type each field read by name.
TOKENS: Final = 0
ENTRIES: Final = 1
MATCHED: Final = 2
PLACED: Final = 3
PHRASES: Final = 4


def classify(
    text: str, ruleset: RuleSet, *, source: str | None = None, network: str | None = None
) -> Classification:
    """Decide the topic of `text` and whether it needs a reaction; pure, never raises on text."""
    lowered = text.lower()
    tokens = WORD_RE.findall(lowered)
    if not tokens:
        return NOTHING
    index = ruleset.index
    try:
        entries = list(map(index.memo.__getitem__, tokens))
    except KeyError:
        entries = list(map(index.entry, tokens))
    entries += index.padding
    # The loop over the words is here, not in a function of its own: a call less per text
    # is 3% of the whole. Which words matched is looked up again only when `why` is read.
    matched: dict[int, Scoring] = {}
    placed: Placed = []
    present: set[int] = set()
    found: Found = (tokens, entries, matched, placed, {})
    for position in compress(range(len(tokens)), entries):
        entry = entries[position]
        if words := entry.words:
            matched.update(words)
        if here := entry.placed:
            present.update(here)
            placed.append((position, here))
        for offset, slots, admitted, group in entry.groups:
            if not slots.isdisjoint(fills := entries[position + offset].fills):
                node = admitted.get(fills) or group.admit(fills)
                _record_phrases(found, present, position, node)
    extra = _match_patterns(normalise_text(lowered, tokens), ruleset.patterns) \
        if ruleset.patterns else []
    settlement = address = None
    if present:
        if not ruleset.place_terms.isdisjoint(present):
            settlement, address = _place(placed, ruleset, tokens)
        triggered = present.intersection(ruleset.trigger_terms)
        if triggered:
            extra += _near_hits(triggered, placed, present, ruleset)
    if not matched and not extra:
        return Classification(settlement=settlement, address=address) if settlement else NOTHING
    return _decide(lowered, found, extra, ruleset, source, network, settlement, address)


def _record_phrases(found: Found, present: set[int], position: int, node: Node) -> None:
    """Record the phrases anchored at `position` that a neighbour admitted, if all words fit."""
    _, entries, matched, placed, phrases = found
    for term_id, anchor, after, _, spot, scoring in \
            _complete(entries, position, node) if node[1] else node[0]:
        start = position - anchor
        if spot:
            present.add(term_id)
            placed.append((start, (term_id,)))
        if scoring is not None and term_id not in matched:
            matched[term_id] = scoring
            phrases[term_id] = (start, position + after)


def _complete(entries: list[Word], position: int, node: Node) -> list[PhraseHit]:
    """The phrases of a node whose remaining words all fit the text, in term order."""
    complete, groups = node
    hits = list(complete)
    for offset, slots, admitted, group in groups:
        if not slots.isdisjoint(fills := entries[position + offset].fills):
            node = admitted.get(fills) or group.admit(fills)
            hits += _complete(entries, position, node) if node[1] else node[0]
    hits.sort()
    return hits


def _match_patterns(text: str, patterns: Sequence[Pattern]) -> list[Evidence]:
    """Every `regex` entry found in the normalised text."""
    found: list[Evidence] = []
    for pattern in patterns:
        hit = pattern.regex.search(text)
        if hit is not None:
            shown = " ".join(hit.group(0).split())[:60]
            why = f"regex «{pattern.regex.pattern}» ({shown})"
            found.append((pattern.rule, pattern.points, why))
    return found


def _place(placed: Placed, ruleset: RuleSet, tokens: list[str]) -> tuple[str | None, str | None]:
    """The settlement the text is about, from the places among the positional terms, and
    the first of its streets named, with the house number after it if there is one."""
    terms = ruleset.terms
    place = pick_settlement([(p, at) for at, found in placed for t in found
                             for p in terms[t].places])
    if place is None:
        return None, None
    for start, found in sorted(placed):
        for term_id in found:
            term = terms[term_id]
            if term.streets and place in term.places:
                return ruleset.settlements[place], _address(term, start, tokens)
    return ruleset.settlements[place], None


def _address(term: Term, start: int, tokens: list[str]) -> str:
    """«Бажова, 5»: the street of a place term found at `start`, with the house number."""
    street = term.streets[0]
    if HOUSE_NUMBER in term.words[-1]:
        return f"{street}, {tokens[start + len(term.words) - 1]}"
    after = tokens[start + len(term.words): start + len(term.words) + 2]
    if after and after[0] in HOUSE_MARKERS:
        after = after[1:]
    if after and HOUSE_NUMBER_RE.fullmatch(after[0]):
        return f"{street}, {after[0]}"
    return street


def _near_hits(
    triggered: set[int], placed: Placed, present: set[int], ruleset: RuleSet
) -> list[Evidence]:
    """Every `near` entry whose parts all occur close enough to each other."""
    candidates: Sequence[tuple[int, Near]] = ()
    for term_id in triggered:
        partners, entries = ruleset.near_checks[term_id]
        # Most triggers come without any term of the other parts: one test rules them out.
        if not partners.isdisjoint(present):
            candidates = sorted(dict((*candidates, *entries)).items()) if candidates \
                else entries
    found: list[Evidence] = []
    for _, near in candidates:
        for part in near.others:
            if part.isdisjoint(present):
                break
        else:
            first, last = near.span(placed)
            if last - first <= near.within:
                found.append((near.rule, near.points, (near.label, first, last)))
    return found


def _decide(
    lowered: str, found: Found, extra: list[Evidence], ruleset: RuleSet,
    source: str | None, network: str | None, settlement: str | None, address: str | None,
) -> Classification:
    """The winning topic, unless noise scored too; its reasons are kept for `why`."""
    matched = found[MATCHED]
    scores: dict[int, float] = {}
    for scoring in matched.values():
        for rule, points in scoring:
            if rule in scores:
                scores[rule] += points
            else:
                scores[rule] = points
    for rule, points, _ in extra:
        scores[rule] = scores[rule] + points if rule in scores else points
    vetoed = () if ruleset.guarded.isdisjoint(scores) else \
        _withdraw(scores, matched, ruleset, (source, network, settlement))
    count, floor = ruleset.topic_count, ruleset.min_score
    best, score = -1, 0.0
    noisy: tuple[int, ...] = ()
    for rule, points in scores.items():
        if rule < count:
            if points > score or (points == score and rule < best):
                best, score = rule, points
        elif points >= floor:
            noisy += (rule,)
    evidence = (ruleset, found, extra, best, noisy, vetoed, score)
    if best < 0:
        why = _explain(*evidence)
        return Classification(why=why, settlement=settlement, address=address) \
            if why or settlement else NOTHING
    # Filling the instance dict skips the dataclass __init__ and its ten frozen-dataclass
    # object.__setattr__ calls: a fifth of the cost. Callers still get a frozen verdict.
    verdict: Classification = _new(Classification)
    fields = verdict.__dict__
    fields.update(ruleset.verdicts[best])
    fields["actionable"] = score >= floor and not noisy
    fields["score"] = score
    fields["settlement"] = settlement
    fields["address"] = address
    fields["_evidence"] = evidence
    if len(scores) > 1:
        fields["_tied"] = (scores, best, score, ruleset)
    return _checked(verdict, lowered, found, extra, ruleset, source) if verdict.actionable \
        else verdict


def _contenders(
    scores: dict[int, float], best: int, score: float, ruleset: RuleSet
) -> tuple[TopicFields, ...]:
    """The verdict fields of topics of other groups with the winner's score, one per group."""
    count, verdicts = ruleset.topic_count, ruleset.verdicts
    tied = sorted(rule for rule, points in scores.items()
                  if points == score and rule < count and rule != best)
    groups = {verdicts[best]["group"]: best}
    for rule in tied:
        groups.setdefault(verdicts[rule]["group"], rule)
    return tuple(tuple(verdicts[rule].items()) for rule in groups.values() if rule != best)


def _checked(
    verdict: Classification, lowered: str, found: Found, extra: list[Evidence],
    ruleset: RuleSet, source: str | None,
) -> Classification:
    """An actionable verdict after the checks that can still withdraw the reaction."""
    # Texts without letters (emoji, numbers) never need a reaction.
    if not found[TOKENS][0].isalpha() and not _LETTER_RE.search(lowered):
        return replace(verdict, actionable=False)
    if not extra and ruleset.neutral.issuperset(found[MATCHED]) and _mention(lowered, ruleset):
        return replace(verdict, actionable=False, why=(*verdict.why, MENTION))
    return verdict.place_required() if source in ruleset.place_required else verdict


def _mention(lowered: str, ruleset: RuleSet) -> bool:
    """Whether a text that matched only landmark terms neither asks nor complains."""
    if ruleset.questions and "?" in lowered and "?" in LINK_RE.sub(" ", lowered):
        return False
    return not (ruleset.signals and classify(lowered, ruleset.signals).score)


def _withdraw(
    scores: dict[int, float], matched: dict[int, Scoring], ruleset: RuleSet, context: Context
) -> list[int]:
    """Drop rules vetoed by an exclusion, missing a required term, or out of scope."""
    for rule in ruleset.guarded.intersection(scores):
        vetoers = ruleset.vetoers[rule]
        if vetoers is None or not vetoers.isdisjoint(matched):
            break
    else:
        return []  # the usual case: no exclusion among the matched terms
    terms = ruleset.terms
    effects = ruleset.effectful.intersection(matched)
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


def _explain(
    ruleset: RuleSet, found: Found, extra: list[Evidence], best: int, noisy: Sequence[int],
    vetoed: Sequence[int], score: float,
) -> tuple[str, ...]:
    """Why: the winner's terms, its near/regex hits, noise, exclusions, a score too low."""
    terms, tokens = ruleset.terms, found[TOKENS]
    shown = [(rule, text if isinstance(text, str) else
              f"{text[0]} ({' '.join(tokens[text[1] : text[2] + 1])})")
             for rule, _, text in extra]
    forms = _word_forms(found)
    why = [f"{label} ({form})" for t, form in forms.items()
           if (label := terms[t].labels.get(best)) is not None]
    why += [text for rule, text in shown if rule == best]
    for rule in noisy:
        name = ruleset.rule(rule).id
        why += [f"шум {name}: {terms[t].labels[rule]} ({form})" for t, form in forms.items()
                if rule in terms[t].scoring]
        why += [f"шум {name}: {text}" for index, text in shown if index == rule]
    for rule in vetoed:
        removed = "тема {} снята" if rule < len(ruleset.topics) else "шум {} снят"
        name = removed.format(ruleset.rule(rule).id)
        why += [f"{name} исключением {terms[t].veto_labels[rule]} ({form})"
                for t, form in forms.items() if rule in terms[t].excludes]
    if best >= 0 and score < ruleset.min_score:
        why.append(f"балл {round(score, 2):g} ниже порога {ruleset.min_score:g}")
    return tuple(why)


def _word_forms(found: Found) -> dict[int, str]:
    """Matched terms in text order → the text's words (or phrase) that matched them first."""
    tokens, entries, matched, _, phrases = found
    first: dict[int, str] = {}
    for position in compress(range(len(tokens)), entries):
        for term_id, _ in entries[position].words:
            first.setdefault(term_id, tokens[position])
    return {t: " ".join(tokens[phrases[t][0] : phrases[t][1] + 1]) if t in phrases else first[t]
            for t in matched}
