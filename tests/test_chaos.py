"""The short crash-safety run of `bench/chaos.py`: the real daemon process SIGKILLed 10 times
at random moments while content streams on every network; nothing lost or doubled."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT
from tests.logwatch import leaks_in


def chaos_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chaos_bench", ROOT / "bench" / "chaos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(300)  # ten daemon starts: about 30 s idle, a minute on a loaded machine
async def test_ten_kills_lose_nothing_and_double_nothing(tmp_path: Path) -> None:
    bench = chaos_bench()
    result = await bench.run(10, seed=5, workdir=tmp_path, up=(0.0, 0.8), settle=60)
    found = result.audit
    log = (tmp_path / "daemon.log").read_text(encoding="utf-8")
    assert result.kills == 10 and not result.failed_starts, log[-3000:]
    assert found.items_expected > 25 and not found.missing and not found.stored_twice, found
    assert found.complaints > 8 and not found.complaints_without_incident, found
    assert not found.complaints_with_several and not found.answered_not_marked, found
    assert result.due_unqueued == 0 and not found.outbox.get("pending"), result
    assert not found.outbox.get("failed"), result
    assert result.explained_duplicates == found.duplicate_alerts, "every duplicate has a kill"
    assert found.integrity == "ok"
    assert "Traceback" not in log, log[log.find("Traceback") - 500:][:3000]
    assert not leaks_in(log), "a token reached the daemon's log"
