"""Measure classify() throughput on the St Petersburg appeals against bare tokenisation.

Usage: python bench/classify_throughput.py [--data appeals.csv] [--limit N] [--config FILE]
                                          [--dump verdicts.jsonl]
The config defaults to config.example.toml, which includes the shipped rubricator. --dump
writes every text's verdict (as_dict, `why` included) and measures nothing: run it before and
after a change to the classifier and compare the files; they must be identical.

Targets: warm, in-process ≥ 50,000 texts/s and ≥ 0.3 of bare tokenisation (lower-casing
plus the word regex) in the same run; with ten times the topics and words (new vocabulary,
not copies) ≥ 0.8 of the normal rate; start-up (config, rule files and morphology loaded,
ready to classify, compiled rules cached) < 0.5 s. As a user meets it: `monitor classify
--input FILE --format json` as a whole process ≥ 30,000 texts/s and ≥ 0.2 of a bare
tokenising process reading the same file (both best of 3, interleaved; the rule cache warm,
the first run with an empty cache quoted beside). The whole process runs with its default
worker processes (one per CPU); `--jobs 1` (one process) and both by CPU time are printed
beside it.

"10x": for every topic nine more, each with as many words and phrases, all distinct
dictionary lemmas (pymorphy3, common nouns, adjectives and verbs) that no rule uses.
"stress": the same from the corpus's own content words and word pairs: far more words of
each text then hit a rule, so it measures the cost per match, not per topic (no target).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from daybench import print_targets, shared_data  # noqa: E402

from monitor.cli.classify import available_cpus  # noqa: E402
from monitor.config import AppConfig, build_ruleset, load_config  # noqa: E402
from rules import RuleSet, TopicConfig, classify  # noqa: E402
from rules.cache import CACHE_ENV  # noqa: E402
from rules.morph import WORD_RE, analyzer, token_keys  # noqa: E402

DEFAULT_DATA = shared_data("nash_spb_2020_2021", "appeals.csv")
DEFAULT_CONFIG = REPO / "config.example.toml"
SCALE = 10
ROUNDS = 5
SEED = 20240601
CONTENT = {"NOUN", "ADJF", "VERB", "INFN", "ADVB", "PRTF"}
PROPER = {"Name", "Surn", "Patr", "Geox", "Orgn", "Trad", "Abbr", "Init"}
LETTERS = "абвгдеклмнопрстуфхч"
TARGETS = {"rate": 50_000, "of_floor": 0.3, "of_1x": 0.8, "startup": 0.5,
           "process_rate": 30_000, "process_of_floor": 0.2}
PROCESS_ROUNDS = 3

STARTUP = """
import sys, time
from pathlib import Path
started = time.perf_counter()
sys.path.insert(0, {repo!r})
from monitor.config import build_ruleset, load_config, with_rules_from
from rules import classify
config = load_config({config!r}, env={{}}).config
if {rules!r}:
    config = with_rules_from(config, Path({rules!r}))
classify("яма на дороге", build_ruleset(config))
print(time.perf_counter() - started, time.process_time())
"""


FLOOR = """
import csv, re
csv.field_size_limit(10_000_000)
words = re.compile({pattern!r})
count = 0
with open({data!r}, encoding="utf-8-sig", newline="") as handle:
    for row in csv.DictReader(handle):
        words.findall(row["text"].lower())
        count += 1
