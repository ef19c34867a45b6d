"""The second opinion: `monitor train`, the JSON model file (hostile and damaged files
refused), `monitor eval` with rules / model / both, and the intake consulting it only where the
rules find no group."""

from __future__ import annotations

import csv
import json
import logging
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import Item
from monitor.cli import main
from monitor.config import build_ruleset, load_config
from monitor.daemon.intake import Intake
from monitor.daemon.workcal import WorkingCalendar
from rules import classify
from rules import opinion as opinion_module
from rules.opinion import NOISE, OpinionError, load_opinion
from tests.conftest import PITS_TOPIC

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
RULES = PITS_TOPIC
ROWS = [
    *[(f"{w} на улице {n}, просим убрать", "Обращение с отходами", "true")
      for n in range(6) for w in ("мусор", "свалка")],
    *[(f"{w} в доме {n}, холодно", "ЖКХ", "true")
      for n in range(6) for w in ("батареи холодные", "нет отопления")],
    *[(f"{w} {n}, приходите все", "", "false")
      for n in range(6) for w in ("концерт в субботу", "праздник двора")],
]


def write_rows(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "group", "actionable"])
        writer.writerows(rows)
    return path


def train(tmp_path: Path, *extra: str) -> Path:
    data = write_rows(tmp_path / "labelled.csv", ROWS)
    out = tmp_path / "model.json"
    code = main(["train", "--data", str(data), "--text-column", "text", "--label-column",
                 "group", "--actionable-column", "actionable", "--out", str(out), *extra])
    assert code == 0
    return out


def test_train_writes_a_json_model_that_predicts_its_classes(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    model = load_opinion(train(tmp_path))
    out = capsys.readouterr().out
    assert "строк для обучения 36, не учтено 0" in out and "Модель записана" in out
    assert set(model.classes) == {"Обращение с отходами", "ЖКХ", NOISE}
    assert model.best("опять свалка за гаражами")[0] == "Обращение с отходами"
    assert model.best("батареи холодные вторую неделю")[0] == "ЖКХ"
    assert model.best("концерт во дворе в субботу")[0] == NOISE
    assert model.best("концерт во дворе", among=("ЖКХ", "Обращение с отходами"))[0] != NOISE
    assert abs(sum(model.probabilities("мусор").values()) - 1) < 1e-9


def test_consulted_only_where_the_rules_find_no_group(tmp_path: Path, write_config) -> None:  # type: ignore[no-untyped-def]
    model = load_opinion(train(tmp_path))
    ruleset = build_ruleset(load_config(write_config(RULES)).config)
    pit = classify("Яма на дороге, мусор рядом", ruleset)
    assert model.consult("Яма на дороге, мусор рядом", pit) is pit
    text = "Свалка у гаражей на улице 3"
    joined = model.consult(text, classify(text, ruleset))
    assert joined.group == "Обращение с отходами" and joined.actionable
    assert joined.topic is None and joined.why[-1].startswith("второе мнение: модель")
    party = "Праздник двора в субботу, приходите"
    assert model.consult(party, classify(party, ruleset)).group is None


def test_min_probability_keeps_an_unsure_model_quiet(tmp_path: Path, write_config) -> None:  # type: ignore[no-untyped-def]
    model = load_opinion(train(tmp_path, "--min-probability", "1"))
    ruleset = build_ruleset(load_config(write_config(RULES)).config)
    text = "Свалка у гаражей на улице 3"
    assert model.consult(text, classify(text, ruleset)).group is None


def test_train_refuses_too_little_and_mismatched_options(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    few = write_rows(tmp_path / "few.csv", ROWS[:3])
    out = tmp_path / "m.json"
    base = ["train", "--data", str(few), "--text-column", "text", "--label-column", "group",
            "--out", str(out)]
    assert main(base) == 2
    assert "нужно не меньше 10 строк" in capsys.readouterr().err and not out.exists()
    assert main([*base, "--data", str(few), "--text-column", "a", "--text-column", "b",
                 "--text-column", "c"]) == 2
    assert "--text-column: значений 4" in capsys.readouterr().err
    assert main([*base[:-4], "--label-column", "нет такой", "--out", str(out)]) == 2
    assert "нет колонки" in capsys.readouterr().err


def _damaged(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = json.loads(train(tmp_path).read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _first(data: dict) -> list:  # type: ignore[type-arg]
    return next(iter(data["vocabulary"].values()))  # type: ignore[no-any-return]


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(format="pickle"), "не файл модели"),
    (lambda d: d.update(version=99), "версия 99"),
    (lambda d: d.update(classes=["Дороги", "Марс", "шум"]), "не из групп ЦУР"),
    (lambda d: d.update(classes=["Дороги", "Дороги", "шум"]), "с повторами"),
    (lambda d: d.update(intercept=[0.0]), "intercept"),
    (lambda d: d.update(min_probability=2), "min_probability"),
    (lambda d: d.update(vocabulary=[]), "словарь"),
    (lambda d: _first(d).__setitem__(1, [1.0]), "веса признака"),
    (lambda d: _first(d).__setitem__(0, "1"), "idf признака"),
    (lambda d: _first(d).__setitem__(1, [1e300, 0.0, 0.0]), "веса признака"),
    (lambda d: d.pop("classes"), "classes"),
    (lambda d: d.update(trained_on=[1]), "trained_on"),
])
def test_damaged_models_are_refused_in_russian(tmp_path: Path, change, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OpinionError, match=message) as caught:
        load_opinion(_damaged(tmp_path, change))
    assert "повреждена" in str(caught.value)


def test_hostile_and_unreadable_files_are_refused(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps({"format": opinion_module.FORMAT}))
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00junk")
    nan = tmp_path / "nan.json"
    nan.write_text('{"format": "x", "v": NaN}', encoding="utf-8")
    for path, message in ((pickled, "не JSON"), (nested, "не JSON"), (binary, "не JSON"),
                          (nan, "не файл модели"), (tmp_path / "absent.json", "не прочитана")):
        with pytest.raises(OpinionError, match=message):
            load_opinion(path)
    big = train(tmp_path)
    monkeypatch.setattr(opinion_module, "MAX_BYTES", 1000)
    with pytest.raises(OpinionError, match="больше"):
        load_opinion(big)


def test_eval_prints_rules_model_and_both(tmp_path: Path, write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    model = train(tmp_path)
    data = write_rows(tmp_path / "probe.csv", [
        ("Яма на дороге у школы", "Дороги", "true"),
        ("Свалка за гаражами на улице 9", "Обращение с отходами", "true"),
        ("Праздник двора в субботу", "", "false"),
    ])
    config = write_config(RULES)
    capsys.readouterr()
    args = ["eval", "--config", str(config), "--data", str(data), "--text-column", "text",
            "--label-column", "group", "--actionable-column", "actionable"]
    assert main([*args, "--second-opinion", str(model)]) == 0
    out = capsys.readouterr().out
    assert "=== правила ===" in out and "=== модель ===" in out
    assert "правила                   0.500; 0.667" in out
    assert "правила + второе мнение   1.000; 1.000" in out
    assert main([*args, "--second-opinion", str(model), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown) == {"rules", "model", "both"} and shown["both"]["accuracy"] == 1.0
    assert main(args) == 0
    assert "=== " not in capsys.readouterr().out  # no model configured: the rules alone
    assert main([*args, "--second-opinion", str(data)]) == 2
    assert "повреждена" in capsys.readouterr().err


def test_intake_and_check_config_use_the_configured_model(  # type: ignore[no-untyped-def]
    tmp_path: Path, write_config, caplog, capsys
) -> None:
    train(tmp_path)
    config = load_config(write_config(f'[rules]\nsecond_opinion = "model.json"\n{RULES}')).config
    intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))
    item = Item("vk", "1", "https://vk.com/wall-1_1", "Свалка у гаражей на улице 3", NOW)
    entry = intake.classify(item, "vk", NOW)
    assert entry.group == "Обращение с отходами" and entry.actionable
    assert entry.incident is not None
    # `monitor classify` gives the daemon's verdict, the model included, in both formats.
    for fmt in ("json", "text"):
        assert main(["classify", "--config", str(config.path), "--format", fmt,
                     item.text]) == 0
        assert "Обращение с отходами" in capsys.readouterr().out
    assert main(["check-config", "--config", str(config.path)]) == 0
    assert "Второе мнение: " + str(tmp_path / "model.json") in capsys.readouterr().out
    (tmp_path / "model.json").write_text("{", encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))
    assert "второе мнение отключено, работают только правила" in caplog.text
    assert intake.classify(item, "vk", NOW).group is None
    assert main(["check-config", "--config", str(config.path)]) == 0
    assert "ВНИМАНИЕ" in capsys.readouterr().out


