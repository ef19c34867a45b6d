"""Study: may the second opinion withdraw a reaction the rules gave, where the model is very
sure the post is noise (p(шум) ≥ threshold)?

Usage: python bench/second_opinion_veto.py [--config FILE] [--kursk train_dataset_train.csv]
                                           [--spb appeals.csv]

Development data only: the five development probes (tests/data/social_probe.csv, _3, _5, _6,
_7). Leave one probe out: a model is trained by `monitor train` (the shipped model's command)
on the other four, and on the fifth the verdict of the rules plus the second opinion as it is
(ties, no group) is compared with the same verdict withdrawn where p(шум) ≥ threshold. Per
threshold: false alarms removed (noise posts the rules made incidents of) and complaints lost
(actionable posts the rules made incidents of), summed over the five folds.

The shipped rubricator was tuned on these very probes, so the rules make few false alarms on
them. "Blind rules" repeats the folds with the rules as they were before each probe came into
the repository (the whole tree of the parent of the commit that added the probe, `git archive`,
its config.example.toml, its rules alone): what the rules made of the probe when they met it
blind, as the held-out probes are met. Two sets of real appeals, every row a complaint, check
the other side: how many of them the rules make incidents of and a model trained on all five
probes (what `rules/second-opinion.json` is) would withdraw — the Kursk appeals (train part,
`Текст Сообщения`) and the St Petersburg portal appeals (`text`). The held-out probes (_2, _4,
_8, _9) are not read here.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from daybench import shared_data  # noqa: E402

from monitor.cli.labelled import html_to_text  # noqa: E402
from monitor.config import build_ruleset, load_config  # noqa: E402
from rules import RuleSet, classify  # noqa: E402
from rules.opinion import NOISE, Opinion, load_opinion  # noqa: E402

PROBES = ("social_probe.csv", "social_probe_3.csv", "social_probe_5.csv", "social_probe_6.csv",
          "social_probe_7.csv")
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.99)
KURSK = shared_data("kursk_appeals_2022", "train_dataset_train.csv")
SPB = shared_data("nash_spb_2020_2021", "appeals.csv")


@dataclass(frozen=True, slots=True)
class Post:
    """One held-out post: its label and what the rules (plus the second opinion) made of it."""

    actionable: bool
    incident: bool
    noise: float
    """The model's p(шум)."""


def train(probes: list[Path], out: Path) -> Opinion:
    """A model trained on `probes` exactly as `monitor train` trains the shipped one."""
    monitor = Path(sys.executable).parent / "monitor"
    command = [str(monitor), "train"]
    for probe in probes:
        command += ["--data", str(probe)]
    command += ["--text-column", "text", "--label-column", "group",
                "--actionable-column", "actionable", "--out", str(out)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return load_opinion(out)


def judge(text: str, actionable: bool, ruleset: RuleSet, opinion: Opinion) -> Post:
    """The verdict of the rules and the second opinion (without any veto) on one text, its
    HTML stripped as `monitor eval` strips it."""
    text = html_to_text(text)
    verdict = opinion.consult(text, classify(text, ruleset))
    return Post(actionable, verdict.actionable, opinion.probabilities(text)[NOISE])


BLIND = """
import json, sys
from monitor.config import build_ruleset, load_config
from rules import classify
ruleset = build_ruleset(load_config(sys.argv[1]).config)
print(json.dumps([classify(text, ruleset).actionable for text in json.load(sys.stdin)]))
"""


def blind_incidents(probe: str, texts: list[str], scratch: Path) -> tuple[str, list[bool]]:
    """The parent of the commit that added `probe`, and whether its rules (its own code and
    config.example.toml, nothing trained) make an incident of each text."""
    added = subprocess.run(["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%H",
                            "--", f"tests/data/{probe}"], check=True, capture_output=True,
                           text=True).stdout.split()[-1]
    parent = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", f"{added}^"],
                            check=True, capture_output=True, text=True).stdout.strip()
    tree = scratch / parent
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", parent], check=True,
                             capture_output=True).stdout
    tree.mkdir()
    (scratch / f"{parent}.tar").write_bytes(archive)
    with tarfile.open(scratch / f"{parent}.tar") as bundle:
        bundle.extractall(tree, filter="data")
    env = {**os.environ, "PYTHONPATH": str(tree),
           "MONITOR_CACHE_DIR": str(scratch / f"{parent}-cache")}
    found = subprocess.run([sys.executable, "-c", BLIND, str(tree / "config.example.toml")],
                           input=json.dumps([html_to_text(t) for t in texts]), check=True,
                           capture_output=True, text=True, env=env, cwd=tree).stdout
    return parent, json.loads(found)