print(count)
"""
"""A bare tokenising process: reads the CSV as `monitor classify` does, lower-cases and splits."""

CLI = "import sys; from monitor.cli import main; sys.exit(main())"


def load_texts(path: Path, limit: int | None) -> list[str]:
    """The `text` column of the appeals CSV."""
    csv.field_size_limit(1 << 24)
    with path.open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    return texts[:limit] if limit else texts


def rates(texts: Sequence[str], works: dict[str, Callable[[str], object]]) -> dict[str, float]:
    """Best texts per second of each work over ROUNDS interleaved passes."""
    # Interleaving keeps the ratios honest on a shared machine: a burst of load elsewhere
    # slows one pass of every work rather than every pass of one work.
    best = dict.fromkeys(works, float("inf"))
    for _ in range(ROUNDS):
        for name, work in works.items():
            started = time.perf_counter()
            for text in texts:
                work(text)
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: len(texts) / seconds for name, seconds in best.items()}


def classifier(ruleset: RuleSet) -> Callable[[str], object]:
    """classify() over `ruleset`, as a one-argument work."""
    return lambda text: classify(text, ruleset)


def startup_seconds(
    config: Path, cache: Path, rules: Path | None = None
) -> tuple[float, float, float]:
    """(ready after, its CPU time, whole process) in a fresh interpreter: imports, config,
    rules, morphology, with the compiled rules cached in `cache` (a first call there compiles
    and stores them)."""
    code = STARTUP.format(repo=str(REPO), config=str(config), rules=str(rules or ""))
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=_env(cache))
    ready, cpu = out.stdout.split()
    return float(ready), float(cpu), time.perf_counter() - started


def _env(cache: Path) -> dict[str, str]:
    """This environment with the rule cache in `cache`, the repository importable."""
    return {**os.environ, CACHE_ENV: str(cache), "PYTHONPATH": str(REPO)}


@dataclass(frozen=True)
class Process:
    """Whole-process figures on one file, texts per second."""

    classify: float
    """With the default worker processes (one per CPU available)."""
    first: float
    floor: float
    single: float
    """With --jobs 1: everything in one process."""
    classify_cpu: float
    floor_cpu: float
    single_cpu: float
    """The same three by CPU time (user + system) of the process and its workers: steadier
    than the wall clock on a shared machine, where other work takes the cores in bursts."""
    cpus: int


def whole_process(data: Path, config: Path, texts: int, folder: Path) -> Process:
    """`monitor classify --input data --format json` against a bare tokenising process."""
    cache = folder / "cache"
    out = folder / "verdicts.jsonl"
    floor_code = FLOOR.format(pattern=WORD_RE.pattern, data=str(data))
    command = [sys.executable, "-c", CLI, "classify", "--config", str(config),
               "--input", str(data), "--format", "json"]

    def run(args: list[str], lines: int) -> tuple[float, float]:
        """Texts per second of one process by wall clock and by its CPU time, after checking
        it wrote `lines` lines."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        with out.open("w", encoding="utf-8") as handle:
            subprocess.run(args, stdout=handle, check=True, env=_env(cache), cwd=folder)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        with out.open(encoding="utf-8") as handle:
            written = sum(1 for _ in handle)
        if written != lines:
            msg = f"{written} lines out of {args[-1]!r} for {texts} texts"
            raise RuntimeError(msg)
        return texts / seconds, texts / cpu

    first, _ = run(command, texts)  # empty cache: compiles the rules and stores them
    best = dict.fromkeys(("classify", "floor", "single", "classify_cpu", "floor_cpu",
                          "single_cpu"), 0.0)
    for _ in range(PROCESS_ROUNDS):
        for name, args, lines in (("floor", [sys.executable, "-c", floor_code], 1),
                                  ("classify", command, texts),
                                  ("single", [*command, "--jobs", "1"], texts)):
            wall, cpu = run(args, lines)
            best[name] = max(best[name], wall)
            best[f"{name}_cpu"] = max(best[f"{name}_cpu"], cpu)
    return Process(best["classify"], first, best["floor"], best["single"],
                   best["classify_cpu"], best["floor_cpu"], best["single_cpu"],
                   available_cpus())


def limited_file(texts: Sequence[str], folder: Path) -> Path:
    """With --limit: a CSV of just the texts measured, for the whole-process runs."""
    path = folder / "texts.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([text] for text in texts)
    return path


def dictionary_vocabulary(ruleset: RuleSet, needed: int) -> list[str]:
    """Distinct dictionary lemmas no rule uses: nouns, adjectives, verbs from random prefixes."""
    used = set(ruleset.index.words) | set(ruleset.index.phrases)
    generator = random.Random(SEED)
    found: set[str] = set()
    while len(found) < needed:
        prefix = "".join(generator.choice(LETTERS) for _ in range(2))
        for parse in analyzer().iter_known_word_parses(prefix):
            lemma = parse.normal_form.replace("ё", "е")
            proper = not PROPER.isdisjoint(parse.tag.grammemes)
            if parse.tag.POS in CONTENT and len(lemma) >= 4 and not proper and lemma not in used:
                found.add(lemma)
    words = sorted(found)
    generator.shuffle(words)
    return words


