"""Compile topic rules into a lemma index and classify texts against it, as a pure function."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum

from rules import morph
from rules.model import RulesConfig, TopicConfig
from rules.morph import EXACT, Slots, term_words, token_keys

# Tokens resolved to the terms they can match, per rule set; cleared when full to bound memory.
MEMO_SIZE = 1 << 17
_EXACT_MARK_RE = re.compile(f"(?<!\\S){EXACT}")

MemoEntry = tuple[()] | tuple[tuple[int, ...], tuple[int, ...]]


class TermKind(Enum):
    """What a matched term does to the decision."""

    WORD = "word"
    PHRASE = "phrase"
    EXCLUDE = "exclude"
    NOISE = "noise"


@dataclass(frozen=True, slots=True)
class Rule:
    """What one matched term means for one topic (topic -1: for the noise vocabulary)."""

    kind: TermKind
    topic: int
    text: str
    points: float


@dataclass(frozen=True, slots=True)
class Term:
    """A word or phrase, shared by every rule that spells it, with its rules sorted by kind."""

    # A phrase is indexed by its `anchor`, its rarest-looking word, so phrases that start with
    # «не», «в», «нет» are not tried at every «не» of every text; `after` and `others`
    # (offset from the anchor, keys) place the other words. Rules are pre-sorted by what they
    # do so that deciding costs no per-rule branching, whatever the number of topics.
    words: Slots
    anchor: int
    after: int
    others: tuple[tuple[int, frozenset[str]], ...]
    scoring: Mapping[int, float]
    by_topic: Mapping[int, tuple[Rule, ...]]
    excludes: tuple[Rule, ...]
    noise: tuple[Rule, ...]

    @classmethod
    def build(cls, words: Slots, rules: Sequence[Rule]) -> Term:
        """A term and the views of its rules that classification needs."""
        by_topic: dict[int, list[Rule]] = {}
        scoring: dict[int, float] = {}
        for rule in rules:
            if rule.kind in (TermKind.WORD, TermKind.PHRASE):
                by_topic.setdefault(rule.topic, []).append(rule)
                scoring[rule.topic] = scoring.get(rule.topic, 0.0) + rule.points
        anchor = _anchor(words)
        return cls(
            words=words,
            anchor=anchor,
            after=len(words) - 1 - anchor,
            others=tuple((n - anchor, keys) for n, keys in enumerate(words) if n != anchor),
            scoring=scoring,
            by_topic={topic: tuple(found) for topic, found in by_topic.items()},
            excludes=tuple(r for r in rules if r.kind is TermKind.EXCLUDE),
            noise=tuple(r for r in rules if r.kind is TermKind.NOISE),
        )


@dataclass(frozen=True, slots=True)
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


NOTHING = Classification()


class RulesError(ValueError):
    """The rules cannot be compiled; `problems` lists every reason at once."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, eq=False)
class RuleSet:
    """Compiled rules: shared terms, and indexes from a lemma (or «=form») to term ids."""

    topics: tuple[TopicConfig, ...]
    min_score: float
    terms: tuple[Term, ...]
    word_index: Mapping[str, tuple[int, ...]]
    phrase_index: Mapping[str, tuple[int, ...]]
    memo: dict[str, MemoEntry] = field(default_factory=dict, repr=False)

    def resolve(self, token: str) -> MemoEntry:
        """Terms a text word can match: (word term ids, anchored phrase term ids), or ()."""
        words: set[int] = set()
        phrases: set[int] = set()
        for key in token_keys(token):
            words.update(self.word_index.get(key, ()))
            phrases.update(self.phrase_index.get(key, ()))
        entry: MemoEntry = ()
        if words or phrases:
            entry = (tuple(sorted(words)), tuple(sorted(phrases)))
        if len(self.memo) >= MEMO_SIZE:
            self.memo.clear()
        self.memo[token] = entry
        return entry


