"""`monitor rules list` and the `im_topic` of topics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load_config
from rules.model import im_topic_problem, im_topics

ROOT = Path(__file__).resolve().parents[1]

RULES = """
[[topics]]
id = "pits"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
im_topic = "Ямы во дворах"
words = ["яма"]

[[noise]]
id = "ads"
name = "Объявления"
words = ["=продам"]
"""

CONFIG = """
[rules]
include = ["more.toml"]

[[topics]]
id = "lights"
group = "Энергетика"
name = "Свет"
organisation = "Сети"
im_topic = "Отключение электричества, аварии на подстанциях, ЛЭП"
words = ["свет"]

[[overrides]]
id = "pits"
organisation = "МКУ УГХ"
"""


@pytest.fixture
def config(write_config) -> Path:  # type: ignore[no-untyped-def]
    write_config(RULES, "more.toml")
    return write_config(CONFIG)  # type: ignore[no-any-return]


def test_rules_list_as_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "list", "--config", str(config), "--format", "json"]) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"pits", "lights", "ads"}
    pits = rows["pits"]
    assert pits["group"] == "Дороги"
    assert pits["organisation"] == "МКУ УГХ"
    assert pits["im_topic"] == "Ямы во дворах"
    assert pits["defined"] == f"{config.parent / 'more.toml'}:2"
    assert pits["overridden"] == [f"{config}:13"]
    assert rows["lights"]["defined"] == f"{config}:5"
    assert rows["ads"]["kind"] == "шум"
    assert rows["ads"]["group"] is None


def test_rules_list_as_text(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "list", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Темы: 2, правила шума: 1\n")
    assert "pits  [Дороги] Ямы\n    ИМ: Ямы во дворах; МКУ УГХ;" in out
    assert "изменено:" in out
    assert "ads  [шум] Объявления\n" in out


def test_an_unknown_im_topic_is_a_warning(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(RULES.replace("Ямы во дворах", "Ямы на дорогах"))
    warnings = [str(w) for w in load_config(path, env={}).warnings]
    [found] = [w for w in warnings if "Ямы на дорогах" in w]
    assert "im_topic «Ямы на дорогах» нет среди тем «Инцидент Менеджмент»" in found
    assert f"{path}:7: topics[0].im_topic" in found


def test_the_theme_list_is_the_reference_one() -> None:
    assert len(im_topics()) == 347
    assert im_topic_problem("Ямы во дворах") is None
    assert "может быть, «Ямы во дворах»" in (im_topic_problem("Ямы в дворах") or "")



def test_every_shipped_topic_names_a_known_theme() -> None:
    config = load_config(ROOT / "config.example.toml", env={}).config
    missing = [t.id for t in config.topics if t.im_topic is None]
    wrong = [t.id for t in config.topics if t.im_topic and im_topic_problem(t.im_topic)]
    assert not missing
    assert not wrong