def corpus_vocabulary(texts: Sequence[str], ruleset: RuleSet) -> tuple[list[str], list[str]]:
    """Corpus content words and adjacent pairs of them that no rule uses, shuffled."""
    used = set(ruleset.index.words) | set(ruleset.index.phrases)
    counts: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for text in texts:
        tokens = WORD_RE.findall(text.lower())
        counts.update(tokens)
        pairs.update(zip(tokens, tokens[1:], strict=False))
    fresh = {
        word for word, count in counts.items()
        if count >= 2 and word.isalpha() and len(word) >= 4 and not word.isascii()
        and used.isdisjoint(token_keys(word)) and analyzer().parse(word)[0].tag.POS in CONTENT
    }
    words = sorted(fresh)
    bigrams = sorted(" ".join(p) for p, n in pairs.items() if n >= 2 and set(p) <= fresh)
    generator = random.Random(SEED)
    generator.shuffle(words)
    generator.shuffle(bigrams)
    return words, bigrams


def generated_topics(
    topics: Sequence[TopicConfig], times: int, words: list[str], bigrams: list[str]
) -> list[TopicConfig]:
    """(times − 1) new topics per topic, as many words and phrases, all from new vocabulary.

    A vocabulary shorter than needed is used again from its start (only the corpus one can be).
    """
    made = []
    word_iter, phrase_iter = itertools.cycle(words), itertools.cycle(bigrams)
    for copy in range(1, times):
        for topic in topics:
            made.append(topic.model_copy(update={
                "id": f"{topic.id}-gen{copy}",
                "words": tuple(next(word_iter) for _ in topic.words),
                "phrases": tuple(next(phrase_iter) for _ in topic.phrases),
                "near": (), "require": (), "exclude": (), "regex": (),
            }))
    return made


def write_rules(path: Path, topics: Sequence[TopicConfig]) -> Path:
    """A rule file holding `topics` (their words, phrases and exclusions), for start-up."""
    lines = []
    for topic in topics:
        lines += ["[[topics]]", f"id = {json.dumps(topic.id, ensure_ascii=False)}",
                  f"group = {json.dumps(topic.group, ensure_ascii=False)}",
                  f"name = {json.dumps(topic.name, ensure_ascii=False)}",
                  f"organisation = {json.dumps(topic.organisation, ensure_ascii=False)}",
                  f"priority = {json.dumps(topic.priority)}"]
        for key in ("words", "phrases", "exclude"):
            terms = [t for t in getattr(topic, key) if isinstance(t, str)]
            lines.append(f"{key} = {json.dumps(terms, ensure_ascii=False)}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def scaled(config: AppConfig, extra: list[TopicConfig]) -> RuleSet:
    """The config's rules plus `extra` topics, compiled as the daemon would."""
    return build_ruleset(config.model_copy(update={"topics": (*config.topics, *extra)}))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="appeals.csv")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="monitor config")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N texts")
    parser.add_argument("--dump", type=Path, default=None, help="write verdicts, measure nothing")
    args = parser.parse_args(argv)
    if args.dump:
        return dump(args.dump, load_texts(args.data, args.limit), args.config)

    texts = load_texts(args.data, args.limit)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        first_ready, _, _ = startup_seconds(args.config, folder / "cache")
        ready, ready_cpu, process = min(startup_seconds(args.config, folder / "cache")
                                        for _ in range(PROCESS_ROUNDS))
        data = limited_file(texts, folder) if args.limit else args.data
        whole = whole_process(data, args.config, len(texts), folder)
    config = load_config(args.config, env={}).config
    started = time.perf_counter()
    ruleset = build_ruleset(config)
    compile_seconds = time.perf_counter() - started
    started = time.perf_counter()
    matched = sum(classify(text, ruleset).topic is not None for text in texts)
    cold = len(texts) / (time.perf_counter() - started)
    # The rule set against bare tokenisation first, before the big rule sets fill the caches.
    base = rates(texts, {"floor": lambda text: WORD_RE.findall(text.lower()),
                         "1x": classifier(ruleset)})

    need_words = (SCALE - 1) * sum(len(t.words) for t in config.topics)
    need_phrases = (SCALE - 1) * sum(len(t.phrases) for t in config.topics)
    lemmas = dictionary_vocabulary(ruleset, need_words + 2 * need_phrases)
    pairs = [f"{a} {b}" for a, b in zip(lemmas[need_words::2], lemmas[need_words + 1::2],
                                         strict=False)]
    generated = generated_topics(config.topics, SCALE, lemmas, pairs)
    started = time.perf_counter()
    big = scaled(config, generated)
    compile_big = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        rules = write_rules(Path(folder) / "big.toml", [*config.topics, *generated])
        ready_big, _, _ = startup_seconds(args.config, Path(folder) / "cache", rules)
    big_matched = sum(classify(text, big).topic is not None for text in texts)
    words, bigrams = corpus_vocabulary(texts, ruleset)
    stress = scaled(config, generated_topics(config.topics, SCALE, words, bigrams))
    for text in texts:
        classify(text, stress)
    scaled_rates = rates(texts, {"1x": classifier(ruleset), "10x": classifier(big),
                                 "stress": classifier(stress)})
    report(Figures(
        texts=len(texts), data=args.data.name, ruleset=ruleset, big=big, stress=stress,
        ready=ready, ready_cpu=ready_cpu, first_ready=first_ready, process=process, whole=whole,
        compile=compile_seconds, compile_big=compile_big,
        ready_big=ready_big,
        matched=matched / len(texts), big_matched=big_matched / len(texts), cold=cold,
        base=base, scaled=scaled_rates, hot=_hot(texts, ruleset), hot_stress=_hot(texts, stress),
        words=sum(len(WORD_RE.findall(t.lower())) for t in texts) / len(texts),
    ))
    return print_targets(targets(base, scaled_rates, ready, whole))