def test_a_tie_between_groups_is_broken_by_the_model(tmp_path: Path, write_config) -> None:  # type: ignore[no-untyped-def]
    model = load_opinion(train(tmp_path))
    heat = '\n[[topics]]\nid = "heat"\ngroup = "ЖКХ"\nname = "Отопление"\n' \
           'organisation = "УЖКХ"\nwords = ["батарея"]\n'
    ruleset = build_ruleset(load_config(write_config(RULES + heat)).config)
    text = "Яма у подъезда, батарея холодная"
    verdict = classify(text, ruleset)
    assert verdict.group == "Дороги" and [dict(c)["group"] for c in verdict.contenders] == [
        "ЖКХ"]
    assert "contenders" not in verdict.as_dict()
    chosen = model.consult(text, verdict)
    assert (chosen.group, chosen.topic, chosen.organisation) == ("ЖКХ", "heat", "УЖКХ")
    assert chosen.actionable and "при равном балле групп Дороги, ЖКХ" in chosen.why[-1]
    assert classify("Яма у подъезда", ruleset).contenders == ()


def test_the_shipped_model_is_what_the_documented_command_builds(tmp_path: Path) -> None:
    shipped = load_opinion(Path(opinion_module.__file__).parent / "second-opinion.json")
    out = tmp_path / "again.json"
    data = Path(__file__).parent / "data"
    sets = [argument for name in ("", "_3", "_5", "_6", "_7", "_8", "_9", "_10", "_11")
            for argument in ("--data", str(data / f"social_probe{name}.csv"))]
    assert main(["train", *sets, "--text-column", "text", "--label-column", "group",
                 "--actionable-column", "actionable", "--out", str(out)]) == 0
    again = load_opinion(out)
    assert again.classes == shipped.classes and again.vocabulary.keys() == shipped.vocabulary.keys()
    assert all(abs(a - b) < 1e-3 for f, (_, weights) in again.vocabulary.items()
               for a, b in zip(weights, shipped.vocabulary[f][1], strict=True))


def test_a_bad_builtin_model_name_is_a_config_error(write_config) -> None:  # type: ignore[no-untyped-def]
    from monitor.config.problems import ConfigError

    with pytest.raises(ConfigError, match="после builtin:"):
        load_config(write_config('[rules]\nsecond_opinion = "builtin:../x"\n' + RULES))
