"""Compile topic rules into a lemma index and classify texts against it, as a pure function."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from functools import lru_cache

from rules import morph
from rules.model import RulesConfig, TopicConfig

EXACT = "="
"""A rule word written as «=продам» matches only that written form, not every form of the lemma."""

# Tokens resolved to their matching terms, per rule set; cleared when full so memory stays bounded.
MEMO_SIZE = 1 << 17
_MAX_HYPHEN_PARTS = 4
_TERM_WORD_RE = re.compile(f"({EXACT}?)({morph.WORD_RE.pattern})")
_EXACT_MARK_RE = re.compile(f"(?<!\\S){EXACT}")


class TermKind(Enum):
    """What a matched term does to the decision."""

    WORD = "word"
    PHRASE = "phrase"
    EXCLUDE = "exclude"
    NOISE = "noise"


@dataclass(frozen=True, slots=True)
class Term:
    """One rule word or phrase, pre-lemmatised: each text word must share a key with its slot."""

    kind: TermKind
    topic: int
    text: str
    points: float
    words: tuple[frozenset[str], ...]


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
    """Compiled rules: terms and two inverted indexes keyed by lemma (or «=form»)."""

    topics: tuple[TopicConfig, ...]
    min_score: float
    terms: tuple[Term, ...]
    word_index: Mapping[str, tuple[int, ...]]
    phrase_index: Mapping[str, tuple[int, ...]]
    memo: dict[str, tuple[()] | tuple[tuple[int, ...], tuple[int, ...]]] = field(
        default_factory=dict, repr=False
    )

    def resolve(self, token: str) -> tuple[()] | tuple[tuple[int, ...], tuple[int, ...]]:
        """Terms a text word can start: (single-word term ids, phrase term ids), or () if none."""
        words: set[int] = set()
        phrases: set[int] = set()
        for key in token_keys(token):
            words.update(self.word_index.get(key, ()))
            phrases.update(self.phrase_index.get(key, ()))
        entry: tuple[()] | tuple[tuple[int, ...], tuple[int, ...]] = ()
        if words or phrases:
            entry = (tuple(sorted(words)), tuple(sorted(phrases)))
        if len(self.memo) >= MEMO_SIZE:
            self.memo.clear()
        self.memo[token] = entry
        return entry


@lru_cache(maxsize=morph.CACHE_SIZE)
def token_keys(token: str) -> frozenset[str]:
    """Index keys of a text word: its lemmas, «=form», and the lemmas of hyphenated parts."""
    keys = set(morph.lemmas(token))
    keys.add(EXACT + morph.normalise_word(token))
    parts = token.split("-")
    if 1 < len(parts) <= _MAX_HYPHEN_PARTS:
        for part in parts:
            keys.update(morph.lemmas(part))
    return frozenset(keys)


def term_words(term: str) -> tuple[frozenset[str], ...]:
    """Index keys for each word of a rule term, in order."""
    slots: list[frozenset[str]] = []
    for exact, word in _TERM_WORD_RE.findall(term.lower()):
        normal = morph.normalise_word(word)
        if not normal:
            continue
        slots.append(frozenset((EXACT + normal,)) if exact else morph.dictionary_lemmas(word))
    return tuple(slots)


def compile_rules(topics: Sequence[TopicConfig], rules: RulesConfig) -> RuleSet:
    """Lemmatise every rule term and index it, so classification cost ignores topic count."""
    problems: list[str] = []
    seen: set[str] = set()
    terms: list[Term] = []
    for index, topic in enumerate(topics):
        if topic.id in seen:
            problems.append(f"тема {topic.id!r} описана дважды")
        seen.add(topic.id)
        terms += _topic_terms(index, topic, rules.phrase_weight, problems)
    noise = TermKind.NOISE
    terms += _terms(noise, -1, rules.noise_words, 0.0, "[rules] noise_words", problems, single=True)
    terms += _terms(noise, -1, rules.noise_phrases, 0.0, "[rules] noise_phrases", problems)
    if problems:
        raise RulesError(problems)
    word_index: dict[str, list[int]] = {}
    phrase_index: dict[str, list[int]] = {}
    for term_id, term in enumerate(terms):
        index_ = word_index if len(term.words) == 1 else phrase_index
        for key in term.words[0]:
            index_.setdefault(key, []).append(term_id)
    return RuleSet(
        topics=tuple(topics),
        min_score=rules.min_score,
        terms=tuple(terms),
        word_index={key: tuple(ids) for key, ids in word_index.items()},
        phrase_index={key: tuple(ids) for key, ids in phrase_index.items()},
    )


def _topic_terms(
    index: int, topic: TopicConfig, phrase_weight: float, problems: list[str]
) -> list[Term]:
    where = f"тема {topic.id!r}"
    words = _terms(
        TermKind.WORD, index, topic.words, topic.weight, f"{where}, words", problems, single=True
    )
    phrases = _terms(
        TermKind.PHRASE,
        index,
        topic.phrases,
        phrase_weight * topic.weight,
        f"{where}, phrases",
        problems,
    )
    excludes = _terms(TermKind.EXCLUDE, index, topic.exclude, 0.0, f"{where}, exclude", problems)
    return _merge_same_words(words) + _merge_same_words(phrases) + excludes


def _terms(
    kind: TermKind,
    topic: int,
    texts: Sequence[str],
    points: float,
    where: str,
    problems: list[str],
    *,
    single: bool = False,
) -> list[Term]:
    terms = []
    for text in texts:
        words = term_words(text)
        if not words:
            problems.append(f"{where}: «{text}» не содержит слов")
        elif single and len(words) > 1:
            problems.append(f"{where}: «{text}» — не одно слово, перенесите во фразы")
        else:
            terms.append(Term(kind, topic, _EXACT_MARK_RE.sub("", text.strip()), points, words))
    return terms


def _merge_same_words(terms: list[Term]) -> list[Term]:
    """Count «яма» and «ямы» in one topic once: terms whose every word shares a lemma are one."""
    merged: list[Term] = []
    for term in terms:
        same = next((other for other in merged if _same_words(other, term)), None)
        if same is None:
            merged.append(term)
            continue
        union = tuple(a | b for a, b in zip(same.words, term.words, strict=True))
        merged[merged.index(same)] = Term(same.kind, same.topic, same.text, same.points, union)
    return merged


def _same_words(one: Term, other: Term) -> bool:
    return len(one.words) == len(other.words) and all(
        not a.isdisjoint(b) for a, b in zip(one.words, other.words, strict=True)
    )


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
    terms = ruleset.terms
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
        for term_id in phrases:
            if term_id not in matched:
                form = _phrase_at(tokens, position, terms[term_id].words)
                if form is not None:
                    matched[term_id] = form
    return matched


def _phrase_at(tokens: list[str], start: int, words: tuple[frozenset[str], ...]) -> str | None:
    end = start + len(words)
    if end > len(tokens):
        return None
    for token, keys in zip(tokens[start + 1 : end], words[1:], strict=True):
        if keys.isdisjoint(token_keys(token)):
            return None
    return " ".join(tokens[start:end])


def _decide(matched: dict[int, str], ruleset: RuleSet) -> Classification:
    scores: dict[int, float] = {}
    evidence: dict[int, list[str]] = {}
    vetoes: dict[int, list[str]] = {}
    noise: list[str] = []
    for term_id, form in matched.items():
        term = ruleset.terms[term_id]
        note = f"«{term.text}» ({form})"
        if term.kind is TermKind.NOISE:
            noise.append(f"шум: {note}")
        elif term.kind is TermKind.EXCLUDE:
            vetoes.setdefault(term.topic, []).append(note)
        else:
            scores[term.topic] = scores.get(term.topic, 0.0) + term.points
            prefix = "фраза " if term.kind is TermKind.PHRASE else ""
            evidence.setdefault(term.topic, []).append(prefix + note)
    vetoed = [
        f"тема {ruleset.topics[index].id} снята исключением {', '.join(notes)}"
        for index, notes in sorted(vetoes.items())
        if index in scores
    ]
    candidates = [index for index in scores if index not in vetoes]
    if not candidates:
        return Classification(why=tuple(noise + vetoed))
    best = min(candidates, key=lambda index: (-scores[index], index))
    return _verdict(ruleset, best, scores[best], evidence[best] + noise + vetoed, not noise)


def _verdict(
    ruleset: RuleSet, index: int, score: float, why: list[str], quiet: bool
) -> Classification:
    topic = ruleset.topics[index]
    enough = score >= ruleset.min_score
    if not enough:
        why.append(f"балл {score:g} ниже порога {ruleset.min_score:g}")
    return Classification(
        group=topic.group,
        topic=topic.id,
        topic_name=topic.name,
        organisation=topic.organisation,
        priority=topic.priority,
        sla=topic.sla,
        actionable=enough and quiet,
        score=score,
        why=tuple(why),
    )