def targets(
    base: dict[str, float], scaled: dict[str, float], ready: float, whole: Process
) -> list[tuple[str, bool]]:
    """Each target with the figure measured for it, and whether it is met."""
    warm, of_floor, of_1x = base["1x"], base["1x"] / base["floor"], scaled["10x"] / scaled["1x"]
    process, process_of_floor = whole.classify, whole.classify / whole.floor
    return [
        (f"whole process ≥ {TARGETS['process_rate']:,} texts/s: {process:,.0f}",
         process >= TARGETS["process_rate"]),
        (f"whole process ≥ {TARGETS['process_of_floor']} × tokenising process:"
         f" {process_of_floor:.3f}", process_of_floor >= TARGETS["process_of_floor"]),
        (f"classify ≥ {TARGETS['rate']:,} texts/s: {warm:,.0f}", warm >= TARGETS["rate"]),
        (f"classify ≥ {TARGETS['of_floor']} × tokenise: {of_floor:.3f}",
         of_floor >= TARGETS["of_floor"]),
        (f"{SCALE}x topics and words ≥ {TARGETS['of_1x']} × 1x: {of_1x:.2f}",
         of_1x >= TARGETS["of_1x"]),
        (f"start-up < {TARGETS['startup']:g} s: {ready * 1000:,.0f} ms",
         ready < TARGETS["startup"]),
    ]


def dump(path: Path, texts: Sequence[str], config: Path) -> int:
    """Every text's verdict as a JSON line, for comparing two versions of the classifier."""
    ruleset = build_ruleset(load_config(config, env={}).config)
    with path.open("w", encoding="utf-8") as out:
        for text in texts:
            out.write(classify(text, ruleset).to_json() + "\n")
    print(f"{len(texts):,} verdicts written to {path}")
    return 0


def _hot(texts: Sequence[str], ruleset: RuleSet) -> float:
    """Words per text that can match some term of the rule set."""
    return sum(1 for t in texts for w in WORD_RE.findall(t.lower()) if ruleset.index.memo.get(w)) \
        / len(texts)


