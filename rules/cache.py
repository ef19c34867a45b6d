"""A compiled rule set kept on disk between runs, so a command starts without compiling.

The file is named by a digest of everything the rule set is made from (the rules as
validated, the gazetteer, the code of this package, the morphology dictionary, Python's
version): a change to any of them names another file. It lives in the user's cache folder
($MONITOR_CACHE_DIR, else $XDG_CACHE_HOME/mcu-monitor, else ~/.cache/mcu-monitor;
MONITOR_CACHE_DIR=off turns the cache off). A file that is not ours, can be written by
others, is too big, is damaged or names anything but the rule set's own classes is not
loaded: the rules are compiled again and the file replaced. Failing to write it only costs
the next start-up its speed. The KEEP most recent files are kept, older ones removed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from rules.compiler import compile_rules
from rules.engine import RuleSet
from rules.model import ListConfig, MentionsConfig, NoiseConfig, RulesConfig, TopicConfig
from rules.places import SettlementLike

CACHE_ENV = "MONITOR_CACHE_DIR"
OFF = "off"
MAX_BYTES = 256 << 20
KEEP = 8
_PACKAGE = Path(__file__).resolve().parent
_OWN = "rules."
_SAFE_GLOBALS = frozenset({("re", "_compile")})


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
    path = folder / f"rules-{digest(inputs)}.pickle"
    found = load(path)
    if found is not None:
        return found
    ruleset = build()
    store(path, ruleset)
    return ruleset


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
    """Builds only the rule set's own classes and the few built-ins they are made of."""

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


def load(path: Path) -> RuleSet | None:
    """The rule set stored at `path`, or None if there is none we can trust."""
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
        found = _RulesUnpickler(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 - any damage means: compile again
        return None
    return found if isinstance(found, RuleSet) else None


def store(path: Path, ruleset: RuleSet) -> None:
    """Write `ruleset` to `path` atomically, readable and writable by this user only."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = pickle.dumps(ruleset, protocol=pickle.HIGHEST_PROTOCOL)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".rules-")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _prune(path.parent)
    except (OSError, pickle.PicklingError, RecursionError):
        return


def _prune(folder: Path) -> None:
    """Keep the KEEP most recently written rule sets: every edit of the rules makes a file."""
    stored = sorted(folder.glob("rules-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in stored[KEEP:]:
        old.unlink(missing_ok=True)


def _trusted(status: os.stat_result) -> bool:
    """Whether a cache file or folder is this user's and nobody else may write it."""
    owner = getattr(os, "getuid", lambda: status.st_uid)()
    return status.st_uid == owner and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
