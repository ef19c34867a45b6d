"""Load the TOML config once into frozen typed objects, or report every problem at once."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import connectors
from connectors.base import SourceSettings
from monitor.config.alerting import AlertsConfig, unknown_route_values, unlisted_chats
from monitor.config.municipalities import (
    Municipality,
    municipality_errors,
    municipality_warnings,
)
from monitor.config.policies import AnswersConfig, PolicyConfig, policy_errors, policy_warnings
from monitor.config.problems import ConfigError, Problem, key_path, problems_from
from monitor.config.rulefiles import (
    RULE_ARRAYS,
    Origin,
    RuleBook,
    RuleContext,
    include_path,
    read_rule_book,
    read_toml,
)
from monitor.config.settings import (
    CalendarConfig,
    DaemonConfig,
    OfficialAccount,
    PlacesConfig,
    RepeatsConfig,
    ReportConfig,
    SlaConfig,
    StorageConfig,
    TelegramConfig,
)
from monitor.config.tomllines import LineIndex
from monitor.config.traps import trap_warnings
from rules import RuleSet
from rules.cache import cached_opinion, compile_cached
from rules.model import ListConfig, MentionsConfig, NoiseConfig, RulesConfig, TopicConfig
from rules.opinion import Opinion, OpinionError

if TYPE_CHECKING:
    from storage import StoreLocation

RULE_PARTS = (*RULE_ARRAYS, "lists", "mentions")
"""Top-level keys of the rule part besides `[rules]`: `[[topics]]`, `[[noise]]`, … `[lists.*]`,
`[mentions]`."""


class AppConfig(BaseModel):
    """The whole configuration, validated and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage: StorageConfig = StorageConfig()
    calendar: CalendarConfig = CalendarConfig()
    sla: SlaConfig = SlaConfig()
    policies: tuple[PolicyConfig, ...] = ()
    answers: AnswersConfig = AnswersConfig()
    daemon: DaemonConfig = DaemonConfig()
    telegram: TelegramConfig = TelegramConfig()
    alerts: AlertsConfig = AlertsConfig()
    places: PlacesConfig = PlacesConfig()
    municipalities: tuple[Municipality, ...] = ()
    repeats: RepeatsConfig = RepeatsConfig()
    report: ReportConfig = ReportConfig()
    rules: RulesConfig = RulesConfig()
    topics: tuple[TopicConfig, ...] = ()
    noise: tuple[NoiseConfig, ...] = ()
    lists: dict[str, ListConfig] = Field(default_factory=dict)
    mentions: MentionsConfig | None = None
    sources: tuple[SourceSettings, ...] = Field(default=())
    official_accounts: tuple[OfficialAccount, ...] = ()
    path: Path = Path("config.toml")
    rule_origins: dict[str, tuple[str, ...]] = Field(default_factory=dict, exclude=True)
    """Rule id → "file:line" where it is written, then of each override (`rules list`)."""

    @property
    def database_path(self) -> Path:
        """Return the SQLite path, resolved against the config file's folder."""
        return (self.path.parent / self.storage.path).resolve()

    @property
    def second_opinion_path(self) -> Path | None:
        """The second-opinion model file: `builtin:NAME` is rules/NAME.json of the package,
        other paths are resolved against the config file's folder. Raises ValueError for a
        bad builtin name (load_config reports it)."""
        chosen = self.rules.second_opinion
        return None if chosen is None else \
            include_path(chosen, self.path.parent, ".json").resolve()

    def store_location(self, env: Mapping[str, str]) -> StoreLocation:
        """The configured store: the SQLite file, or PostgreSQL with its DSN from `env`."""
        if self.storage.backend == "postgresql":
            from storage.location import PostgresLocation  # the package loads the store

            return PostgresLocation(self.storage.dsn_env, env.get(self.storage.dsn_env))
        return self.database_path

    def official_of(self, network: str) -> dict[str, str]:
        """The official accounts of a network: id → name."""
        return {str(a.id): a.name for a in self.official_accounts if a.network == network}

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
    raw, lines = read_toml(Path(path))
    rule_part = {key: raw.pop(key) for key in RULE_PARTS if key in raw}
    problems: list[Problem] = []
    sources = _validate_sources(raw.pop("sources", []), file, lines, problems)
    if "duplicates" in raw:
        raw.pop("duplicates")
        problems.append(Problem(file, lines.line_of(("duplicates",)), "duplicates",
                                "раздел переименован: пишите [repeats] (ключи те же)"))
    config: AppConfig | None = None
    try:
        config = AppConfig.model_validate({**raw, "path": Path(path)})
    except ValidationError as exc:
        problems.extend(problems_from(exc, file, lines, ()))
    context = None
    if config is not None and sources is not None:
        config = config.model_copy(update={"sources": tuple(sources)})
        problems.extend(_cross_references(config, file, lines))
        context = rule_context(config)
    settings = raw.get("rules")
    include = settings.get("include", []) if isinstance(settings, dict) else []
    origin = Origin(file, lines, ("rules", "include"))
    book, found = read_rule_book(rule_part, include, origin, Path(path).parent, context)
    problems.extend(found)
    if problems or config is None:
        raise ConfigError(problems)
    config = _with_book(config, book)
    problems = policy_errors(config, file, lines)
    if problems:
        raise ConfigError(problems)
    warnings = [*book.warnings, *_secret_warnings(config, file, lines, env),
                *policy_warnings(config, file, lines)]
    return LoadedConfig(config, warnings)