def probe_rows(path: Path) -> list[tuple[str, bool]]:
    """(text, actionable) of a probe file."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["actionable"].strip().lower() == "true")
                for row in csv.DictReader(handle)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config.example.toml"))
    parser.add_argument("--kursk", default=str(KURSK), help="Kursk appeals ('' skips)")
    parser.add_argument("--spb", default=str(SPB), help="St Petersburg appeals ('' skips)")
    args = parser.parse_args()
    ruleset = build_ruleset(load_config(args.config).config)
    data = ROOT / "tests" / "data"
    folds: dict[str, list[Post]] = {}
    blind: dict[str, list[Post]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for held in PROBES:
            model = train([data / p for p in PROBES if p != held], Path(scratch) / "fold.json")
            rows = probe_rows(data / held)
            folds[held] = [judge(text, wanted, ruleset, model) for text, wanted in rows]
            parent, made = blind_incidents(held, [text for text, _ in rows], Path(scratch))
            blind[f"{held} @{parent}"] = [
                Post(wanted, incident, post.noise)
                for (_, wanted), incident, post in zip(rows, made, folds[held], strict=True)]
        everything = train([data / p for p in PROBES], Path(scratch) / "all.json")
    table("Leave one probe out: today's rules + second opinion on the held-out probe", folds)
    table("Blind rules: each probe's rules as they were before it was added (rules alone)",
          blind)
    for path, column in ((args.kursk, "Текст Сообщения"), (args.spb, "text")):
        if path:
            appeals(Path(path), column, ruleset, everything)
    return 0


def table(title: str, folds: dict[str, list[Post]]) -> None:
    """Per fold its figures, then per threshold the false alarms removed and complaints lost."""
    print(f"{title}\n{'probe':<30} {'rows':>5} {'noise':>6} {'false alarms':>13} {'missed':>7}"
          f" {'noise p≥0.9':>12}")
    for held, posts in [*folds.items(), ("all five", [p for f in folds.values() for p in f])]:
        noise = sum(not p.actionable for p in posts)
        alarms = sum(p.incident and not p.actionable for p in posts)
        missed = sum(p.actionable and not p.incident for p in posts)
        sure = sum(not p.actionable and p.noise >= 0.9 for p in posts)
        print(f"{held:<30} {len(posts):>5} {noise:>6} {alarms:>13} {missed:>7} {sure:>12}")
    alarms = sum(p.incident and not p.actionable for f in folds.values() for p in f)
    incidents = sum(p.incident and p.actionable for f in folds.values() for p in f)
    print(f"Veto where p(шум) ≥ threshold, summed over the folds (false alarms {alarms}, "
          f"complaints made incidents {incidents}):")
    print(f"{'threshold':>9} {'alarms removed':>15} {'complaints lost':>16} {'lost %':>7} "
          "per fold (removed/lost)")
    for threshold in THRESHOLDS:
        removed = lost = 0
        shares = []
        for held, fold in folds.items():
            r = sum(p.incident and not p.actionable and p.noise >= threshold for p in fold)
            lo = sum(p.incident and p.actionable and p.noise >= threshold for p in fold)
            removed, lost = removed + r, lost + lo
            shares.append(f"{held.split('.')[0].removeprefix('social_probe') or '_1'} {r}/{lo}")
        print(f"{threshold:>9.3f} {removed:>7} of {alarms:<5} {lost:>8} of {incidents:<5} "
              f"{100 * lost / max(incidents, 1):>6.2f} {', '.join(shares)}")
    print()


def appeals(path: Path, column: str, ruleset: RuleSet, opinion: Opinion) -> None:
    """How many real appeals the rules make incidents of and the veto would withdraw."""
    with path.open(encoding="utf-8", newline="") as handle:
        texts = [row[column] for row in csv.DictReader(handle)]
    posts = [judge(text, True, ruleset, opinion) for text in texts]
    incidents = [p for p in posts if p.incident]
    print(f"Appeals {path}: {len(posts)} rows, every one a real appeal; the rules + second "
          f"opinion make incidents of {len(incidents)} (model trained on all five probes)")
    print(f"{'threshold':>9} {'appeals lost':>13} {'lost %':>7}")
    for threshold in THRESHOLDS:
        lost = sum(p.noise >= threshold for p in incidents)
        print(f"{threshold:>9.3f} {lost:>13} {100 * lost / len(incidents):>7.2f}")
    print()


if __name__ == "__main__":
    sys.exit(main())
