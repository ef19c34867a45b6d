"""`monitor incidents show|answer|dismiss|take` and `monitor export-labels`, on real SQLite."""

from __future__ import annotations

import asyncio
import csv
import getpass
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import Item
from monitor.cli import main
from storage import Action, Actor, ClassifiedItem, IncidentRow, NewIncident, TopicRef, open_store

TEXTS = (
    "На улице Ленина огромная яма, машины бьют колёса",
    "Третий день нет горячей воды в доме на Кирова 5",
    "Во дворе не вывозят мусор уже неделю, контейнеры переполнены",
)
STAFF = Actor("staff", "Иванова А. П.", "111")


def os_user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose database holds three open incidents, numbered 1 to 3."""
    path = tmp_path / "config.toml"
    path.write_text('[storage]\npath = "m.db"\n', encoding="utf-8")
    asyncio.run(_seed(tmp_path / "m.db", TEXTS))
    return path


async def _seed(db: Path, texts: tuple[str, ...]) -> None:
    now = datetime.now(UTC)
    store = await open_store(db)
    entries = []
    for number, text in enumerate(texts, start=1):
        item = Item("news", str(number), f"https://t.me/news/{number}", text, now)
        incident = NewIncident("Ямы", "УГХ", "normal", now + timedelta(hours=3),
                               now + timedelta(hours=4))
        entries.append(ClassifiedItem(item, "telegram_web", str(number), "Дороги", "pits", True,
                                      1.0, (), incident))
    await store.save_items_and_cursor("news", entries, {}, now - timedelta(minutes=5))
    await store.close()


def stored(config: Path, number: int) -> IncidentRow:
    async def read() -> IncidentRow:
        store = await open_store(config.parent / "m.db")
        try:
            incident = await store.incident(number)
        finally:
            await store.close()
        assert incident is not None
        return incident

    return asyncio.run(read())


def event_kinds(config: Path, number: int) -> list[str]:
    async def read() -> list[str]:
        store = await open_store(config.parent / "m.db")
        try:
            return [e.kind for e in await store.events_of(number)]
        finally:
            await store.close()

    return asyncio.run(read())


def reclassify(config: Path, number: int, topic: TopicRef) -> None:
    async def act() -> None:
        store = await open_store(config.parent / "m.db")
        try:
            result = await store.act(number, Action("reclassify", STAFF, topic=topic),
                                     datetime.now(UTC))
        finally:
            await store.close()
        assert result.outcome == "done"

    asyncio.run(act())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_answer_marks_the_incident_answered(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "incidents", "answer", "1", "--link",
                         "https://vk.com/wall-1_2", "--config", str(config))
    assert (code, out.strip(), err) == (0, "Инцидент №1: ответ дан.", "")
    incident = stored(config, 1)
    assert incident.status == "answered" and incident.answer_url == "https://vk.com/wall-1_2"
    assert incident.answered_by == (os_user() or "cli")
    assert event_kinds(config, 1) == ["opened", "answered"]


def test_dismiss_closes_with_the_reason(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "incidents", "--config", str(config), "dismiss", "2",
                       "--reason", "  реклама,\nне жалоба ")
    assert (code, out.strip()) == (0, "Инцидент №2 закрыт: ответ не нужен.")
    incident = stored(config, 2)
    assert (incident.status, incident.close_reason) == ("closed", "реклама, не жалоба")


def test_take_assigns_it_to_the_os_user(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "incidents", "take", "3", "--config", str(config))
    assert code == 0 and out.startswith("Инцидент №3 взят в работу (")
    incident = stored(config, 3)
    assert (incident.status, incident.assignee) == ("in_work", os_user() or "cli")


def test_show_prints_the_card_and_the_log(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(capsys, "incidents", "answer", "1", "--link", "https://ok.ru/a?b=1&c=2",
               "--config", str(config))[0] == 0
    code, out, err = run(capsys, "incidents", "show", "1", "--config", str(config))
    assert code == 0 and err == ""
    assert out.startswith("Инцидент №1: Дороги / Ямы\nСтатус: ответ дан")
    assert "Журнал" in out and TEXTS[0] in out
    assert "ответ дан: https://ok.ru/a?b=1&c=2" in out  # entities decoded for the terminal
    assert "<b>" not in out and "&amp;" not in out
    code, out, _ = run(capsys, "incidents", "show", "2", "--config", str(config))
    assert code == 0 and "Статус: открыт" in out and "осталось" in out


def test_show_as_json_has_the_events(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    run(capsys, "incidents", "dismiss", "2", "--reason", "дубль", "--config", str(config))
    code, out, _ = run(capsys, "incidents", "show", "2", "--format", "json",
                       "--config", str(config))
    assert code == 0
    shown = json.loads(out)
    assert shown["id"] == 2 and shown["status"] == "closed" and shown["close_reason"] == "дубль"
    assert [e["kind"] for e in shown["events"]] == ["opened", "dismissed"]
    opened, dismissed = shown["events"]
    assert opened["actor"] == {"kind": "system", "name": None, "ref": None}
    assert dismissed["actor"] == {"kind": "cli", "name": os_user(), "ref": None}
    assert dismissed["detail"] == {"reason": "дубль"}
    assert datetime.fromisoformat(dismissed["at"]).tzinfo is not None


def test_hostile_text_is_shown_safely(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text('[storage]\npath = "m.db"\n', encoding="utf-8")
    hostile = "яма <script>alert(1)</script> \x1b[2J\x1b]0;title\x07 \u202eтекст\x9b31m & \x00"
    asyncio.run(_seed(tmp_path / "m.db", (hostile,)))
    code, out, _ = run(capsys, "incidents", "show", "1", "--config", str(config))
    assert code == 0 and "<script>alert(1)</script>" in out
    assert not any(ch in out for ch in "\x1b\x07\x00\u202e\x9b")


def test_unknown_incident(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    for action in ("show", "answer", "dismiss", "take"):
        code, out, err = run(capsys, "incidents", action, "99", "--config", str(config))
        assert (code, out, err.strip()) == (1, "", "Инцидента №99 нет.")


def test_an_answered_incident_is_not_changed_again(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(capsys, "incidents", "answer", "1", "--config", str(config))[0] == 0
    assert run(capsys, "incidents", "dismiss", "2", "--config", str(config))[0] == 0
    code, out, err = run(capsys, "incidents", "dismiss", "1", "--reason", "x",
                         "--config", str(config))
    assert (code, out) == (1, "")
    assert err.strip() == "Инцидент №1 уже закрыт (ответ дан): ничего не изменено."
    code, _, err = run(capsys, "incidents", "answer", "2", "--config", str(config))
    assert code == 1
    assert err.strip() == "Инцидент №2 уже закрыт (ответ не нужен): ничего не изменено."
    assert stored(config, 1).close_reason is None
    assert event_kinds(config, 1) == ["opened", "answered"]


@pytest.mark.parametrize("link", [
    "ftp://example.com/a", "https://", "vk.com/wall-1_2", "javascript:alert(1)",
    "http://[::1", "https://exa mple.com", "https://example.com/\u202e", "",
    "https://example.com/" + "a" * 500,
])
def test_a_bad_link_changes_nothing(config: Path, capsys, link: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "incidents", "answer", "1", "--link", link,
                         "--config", str(config))
    assert (code, out) == (2, "")
    assert err.startswith("Ошибка: --link: ")
    assert stored(config, 1).status == "open" and event_kinds(config, 1) == ["opened"]


@pytest.mark.parametrize("argv", [
    ["incidents", "list", "3"], ["incidents", "show"], ["incidents", "answer"],
    ["incidents", "show", "1", "--overdue"], ["incidents", "answer", "1", "--format", "json"],
    ["incidents", "answer", "1", "--reason", "x"], ["incidents", "dismiss", "1", "--link",
                                                    "https://a.ru"],
    ["incidents", "dismiss", "1", "--reason", " \n "],
    ["incidents", "dismiss", "1", "--reason", "я" * 301],
])
def test_arguments_that_do_not_fit(config: Path, capsys, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, *argv, "--config", str(config))
    assert (code, out) == (2, "") and err.startswith("Ошибка: ")
    assert stored(config, 1).status == "open"


def test_bad_numbers_are_usage_errors(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    for number in ("0", "-1", "abc"):
        with pytest.raises(SystemExit) as stop:
            main(["incidents", "--config", str(config), "show", number])
        assert stop.value.code == 2
    capsys.readouterr()


def test_a_missing_database_is_not_created(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text('[storage]\npath = "data/m.db"\n', encoding="utf-8")
    for argv in (["show", "1"], ["answer", "1"], ["dismiss", "1"], ["take", "1"]):
        code, out, err = run(capsys, "incidents", *argv, "--config", str(config))
        assert (code, out) == (1, "")
        assert f"База {tmp_path / 'data' / 'm.db'} не найдена" in err
    code, _, err = run(capsys, "export-labels", "--config", str(config),
                       "--out", str(tmp_path / "l.csv"))
    assert code == 1 and "не найдена" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_a_broken_database_is_a_clear_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text('[storage]\npath = "m.db"\n', encoding="utf-8")
    (tmp_path / "m.db").write_bytes(b"not a database at all" * 100)
    for argv in (["show", "1"], ["answer", "1"]):
        code, out, err = run(capsys, "incidents", *argv, "--config", str(config))
        assert (code, out) == (1, "")
        assert err.startswith(f"База {tmp_path / 'm.db'} не открылась") and "Traceback" not in err
    code, out, err = run(capsys, "incidents", "--config", str(config))
    assert (code, out) == (1, "") and err.startswith(f"Ошибка базы {tmp_path / 'm.db'}: ")


def test_plain_list_works_as_before(config: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "incidents", "--config", str(config))
    assert code == 0 and out.startswith("#1 [open] срок ")
    code, out, _ = run(capsys, "incidents", "list", "--format", "json", "--config", str(config))
    assert code == 0 and [r["id"] for r in json.loads(out)] == [1, 2, 3]


def test_export_labels_feeds_eval(config: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    reclassify(config, 2, TopicRef("hot_water", "ЖКХ", "Горячая вода", "УК"))
    reclassify(config, 3, TopicRef("garbage", "Мусор", "Вывоз мусора", "Экология"))
    reclassify(config, 3, TopicRef("garbage", "Обращение с отходами", "Вывоз мусора", "Экология"))
    assert run(capsys, "incidents", "answer", "2", "--config", str(config))[0] == 0
    out_file = tmp_path / "labels.csv"
    code, out, err = run(capsys, "export-labels", "--config", str(config), "--out", str(out_file))
    assert (code, err) == (0, "") and "Записано строк: 2" in out
    with out_file.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [{"text": TEXTS[1], "group": "ЖКХ", "topic": "hot_water"},
                    {"text": TEXTS[2], "group": "Обращение с отходами", "topic": "garbage"}]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    code, out, err = run(capsys, "eval", "--config", str(config), "--data", str(out_file),
                         "--text-column", "text", "--label-column", "group", "--format", "json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert sum(g["support"] for g in report["per_group"]) == 2
    assert {g["group"] for g in report["per_group"] if g["support"]} == {
        "ЖКХ", "Обращение с отходами"}
    assert report["left_out"] == [] and report["malformed_lines"] == []


def test_export_labels_leaves_out_incidents_without_a_group(config: Path, tmp_path: Path,
                                                             capsys) -> None:  # type: ignore[no-untyped-def]
    reclassify(config, 1, TopicRef("other", None, "Прочее", None))
    reclassify(config, 2, TopicRef("garbage", "Мусор", "Вывоз мусора", None))
    out_file = tmp_path / "labels.csv"
    code, out, _ = run(capsys, "export-labels", "--config", str(config), "--out", str(out_file))
    assert code == 0 and "Записано строк: 0" in out
    assert "без группы из рубрикатора ЦУР: 2" in out
    assert out_file.read_bytes() == b"text,group,topic\r\n"


def test_export_labels_to_an_unwritable_place(config: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    reclassify(config, 2, TopicRef("hot_water", "ЖКХ", "Горячая вода", "УК"))
    for target in (tmp_path / "no" / "such" / "dir.csv", tmp_path):
        code, out, err = run(capsys, "export-labels", "--config", str(config),
                             "--out", str(target))
        assert (code, out) == (1, "") and err.startswith(f"Не удалось записать {target}: ")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
