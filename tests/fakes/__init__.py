"""The fake servers live in the packaged `fakes` (the demo runs them too); `tests.fakes.X` is
the very same module as `fakes.X`, so tests keep importing them from here. What only tests
and benches use lives here for real: `world.py` (every fake at once with ground truth; it
reads the connectors' ids, so it is no part of the packaged fakes)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import fakes

for _info in pkgutil.iter_modules(fakes.__path__):
    sys.modules[f"{__name__}.{_info.name}"] = importlib.import_module(f"fakes.{_info.name}")