def compile_rules(topics: Sequence[TopicConfig], rules: RulesConfig) -> RuleSet:
    """Lemmatise every rule term and index it, so classification cost ignores topic count."""
    problems: list[str] = []
    seen: set[str] = set()
    spelled: list[tuple[Slots, Rule]] = []
    for index, topic in enumerate(topics):
        if topic.id in seen:
            problems.append(f"тема {topic.id!r} описана дважды")
        seen.add(topic.id)
        spelled += _topic_rules(index, topic, rules.phrase_weight, problems)
    noise = TermKind.NOISE
    spelled += _rules(
        noise, -1, rules.noise_words, 0.0, "[rules] noise_words", problems, single=True
    )
    spelled += _rules(noise, -1, rules.noise_phrases, 0.0, "[rules] noise_phrases", problems)
    if problems:
        raise RulesError(problems)
    terms = _shared_terms(spelled)
    word_index: dict[str, list[int]] = {}
    phrase_index: dict[str, list[int]] = {}
    for term_id, term in enumerate(terms):
        index_ = word_index if len(term.words) == 1 else phrase_index
        for key in term.words[term.anchor]:
            index_.setdefault(key, []).append(term_id)
    return RuleSet(
        topics=tuple(topics),
        min_score=rules.min_score,
        terms=terms,
        word_index={key: tuple(ids) for key, ids in word_index.items()},
        phrase_index={key: tuple(ids) for key, ids in phrase_index.items()},
    )


def _topic_rules(
    index: int, topic: TopicConfig, phrase_weight: float, problems: list[str]
) -> list[tuple[Slots, Rule]]:
    where = f"тема {topic.id!r}"
    words = _rules(
        TermKind.WORD, index, topic.words, topic.weight, f"{where}, words", problems, single=True
    )
    points = phrase_weight * topic.weight
    phrases = _rules(TermKind.PHRASE, index, topic.phrases, points, f"{where}, phrases", problems)
    excludes = _rules(TermKind.EXCLUDE, index, topic.exclude, 0.0, f"{where}, exclude", problems)
    return _merge_same(words) + _merge_same(phrases) + excludes


def _rules(
    kind: TermKind,
    topic: int,
    texts: Sequence[str],
    points: float,
    where: str,
    problems: list[str],
    *,
    single: bool = False,
) -> list[tuple[Slots, Rule]]:
    """Rules of one kind with their lemmatised words; unusable texts go to `problems`."""
    found = []
    for text in texts:
        words = term_words(text)
        if not words:
            problems.append(f"{where}: «{text}» не содержит слов")
        elif single and len(words) > 1:
            problems.append(f"{where}: «{text}» — не одно слово, перенесите во фразы")
        else:
            shown = _EXACT_MARK_RE.sub("", text.strip())
            found.append((words, Rule(kind, topic, shown, points)))
    return found


def _merge_same(rules: list[tuple[Slots, Rule]]) -> list[tuple[Slots, Rule]]:
    """Count «яма» and «ямы» in one topic once: terms whose every word shares a lemma are one."""
    merged: list[tuple[Slots, Rule]] = []
    for words, rule in rules:
        same = next((n for n, (other, _) in enumerate(merged) if _same(other, words)), None)
        if same is None:
            merged.append((words, rule))
            continue
        other, first = merged[same]
        merged[same] = (tuple(a | b for a, b in zip(other, words, strict=True)), first)
    return merged


def _same(one: Slots, other: Slots) -> bool:
    return len(one) == len(other) and all(
        not a.isdisjoint(b) for a, b in zip(one, other, strict=True)
    )


def _shared_terms(spelled: list[tuple[Slots, Rule]]) -> tuple[Term, ...]:
    """One term per distinct spelling, whatever the number of topics that use it."""
    by_words: dict[Slots, list[Rule]] = {}
    for words, rule in spelled:
        by_words.setdefault(words, []).append(rule)
    return tuple(Term.build(words, rules) for words, rules in by_words.items())


def _anchor(words: Slots) -> int:
    """The slot whose shortest form is longest: content words, not «в», «не», «нет»."""
    return max(range(len(words)), key=lambda slot: (min(map(len, words[slot])), -slot))


def classify(text: str, ruleset: RuleSet) -> Classification:
    """Decide the topic of `text` and whether it needs a reaction; pure, never raises on text."""
    tokens = morph.tokenise(text)
    if not tokens:
        return NOTHING
    matched = _match(tokens, ruleset)
    if not matched:
        return NOTHING
    return _decide(matched, ruleset)


