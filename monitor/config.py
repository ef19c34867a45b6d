"""Load the TOML config once into frozen typed objects, or report every problem at once."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import connectors
from connectors.base import SourceSettings
from monitor.problems import ConfigError, Problem, key_path, problems_from
from monitor.settings import (
    CalendarConfig,
    DaemonConfig,
    DuplicatesConfig,
    PlacesConfig,
    SlaConfig,
    SlaPolicy,
    StorageConfig,
    TelegramConfig,
)
from monitor.tomllines import LineIndex
from rules import RulesError, RuleSet, compile_rules
from rules.model import RulesConfig, TopicConfig

MAX_CONFIG_BYTES = 5_000_000
_TOPIC_NAMED = re.compile(r"тема '([^']+)'")
_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


class AppConfig(BaseModel):
    """The whole configuration, validated and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage: StorageConfig = StorageConfig()
    calendar: CalendarConfig = CalendarConfig()
    sla: SlaConfig = SlaConfig()
    daemon: DaemonConfig = DaemonConfig()
    telegram: TelegramConfig = TelegramConfig()
    places: PlacesConfig = PlacesConfig()
    duplicates: DuplicatesConfig = DuplicatesConfig()
    rules: RulesConfig = RulesConfig()
    topics: tuple[TopicConfig, ...] = ()
    sources: tuple[SourceSettings, ...] = Field(default=())
    path: Path = Path("config.toml")

    @property
    def database_path(self) -> Path:
        """Return the SQLite path, resolved against the config file's folder."""
        return (self.path.parent / self.storage.path).resolve()

    def policy_for(self, sla: str | None, priority: str) -> SlaPolicy:
        """Return the SLA policy for a topic's named policy or priority, else the default."""
        if sla is not None:
            return self.sla.policies[sla]
        return self.sla.by_priority.get(priority, self.sla)  # type: ignore[call-overload]

    def topic(self, topic_id: str | None) -> TopicConfig | None:
        """Return a topic by id."""
        return next((t for t in self.topics if t.id == topic_id), None)


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A valid config plus the warnings it deserves (missing secrets, no chats...)."""

    config: AppConfig
    warnings: list[Problem]


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read, parse and validate a config file; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    file = str(path)
    text = _read_text(Path(path))
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(file, exc)]) from None
    lines = LineIndex(text)
    problems: list[Problem] = []
    sources = _validate_sources(raw.pop("sources", []), file, lines, problems)
    config: AppConfig | None = None
    try:
        config = AppConfig.model_validate({**raw, "path": Path(path)})
    except ValidationError as exc:
        problems.extend(problems_from(exc, file, lines, ()))
    if config is not None and sources is not None:
        config = config.model_copy(update={"sources": tuple(sources)})
        problems.extend(_cross_references(config, file, lines))
        if not problems:
            problems.extend(_rule_problems(config, file, lines))
    if problems or config is None:
        raise ConfigError(problems)
    return LoadedConfig(config, _secret_warnings(config, file, lines, env))


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), None, "", "файл не найден")]) from None
    except OSError as exc:
        msg = f"файл не прочитан: {exc.strerror or exc}"
        raise ConfigError([Problem(str(path), None, "", msg)]) from None
    if len(data) > MAX_CONFIG_BYTES:
        msg = f"файл слишком большой ({len(data)} байт, предел {MAX_CONFIG_BYTES})"
        raise ConfigError([Problem(str(path), None, "", msg)])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"файл не в кодировке UTF-8 (байт {exc.start})"
        raise ConfigError([Problem(str(path), None, "", msg)]) from None


def _syntax_problem(file: str, exc: tomllib.TOMLDecodeError) -> Problem:
    message = str(exc)
    found = _AT_LINE.search(message)
    line = int(found.group(1)) if found else None
    if found:
        message = message[: found.start()].strip() + f" (столбец {found.group(2)})"
    return Problem(file, line, "", f"ошибка синтаксиса TOML: {message}")


def _validate_sources(
    raw: object, file: str, lines: LineIndex, problems: list[Problem]
) -> list[SourceSettings] | None:
    if not isinstance(raw, list):
        problems.append(Problem(file, lines.line_of(("sources",)), "sources",
                                "ожидался массив таблиц [[sources]]"))
        return None
    specs = connectors.registry()
    result: list[SourceSettings] = []
    for index, table in enumerate(raw):
        where: tuple[str | int, ...] = ("sources", index)
        network = table.get("network") if isinstance(table, dict) else None
        if not isinstance(network, str) or network not in specs:
            known = ", ".join(sorted(specs))
            msg = f"неизвестная сеть {network!r}; доступны: {known}"
            problems.append(Problem(file, lines.line_of((*where, "network")),
                                    key_path(where) + ".network", msg))
            continue
        try:
            result.append(specs[network].settings_model.model_validate(table))
        except ValidationError as exc:
            problems.extend(problems_from(exc, file, lines, where))
    return result


def _cross_references(config: AppConfig, file: str, lines: LineIndex) -> Iterable[Problem]:
    yield from _duplicates([s.id for s in config.sources], "sources", "id", file, lines)
    yield from _duplicates([t.id for t in config.topics], "topics", "id", file, lines)
    yield from _duplicates([c.id for c in config.telegram.chats], ("telegram", "chats"), "id",
                           file, lines)
    for index, topic in enumerate(config.topics):
        if topic.sla is not None and topic.sla not in config.sla.policies:
            where = ("topics", index, "sla")
            known = ", ".join(sorted(config.sla.policies)) or "нет ни одной"
            msg = f"политика {topic.sla!r} не описана в [sla.policies] (описаны: {known})"
            yield Problem(file, lines.line_of(where), key_path(where), msg)


def build_ruleset(config: AppConfig) -> RuleSet:
    """Compile the config's rules into the classifier's index; the one way to get a RuleSet."""
    return compile_rules(config.topics, config.rules)


def _rule_problems(config: AppConfig, file: str, lines: LineIndex) -> list[Problem]:
    """Compile the rules once, so a term the classifier cannot use is a config error too."""
    try:
        build_ruleset(config)
    except RulesError as exc:
        ids = {topic.id: index for index, topic in enumerate(config.topics)}
        found = []
        for message in exc.problems:
            named = _TOPIC_NAMED.search(message)
            where: tuple[str | int, ...] = (
                ("topics", ids[named.group(1)]) if named and named.group(1) in ids else ("rules",)
            )
            found.append(Problem(file, lines.line_of(where), key_path(where), message))
        return found
    return []


def _duplicates(
    values: list[Any], array: str | tuple[str, ...], field: str, file: str, lines: LineIndex
) -> Iterable[Problem]:
    prefix: tuple[str, ...] = (array,) if isinstance(array, str) else array
    seen: dict[Any, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            where: tuple[str | int, ...] = (*prefix, index, field)
            msg = f"повторяется {field} {value!r} (уже есть в элементе {seen[value] + 1})"
            yield Problem(file, lines.line_of(where), key_path(where), msg)
        else:
            seen[value] = index


def _secret_warnings(
    config: AppConfig, file: str, lines: LineIndex, env: Mapping[str, str]
) -> list[Problem]:
    warnings = []
    specs = connectors.registry()
    for index, source in enumerate(config.sources):
        if not specs[source.network].needs_token:
            continue
        where: tuple[str | int, ...] = ("sources", index, "token_env")
        if not source.token_env:
            msg = f"источник {source.id!r} требует token_env; он будет пропущен"
        elif not env.get(source.token_env):
            msg = (f"переменная окружения {source.token_env} не задана: "
                   f"источник {source.id!r} будет пропущен")
        else:
            continue
        warnings.append(Problem(file, lines.line_of(where), key_path(where), msg))
    if not env.get(config.telegram.token_env):
        where = ("telegram", "token_env")
        msg = (f"переменная окружения {config.telegram.token_env} не задана: "
               "оповещения будут писаться только в журнал")
        warnings.append(Problem(file, lines.line_of(where), key_path(where), msg))
    elif not config.telegram.chats:
        where = ("telegram",)
        msg = "не указан ни один чат [[telegram.chats]]: оповещения будут писаться только в журнал"
        warnings.append(Problem(file, lines.line_of(where), "telegram.chats", msg))
    return warnings


