"""Read the config's rule part: includes, lists, topics, noise, overrides, mentions; every
error located."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

import rules
from monitor.config.problems import ConfigError, Problem, key_path, problems_from
from monitor.config.tomllines import LineIndex
from rules.cache import parsed_toml
from rules.model import (
    ListConfig,
    MatchRules,
    MentionsConfig,
    NoiseConfig,
    OverrideConfig,
    TopicConfig,
    im_topic_problem,
    landmark_problems,
)
from rules.model import term_problems as unusable_terms

MAX_FILE_BYTES = 5_000_000
BUILTIN = "builtin:"
RULE_ARRAYS = ("topics", "noise", "overrides")
FILE_KEYS = ("include", "lists", "mentions", *RULE_ARRAYS)
_BUILTIN_NAME = re.compile(r"^[a-z0-9_-]+$")
_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")
_KINDS = {"topics": "тема", "noise": "шум", "overrides": "изменение"}
_MODELS: dict[str, type[BaseModel]] = {
    "topics": TopicConfig, "noise": NoiseConfig, "overrides": OverrideConfig,
}


@dataclass(frozen=True, slots=True)
class RuleContext:
    """Names the rules may refer to: SLA policies, sources, networks and settlements."""

    sla_policies: frozenset[str]
    sources: frozenset[str]
    networks: frozenset[str]
    settlements: frozenset[str]


@dataclass(frozen=True, slots=True)
class RuleBook:
    """Every topic, noise rule and list of all rule files, overrides applied, in read order;
    `mentions` as the last file that has the table says."""

    topics: tuple[TopicConfig, ...] = ()
    noise: tuple[NoiseConfig, ...] = ()
    lists: Mapping[str, ListConfig] = field(default_factory=dict)
    mentions: MentionsConfig | None = None
    origins: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Rule id → where it is written ("file:line"), then where each override changes it."""
    warnings: tuple[Problem, ...] = ()
    """What deserves a word but does not stop the rules: an `im_topic` not in the list."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an entry was written: file, its line index, and the key path of the entry."""

    file: str
    lines: LineIndex
    where: tuple[str | int, ...]

    def problem(self, message: str, *keys: str | int) -> Problem:
        """A problem located at this entry or at one of its keys."""
        path = (*self.where, *keys)
        return Problem(self.file, self.lines.line_of(path), key_path(path), message)


