"""`--input`/`--data` tables as municipal staff have them: `;`-separated CSV (Russian Excel)
and `.xlsx` workbooks, for `classify` and `eval`; broken workbooks fail clearly."""

from __future__ import annotations

import json
from pathlib import Path

from openpyxl import Workbook

from monitor.cli import main
from tests.conftest import EXAMPLE_CONFIG
from tests.test_eval import RULES

CONFIG = ["--config", str(EXAMPLE_CONFIG)]
ROWS = [("id", "message"), (1, "Нет горячей воды, третий день"), (2, "Спасибо за праздник!"),
        (3, None)]


def workbook(path: Path, rows: list[tuple[object, ...]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def classify_json(data: Path, capsys) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    main(["classify", *CONFIG, "--format", "json", "--input", str(data),
          "--text-column", "message"])
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_classify_reads_semicolon_csv(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "excel.csv"
    data.write_text('id;message\r\n1;"Нет горячей воды, третий день"\r\n2;Спасибо за праздник!\r\n',
                    encoding="utf-8-sig")
    rows = classify_json(data, capsys)
    assert [r["group"] for r in rows][:1] == ["ЖКХ"] and len(rows) == 2
    assert rows[1]["actionable"] is False


def test_classify_reads_an_xlsx_workbook(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rows = classify_json(workbook(tmp_path / "in.xlsx", ROWS), capsys)
    assert [r["group"] for r in rows[:1]] == ["ЖКХ"]
    assert len(rows) == 3 and rows[2]["actionable"] is False  # an empty cell is an empty text


def test_a_broken_or_hostile_workbook_fails_clearly(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"id,message\n1,not a workbook\n")
    assert main(["classify", *CONFIG, "--input", str(fake), "--text-column", "message"]) == 2
    assert "не читается как книга Excel .xlsx" in capsys.readouterr().err
    truncated = tmp_path / "cut.xlsx"
    truncated.write_bytes(workbook(tmp_path / "whole.xlsx", ROWS).read_bytes()[:300])
    assert main(["classify", *CONFIG, "--input", str(truncated), "--text-column", "message"]) == 2
    assert "не читается как книга Excel" in capsys.readouterr().err
    no_column = workbook(tmp_path / "cols.xlsx", [("a", "b"), (1, 2)])
    assert main(["classify", *CONFIG, "--input", str(no_column), "--text-column", "message"]) == 2
    assert "нет колонки 'message'; есть: a, b" in capsys.readouterr().err
    assert main(["classify", *CONFIG, "--input", str(tmp_path / "none.xlsx")]) == 2
    assert "не открыт" in capsys.readouterr().err


def test_eval_reads_semicolon_csv_and_xlsx(write_config, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = write_config(RULES)
    table = [("text", "label"), ("Яма на дороге", "Дороги"), ("Нет воды в доме", "ЖКХ"),
             ("Свалка мусора у школы", "Обращение с отходами")]
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\n".join(";".join(row) for row in table) + "\n", encoding="utf-8")
    for data in (csv_path, workbook(tmp_path / "labels.xlsx", list(table))):
        assert main(["eval", "--config", str(config), "--data", str(data), "--text-column",
                     "text", "--label-column", "label", "--min-support", "1",
                     "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert sum(g["support"] for g in report["per_group"]) == 3, data
        assert report["accuracy"] == 1.0 and report["malformed_lines"] == [], data
