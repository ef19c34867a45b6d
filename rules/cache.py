"""A compiled rule set kept on disk between runs, so a command starts without compiling;
beside it, the parse of each config and rule file read (the shipped rubricator takes 50 ms
to parse) and the checked second-opinion model (40 ms to read and check the shipped one).

A rule set's file is named by a digest of everything the rule set is made from (the rules as
validated, the gazetteer, the code of this package, the morphology dictionary, Python's
version): a change to any of them names another file; a parse's file by a digest of the TOML
text and Python's version; a model's by a digest of its file and the same code and versions.
They live in the user's cache folder
($MONITOR_CACHE_DIR, else $XDG_CACHE_HOME/mcu-monitor, else ~/.cache/mcu-monitor;
MONITOR_CACHE_DIR=off turns the cache off). A file that is not ours, can be written by
others, is too big, is damaged or names anything but the classes it may hold (this package's
own; the dates and times of TOML) is not loaded: the rules are compiled (the file parsed, the
model read) again and the file replaced. Failing to write it only costs the next start-up its
speed. The KEEP most recent files of each kind are kept, older ones removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import io
import json
import os
import pickle
import stat
import sys
import tempfile
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from rules.compiler import compile_rules
from rules.engine import RuleSet
from rules.model import ListConfig, MentionsConfig, NoiseConfig, RulesConfig, TopicConfig
from rules.opinion import Opinion, load_opinion, opinion_from, read_model
from rules.places import SettlementLike

CACHE_ENV = "MONITOR_CACHE_DIR"
OFF = "off"
MAX_BYTES = 256 << 20
KEEP = 8
_PACKAGE = Path(__file__).resolve().parent
_OWN = "rules."
_SAFE_GLOBALS = frozenset({("re", "_compile")})
_TOML_GLOBALS = frozenset(("datetime", name)
                          for name in ("date", "time", "datetime", "timezone", "timedelta"))
"""What a parsed TOML file holds besides dicts, lists, strings, numbers and booleans."""
_RULES, _PARSED, _MODEL = "rules-", "toml-", "opinion-"


def cache_dir() -> Path | None:
    """The folder of cached rule sets, or None when caching is off."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", OFF) else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcu-monitor"


def compile_cached(topics: Sequence[TopicConfig], rules: RulesConfig, **options: Any) -> RuleSet:
    """compile_rules (same arguments), through the cache."""
    return cached_ruleset(rule_inputs(topics, rules, **options),
                          lambda: compile_rules(topics, rules, **options))


def cached_ruleset(inputs: object, build: Callable[[], RuleSet]) -> RuleSet:
    """The rule set made from `inputs` (plain JSON data) by `build`, from the cache if there."""
    folder = cache_dir()
    if folder is None:
        return build()
    path = folder / f"{_RULES}{digest(inputs)}.pickle"
    found = load(path)
    if found is not None:
        return found
    ruleset = build()
    store(path, ruleset)
    return ruleset


def parsed_toml(text: str) -> dict[str, Any]:
    """tomllib.loads(text), through the cache; raises TOMLDecodeError as it does (a file that
    does not parse is not stored)."""
    folder = cache_dir()
    if folder is None:
        return tomllib.loads(text)
    hasher = hashlib.sha256(text.encode())
    hasher.update(f"{sys.version_info[:3]}/{pickle.HIGHEST_PROTOCOL}".encode())
    path = folder / f"{_PARSED}{hasher.hexdigest()}.pickle"
    found = _read(path, _TomlUnpickler)
    if isinstance(found, dict):
        return found
    raw = tomllib.loads(text)
    _write(path, raw, _PARSED)
    return raw


def cached_opinion(path: Path) -> Opinion:
    """load_opinion(path), through the cache; raises OpinionError as it does (a model that is
    refused is not stored)."""
    folder = cache_dir()
    if folder is None:
        return load_opinion(path)
    # The bytes read are the ones digested and the ones parsed: what is stored is always the
    # model of the file its name says, even if the file is rewritten meanwhile.
    raw = read_model(path)
    content = hashlib.sha256(raw).hexdigest()
    stored = folder / f"{_MODEL}{digest({'second_opinion': content})}.pickle"
    found = _read(stored, _RulesUnpickler)
    if isinstance(found, Opinion):
        return found
    model = opinion_from(raw, path)
    _write(stored, model, _MODEL)
    return model