def _match(tokens: list[str], ruleset: RuleSet) -> dict[int, str]:
    """Matched term ids → the text's own words that matched, in text order."""
    memo_get = ruleset.memo.get
    matched: dict[int, str] = {}
    for position, token in enumerate(tokens):
        entry = memo_get(token)
        if entry is None:
            entry = ruleset.resolve(token)
        if not entry:
            continue
        words, phrases = entry
        for term_id in words:
            if term_id not in matched:
                matched[term_id] = token
        if phrases:
            _match_phrases(tokens, position, phrases, ruleset.terms, matched)
    return matched


def _match_phrases(
    tokens: list[str],
    position: int,
    phrases: tuple[int, ...],
    terms: tuple[Term, ...],
    matched: dict[int, str],
) -> None:
    """Record the phrases anchored at `position` whose other words surround it."""
    last = len(tokens) - 1
    for term_id in phrases:
        term = terms[term_id]
        start = position - term.anchor
        end = position + term.after
        if term_id in matched or start < 0 or end > last:
            continue
        for offset, keys in term.others:
            if keys.isdisjoint(token_keys(tokens[position + offset])):
                break
        else:
            matched[term_id] = " ".join(tokens[start : end + 1])


def _decide(matched: dict[int, str], ruleset: RuleSet) -> Classification:
    scores, vetoed, quiet = _score(matched, ruleset.terms)
    best, score = _best(scores)
    why = _explain(matched, ruleset, best, vetoed)
    if best < 0:
        return Classification(why=why)
    topic = ruleset.topics[best]
    enough = score >= ruleset.min_score
    if not enough:
        why += (f"балл {round(score, 2):g} ниже порога {ruleset.min_score:g}",)
    return Classification(
        group=topic.group,
        topic=topic.id,
        topic_name=topic.name,
        organisation=topic.organisation,
        priority=topic.priority,
        sla=topic.sla,
        actionable=enough and quiet,
        score=score,
        why=why,
    )


def _score(
    matched: dict[int, str], terms: tuple[Term, ...]
) -> tuple[dict[int, float], set[int], bool]:
    """Scores of topics not vetoed, the vetoed topics that had scored, and whether it is quiet."""
    scores: dict[int, float] = {}
    get = scores.get
    vetoed: set[int] = set()
    quiet = True
    for term_id in matched:
        term = terms[term_id]
        if scores.keys().isdisjoint(term.scoring):
            scores.update(term.scoring)
        else:
            for index, points in term.scoring.items():
                scores[index] = get(index, 0.0) + points
        if term.excludes:
            vetoed.update(rule.topic for rule in term.excludes)
        if term.noise:
            quiet = False
    vetoed.intersection_update(scores)
    for index in vetoed:
        del scores[index]
    return scores, vetoed, quiet


def _best(scores: dict[int, float]) -> tuple[int, float]:
    """The highest score; among equals the topic written first in the config."""
    if not scores:
        return -1, 0.0
    top = max(scores.values())
    return min([topic for topic, score in scores.items() if score == top]), top


def _explain(
    matched: dict[int, str], ruleset: RuleSet, best: int, vetoed: set[int]
) -> tuple[str, ...]:
    """Evidence for the winner, then noise that fired, then topics removed by exclusions."""
    evidence: list[str] = []
    noise: list[str] = []
    vetoes: list[str] = []
    for term_id, form in matched.items():
        term = ruleset.terms[term_id]
        for rule in term.by_topic.get(best, ()):
            prefix = "фраза " if rule.kind is TermKind.PHRASE else ""
            evidence.append(f"{prefix}«{rule.text}» ({form})")
        for rule in term.noise:
            noise.append(f"шум: «{rule.text}» ({form})")
        for rule in term.excludes if vetoed else ():
            if rule.topic in vetoed:
                topic_id = ruleset.topics[rule.topic].id
                vetoes.append(f"тема {topic_id} снята исключением «{rule.text}» ({form})")
    return tuple(evidence + noise + vetoes)
