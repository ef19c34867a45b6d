"""Layers point down: each package imports only the packages below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import storage

ROOT = Path(__file__).resolve().parent.parent

ALLOWED = {
    "common": set(),
    "rules": {"common"},
    "connectors": {"common"},
    "storage": {"common", "connectors"},
    "monitor.config": {"common", "rules", "connectors", "storage"},
    "monitor.daemon": {"common", "rules", "connectors", "storage", "monitor.config"},
    "monitor.cli": {"common", "rules", "connectors", "storage", "monitor.config",
                    "monitor.daemon", "fakes"},
    "fakes": set(),
}
"""Which of our layers each layer may import (besides itself)."""

OURS = ("common", "rules", "connectors", "storage", "monitor", "fakes")

STORAGE_PUBLIC = {"store", "types", "location", *storage.__all__}
"""What other layers may import from `storage`: the interface, its types, the openers, and
where a store lives (`storage.location`: no backend in it, light enough for a command that only
reads the config to import)."""


def _layer(module: str) -> str | None:
    """The layer a dotted module name belongs to (the longest listed prefix)."""
    for name in sorted(ALLOWED, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    top = module.split(".")[0]
    return top if top in OURS else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _modules() -> list[tuple[str, Path]]:
    modules = []
    for package in OURS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules.append((".".join(p for p in parts if p != "__init__"), path))
    return modules


def test_every_module_belongs_to_a_layer() -> None:
    """monitor/ holds only its three layers (and the entry points that start the CLI)."""
    stray = [name for name, _ in _modules()
             if _layer(name) == "monitor" and name not in ("monitor", "monitor.__main__")]
    assert stray == []


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: str(v))
def test_imports_point_down(module: str, path: Path) -> None:
    own = _layer(module)
    if own == "monitor":
        return  # the package root and `python -m monitor` may import the CLI
    assert own is not None
    wrong = []
    for line, imported in _imports(path):
        target = _layer(imported)
        if target is None or target == own:
            continue
        if target not in ALLOWED[own]:
            wrong.append(f"{path.relative_to(ROOT)}:{line} imports {imported} ({own} → {target})")
    assert wrong == []


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: str(v))
def test_only_storage_knows_its_backends(module: str, path: Path) -> None:
    """The daemon and the commands use `storage` (the Store interface), never a backend."""
    if _layer(module) == "storage":
        return
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {imported}"
             for line, imported in _imports(path)
             if imported.startswith("storage.") and imported.split(".")[1] not in STORAGE_PUBLIC]
    assert wrong == []
