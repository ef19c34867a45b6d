"""What the simulated-day benches of the connectors share: the outcome of a strategy, the
simulated call log, and how the command and the targets are printed."""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Outcome:
    """What one strategy did in the measured day."""

    name: str
    groups: list[int]
    calls: Counter[str] = field(default_factory=Counter)
    polls: int = 0
    failures: int = 0
    caught: dict[str, float] = field(default_factory=dict)
    """Comment external id → simulated time of the poll that first returned it."""
    expected: dict[str, tuple[int, int]] = field(default_factory=dict)
    source_calls: Counter[int] = field(default_factory=Counter)
    """Calls made by the polls of the measured day, by community or group."""
    max_per_second: int = 0
    """The most calls of the token reaching the fake inside any simulated second."""
    seconds: float = 0.0
    """Real time the simulation took."""

    def delays(self, groups: set[int] | None = None) -> list[float]:
        """Seconds from each caught comment of the day to the poll that caught it."""
        return [self.caught[x] - at for x, (at, g) in self.expected.items()
                if x in self.caught and (groups is None or g in groups)]

    def per_comment(self, groups: set[int] | None = None) -> float:
        """Calls of the day's polls per comment of the day that was stored."""
        calls = sum(n for g, n in self.source_calls.items() if groups is None or g in groups)
        return calls / max(len(self.delays(groups)), 1)


class SimulatedCalls(list[Any]):
    """A fake's call log, stamped with simulated seconds instead of time.monotonic()."""

    def __init__(self, seconds: Callable[[], float]) -> None:
        super().__init__()
        self.seconds = seconds

    def append(self, call: Any) -> None:
        super().append(call._replace(at=self.seconds()))


def print_command(argv: Sequence[str] | None) -> None:
    """The exact command line, so a figure can be measured again."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    print("command:                       " + shlex.join([sys.executable, sys.argv[0],
                                                          *arguments]))


def print_targets(results: Sequence[tuple[str, bool]]) -> int:
    """Each target met or missed; the exit code (1 when one is missed)."""
    for label, met in results:
        print(f"  {'met   ' if met else 'MISSED'} {label}")
    missed = sum(not met for _, met in results)
    summary = f"{missed} of {len(results)} MISSED" if missed else "all met"
    print(f"targets:                       {summary}")
    return 1 if missed else 0


def shared_data(*parts: str) -> Path:
    """A file of the shared data folder (../shared/data): beside the main checkout, or two
    levels up from a worktree; the first place when it is in neither."""
    repo = Path(__file__).resolve().parent.parent
    places = [folder / "shared" / "data" / Path(*parts) for folder in (repo.parent,
                                                                        repo.parent.parent)]
    return next((found for found in places if found.exists()), places[0])
