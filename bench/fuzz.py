"""Fuzz every parser of outside input with 10⁵ hypothesis cases each and print the counts.

    python bench/fuzz.py                    # 100000 cases per target
    python bench/fuzz.py --cases 2000 --only "VK JSON" "OK JSON"

The targets (tests/fuzzing.py) are the ones the test suite runs a few hundred cases of: the t.me
page parser, the VK, OK and Bot API JSON readers, the TOML config and rule-file loaders and the
callback data of staff buttons. A case is "accepted" (parsed), "rejected" (skipped with a notice
or refused with our own error: SourceError, ConfigError) or a bug (any other exception; the
first input of each kind is printed). Exit status 1 if any bug was found.

    python bench/fuzz.py --atheris --cases 100000   # the t.me page parser under libFuzzer

With --atheris (`pip install atheris`; wheels for CPython 3.11 on Linux) the t.me page parser
runs under coverage-guided libFuzzer instead: our parser and BeautifulSoup instrumented, a seed
corpus of pages rendered by the fake t.me, mutations kept when they reach new code. Markup is
the one input whose interesting shapes (nesting, half-open tags, attributes in odd places)
random generation rarely reaches and coverage finds; the JSON and TOML targets are small
schemas hypothesis already walks. libFuzzer prints its own progress (execs/s, cov, corpus);
the first uncaught exception stops the run with its traceback and the input saved beside the
corpus.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import hypothesis  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402


def run(target: Any, cases: int, seed: int) -> tuple[Counter[str], dict[str, Any], float]:
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


def seed_pages(folder: Path) -> None:
    """A libFuzzer corpus: pages of a channel the fake t.me renders (posts, an edited one, a
    service message, the older-page link), and the captured page of a missing channel."""
    from datetime import UTC, datetime, timedelta

    from fakes.tme import FakeChannel

    channel = FakeChannel("citynews", page_size=3)
    when = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    for n in range(1, 6):
        channel.add_post(n, when + timedelta(minutes=n), f"Яма у дома {n} <b>&amp;</b>",
                         author="Иван" if n % 2 else None)
    channel.edit_post(4, "Исправлено: яма")
    channel.add_service_message(6, when + timedelta(hours=1), "Channel photo updated")
    pages = [channel.render(), channel.render(before=4), channel.render(after=1),
             FakeChannel("empty").render()]
    pages += [path.read_text(encoding="utf-8")
              for path in (REPO / "fakes" / "captures").glob("t.me*.html")]
    for number, page in enumerate(pages):
        (folder / f"seed{number}").write_bytes(page.encode())


def run_atheris(cases: int, seed: int) -> int:
    """The t.me page parser under libFuzzer for `cases` runs; libFuzzer prints the figures
    (runs, exec/s, coverage, corpus) and exits the process itself."""
    import atheris

    with atheris.instrument_imports(include=["connectors.telegram_web", "bs4", "html",
                                             "soupsieve"]):
        from connectors.telegram_web import parse_page  # noqa: F401  (instrumented first)
    from tests.fuzzing import check_tme

    def one_input(data: bytes) -> None:
        check_tme(data.decode("utf-8", "replace"))  # an exception: libFuzzer's crash, saved

    corpus = Path(tempfile.mkdtemp(prefix="tme-corpus-"))
    seed_pages(corpus)
    print(f"atheris: t.me page parser, {cases} runs, seed corpus {corpus}", flush=True)
    atheris.Setup([sys.argv[0], f"-runs={cases}", f"-seed={seed}", "-max_len=8192",
                   f"-artifact_prefix={corpus}/", "-print_final_stats=1", str(corpus)],
                  one_input)
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--only", nargs="*", help="target names (default: all)")
    parser.add_argument("--atheris", action="store_true",
                        help="the t.me page parser under coverage-guided libFuzzer (atheris)")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)
    if args.atheris:
        print(f"command: python bench/fuzz.py --atheris --cases {args.cases} --seed {args.seed}")
        return run_atheris(args.cases, args.seed)
    print(f"command: python bench/fuzz.py --cases {args.cases} --seed {args.seed}"
          + (f" --only {' '.join(repr(n) for n in args.only)}" if args.only else ""))
    print(f"{'target':<22}{'cases':>9}{'accepted':>10}{'rejected':>10}{'bugs':>6}"
          f"{'seconds':>9}{'cases/s':>9}")
    found = 0
    from tests.fuzzing import TARGETS

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
