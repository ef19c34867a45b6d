"""`monitor report` from the command line: files made, and clear Russian errors for bad input."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.cli import main
from tests.report_store import AS_OF, golden_store


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose database is the golden store, on a clock at the report's moment."""
    async def build() -> None:
        store = await golden_store(tmp_path / "m.db")
        await store.close()

    asyncio.run(build())
    clock = tmp_path / "clock"
    clock.write_text(AS_OF.isoformat(), encoding="utf-8")
    monkeypatch.setenv("MONITOR_CLOCK_FILE", str(clock))
    path = tmp_path / "config.toml"
    path.write_text('[storage]\npath = "m.db"\n', encoding="utf-8")
    return path


def test_the_report_is_written_in_the_formats_asked(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["report", "--config", str(config), "--period", "2025Q4", "--out", str(out),
                 "--format", "md,csv"])
    assert code == 0
    assert "Отчёт за IV квартал 2025: 16 файл(ов)" in capsys.readouterr().out
    summary = (out / "report_2025Q4.md").read_text(encoding="utf-8")
    assert summary.startswith("# Отчёт МЦУ о работе с сообщениями жителей: IV квартал 2025")
    assert "| Ждут ответа, срок ещё не наступил | 1 | 0 | +1 |" in summary


@pytest.mark.parametrize(("period", "message"), [
    ("2025Q5", "квартала 5 нет"),
    ("2025-13", "месяца 13 нет"),
    ("2025-02-30..2025-03-31", "нет такой даты: 2025-02-30"),
    ("2025-12-01..2025-10-01", "раньше начала"),
    ("2020-01-01..2025-12-31", "длиннее 366 дней"),
    ("1812Q1", "год 1812 вне 2000–2100"),
    ("прошлый квартал", "не понимаю период"),
    ("2025Q4; rm -rf /", "не понимаю период"),
    ("9" * 10_000, "период слишком длинный"),
    ("", "период не указан"),
])
def test_a_bad_period_is_refused_in_russian(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], period: str, message: str
) -> None:
    code = main(["report", "--config", str(config), "--period", period, "--out",
                 str(tmp_path / "out")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unknown_format_and_an_out_that_is_a_file_are_refused(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--config", str(config), "--period", "2025Q4", "--out",
                 str(tmp_path / "out"), "--format", "pdf,xlsx"]) == 2
    assert "неизвестный формат: pdf" in capsys.readouterr().err
    assert main(["report", "--config", str(config), "--period", "2025Q4", "--out",
                 str(config)]) == 2
    assert "не папка" in capsys.readouterr().err


def test_without_a_database_nothing_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[storage]\npath = "none.db"\n', encoding="utf-8")
    assert main(["report", "--config", str(config), "--period", "2025Q4", "--out",
                 str(tmp_path / "out")]) == 1
    assert "не найдена" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
