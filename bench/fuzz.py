"""Fuzz every parser of outside input with 10⁵ hypothesis cases each and print the counts.

    python bench/fuzz.py                    # 100000 cases per target
    python bench/fuzz.py --cases 2000 --only "VK JSON" "OK JSON"

The targets (tests/fuzzing.py) are the ones the test suite runs a few hundred cases of: the t.me
page parser, the VK, OK and Bot API JSON readers, the TOML config and rule-file loaders and the
callback data of staff buttons. A case is "accepted" (parsed), "rejected" (skipped with a notice
or refused with our own error: SourceError, ConfigError) or a bug (any other exception; the
first input of each kind is printed). Exit status 1 if any bug was found.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import hypothesis  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

from tests.fuzzing import TARGETS, Target  # noqa: E402


def run(target: Target, cases: int, seed: int) -> tuple[Counter[str], dict[str, Any], float]:
    """Feed `cases` generated inputs to one target; outcome counts, first input per bug kind."""
    counts: Counter[str] = Counter()
    bugs: dict[str, Any] = {}

    @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(target.strategy)
    def case(value: Any) -> None:
        try:
            counts[target.check(value)] += 1
        except Exception as exc:  # a bug: counted and shown, the run goes on
            kind = f"{type(exc).__name__}: {str(exc)[:80]}"
            counts["bug"] += 1
            bugs.setdefault(kind, value)

    started = time.perf_counter()
    hypothesis.seed(seed)(case)()
    return counts, bugs, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--only", nargs="*", help="target names (default: all)")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)
    print(f"command: python bench/fuzz.py --cases {args.cases} --seed {args.seed}"
          + (f" --only {' '.join(repr(n) for n in args.only)}" if args.only else ""))
    print(f"{'target':<22}{'cases':>9}{'accepted':>10}{'rejected':>10}{'bugs':>6}"
          f"{'seconds':>9}{'cases/s':>9}")
    found = 0
    for target in TARGETS:
        if args.only and target.name not in args.only:
            continue
        counts, bugs, seconds = run(target, args.cases, args.seed)
        total = sum(counts.values())
        print(f"{target.name:<22}{total:>9}{counts['accepted']:>10}{counts['rejected']:>10}"
              f"{counts['bug']:>6}{seconds:>9.1f}{total / max(seconds, 1e-9):>9.0f}", flush=True)
        for kind, value in bugs.items():
            print(f"    bug {kind}\n        first input: {value!r:.300}")
        found += len(bugs)
    print("no uncaught exception" if not found else f"{found} kind(s) of bug found")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