@dataclass(frozen=True)
class Figures:
    """Everything the bench measured."""

    texts: int
    data: str
    ruleset: RuleSet
    big: RuleSet
    stress: RuleSet
    ready: float
    ready_cpu: float
    first_ready: float
    process: float
    whole: Process
    compile: float
    compile_big: float
    ready_big: float
    matched: float
    big_matched: float
    cold: float
    base: dict[str, float]
    scaled: dict[str, float]
    hot: float
    hot_stress: float
    words: float


def report(f: Figures) -> None:
    """Print the figures, ratios and targets."""
    warm, floor = f.base["1x"], f.base["floor"]
    one, big, stress = f.scaled["1x"], f.scaled["10x"], f.scaled["stress"]
    print(f"texts:                         {f.texts:,} ({f.data}), {f.words:.1f} words each")
    print(f"topics / noise / terms:        {len(f.ruleset.topics)} / {len(f.ruleset.noise)}"
          f" / {len(f.ruleset.terms):,}")
    print(f"start-up, ready to classify:   {f.ready * 1000:,.0f} ms in-process"
          f" ({f.ready_cpu * 1000:,.0f} ms CPU, best of {PROCESS_ROUNDS}),"
          f" {f.process * 1000:,.0f} ms whole process (target < {TARGETS['startup']:g} s);"
          f" {f.first_ready * 1000:,.0f} ms with an empty rule cache")
    w = f.whole
    print(f"whole process, classify --input --format json: {w.classify:,.0f} texts/s with"
          f" {w.cpus} worker processes (the default: one per CPU; best of {PROCESS_ROUNDS};"
          f" {w.first:,.0f} with an empty rule cache; target ≥ {TARGETS['process_rate']:,})")
    print(f"   the same with --jobs 1:     {w.single:,.0f} texts/s")
    print(f"whole process, bare tokenising: {w.floor:,.0f} texts/s; classify / tokenise"
          f" {w.classify / w.floor:.3f} (target ≥ {TARGETS['process_of_floor']}),"
          f" --jobs 1 {w.single / w.floor:.3f}")
    print(f"the same by CPU time:          classify {w.classify_cpu:,.0f} texts per CPU-second"
          f" ({w.classify_cpu / w.floor_cpu:.3f} of tokenising), --jobs 1 {w.single_cpu:,.0f}"
          f" ({w.single_cpu / w.floor_cpu:.3f}), tokenising {w.floor_cpu:,.0f}")
    print(f"compile (incl. morphology):    {f.compile * 1000:,.0f} ms")
    print(f"texts with a topic:            {f.matched:.1%}")
    print(f"classify, first pass (cold):   {f.cold:,.0f} texts/s")
    print(f"classify, warm (best of {ROUNDS}):    {warm:,.0f} texts/s"
          f" (target ≥ {TARGETS['rate']:,})")
    print(f"tokenise only (floor):         {floor:,.0f} texts/s")
    print(f"classify / tokenise:           {warm / floor:.3f} (target ≥ {TARGETS['of_floor']})")
    print(f"{SCALE}x topics and words:         {len(f.big.topics)} topics, {len(f.big.terms):,}"
          f" terms of new dictionary words, compiled in {f.compile_big * 1000:,.0f} ms;"
          f" {f.big_matched:.1%} texts with a topic")
    print(f"start-up with {SCALE}x rules:       {f.ready_big * 1000:,.0f} ms in-process"
          " (information: the same rules from a rule file, through with_rules_from)")
    print(f"classify, 1x / {SCALE}x (best of {ROUNDS}): {one:,.0f} / {big:,.0f} texts/s,"
          f" side by side ({big / one:.2f} of 1x, target ≥ {TARGETS['of_1x']})")
    print(f"stress, {SCALE}x of corpus words:  {len(f.stress.terms):,} terms; words per text that"
          f" hit a rule {f.hot:.1f} → {f.hot_stress:.1f}")
    print(f"classify, stress (best of {ROUNDS}):  {stress:,.0f} texts/s ({stress / one:.2f} of"
          " 1x; no target: cost follows matches per text, not topic count)")


if __name__ == "__main__":
    raise SystemExit(main())
