"""`monitor rules test`: stored items replayed through a changed rule file, read-only."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import Item
from monitor.cli import main
from monitor.cli.rules_test import replay_command
from monitor.config import build_ruleset, load_config
from monitor.daemon.poller import Intake
from monitor.daemon.workcal import WorkingCalendar
from storage import SYSTEM, Action, open_store

STORAGE = '[storage]\npath = "monitor.db"\n'
OLD_RULES = """
[[topics]]
id = "roads"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["яма", "колдобина"]

[[topics]]
id = "waste"
group = "Обращение с отходами"
name = "Мусор"
organisation = "УГХ"
words = ["мусор", "свалка"]

[[topics]]
id = "nature"
group = "Экология"
name = "Природа"
organisation = "Отдел экологии"
words = ["лес"]
"""
# «ухаб» added to roads, «колдобина» removed from it, «свалка» moved from waste to nature.
NEW_RULES = (OLD_RULES.replace('["яма", "колдобина"]', '["яма", "ухаб"]')
             .replace('["мусор", "свалка"]', '["мусор"]')
             .replace('["лес"]', '["лес", "свалка"]'))
NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def stored(config_path: Path) -> None:
    """Store five items (one edited) as the poller would under the old rules."""
    config = load_config(config_path, env={}).config
    intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))

    def entry(number: str, text: str, official: bool = False):  # type: ignore[no-untyped-def]
        item = Item("news", number, f"https://t.me/news/{number}", text, NOW,
                    is_official=official)
        return intake.classify(item, "telegram_web", NOW)

    async def save() -> None:
        db = await open_store(config.database_path)
        try:
            first = [entry("1", "Красивый закат над рекой"), entry("2", "Во дворе колдобина"),
                     entry("3", "Свалка у реки"), entry("4", "Яма на дороге"),
                     entry("5", "Ухаб на въезде засыпали", official=True)]
            await db.save_items_and_cursor("news", first, {}, NOW - timedelta(hours=1))
            edited = [entry("1", "На въезде в город ухаб")]
            await db.save_items_and_cursor("news", edited, {}, NOW)
        finally:
            await db.close()

    asyncio.run(save())


@pytest.fixture
def old_config(write_config) -> Path:  # type: ignore[no-untyped-def]
    path: Path = write_config(STORAGE + OLD_RULES)
    stored(path)
    return path


def replayed(old_config: Path, write_config, capsys, fmt: str = "json"):  # type: ignore[no-untyped-def]
    new_config = write_config(STORAGE + NEW_RULES, "new_config.toml")
    code = replay_command(load_config(old_config, env={}).config,
                          load_config(new_config, env={}).config, 20, fmt, label="new.toml")
    assert code == 0
    out = capsys.readouterr().out
    return json.loads(out) if fmt == "json" else out


def replayed_with(old: Path, new: Path, capsys, new_first: bool = True):  # type: ignore[no-untyped-def]
    """The JSON report of replaying `old`'s database through `new`'s rules (or the reverse)."""
    first, second = (old, new) if new_first else (new, old)
    code = replay_command(load_config(first, env={}).config, load_config(second, env={}).config,
                          20, "json")
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_replay_finds_new_lost_and_moved(old_config: Path, write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    report = replayed(old_config, write_config, capsys)
    assert report["items"] == 5
    new, lost, changed = (report[k] for k in ("new_incidents", "lost_incidents",
                                              "changed_groups"))
    assert new["count"] == 1
    assert new["examples"][0]["text"] == "На въезде в город ухаб"  # the latest version
    assert new["examples"][0]["after"]["group"] == "Дороги"
    assert lost["count"] == 1
    gone = lost["examples"][0]
    assert gone["external_id"] == "2" and gone["incident_id"] is not None
    assert gone["before"]["needs_reaction"] and not gone["after"]["needs_reaction"]
    # The official account's post changes group but never needs a reaction.
    assert changed["count"] == 2
    assert {(e["external_id"], e["before"]["group"], e["after"]["group"])
            for e in changed["examples"]} == {("3", "Обращение с отходами", "Экология"),
                                              ("5", None, "Дороги")}
    assert changed["transitions"] == [
        {"from": "Обращение с отходами", "to": "Экология", "count": 1},
        {"from": "—", "to": "Дороги", "count": 1},
    ]


def test_replay_text_report_and_limit(old_config: Path, write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    out = replayed(old_config, write_config, capsys, fmt="text")
    assert "Правила new.toml на 5 сохранённых сообщениях" in out
    assert "новые инциденты: 1" in out and "пропавшие инциденты: 1" in out
    assert "сменили группу: 2" in out
    assert "Обращение с отходами → Экология: 1" in out
    assert re.search(r"news/2 https://t\.me/news/2 \(инцидент #\d+, open\)", out)
    assert "было: Дороги / roads [новый инцидент, 1] → стало: — / — [без реакции, 0]" in out
    new_config = load_config(write_config(STORAGE + NEW_RULES, "n.toml"), env={}).config
    assert replay_command(load_config(old_config, env={}).config, new_config, 1, "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["changed_groups"]["count"] == 2
    assert len(report["changed_groups"]["examples"]) == 1


async def save_copies(config, intake, copies, answered=None) -> None:  # type: ignore[no-untyped-def]
    """Save each copy as its own poll, in order; answer the first incident at `answered`."""
    db = await open_store(config.database_path)
    try:
        for source, number, text, seen in copies:
            if answered is not None and seen > answered:
                await db.act(1, Action("answer", SYSTEM), answered)
            item = Item(source, number, f"https://t.me/{source}/{number}", text, seen)
            entry = intake.classify(item, "telegram_web", seen)
            await db.save_items_and_cursor(source, [entry], {}, seen, intake.repeats)
    finally:
        await db.close()


REPOST = "На въезде в город огромный ухаб, машины бьют подвески, просим отремонтировать срочно"


def test_replay_joins_repeats_as_the_daemon_would(write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    """Copies of one complaint within the window join its incident; a late copy opens one."""
    old_path = write_config(STORAGE + OLD_RULES)
    config = load_config(old_path, env={}).config
    intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))
    copies = [("vk", "1", REPOST, NOW), ("ok", "2", REPOST + "!!!", NOW + timedelta(hours=2)),
              ("news", "3", "Репост: " + REPOST, NOW + timedelta(days=1)),
              ("vk", "4", REPOST, NOW + timedelta(days=5))]

    asyncio.run(save_copies(config, intake, copies))
    report = replayed(old_path, write_config, capsys)
    assert report["items"] == 4
    assert report["new_incidents"]["count"] == 2  # the first copy and the one 5 days later
    assert {e["external_id"] for e in report["new_incidents"]["examples"]} == {"1", "4"}
    repeats = report["new_repeats"]
    assert repeats["count"] == 2
    assert [e["external_id"] for e in repeats["examples"]] == ["3", "2"]  # newest first
    assert repeats["examples"][0]["after"]["outcome"] == "joins"
    assert report["lost_incidents"]["count"] == report["lost_repeats"]["count"] == 0
    text = replayed(old_path, write_config, capsys, fmt="text")
    assert "новые повторы (присоединятся к открытым инцидентам): 2" in text
    assert "[повтор открытого инцидента, " in text


def test_an_answered_complaint_is_not_joined_by_later_copies(write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    """Once staff answered the first copy, the daemon opened a new incident for the next."""
    config_path = write_config(STORAGE + NEW_RULES)
    config = load_config(config_path, env={}).config
    intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))
    copies = [("vk", "1", REPOST, NOW), ("ok", "2", REPOST, NOW + timedelta(hours=3))]
    asyncio.run(save_copies(config, intake, copies, answered=NOW + timedelta(hours=1)))
    # The same rules on both sides: the replay agrees with what the daemon did.
    report = replayed_with(config_path, config_path, capsys)
    assert report["items"] == 2 and all(
        report[k]["count"] == 0 for k in ("new_incidents", "lost_incidents", "new_repeats",
                                          "lost_repeats", "changed_groups"))
    # Old rules that never saw «ухаб»: both copies would be new incidents, none a repeat.
    report = replayed_with(write_config(STORAGE + OLD_RULES, "old.toml"), config_path, capsys,
                           new_first=False)
    assert (report["lost_incidents"]["count"], report["lost_repeats"]["count"]) == (2, 0)


def test_without_duplicates_every_complaint_opens(write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    old_path = write_config(STORAGE + OLD_RULES)
    config = load_config(old_path, env={}).config
    intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))
    copies = [("vk", "1", REPOST, NOW), ("ok", "2", REPOST, NOW + timedelta(hours=1))]
    asyncio.run(save_copies(config, intake, copies))
    new_path = write_config(STORAGE + NEW_RULES + "[repeats]\nenabled = false\n", "n.toml")
    report = replayed_with(old_path, new_path, capsys)
    assert (report["new_incidents"]["count"], report["new_repeats"]["count"]) == (2, 0)


def test_damaged_rows_are_counted_and_skipped(old_config: Path, write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    """Rows edited by hand (a bad or naive timestamp) are skipped; the rest is compared."""
    database = old_config.parent / "monitor.db"
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE items SET first_seen_at = 'вчера' WHERE external_id = '2'")
        conn.execute("UPDATE items SET published_at = '2026-11-25T04:00:00'"
                     " WHERE external_id = '3'")
    report = replayed(old_config, write_config, capsys)
    assert (report["items"], report["damaged_rows"]) == (3, 2)
    assert report["new_incidents"]["count"] == 1 and report["lost_incidents"]["count"] == 0
    assert "пропущено повреждённых записей в базе: 2" in replayed(
        old_config, write_config, capsys, fmt="text")


def test_replay_never_writes(old_config: Path, write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    database = old_config.parent / "monitor.db"
    before = database.read_bytes()
    replayed(old_config, write_config, capsys)
    assert database.read_bytes() == before
    assert not Path(str(database) + "-wal").exists() or not Path(
        str(database) + "-wal").stat().st_size


def test_replay_without_a_database(write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    config = load_config(write_config(STORAGE + OLD_RULES), env={}).config
    assert replay_command(config, config, 20, "text") == 0
    assert "сохранённых сообщений нет" in capsys.readouterr().out
    assert replay_command(config, config, 20, "json") == 0
    assert json.loads(capsys.readouterr().out)["items"] == 0
    assert not config.database_path.exists()


def test_rules_test_command(old_config: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "new.toml"
    rules.write_text(NEW_RULES, encoding="utf-8")
    assert main(["rules", "test", "--config", str(old_config), "--rules", str(rules),
                 "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [report[k]["count"] for k in ("new_incidents", "lost_incidents",
                                         "changed_groups")] == [1, 1, 2]
    assert main(["rules", "test", "--config", str(old_config), "--rules", str(rules)]) == 0
    assert "новые инциденты: 1" in capsys.readouterr().out


def test_rules_test_rejects_an_invalid_rule_file(old_config: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "new.toml"
    rules.write_text('[[topics]]\nid = "roads"\ngroup = "Дорога"\nname = "Ямы"\n'
                     'organisation = "УГХ"\nwords = ["яма"]\n', encoding="utf-8")
    assert main(["rules", "test", "--config", str(old_config), "--rules", str(rules)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"new\.toml:\d+", err) and "Дорога" in err


def test_replay_of_an_unreadable_database(write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    config = load_config(write_config(STORAGE + OLD_RULES), env={}).config
    config.database_path.write_bytes(b"not a database at all" * 100)
    assert replay_command(config, config, 20, "text") == 1
    assert "не прочитана" in capsys.readouterr().err
