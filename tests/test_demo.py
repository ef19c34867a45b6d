"""`monitor demo` end to end: the real daemon against the simulated networks on a fast clock;
the live view shows messages, alerts and button presses; the summary matches the store."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli.demo import DemoSummary
from monitor.cli.demo_day import DAY_START
from storage import open_store
from tests.conftest import ROOT


@pytest.mark.timeout(180)
async def test_the_demo_runs_and_its_summary_matches_the_store(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "demo", "--speed", "600", "--duration", "25s",
        "--dir", str(folder), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 170)
    text = out.decode()
    assert process.returncode == 0, text + err.decode()
    assert "✉️ ВКонтакте:" in text and "✉️ Одноклассники:" in text
    assert "✉️ чат округа:" in text and "✉️ Telegram-канал:" in text
    assert "📣 🆕 Новый инцидент — №1:" in text
    assert "👤 Иванова А. П. нажимает «Взять в работу» — инцидент №2" in text
    assert "✅ ВКонтакте, ответ администрации" in text

    config = folder / "config.toml"
    assert f"Попробуйте: monitor incidents --config {config}" in text
    end_line = re.search(r"Итог на (\d\d\.\d\d\.\d{4} \d\d:\d\d)", text)
    assert end_line is not None
    printed = text[end_line.start():].split("\nБаза:")[0].splitlines()

    store = await open_store(folder / "monitor.db")
    try:
        incidents = await store.list_incidents()
    finally:
        await store.close()
    assert incidents, "the demo opened incidents"
    assert any(i.status == "answered" and i.answered_by for i in incidents), "staff answered"
    messages = int(re.search(r"сообщений сохранено: (\d+)", text).group(1))  # type: ignore[union-attr]
    clock = datetime.fromisoformat((folder / "clock").read_text(encoding="utf-8"))
    expected = DemoSummary.of(incidents, messages, clock).lines()
    assert printed[1:] == expected[1:], "the summary is the store's"
    on_time = sum(1 for i in incidents if i.answered_at is not None and i.answered_at <= i.due_at)
    assert f"  отвечено в срок: {on_time}" in printed
    assert f"  ещё открыто: {sum(i.status in ('open', 'in_work') for i in incidents)}" in printed
    assert DAY_START < clock.astimezone(UTC)

    listed = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "incidents", "--config", str(config), "--format",
        "json", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    json_out, _ = await asyncio.wait_for(listed.communicate(), 30)
    rows = json.loads(json_out)
    assert len(rows) == sum(int(n) for n in re.findall(r"^    .+: (\d+)$", text, re.M))
    statuses = {row["status"] for row in rows}
    assert statuses <= {"open", "in_work", "answered", "closed"}


def test_the_demo_wants_an_empty_folder(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from monitor.cli import main

    (tmp_path / "something").write_text("x", encoding="utf-8")
    assert main(["demo", "--dir", str(tmp_path), "--duration", "1s"]) == 2
    assert "не пуста" in capsys.readouterr().err
