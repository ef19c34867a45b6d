"""The classify and incidents commands, including malformed and hostile input files."""

from __future__ import annotations

import asyncio
import csv
import gc
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.base import Item
from monitor.cli import main
from monitor.cli.classify import _renderer
from monitor.config import load_config
from storage import ClassifiedItem, NewIncident, open_store
from tests.conftest import EXAMPLE_CONFIG

CONFIG = ["--config", str(EXAMPLE_CONFIG)]


def json_lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_classify_texts_as_json_in_input_order(capsys) -> None:  # type: ignore[no-untyped-def]
    texts = ["На дороге по Ленина огромные ямы", "Продам гараж, недорого", "😀😀😀", ""]
    assert main(["classify", *CONFIG, "--format", "json", *texts]) == 0
    rows = json_lines(capsys.readouterr().out)
    assert len(rows) == 4
    assert rows[0]["group"] == "Дороги" and rows[0]["actionable"] is True
    assert rows[1]["actionable"] is False
    assert rows[2]["group"] is None and rows[3]["group"] is None
    for row in rows:
        assert {"group", "topic", "actionable", "score", "why"} <= set(row)


def test_classify_text_output_explains_the_match(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["classify", *CONFIG, "Во дворе огромная яма"]) == 0
    out = capsys.readouterr().out
    assert "нужна реакция" in out and "ям" in out


