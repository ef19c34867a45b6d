"""The declarative rule model as it appears in TOML: topics, noise, lists, overrides, settings."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetPydanticSchema,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema

from rules.groups import GROUPS
from rules.morph import word_count

Priority = Literal["low", "normal", "high", "critical"]
LIST_MARK = "@"
"""A term written as «@ads» stands for every term of the named list `[lists.ads]`."""

MAX_NEAR = 20
MAX_NEAR_TERMS = 8
_LIST_NAME = re.compile(r"^[A-Za-z0-9_-]+$")



IM_TOPICS_FILE = Path(__file__).resolve().parent / "im_topics.txt"


@lru_cache(maxsize=1)
def im_topics() -> frozenset[str]:
    """The «Инцидент Менеджмент» theme names a ЦУР uses (shipped as rules/im_topics.txt)."""
    text = IM_TOPICS_FILE.read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def im_topic_problem(value: str) -> str | None:
    """Why `value` is not a theme name of im_topics(), with the closest one; None if it is."""
    known = im_topics()
    if value in known:
        return None
    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
    hint = f"; может быть, «{close[0]}»?" if close else ""
    return f"im_topic «{value}» нет среди тем «Инцидент Менеджмент»{hint}"

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeightedTerm(_Strict):
    """`{ text = "разбитая дорога", weight = 3 }`: a term with its own weight."""

    text: str
    weight: float = Field(gt=0, le=100)


TermSpec = Annotated[
    str | WeightedTerm,
    # One clear error for a bad entry instead of one per alternative of the union.
    GetPydanticSchema(lambda _, handler: core_schema.union_schema(
        [core_schema.str_schema(), handler.generate_schema(WeightedTerm)],
        custom_error_type="term",
        custom_error_message='ожидалась строка или таблица { text = "…", weight = число > 0 }',
    )),
]
"""A term as written: a word, «=form», a phrase or «@list», optionally with a weight."""


def term_text(term: TermSpec) -> str:
    """The written text of a term, whether or not it has its own weight."""
    return term if isinstance(term, str) else term.text


def term_weight(term: TermSpec) -> float | None:
    """The term's own weight, or None when the array's default applies."""
    return None if isinstance(term, str) else term.weight


def _check_terms(value: tuple[Any, ...]) -> tuple[Any, ...]:
    for term in value:
        text = term_text(term)
        if not text.strip():
            msg = "пустая строка в списке слов"
            raise ValueError(msg)
        if text.strip().startswith(LIST_MARK) and not _LIST_NAME.match(text.strip()[1:]):
            msg = f"«{text}»: после @ ожидалось имя списка (латиница, цифры, - и _)"
            raise ValueError(msg)
    return value


class NearRule(_Strict):
    """`near`: every term occurs, in any order, at most `within` words apart."""

    terms: tuple[str, ...]
    within: int
    weight: float | None = Field(None, gt=0, le=100)

    @field_validator("within")
    @classmethod
    def _sane_distance(cls, value: int) -> int:
        if not 1 <= value <= MAX_NEAR:
            msg = f"within = {value}: расстояние в словах должно быть от 1 до {MAX_NEAR}"
            raise ValueError(msg)
        return value

    @field_validator("terms")
    @classmethod
    def _terms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not 2 <= len(value) <= MAX_NEAR_TERMS:
            msg = f"в near нужно от 2 до {MAX_NEAR_TERMS} терминов, а не {len(value)}"
            raise ValueError(msg)
        return _check_terms(value)


class RegexRule(_Strict):
    """`regex`: a Python pattern over the normalised text, the escape hatch."""

    pattern: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0, le=100)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            msg = f"регулярное выражение {value!r} не компилируется: {exc}"
            raise ValueError(msg) from None
        return value


def _pattern_tables(value: object) -> object:
    """`regex` entries may be plain strings: weight 1."""
    if not isinstance(value, list | tuple):
        return value
    for item in value:
        if not isinstance(item, str | dict | RegexRule):
            msg = 'ожидалась строка с выражением или таблица { pattern = "…", weight = 2 }'
            raise ValueError(msg)
    return [{"pattern": item} if isinstance(item, str) else item for item in value]


class MatchRules(_Strict):
    """What topics and noise rules share: the terms that reveal them and where they apply."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0, le=100)
    words: tuple[TermSpec, ...] = ()
    phrases: tuple[TermSpec, ...] = ()
    near: tuple[NearRule, ...] = ()
    require: tuple[TermSpec, ...] = ()
    exclude: tuple[TermSpec, ...] = ()
    regex: tuple[RegexRule, ...] = ()
    sources: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    settlements: tuple[str, ...] = ()
    enabled: bool = True

    @field_validator("words", "phrases", "require", "exclude")
    @classmethod
    def _terms(cls, value: tuple[TermSpec, ...]) -> tuple[TermSpec, ...]:
        return _check_terms(value)

    @field_validator("regex", mode="before")
    @classmethod
    def _plain_patterns(cls, value: object) -> object:
        return _pattern_tables(value)

    @property
    def scoped(self) -> bool:
        """Whether the rule applies only to some sources, networks or settlements."""
        return bool(self.sources or self.networks or self.settlements)