def with_rules_from(config: AppConfig, path: Path) -> AppConfig:
    """A copy of `config` whose whole rule part comes from another file of the same syntax."""
    raw, lines = read_toml(path)
    file = str(path)
    allowed = ("rules", *RULE_PARTS)
    problems = [
        Problem(file, lines.line_of((key,)), key,
                f"в файле правил допустимы только {', '.join(allowed)}")
        for key in raw if key not in allowed
    ]
    settings = RulesConfig()
    try:
        settings = RulesConfig.model_validate(raw.get("rules", {}))
    except ValidationError as exc:
        problems.extend(problems_from(exc, file, lines, ("rules",)))
    rule_part = {key: raw[key] for key in RULE_PARTS if key in raw}
    origin = Origin(file, lines, ("rules", "include"))
    book, found = read_rule_book(rule_part, list(settings.include), origin, path.parent,
                                 rule_context(config))
    problems.extend(found)
    if problems:
        raise ConfigError(problems)
    return _with_book(config.model_copy(update={"rules": settings}), book)


def rule_context(config: AppConfig) -> RuleContext:
    """The names a rule file may refer to in this config."""
    return RuleContext(
        sla_policies=frozenset(config.sla.policies),
        sources=frozenset(s.id for s in config.sources),
        networks=frozenset(connectors.registry()),
        settlements=frozenset(s.name for s in config.places.settlements),
    )


def build_ruleset(config: AppConfig) -> RuleSet:
    """Compile the config's rules into the classifier's index; the one way to get a RuleSet."""
    return compile_cached(
        config.topics,
        config.rules,
        noise=config.noise,
        lists=config.lists,
        mentions=config.mentions,
        settlements=config.places.settlements,
        place_required=[s.id for s in config.sources if s.require_place],
    )


def configured_opinion(config: AppConfig) -> Opinion | None:
    """The configured second opinion, or None; raises OpinionError (Russian) for a file that
    cannot be used."""
    path = config.second_opinion_path
    return None if path is None else cached_opinion(path)


def second_opinion(config: AppConfig) -> Opinion | None:
    """The configured second opinion for classifying (the daemon, `monitor classify`): a file
    that cannot be used is logged and the rules work alone."""
    try:
        return configured_opinion(config)
    except OpinionError as exc:
        logging.getLogger("monitor.rules").error(
            "второе мнение отключено, работают только правила: %s", exc)
        return None


