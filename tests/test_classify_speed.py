"""What `monitor classify` does to be fast must not change what it says: the verdict JSON
written from pieces, batched output, and a start-up that loads no network or store code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.cli.classify import BATCH
from monitor.config import build_ruleset, load_config
from rules import Classification, classify
from tests.conftest import EXAMPLE_CONFIG

REPO = Path(__file__).resolve().parent.parent
CONFIG = ["--config", str(EXAMPLE_CONFIG)]
HOSTILE = ('"кавычки" и \\ обратная черта', "управляющие \x00\x07\x1f\n\t\r", "\u2028\u2029",
           "эмодзи 🚧 и суррогат \ud800", "", "</script>", "ё́")


def _reference(verdict: Classification) -> str:
    return json.dumps(verdict.as_dict(), ensure_ascii=False)


@pytest.mark.parametrize("score", [0.0, 1, 2.5, 1.234567, 1e-9, 12345678.9, -0.0,
                                   float("nan"), float("inf"), float("-inf")])
def test_to_json_writes_what_json_dumps_writes(score: float) -> None:
    verdicts = [
        Classification(),
        Classification(group="ЖКХ", topic="t", topic_name="Имя", organisation=None,
                       priority="high", actionable=True, score=score, why=HOSTILE,
                       settlement="Мартюш", address="Бажова, 5"),
        Classification(group=HOSTILE[0], topic=HOSTILE[1], topic_name=HOSTILE[2],
                       organisation=HOSTILE[3], priority=HOSTILE[4], score=score,
                       settlement=HOSTILE[5], address=HOSTILE[6]),
    ]
    for verdict in verdicts:
        assert verdict.to_json() == _reference(verdict)


def test_to_json_of_classified_texts_matches_json_dumps() -> None:
    ruleset = build_ruleset(load_config(EXAMPLE_CONFIG, env={}).config)
    texts = ["Яма на дороге", "Нет горячей воды в доме 5", "спасибо за уборку двора!",
             "🙂", "123", "мусор у подъезда, а не вывозят третий день", *HOSTILE]
    for text in texts:
        verdict = classify(text, ruleset)
        assert verdict.to_json() == _reference(verdict)


def test_batched_output_keeps_order_around_bad_lines(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "in.jsonl"
    good = '{"text": "Яма на дороге"}\n'
    data.write_text(good * (BATCH + 3) + "{broken\n" + '{"text": "Нет горячей воды"}\n' * 2,
                    encoding="utf-8")
    assert main(["classify", *CONFIG, "--format", "json", "--input", str(data)]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == BATCH + 6
    assert {r["group"] for r in rows[:BATCH + 3]} == {"Дороги"}
    assert rows[BATCH + 3]["line"] == BATCH + 4
    assert [r["group"] for r in rows[BATCH + 4:]] == ["ЖКХ", "ЖКХ"]


def test_a_damaged_file_keeps_the_verdicts_before_the_damage(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "in.csv"
    data.write_text("text\n" + "Яма на дороге\n" * (BATCH + 2) + '"' + "я" * 10_000_001 + '"\n',
                    encoding="utf-8")
    assert main(["classify", *CONFIG, "--format", "json", "--input", str(data)]) == 2
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert len(rows) == BATCH + 2
    assert "CSV повреждён" in captured.err


def test_classify_start_up_loads_no_network_or_store_code() -> None:
    code = (
        "import sys\n"
        "from monitor.cli import main\n"
        f"sys.exit(main(['classify', '--config', {str(EXAMPLE_CONFIG)!r}, 'Яма на дороге']))\n"
    )
    probe = ("import atexit, sys\n"
             "atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules}),"
             " file=sys.stderr))\n")
    done = subprocess.run([sys.executable, "-c", probe + code], capture_output=True, text=True,
                          cwd=REPO, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1].replace("'", '"')))
    heavy = {"asyncio", "aiohttp", "bs4", "vk_api", "requests", "asyncpg", "storage",
             "matplotlib", "openpyxl", "aiogram", "telegram"}
    assert not loaded & heavy