class TopicConfig(MatchRules):
    """One `[[topics]]` table: a topic of a ЦУР group and the words that reveal it."""

    group: str
    organisation: str = Field(min_length=1)
    priority: Priority = "normal"
    sla: str | None = None
    im_topic: str | None = Field(None, min_length=1)
    """The «Инцидент Менеджмент» theme (тема) this topic is, in the ЦУР's own words
    (rules/im_topics.txt); the main one where the topic spans several."""

    @field_validator("group")
    @classmethod
    def _known_group(cls, value: str) -> str:
        if value not in GROUPS:
            close = difflib.get_close_matches(value, GROUPS, n=1, cutoff=0.6)
            hint = f"; может быть, {close[0]!r}?" if close else f"; допустимые: {', '.join(GROUPS)}"
            msg = f"группа {value!r} не из рубрикатора ЦУР{hint}"
            raise ValueError(msg)
        return value


class NoiseConfig(MatchRules):
    """One `[[noise]]` table: messages that need no reaction (adverts, thanks, spam…)."""


class ListConfig(_Strict):
    """`[lists.NAME]`: terms defined once and used as «@NAME» by any rule."""

    description: str = ""
    terms: tuple[TermSpec, ...]

    @field_validator("terms")
    @classmethod
    def _plain_terms(cls, value: tuple[TermSpec, ...]) -> tuple[TermSpec, ...]:
        if not value:
            msg = "список пуст: нужен хотя бы один термин"
            raise ValueError(msg)
        _check_terms(value)
        for term in value:
            if term_text(term).strip().startswith(LIST_MARK):
                msg = f"«{term_text(term)}»: список не может ссылаться на другой список"
                raise ValueError(msg)
        return value


class MentionsConfig(_Strict):
    """`[mentions]`: a text whose matched words all just name a place or thing (landmarks:
    «парк», «школа», «автобус») and that neither complains nor asks is a mention, not a
    complaint: «Гуляли в парке, красота!» needs no reaction.

    A table in a file read later changes only the keys it sets; `add_*` extend the lists."""

    enabled: bool = True
    landmarks: tuple[TermSpec, ...] = ()
    """Words that only name a place, an institution, a vehicle or a thing (one word each)."""
    signals: tuple[TermSpec, ...] = ()
    """Words and phrases that make a text a complaint, request or question wherever they are
    («подскажите», «когда», «сколько можно»), besides every non-landmark term of the rules."""
    questions: bool = True
    """Whether a «?» (outside links) makes a mention a question that needs a reply."""
    add_landmarks: tuple[TermSpec, ...] = ()
    add_signals: tuple[TermSpec, ...] = ()

    @field_validator("landmarks", "signals", "add_landmarks", "add_signals")
    @classmethod
    def _terms(cls, value: tuple[TermSpec, ...]) -> tuple[TermSpec, ...]:
        return _check_terms(value)

    def over(self, earlier: MentionsConfig | None) -> MentionsConfig:
        """This table read after `earlier`: the keys it sets replace, `add_*` extend."""
        base = earlier or MentionsConfig()
        changed = {k: getattr(self, k) for k in self.model_fields_set if not k.startswith("add_")}
        merged = base.model_copy(update=changed)
        return merged.model_copy(update={
            "landmarks": (*merged.landmarks, *self.add_landmarks),
            "signals": (*merged.signals, *self.add_signals), "add_landmarks": (),
            "add_signals": ()})


def landmark_problems(mentions: MentionsConfig, lists: Mapping[str, ListConfig]) -> list[str]:
    """Landmarks are single words in any form: no phrases, no «=form», lists included."""
    found = []
    for spec in mentions.landmarks:
        text = term_text(spec).strip()
        named = lists.get(text[1:]) if text.startswith(LIST_MARK) else None
        for term in (term_text(t) for t in named.terms) if named else (text,):
            if term.strip().startswith("="):
                found.append(f"«{term}»: ориентир совпадает в любой форме, «=» здесь не нужен")
            elif word_count(term) > 1:
                found.append(f"«{term}» — не одно слово: ориентир — это отдельное слово "
                             "(«парк», «школа»)")
    return found