def digest(inputs: object) -> str:
    """A digest of `inputs`, the code that compiles and classifies, and the dictionary."""
    hasher = hashlib.sha256()
    hasher.update(json.dumps(inputs, ensure_ascii=False, sort_keys=True).encode())
    for source in sorted(_PACKAGE.glob("*.py")):
        hasher.update(source.name.encode() + b"\0" + source.read_bytes())
    for package in ("pymorphy3", "pymorphy3-dicts-ru"):
        try:
            hasher.update(f"{package}={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            hasher.update(package.encode())
    hasher.update(f"{sys.version_info[:3]}/{pickle.HIGHEST_PROTOCOL}".encode())
    return hasher.hexdigest()


def rule_inputs(
    topics: Sequence[TopicConfig], rules: RulesConfig, *, noise: Sequence[NoiseConfig] = (),
    lists: Mapping[str, ListConfig] | None = None, mentions: MentionsConfig | None = None,
    settlements: Sequence[SettlementLike] = (), place_required: Collection[str] = (),
) -> dict[str, Any]:
    """Everything compile_rules reads, as JSON data for the digest."""
    return {
        "topics": [t.model_dump(mode="json") for t in topics],
        "rules": rules.model_dump(mode="json"),
        "noise": [n.model_dump(mode="json") for n in noise],
        "lists": {name: found.model_dump(mode="json") for name, found in (lists or {}).items()},
        "mentions": None if mentions is None else mentions.model_dump(mode="json"),
        "settlements": [[s.name, list(s.aliases), list(s.streets)] for s in settlements],
        "place_required": sorted(place_required),
    }


class _RulesUnpickler(pickle.Unpickler):
    """Builds only the classes of this package (a rule set's, a model's) and the few built-ins
    they are made of."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        if module.startswith(_OWN):
            found = super().find_class(module, name)
            # A class defined in this package, not one a module of it imports.
            if isinstance(found, type) and found.__module__ == module:
                return found
        msg = f"{module}.{name} is not part of a rule set"
        raise pickle.UnpicklingError(msg)


class _TomlUnpickler(pickle.Unpickler):
    """Builds only what a parsed TOML file holds."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _TOML_GLOBALS:
            return super().find_class(module, name)
        msg = f"{module}.{name} is not part of a parsed TOML file"
        raise pickle.UnpicklingError(msg)


class _Pickler(pickle.Pickler):
    """Stores a slotted dataclass as a call of its class with its field values: that loads
    sooner than the state dataclasses give it (a rule set holds thousands of terms)."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._fields: dict[type, tuple[str, ...]] = {}

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        names = self._fields.get(kind)
        if names is None:
            names = self._fields[kind] = _made_by_init(kind)
        return (kind, tuple(getattr(obj, name) for name in names)) if names else NotImplemented


def _made_by_init(kind: type) -> tuple[str, ...]:
    """The fields of a slotted dataclass whose generated __init__ takes exactly them and does
    nothing more (no __post_init__), in order; () for any other class."""
    params = getattr(kind, "__dataclass_params__", None)
    if params is None or not params.init or "__slots__" not in kind.__dict__ \
            or hasattr(kind, "__post_init__"):
        return ()
    names = tuple(f.name for f in dataclasses.fields(kind))
    return names if tuple(inspect.signature(kind).parameters) == names else ()


def load(path: Path) -> RuleSet | None:
    """The rule set stored at `path`, or None if there is none we can trust."""
    found = _read(path, _RulesUnpickler)
    return found if isinstance(found, RuleSet) else None


def store(path: Path, ruleset: RuleSet) -> None:
    """Write `ruleset` to `path` atomically, readable and writable by this user only."""
    _write(path, ruleset, _RULES)


def _read(path: Path, unpickler: type[pickle.Unpickler]) -> object:
    """What is stored at `path`, or None if there is nothing we can trust."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        with os.fdopen(descriptor, "rb") as handle:
            if not _trusted(os.fstat(handle.fileno())) or not _trusted(os.stat(path.parent)):
                return None
            data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            return None
        return unpickler(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 - any damage means: compile (parse) again
        return None


def _write(path: Path, value: object, kind: str) -> None:
    """Write `value` to `path` (a file of `kind`) atomically, readable and writable by this
    user only."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        buffer = io.BytesIO()
        _Pickler(buffer).dump(value)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{kind}")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(buffer.getbuffer())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _prune(path.parent, kind)
    except (OSError, pickle.PicklingError, RecursionError):
        return


def _prune(folder: Path, kind: str) -> None:
    """Keep the KEEP most recently written files of a kind: every edit of the rules makes one."""
    stored = sorted(folder.glob(f"{kind}*.pickle"), key=lambda p: p.stat().st_mtime,
                    reverse=True)
    for old in stored[KEEP:]:
        old.unlink(missing_ok=True)


def _trusted(status: os.stat_result) -> bool:
    """Whether a cache file or folder is this user's and nobody else may write it."""
    owner = getattr(os, "getuid", lambda: status.st_uid)()
    return status.st_uid == owner and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