def _with_book(config: AppConfig, book: RuleBook) -> AppConfig:
    return config.model_copy(
        update={"topics": book.topics, "noise": book.noise, "lists": dict(book.lists),
                "mentions": book.mentions, "rule_origins": dict(book.origins)}
    )


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
    try:
        config.second_opinion_path  # noqa: B018 - only checked here
    except ValueError as exc:
        setting = ("rules", "second_opinion")
        yield Problem(file, lines.line_of(setting), key_path(setting), str(exc))
    yield from _repeated_values([s.id for s in config.sources], "sources", "id", file, lines)
    yield from _repeated_values([c.id for c in config.telegram.chats], ("telegram", "chats"),
                                "id", file, lines)
    yield from _repeated_values([m.id for m in config.telegram.staff], ("telegram", "staff"),
                                "id", file, lines)
    staff_chats = {chat.id for chat in config.telegram.chats}
    for index, source in enumerate(config.sources):
        for key in ("chat_id", "discussion_chat_id"):
            if getattr(source, key, None) in staff_chats:
                where = ("sources", index, key)
                yield Problem(file, lines.line_of(where), key_path(where),
                              "чат дежурных из [[telegram.chats]] не может быть источником: "
                              "обращения жителей и команды сотрудников не смешиваются")
    known = connectors.registry()
    for index, account in enumerate(config.official_accounts):
        if account.network not in known:
            where = ("official_accounts", index, "network")
            msg = f"неизвестная сеть {account.network!r}; доступны: {', '.join(sorted(known))}"
            yield Problem(file, lines.line_of(where), key_path(where), msg)
    # Two municipalities may each have their «Покровское»; one municipality may not twice.
    yield from _repeated_values([s.name if s.municipality is None else
                                 f"{s.name} ({s.municipality})"
                                 for s in config.places.settlements],
                                ("places", "settlements"), "name", file, lines)
    yield from municipality_errors(config, file, lines)


def _repeated_values(
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


def _other_secrets(
    config: AppConfig, file: str, lines: LineIndex, env: Mapping[str, str]
) -> list[Problem]:
    """Every other `…_env` key of an enabled source (a backfill token, an application key)
    whose variable is not set: the source will miss what that secret opens."""
    found = []
    for index, source in enumerate(config.sources):
        for key, name in source:
            if (key.endswith("_env") and key != "token_env" and isinstance(name, str)
                    and source.enabled and not env.get(name)):
                where: tuple[str | int, ...] = ("sources", index, key)
                msg = (f"переменная окружения {name} не задана: у источника {source.id!r} "
                       f"не будет работать то, для чего указан {key}")
                found.append(Problem(file, lines.line_of(where), key_path(where), msg))
    return found


def _alert_warnings(config: AppConfig, file: str, lines: LineIndex) -> list[Problem]:
    """Chats of [alerts] where buttons would not work, values no route can match."""
    found = []
    listed = {chat.id for chat in config.telegram.chats}
    for where, chat in unlisted_chats(config.alerts, listed):
        msg = (f"чата {chat} нет в [[telegram.chats]]: оповещения туда придут, но кнопки под "
               "ними не сработают")
        found.append(Problem(file, lines.line_of(where), key_path(where), msg))
    known = {
        "organisations": frozenset(t.organisation for t in config.topics if t.organisation),
        "groups": frozenset(t.group for t in config.topics),
        "settlements": frozenset(s.name for s in config.places.settlements),
    }
    for where, value in unknown_route_values(config.alerts, known):
        msg = f"{value!r} нет ни у одной темы или места: маршрут по нему не сработает"
        found.append(Problem(file, lines.line_of(where), key_path(where), msg))
    return found + municipality_warnings(config, file, lines)


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
    warnings += _other_secrets(config, file, lines, env)
    if config.storage.backend == "postgresql":
        from storage.location import dsn_problem

        problem = dsn_problem(env.get(config.storage.dsn_env), config.storage.dsn_env)
        if problem is not None:
            where = ("storage", "dsn_env")
            warnings.append(Problem(file, lines.line_of(where), key_path(where),
                                    f"{problem}; monitor run не запустится"))
    warnings += _alert_warnings(config, file, lines)
    if not env.get(config.telegram.token_env):
        where = ("telegram", "token_env")
        msg = (f"переменная окружения {config.telegram.token_env} не задана: "
               "оповещения будут писаться только в журнал")
        warnings.append(Problem(file, lines.line_of(where), key_path(where), msg))
    return warnings + trap_warnings(config, file, lines, env)