def read_toml(path: Path) -> tuple[dict[str, Any], LineIndex]:
    """Parse one TOML file; raise ConfigError naming the file (and line) if it cannot be."""
    text = _read_text(path)
    try:
        raw = parsed_toml(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _AT_LINE.search(message)
        line = int(found.group(1)) if found else None
        if found:
            message = message[: found.start()].strip() + f" (столбец {found.group(2)})"
        raise ConfigError([Problem(str(path), line, "", f"ошибка синтаксиса TOML: {message}")]) \
            from None
    return raw, LineIndex(text)


def _read_text(path: Path) -> str:
    def fail(message: str) -> ConfigError:
        return ConfigError([Problem(str(path), None, "", message)])

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise fail("файл не найден") from None
    except OSError as exc:
        raise fail(f"файл не прочитан: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise fail(f"файл слишком большой ({len(data)} байт, предел {MAX_FILE_BYTES})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"файл не в кодировке UTF-8 (байт {exc.start})") from None


def include_path(spec: str, base: Path, suffix: str = ".toml") -> Path:
    """`builtin:NAME` is rules/NAME.toml (or another suffix: the shipped second opinion is
    .json) of the installed package; other paths are relative to `base`. Raises ValueError."""
    if spec.startswith(BUILTIN):
        name = spec[len(BUILTIN):]
        if not _BUILTIN_NAME.match(name):
            msg = f"{spec!r}: после builtin: ожидалось имя файла (латиница, цифры, - и _)"
            raise ValueError(msg)
        return Path(rules.__file__).resolve().parent / f"{name}{suffix}"
    return base / spec


def read_rule_book(
    raw: Mapping[str, Any],
    include: object,
    origin: Origin,
    base: Path,
    context: RuleContext | None,
) -> tuple[RuleBook, list[Problem]]:
    """The rules of a config (its own sections plus includes); problems instead of raising."""
    reader = _Reader()
    reader.read(raw, include, origin, base, (Path(origin.file).resolve(),))
    return reader.finish(context)


class _Reader:
    """Accumulates entries of every file in read order, with their origins."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.lists: dict[str, tuple[ListConfig, Origin]] = {}
        self.entries: dict[str, list[tuple[Any, Origin]]] = {key: [] for key in RULE_ARRAYS}
        self.mentions: list[tuple[MentionsConfig, Origin]] = []

    def read(
        self,
        raw: Mapping[str, Any],
        include: object,
        origin: Origin,
        base: Path,
        stack: tuple[Path, ...],
    ) -> None:
        """One file's includes (depth first), then its own lists and rules."""
        self._includes(include, origin, base, stack)
        self._lists(raw.get("lists", {}), origin)
        if "mentions" in raw:
            # A later file (the municipality's own) changes what it sets of an earlier table.
            here = Origin(origin.file, origin.lines, ("mentions",))
            model = self._validate(MentionsConfig, raw["mentions"], here)
            if model is not None:
                self.mentions.append((model, here))
        for key in RULE_ARRAYS:
            self._array(key, raw.get(key, []), origin)

    def _includes(
        self, include: object, origin: Origin, base: Path, stack: tuple[Path, ...]
    ) -> None:
        if not isinstance(include, list) or not all(isinstance(s, str) for s in include):
            if include:
                self.problems.append(origin.problem("ожидался список путей к файлам правил"))
            return
        for number, spec in enumerate(include):
            here = Origin(origin.file, origin.lines, (*origin.where, number))
            try:
                path = include_path(spec, base)
            except ValueError as exc:
                self.problems.append(here.problem(str(exc)))
                continue
            if path.resolve() in stack:
                chain = " → ".join(str(p.name) for p in (*stack, path.resolve()))
                self.problems.append(here.problem(f"файлы правил подключают друг друга: {chain}"))
                continue
            self._include(path, spec, here, stack)

    def _include(self, path: Path, spec: str, here: Origin, stack: tuple[Path, ...]) -> None:
        if not path.is_file():
            self.problems.append(here.problem(f"файл правил {spec!r} не найден ({path})"))
            return
        try:
            raw, lines = read_toml(path)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return
        origin = Origin(str(path), lines, ())
        for key in raw:
            if key not in FILE_KEYS:
                msg = f"неизвестный ключ; в файле правил допустимы: {', '.join(FILE_KEYS)}"
                if key == "rules":
                    msg = "[rules] задаётся только в основном конфиге; здесь — include = [...]"
                self.problems.append(origin.problem(msg, key))
        self.read(raw, raw.get("include", []), Origin(str(path), lines, ("include",)),
                  path.parent, (*stack, path.resolve()))

    def _lists(self, raw: object, origin: Origin) -> None:
        if not isinstance(raw, dict):
            self.problems.append(origin.problem("ожидались таблицы [lists.ИМЯ]", "lists"))
            return
        for name, table in raw.items():
            here = Origin(origin.file, origin.lines, ("lists", name))
            model = self._validate(ListConfig, table, here)
            if not re.match(r"^[A-Za-z0-9_-]+$", name):
                self.problems.append(here.problem("имя списка: латиница, цифры, - и _"))
            elif name in self.lists:
                first = self.lists[name][1]
                self.problems.append(here.problem(f"список {name!r} уже описан ({_at(first)})"))
            elif model is not None:
                self.lists[name] = (model, here)

    def _array(self, key: str, raw: object, origin: Origin) -> None:
        if not isinstance(raw, list):
            self.problems.append(origin.problem(f"ожидался массив таблиц [[{key}]]", key))
            return
        model = _MODELS[key]
        for index, table in enumerate(raw):
            here = Origin(origin.file, origin.lines, (key, index))
            entry = self._validate(model, table, here)
            if entry is not None:
                self.entries[key].append((entry, here))

    def _validate(self, model: type[BaseModel], table: object, here: Origin) -> Any:
        try:
            return model.model_validate(table)
        except ValidationError as exc:
            name = table.get("id") if isinstance(table, dict) else None
            kind = _KINDS.get(str(here.where[0]), "")
            suffix = f" ({kind} {name!r})" if isinstance(name, str) and kind else ""
            for problem in problems_from(exc, here.file, here.lines, here.where):
                self.problems.append(
                    Problem(problem.file, problem.line, problem.key, problem.message + suffix))
            return None

    def finish(self, context: RuleContext | None) -> tuple[RuleBook, list[Problem]]:
        """Check terms, ids and references; apply overrides; return the book and problems."""
        lists = {name: model for name, (model, _) in self.lists.items()}
        rules_: dict[str, tuple[MatchRules, Origin]] = {}
        changes: dict[str, list[str]] = {}
        for key in ("topics", "noise"):
            for rule, origin in self.entries[key]:
                self._check(rule, origin, lists, context)
                if rule.id in rules_:
                    self.problems.append(origin.problem(_repeated(rule.id, rules_[rule.id][1],
                                                                  origin), "id"))
                else:
                    rules_[rule.id] = (rule, origin)
        for override, origin in self.entries["overrides"]:
            self._check(override, origin, lists, context)
            target = rules_.get(override.id)
            if target is None:
                msg = f"изменение {override.id!r}: нет темы или шума с таким id"
                self.problems.append(origin.problem(msg, "id"))
                continue
            changed = _apply(override, target[0], origin, self.problems)
            rules_[override.id] = (changed, target[1])
            changes.setdefault(override.id, []).append(_at(origin))
        final = [rule for rule, _ in rules_.values()]
        book = RuleBook(
            topics=tuple(r for r in final if isinstance(r, TopicConfig)),
            noise=tuple(r for r in final if isinstance(r, NoiseConfig)),
            lists=lists,
            mentions=self._mentions(lists),
            origins={rule_id: (_at(origin), *changes.get(rule_id, ()))
                     for rule_id, (_, origin) in rules_.items()},
            warnings=tuple(self.warnings),
        )
        return book, self.problems

    def _mentions(self, lists: Mapping[str, ListConfig]) -> MentionsConfig | None:
        """Every `[mentions]` table merged in read order, each checked where it was written."""
        mentions = None
        for table, origin in self.mentions:
            for key, problem in unusable_terms(table, lists):
                self.problems.append(origin.problem(problem, key))
            mentions = table.over(mentions)
        if mentions is not None:
            last = self.mentions[-1][1]
            for problem in landmark_problems(mentions, lists):
                self.problems.append(last.problem(problem, "landmarks"))
            if mentions.enabled and not mentions.landmarks:
                self.problems.append(last.problem(
                    "ориентиры не заданы: без landmarks упоминания не распознать "
                    "(или enabled = false)", "landmarks"))
        return mentions

    def _check(
        self, rule: Any, origin: Origin, lists: Mapping[str, ListConfig],
        context: RuleContext | None,
    ) -> None:
        kind = _KINDS[str(origin.where[0])]
        for key, problem in unusable_terms(rule, lists):
            self.problems.append(origin.problem(f"{kind} {rule.id!r}, {key}: {problem}"))
        im_topic = getattr(rule, "im_topic", None)
        unknown = None if im_topic is None else im_topic_problem(im_topic)
        if unknown is not None:
            self.warnings.append(origin.problem(f"{kind} {rule.id!r}: {unknown}", "im_topic"))
        if context is not None:
            for key, message in _dangling(rule, context):
                self.problems.append(origin.problem(f"{message} ({kind} {rule.id!r})", key))


def _at(origin: Origin) -> str:
    return f"{origin.file}:{origin.lines.line_of(origin.where)}"


def _repeated(rule_id: str, first: Origin, again: Origin) -> str:
    if first.file == again.file and first.where[0] == again.where[0]:
        return f"повторяется id {rule_id!r} (уже есть в элементе {int(first.where[1]) + 1})"
    return (f"повторяется id {rule_id!r} (уже есть: {_at(first)}); "
            "чтобы изменить подключённую тему, используйте [[overrides]]")


def _dangling(rule: Any, context: RuleContext) -> Iterable[tuple[str, str]]:
    """(key, problem) for every name the rule refers to that the config does not define."""
    sla = getattr(rule, "sla", None)
    if sla is not None and sla not in context.sla_policies:
        known = ", ".join(sorted(context.sla_policies)) or "нет ни одной"
        yield "sla", f"политика {sla!r} не описана в [sla.policies] (описаны: {known})"
    checks = (
        ("sources", context.sources, "источник {!r} не описан в [[sources]]"),
        ("networks", context.networks, "сеть {!r} неизвестна"),
        ("settlements", context.settlements, "населённый пункт {!r} не описан в [places]"),
    )
    for key, known_names, text in checks:
        for name in getattr(rule, key, None) or ():
            if name not in known_names:
                known = ", ".join(sorted(known_names)) or "нет ни одного"
                yield key, text.format(name) + f" (есть: {known})"


_TOPIC_ONLY = ("organisation", "priority", "sla", "im_topic")


def _apply(
    override: OverrideConfig, rule: MatchRules, origin: Origin, problems: list[Problem]
) -> MatchRules:
    """The rule with the override's replacements and additions."""
    replaced = override.replaced()
    if isinstance(rule, NoiseConfig):
        for key in [k for k in _TOPIC_ONLY if k in replaced]:
            problems.append(origin.problem(f"у шума {rule.id!r} нет ключа {key}", key))
            del replaced[key]
    for key, terms in override.added().items():
        replaced[key] = (*getattr(rule, key), *terms)
    return rule.model_copy(update=replaced)