def test_classify_answers_repeated_texts_alike(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("monitor.cli.classify.MAX_REMEMBERED", 2)
    texts = ["Нет горячей воды", "яма на дороге", "Нет горячей воды", "Продам гараж",
             "Нет горячей воды", "яма на дороге"]
    data = tmp_path / "in.txt"
    data.write_text("\n".join(texts) + "\n", encoding="utf-8")
    assert main(["classify", *CONFIG, "--format", "json", "--input", str(data)]) == 0
    rows = json_lines(capsys.readouterr().out)
    assert main(["classify", *CONFIG, "--format", "json", *texts]) == 0
    assert rows == json_lines(capsys.readouterr().out)
    assert [r["actionable"] for r in rows] == [True, True, True, False, True, True]
    assert rows[0] == rows[2] == rows[4] and rows[1] == rows[5]


def test_classify_csv_with_a_text_column(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "in.csv"
    data.write_text('id,message\n1,"Нет горячей воды, третий день"\n2,Спасибо за праздник!\n',
                    encoding="utf-8-sig")
    assert main(["classify", *CONFIG, "--format", "json", "--input", str(data),
                 "--text-column", "message"]) == 0
    rows = json_lines(capsys.readouterr().out)
    assert [r["group"] for r in rows] == ["ЖКХ", rows[1]["group"]]
    assert rows[1]["actionable"] is False


def test_classify_jsonl_reports_bad_lines_in_place(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "Яма на дороге"}\n{broken\n[1, 2]\n{"text": 5}\n\n'
                    '{"text": "<script>alert(1)</script> \\u0000 яма"}\n', encoding="utf-8")
    assert main(["classify", *CONFIG, "--format", "json", "--input", str(data)]) == 1
    captured = capsys.readouterr()
    rows = json_lines(captured.out)
    assert len(rows) == 5
    assert rows[0]["group"] == "Дороги" and rows[4]["group"] == "Дороги"
    assert [r.get("line") for r in rows[1:4]] == [2, 3, 4]
    assert "строка 2: не JSON" in captured.err


def test_classify_plain_text_one_per_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "in.txt"
    data.write_text("Яма на дороге\r\n\n" + "я" * 10_000_001 + "\nНет горячей воды\n",
                    encoding="utf-8")
    assert main(["classify", *CONFIG, "--format", "json", "--input", str(data)]) == 1
    captured = capsys.readouterr()
    rows = json_lines(captured.out)
    assert [r.get("group") for r in rows] == ["Дороги", None, "ЖКХ"]
    assert rows[1]["line"] == 3 and "строка 3: длиннее 10 000 000 символов" in captured.err
    data.write_text("Яма на дороге\r" + "я" * 10_000_001 + "\rНет горячей воды\r",
                    encoding="utf-8")  # old Mac line ends: nothing after the long line is lost
    assert main(["classify", *CONFIG, "--format", "json", "--input", str(data)]) == 1
    rows = json_lines(capsys.readouterr().out)
    assert [r.get("group") for r in rows] == ["Дороги", None, "ЖКХ"]


def test_classify_unreadable_inputs_fail_clearly(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    missing_column = tmp_path / "a.csv"
    missing_column.write_text("id,body\n1,яма\n", encoding="utf-8")
    assert main(["classify", *CONFIG, "--input", str(missing_column)]) == 2
    assert "нет колонки 'text'" in capsys.readouterr().err
    latin = tmp_path / "b.csv"
    latin.write_bytes("text\nяма\n".encode("cp1251"))
    assert main(["classify", *CONFIG, "--input", str(latin)]) == 2
    assert "не в кодировке UTF-8" in capsys.readouterr().err
    huge = tmp_path / "c.csv"
    huge.write_text('text\n"' + "я" * 11_000_000 + '"\n', encoding="utf-8")
    assert main(["classify", *CONFIG, "--input", str(huge)]) == 2
    assert "CSV повреждён" in capsys.readouterr().err
    assert main(["classify", *CONFIG, "--input", str(tmp_path / "none.csv")]) == 2
    assert main(["classify", *CONFIG]) == 2


def test_incidents_json_and_overdue_filter(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text('[storage]\npath = "m.db"\n', encoding="utf-8")
    now = datetime.now(UTC)

    async def seed() -> None:
        db = await open_store(tmp_path / "m.db")
        entries = []
        for number, due in (("1", now - timedelta(hours=1)), ("2", now + timedelta(days=1))):
            item = Item("news", number, f"https://t.me/news/{number}", f"яма {number}", now)
            incident = NewIncident("Ямы", "УГХ", "normal", due - timedelta(hours=1), due)
            entries.append(ClassifiedItem(item, "telegram_web", number, "Дороги", "pits", True,
                                          1.0, (), incident))
        await db.save_items_and_cursor("news", entries, {}, now - timedelta(hours=9))
        await db.close()

    asyncio.run(seed())
    assert main(["incidents", "--config", str(config), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["url"] for r in rows] == ["https://t.me/news/1", "https://t.me/news/2"]
    for row in rows:
        assert {"id", "topic", "status", "opened_at", "due_at", "url", "text"} <= set(row)
        assert datetime.fromisoformat(row["due_at"]).tzinfo is not None
    assert main(["incidents", "--config", str(config), "--overdue", "--format", "json"]) == 0
    assert [r["url"] for r in json.loads(capsys.readouterr().out)] == ["https://t.me/news/1"]
    assert main(["incidents", "--config", str(config), "--overdue"]) == 0
    assert "ПРОСРОЧЕН" in capsys.readouterr().out


def test_classify_as_a_given_source_applies_scopes(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text(
        '[[sources]]\nid = "news"\nnetwork = "telegram_web"\nchannel = "kamensk_news"\n'
        '[[topics]]\nid = "ferry"\ngroup = "Общественный транспорт"\nname = "Переправа"\n'
        'organisation = "Отдел транспорта"\nwords = ["паром"]\nsources = ["news"]\n',
        encoding="utf-8")
    args = ["classify", "--config", str(config), "--format", "json", "Паром опять не ходит"]
    assert main(args) == 0
    assert json_lines(capsys.readouterr().out)[0]["topic"] is None
    assert main([*args, "--source", "news"]) == 0
    assert json_lines(capsys.readouterr().out)[0]["topic"] == "ferry"
    assert main([*args, "--source", "nope"]) == 2
    assert "Источник 'nope' не описан" in capsys.readouterr().err


def test_classify_a_big_file_in_worker_processes_as_one_process_would(
    tmp_path: Path, capsys, monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """A file of more than one chunk goes to worker processes: the same lines in the same
    order, errors in their place and repeats answered alike, whatever the number of jobs."""
    monkeypatch.setattr("monitor.cli.classify.CHUNK", 3)
    monkeypatch.setattr("monitor.cli.classify.MAX_REMEMBERED", 4)
    texts = ["Яма на дороге по Ленина", "Нет горячей воды третий день", "Продам гараж",
             "Спасибо за праздник!", "Мусор не вывозят неделю", "😀", "Яма на дороге по Ленина",
             "Во дворе не горят фонари", "Нет горячей воды третий день", "Автобус 5 не пришёл"]
    lines = [json.dumps({"text": text}, ensure_ascii=False) for text in texts * 3]
    lines[4] = "{broken"
    lines[13] = '{"text": 5}'
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outputs = []
    for jobs in ("1", "2", "3"):
        assert main(["classify", *CONFIG, "--format", "json", "--input", str(data),
                     "--jobs", jobs]) == 1
        captured = capsys.readouterr()
        outputs.append(captured.out)
        assert captured.err.count("Ошибка:") == 2
    assert outputs[0] == outputs[1] == outputs[2]
    rows = json_lines(outputs[0])
    assert len(rows) == 30 and [n for n, r in enumerate(rows) if "line" in r] == [4, 13]
    assert rows[0] == rows[6] == rows[10] and rows[0]["group"] == "Дороги"
    for fmt in ("text", "json"):
        single = main(["classify", *CONFIG, "--format", fmt, "--input", str(data), "--jobs", "1"])
        alone = capsys.readouterr().out
        assert main(["classify", *CONFIG, "--format", fmt, "--input", str(data)]) == single
        assert capsys.readouterr().out == alone


def test_classify_in_workers_keeps_what_came_before_a_damaged_part(
    tmp_path: Path, capsys, monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr("monitor.cli.classify.CHUNK", 2)
    data = tmp_path / "in.csv"
    rows = [f'{n},"Яма на дороге, дом {n}"' for n in range(1, 8)]
    data.write_text("id,text\n" + "\n".join(rows) + '\n8,"' + "я" * 10_000_001 + '"\n9,яма\n',
                    encoding="utf-8")
    assert main(["classify", *CONFIG, "--format", "json", "--input", str(data),
                 "--jobs", "2"]) == 2
    captured = capsys.readouterr()
    assert len(json_lines(captured.out)) == 7 and "CSV повреждён" in captured.err


def test_classify_jobs_must_be_a_small_whole_number(capsys) -> None:  # type: ignore[no-untyped-def]
    for bad in ("0", "-1", "1.5", "два", "65"):
        try:
            main(["classify", *CONFIG, "--jobs", bad, "яма"])
        except SystemExit as exc:
            assert exc.code == 2
        assert "ожидалось целое число от 1 до 64" in capsys.readouterr().err


def test_classify_long_repeated_texts_are_classified_again_not_remembered(
    tmp_path: Path, capsys, monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr("monitor.cli.classify.REMEMBERED_CHARS", 10)
    texts = ["Нет горячей воды третий день", "яма", "Нет горячей воды третий день", "яма"]
    data = tmp_path / "in.txt"
    data.write_text("\n".join(texts) + "\n", encoding="utf-8")
    assert main(["classify", *CONFIG, "--format", "json", "--input", str(data)]) == 0
    rows = json_lines(capsys.readouterr().out)
    assert rows[0] == rows[2] and rows[1] == rows[3] and rows[0]["group"] == "ЖКХ"


def test_classify_stops_quietly_when_the_reader_of_its_output_goes(tmp_path: Path) -> None:
    data = tmp_path / "in.txt"
    data.write_text("Яма на дороге по Ленина\nНет горячей воды\n" * 20_000, encoding="utf-8")
    with subprocess.Popen(
        [sys.executable, "-m", "monitor", "classify", *CONFIG, "--format", "json",
         "--input", str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.read(100)  # like `| head -c 100`: read a little, then go
        process.stdout.close()
        err = process.stderr.read().decode()
        assert process.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_classifying_makes_no_reference_cycles() -> None:
    """`monitor classify` turns the cycle collector off while it runs: verdicts, their
    reasons, the second opinion and the lines written must leave no cyclic garbage, cold
    (words met for the first time) or warm."""
    config = load_config(EXAMPLE_CONFIG, env={}).config
    data = Path(__file__).parent / "data"
    texts = [row["text"] for name in ("social_probe_3.csv", "social_probe_5.csv")
             for row in csv.DictReader(
                 (data / name).read_text(encoding="utf-8").splitlines())]
    texts += ["", "😀" * 50, "<script>alert(1)</script> яма", "а" * 5000, "Ленина 5 нет воды"]
    for fmt in ("json", "text"):
        render = _renderer(config, None, None, fmt)
        gc.collect()
        gc.disable()
        try:
            for text in texts * 2:
                render(text)
            assert gc.collect() == 0
        finally:
            gc.enable()
