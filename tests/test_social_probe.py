"""The social-media probe set (tests/data/social_probe.md) as a regression floor.

Not a quality claim: the probe was written blind, then used to find missing noise rules.
The floors sit a little under the figures measured when they were set, so a change to the
rubricator that loses a few rows is seen here before it is seen in the field.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from monitor.config import build_ruleset, load_config
from rules import RuleSet, classify

PROBE = Path(__file__).resolve().parent / "data" / "social_probe.csv"
ADVERSARIAL = PROBE.parent / "complaints_with_noise_words.csv"


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    path = tmp_path_factory.mktemp("probe") / "config.toml"
    path.write_text('[rules]\ninclude = ["builtin:rubricator"]\n', encoding="utf-8")
    return build_ruleset(load_config(path).config)


def test_the_probe_stays_above_its_floor(ruleset: RuleSet) -> None:
    with PROBE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 258
    verdicts = [(row, classify(row["text"], ruleset)) for row in rows]
    wanted = [(row, v) for row, v in verdicts if row["actionable"] == "true"]
    flagged = [(row, v) for row, v in verdicts if v.actionable]
    right = [row for row, v in flagged if row["actionable"] == "true"]
    precision, recall = len(right) / len(flagged), len(right) / len(wanted)
    groups = sum(v.group == row["group"] for row, v in wanted) / len(wanted)
    assert precision >= 0.9 and recall >= 0.95 and groups >= 0.78, (precision, recall, groups)


def test_noise_rules_leave_complaints_that_borrow_their_words(ruleset: RuleSet) -> None:
    """tests/data/complaints_with_noise_words.md: complaints written with each noise rule's
    words (a noise rule that swallows one is a missed incident) and noise posts written with
    complaint words: 269 complaints and 52 controls; rows 202-261 cover the seventh round's five
    noise rules, the last 60 rows the five after them (safety-leaflets, trade-adverts,
    witness-appeals, developer-promo, parents-talk). 10 complaints (6 older, 4 in the last block:
    three taken by ads, one by thanks with safety-leaflets) and 12 controls (7 older, 5 in the
    last block) were wrong when the floor was set."""
    with ADVERSARIAL.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 321
    wrong = [row for row in rows
             if classify(row["text"], ruleset).actionable != (row["actionable"] == "true")]
    missed = [row["text"] for row in wrong if row["actionable"] == "true"]
    alarms = [row["text"] for row in wrong if row["actionable"] == "false"]
    assert len(missed) <= 11 and len(alarms) <= 13, (missed, alarms)
