"""`monitor eval`: per-group scores on a labelled CSV, label maps, HTML in exported texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.cli.labelled import html_to_text
from monitor.config import build_ruleset, load_config
from rules import classify

DATA = Path(__file__).parent / "data"
SMALL, SMALL_MAP = DATA / "eval_small.csv", DATA / "eval_small_map.csv"
RULES = """
[[topics]]
id = "roads"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["яма", "асфальт"]

[[topics]]
id = "water"
group = "ЖКХ"
name = "Вода и тепло"
organisation = "УЖКХ"
words = ["вода", "отопление"]

[[topics]]
id = "waste"
group = "Обращение с отходами"
name = "Мусор"
organisation = "УГХ"
words = ["мусор", "свалка"]
"""


@pytest.fixture
def config(write_config) -> Path:  # type: ignore[no-untyped-def]
    return write_config(RULES)  # type: ignore[no-any-return]


def run_eval(config: Path, *extra: str, data: Path = SMALL) -> int:
    return main(["eval", "--config", str(config), "--data", str(data), "--text-column", "text",
                 "--label-column", "label", *extra])


def test_scores_a_known_confusion_exactly(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # Roads: 4 rows → roads, roads, ЖКХ, nothing; ЖКХ: 3 → ЖКХ, ЖКХ, roads; waste: 2 → waste,
    # nothing. One row's label maps to no group, one row has an extra column.
    assert run_eval(config, "--label-map", str(SMALL_MAP), "--min-support", "3",
                    "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    by_group = {g["group"]: g for g in report["per_group"]}
    assert [g["group"] for g in report["per_group"]] == ["Дороги", "ЖКХ", "Обращение с отходами"]
    expected = {"Дороги": (2 / 3, 1 / 2, 4 / 7, 4, 3), "ЖКХ": (2 / 3, 2 / 3, 2 / 3, 3, 3),
                "Обращение с отходами": (1.0, 1 / 2, 2 / 3, 2, 1)}
    for group, (precision, recall, f1, support, predicted) in expected.items():
        row = by_group[group]
        assert row["precision"] == pytest.approx(precision)
        assert row["recall"] == pytest.approx(recall)
        assert row["f1"] == pytest.approx(f1)
        assert (row["support"], row["predicted"]) == (support, predicted)
    assert report["accuracy"] == pytest.approx(5 / 9)
    assert report["macro_f1"] == pytest.approx((4 / 7 + 2 / 3) / 2)
    assert report["macro_f1_all"] == pytest.approx((4 / 7 + 2 / 3 + 2 / 3) / 3)
    assert report["min_support"] == 3
    assert report["confusions"] == [
        {"true": "Дороги", "predicted": "(нет группы)", "count": 1},
        {"true": "Дороги", "predicted": "ЖКХ", "count": 1},
        {"true": "ЖКХ", "predicted": "Дороги", "count": 1},
        {"true": "Обращение с отходами", "predicted": "(нет группы)", "count": 1},
    ]
    assert report["counts"] == {"rows": 11, "evaluated": 9, "correct": 5, "no_group": 2,
                                "left_out": 1, "malformed": 1, "groups_over_min_support": 2,
                                "unreadable_flags": 0}
    assert report["left_out"] == [
        {"reason": "в карте без группы", "label": "Тестовая категория", "rows": 1}]
    assert report["malformed_lines"] == [12]


def test_text_report_is_a_russian_table(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run_eval(config, "--label-map", str(SMALL_MAP), "--min-support", "3") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("группа"))
    assert header.split() == ["группа", "точность", "полнота", "F1", "строк"]
    assert any(line.split() == ["Дороги", "0.667", "0.500", "0.571", "4"] for line in lines)
    assert "Доля верных групп (accuracy): 0.556 (5 из 9)" in out
    assert "Macro-F1 (группы с ≥3 строк): 0.619" in out
    assert "Macro-F1 (все группы): 0.635" in out
    assert "в карте без группы 'Тестовая категория': 1" in out
    assert "повреждённые строки CSV: 1 (строки 12)" in out
    assert "  Дороги → (нет группы): 1" in out


def test_default_min_support_is_20(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run_eval(config, "--label-map", str(SMALL_MAP), "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["min_support"] == 20 and report["macro_f1"] is None
    assert report["macro_f1_all"] == pytest.approx((4 / 7 + 2 / 3 + 2 / 3) / 3)
    assert run_eval(config, "--label-map", str(SMALL_MAP)) == 0
    assert "Macro-F1 (группы с ≥20 строк): — (нет таких групп)" in capsys.readouterr().out


def test_html_is_stripped_before_classifying(config: Path) -> None:
    raw = "<p>Во дворе&nbsp;<strong>&#1103;ма</strong>, не проехать</p>"
    assert html_to_text(raw) == " Во дворе  яма , не проехать "
    assert html_to_text("t < 5 & x > 3 &laquo;ok&raquo;<br/>") == "t < 5 & x > 3 «ok» "
    ruleset = build_ruleset(load_config(config).config)
    # The fixture's HTML row only counts as a hit because of the stripping.
    assert classify(raw, ruleset).group is None
    assert classify(html_to_text(raw), ruleset).group == "Дороги"


def test_labels_missing_from_the_map_are_listed(config: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    partial = tmp_path / "map.csv"
    partial.write_text("label,group\nЯмы на дорогах,Дороги\nВодоснабжение,ЖКХ\n",
                       encoding="utf-8")
    assert run_eval(config, "--label-map", str(partial)) == 2
    err = capsys.readouterr().err
    assert "меток нет в карте" in err and "--skip-unmapped" in err
    for label in ("Ремонт дорог", "Отопление", "Свалки", "Тестовая категория"):
        assert repr(label) in err
    assert run_eval(config, "--label-map", str(partial), "--skip-unmapped",
                    "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["evaluated"] == 4
    assert {"reason": "нет в карте", "label": "Ремонт дорог", "rows": 2} in report["left_out"]


def test_without_a_map_labels_must_be_groups(config: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "d.csv"
    data.write_text("text,label\nяма во дворе,Дороги\nнет воды,ЖКХ\nчто-то,Прочее\n",
                    encoding="utf-8")
    assert run_eval(config, data=data) == 2
    assert "не являются группами ЦУР" in capsys.readouterr().err
    assert run_eval(config, "--skip-unmapped", "--format", "json", data=data) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == 1.0 and report["counts"]["left_out"] == 1


@pytest.mark.parametrize(("map_text", "expected"), [
    ("label,group\nЯмы на дорогах,Дороги\nСвалки,Мусор\n", "map.csv:3: group: группа 'Мусор'"),
    ("label,group\nЯмы на дорогах,Дорога\n", "может быть, 'Дороги'?"),
    ("label,group\nСвалки,ЖКХ\nСвалки,Дороги\n", "map.csv:3: label: метка 'Свалки' уже отнесена"),
    ("label,group\n,Дороги\n", "map.csv:2: label: пустая метка"),
    ("label,group\nЯмы на дорогах,Дороги|Мусор\n", "map.csv:2: group: группа 'Мусор'"),
    ("", "нужны колонки label и group; есть: ничего"),
    ("label,group\n", "карта меток пуста"),
    ("метка,группа\nСвалки,ЖКХ\n", "map.csv:1: нужны колонки label и group"),
])
def test_bad_label_maps_are_rejected(  # type: ignore[no-untyped-def]
    config: Path, tmp_path: Path, capsys, map_text: str, expected: str
) -> None:
    bad = tmp_path / "map.csv"
    bad.write_text(map_text, encoding="utf-8")
    assert run_eval(config, "--label-map", str(bad)) == 2
    err = capsys.readouterr().err
    assert "Карта меток" in err and expected in err


def test_a_second_group_counts_as_right(config: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # «Ремонт дорог» row 3 («…нет воды») lands in ЖКХ: right when the map allows ЖКХ too;
    # the row still counts under its main group.
    either = tmp_path / "map.csv"
    either.write_text(SMALL_MAP.read_text(encoding="utf-8-sig").replace(
        "Ремонт дорог,Дороги", "Ремонт дорог,Дороги|ЖКХ"), encoding="utf-8")
    assert run_eval(config, "--label-map", str(either), "--min-support", "3",
                    "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == pytest.approx(6 / 9)
    assert {"true": "Дороги", "predicted": "ЖКХ", "count": 1} not in report["confusions"]
    assert {g["group"]: g["support"] for g in report["per_group"]}["Дороги"] == 4


def test_unusable_data_fails_clearly(config: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    no_label = tmp_path / "a.csv"
    no_label.write_text("text,topic\nяма,Дороги\n", encoding="utf-8")
    assert run_eval(config, data=no_label) == 2
    assert "нет колонки 'label'" in capsys.readouterr().err
    header_only = tmp_path / "b.csv"
    header_only.write_text("text,label\n", encoding="utf-8")
    assert run_eval(config, data=header_only) == 2
    assert "нет строк для оценки" in capsys.readouterr().err
    empty = tmp_path / "c.csv"
    empty.write_bytes(b"")
    assert run_eval(config, data=empty) == 2
    assert "пуст" in capsys.readouterr().err
    latin = tmp_path / "d.csv"
    latin.write_bytes("text,label\nяма,Дороги\n".encode("cp1251"))
    assert run_eval(config, data=latin) == 2
    assert "не в кодировке UTF-8" in capsys.readouterr().err
    assert run_eval(config, data=tmp_path / "none.csv") == 2
    assert "не открыт" in capsys.readouterr().err


def test_malformed_records_are_counted_not_fatal(config: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "d.csv"
    huge = "я" * 10_000_001
    data.write_text(f'text,label\nяма,Дороги\nкороткая\n"{huge}",Дороги\nнет воды,ЖКХ\n',
                    encoding="utf-8")
    assert run_eval(config, "--format", "json", data=data) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["evaluated"] == 2 and report["accuracy"] == 1.0
    assert report["counts"]["malformed"] == 2 and report["malformed_lines"][0] == 3


def test_scores_telling_complaints_from_noise(config: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "flags.csv"
    data.write_text(
        "text,label,reaction\n"
        "Яма на Ленина,Дороги,да\n"            # complaint found
        "Продам асфальт недорого,,нет\n"        # noise, but the rules react: a false alarm
        "Вода ржавая,ЖКХ,1\n"                   # complaint found
        "Красивый закат,,false\n"               # noise left alone
        "Жалоба без слов правил,,true\n"        # complaint missed
        "Мусор у дома,Обращение с отходами,может быть\n",  # unreadable flag: groups only
        encoding="utf-8")
    assert run_eval(config, "--actionable-column", "reaction", "--format", "json",
                    data=data) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["reaction"] == {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3,
                                  "accuracy": 3 / 5, "false_alarms": 1, "missed": 1, "rows": 5,
                                  "noise_precision": 1 / 2, "noise_recall": 1 / 2,
                                  "noise_f1": 1 / 2}
    assert report["unreadable_reaction_lines"] == [7]
    assert report["counts"]["evaluated"] == 3 and report["accuracy"] == 1.0
    assert run_eval(config, "--actionable-column", "reaction", data=data) == 0
    out = capsys.readouterr().out
    assert "Нужна ли реакция (5 стр.): точность 0.667, полнота 0.667" in out
    assert "шум (не нужна реакция): точность 0.500, полнота 0.500, F1 0.500" in out
    assert "непонятная отметка реакции (нужно true/false, да/нет, 1/0): 1 стр. (строки 7)" in out
    assert run_eval(config, "--actionable-column", "needs", data=data) == 2
    assert "нет колонки 'needs'" in capsys.readouterr().err


def test_only_flags_and_no_groups_still_score(config: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "flags.csv"
    data.write_text("text,label,reaction\nЯма,,да\nПривет,,нет\n", encoding="utf-8")
    assert run_eval(config, "--actionable-column", "reaction", data=data) == 0
    out = capsys.readouterr().out
    assert "Доля верных групп (accuracy): — (нет таких групп) (0 из 0)" in out
    assert "Нужна ли реакция (2 стр.): точность 1.000, полнота 1.000" in out