class OverrideConfig(_Strict):
    """`[[overrides]]`: replace or extend a topic or noise rule read from another file."""

    id: str = Field(min_length=1)
    name: str | None = Field(None, min_length=1)
    organisation: str | None = Field(None, min_length=1)
    priority: Priority | None = None
    sla: str | None = None
    im_topic: str | None = Field(None, min_length=1)
    weight: float | None = Field(None, gt=0, le=100)
    enabled: bool | None = None
    sources: tuple[str, ...] | None = None
    networks: tuple[str, ...] | None = None
    settlements: tuple[str, ...] | None = None
    add_words: tuple[TermSpec, ...] = ()
    add_phrases: tuple[TermSpec, ...] = ()
    add_near: tuple[NearRule, ...] = ()
    add_require: tuple[TermSpec, ...] = ()
    add_exclude: tuple[TermSpec, ...] = ()
    add_regex: tuple[RegexRule, ...] = ()

    @field_validator("add_words", "add_phrases", "add_require", "add_exclude")
    @classmethod
    def _terms(cls, value: tuple[TermSpec, ...]) -> tuple[TermSpec, ...]:
        return _check_terms(value)

    @field_validator("add_regex", mode="before")
    @classmethod
    def _plain_patterns(cls, value: object) -> object:
        return _pattern_tables(value)

    def replaced(self) -> dict[str, object]:
        """The keys this override replaces, with their new values."""
        keys = ("name", "organisation", "priority", "sla", "im_topic", "weight", "enabled",
                "sources", "networks", "settlements")
        return {key: getattr(self, key) for key in keys if getattr(self, key) is not None}

    def added(self) -> dict[str, tuple[Any, ...]]:
        """The arrays this override extends (without `add_`), with the terms to append."""
        keys = ("words", "phrases", "near", "require", "exclude", "regex")
        return {key: getattr(self, f"add_{key}") for key in keys if getattr(self, f"add_{key}")}


class RulesConfig(_Strict):
    """The `[rules]` table: thresholds and the rule files to include."""

    min_score: float = Field(1.0, ge=0)
    phrase_weight: float = Field(2.0, gt=0)
    include: tuple[str, ...] = ()
    second_opinion: str | None = None
    """A model file of `monitor train` (relative to the config file), consulted only where the
    rules find no group; None: the rules alone."""

    @model_validator(mode="before")
    @classmethod
    def _no_old_noise_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and {"noise_words", "noise_phrases"} & data.keys():
            msg = ("noise_words и noise_phrases больше не поддерживаются: опишите шум "
                   "правилами [[noise]] (см. docs/rules.md)")
            raise ValueError(msg)
        return data


def term_problems(rule: BaseModel, lists: Mapping[str, ListConfig]) -> list[tuple[str, str]]:
    """(array, problem) for every unusable term of a rule or override, `add_*` arrays too."""
    found: list[tuple[str, str]] = []
    for key in ("words", "phrases", "require", "exclude", "near", "landmarks", "signals"):
        for name in (key, f"add_{key}"):
            for spec in getattr(rule, name, ()):
                texts = spec.terms if key == "near" else (term_text(spec),)
                for text in texts:
                    problem = _term_problem(text, lists, single=key == "words")
                    if problem:
                        found.append((name, problem))
    return found


def _term_problem(text: str, lists: Mapping[str, ListConfig], *, single: bool) -> str | None:
    stripped = text.strip()
    if stripped.startswith(LIST_MARK):
        if stripped[1:] not in lists:
            return f"список {stripped} не описан (нужна таблица [lists.{stripped[1:]}])"
        return None
    count = word_count(text)
    if not count:
        return f"«{text}» не содержит слов"
    # A literal phrase in `words` would silently get a word's weight: the author meant phrases.
    if single and count > 1:
        return f"«{text}» — не одно слово, перенесите во фразы"
    return None


def rule_problems(rules: Iterable[MatchRules], lists: Mapping[str, ListConfig]) -> list[str]:
    """Every reason the rules cannot be compiled: unusable terms and ids used twice."""
    found = []
    seen: set[str] = set()
    for rule in rules:
        kind = "тема" if isinstance(rule, TopicConfig) else "шум"
        found += [f"{kind} {rule.id!r}, {key}: {text}" for key, text in term_problems(rule, lists)]
        if rule.id in seen:
            found.append(f"{kind} {rule.id!r} описана дважды")
        seen.add(rule.id)
    return found
