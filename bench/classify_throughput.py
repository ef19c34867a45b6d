"""Measure classify() throughput on the St Petersburg appeals against bare tokenisation.

Usage: python bench/classify_throughput.py [--data appeals.csv] [--limit N] [--config FILE]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from rules import RulesConfig, RuleSet, TopicConfig, classify, compile_rules  # noqa: E402
from rules.morph import WORD_RE  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "nash_spb_2020_2021" / "appeals.csv"
DEFAULT_CONFIG = REPO / "config.example.toml"
SCALE = 10


def load_rules(path: Path) -> tuple[list[TopicConfig], RulesConfig]:
    """Topics and the [rules] table of a monitor config file."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    topics = [TopicConfig(**table) for table in data.get("topics", [])]
    return topics, RulesConfig(**data.get("rules", {}))


def load_texts(path: Path, limit: int | None) -> list[str]:
    """The `text` column of the appeals CSV."""
    csv.field_size_limit(1 << 24)
    with path.open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    return texts[:limit] if limit else texts


def scaled(topics: Sequence[TopicConfig], times: int) -> list[TopicConfig]:
    """`times` copies of every topic under new ids: the same words now hit `times` topics."""
    return [
        topic.model_copy(update={"id": f"{topic.id}-{copy}"})
        for copy in range(times)
        for topic in topics
    ]


def rate(texts: Sequence[str], work: Callable[[str], object], repeats: int = 3) -> float:
    """Best texts per second over `repeats` passes."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for text in texts:
            work(text)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def classify_rate(texts: Sequence[str], ruleset: RuleSet) -> float:
    """Warm texts per second of classify (caches filled by a first pass)."""
    return rate(texts, lambda text: classify(text, ruleset))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="appeals.csv")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="TOML with topics")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N texts")
    args = parser.parse_args(argv)

    texts = load_texts(args.data, args.limit)
    topics, rules = load_rules(args.config)
    started = time.perf_counter()
    ruleset = compile_rules(topics, rules)
    compile_seconds = time.perf_counter() - started

    started = time.perf_counter()
    matched = sum(classify(text, ruleset).topic is not None for text in texts)
    cold = len(texts) / (time.perf_counter() - started)
    floor = rate(texts, lambda text: WORD_RE.findall(text.lower()))
    warm = classify_rate(texts, ruleset)
    big = compile_rules(scaled(topics, SCALE), rules)
    classify_rate(texts[:1000], big)
    warm_big = classify_rate(texts, big)

    print(f"texts:                         {len(texts):,} ({args.data.name})")
    print(f"topics / terms:                {len(topics)} / {len(ruleset.terms):,}")
    print(f"compile (incl. morphology):    {compile_seconds * 1000:,.0f} ms")
    print(f"texts with a topic:            {matched / len(texts):.1%}")
    print(f"classify, first pass (cold):   {cold:,.0f} texts/s")
    print(f"classify, warm (best of 3):    {warm:,.0f} texts/s")
    print(f"tokenise only (floor):         {floor:,.0f} texts/s")
    print(f"classify / tokenise:           {warm / floor:.2f}")
    print(
        f"classify, {SCALE}x topics ({len(big.topics)}):   {warm_big:,.0f} texts/s"
        f" ({warm_big / warm:.2f} of 1x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
