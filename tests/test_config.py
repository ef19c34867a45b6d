"""Config validation: every problem at once, with file, line and key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from connectors.base import ConnectorSpec, Page, SourceSettings, register, registry
from monitor.cli import main
from monitor.config import load_config
from monitor.config.problems import ConfigError
from tests.conftest import EXAMPLE_CONFIG

TOKEN = "4242424242:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsbw"
"""A token of the real shape (not the example one)."""

MINIMAL = """
[storage]
path = "m.db"

[[sources]]
id = "news"
network = "telegram_web"
channel = "kamensk_news"
"""


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return [str(p) for p in info.value.problems]


def test_example_config_is_valid_and_warns_about_the_missing_bot_token() -> None:
    loaded = load_config(EXAMPLE_CONFIG, env={})
    assert loaded.config.sources[0].id == "kamensk-news"
    assert loaded.config.topics, "the example ships real topics"
    assert any("MONITOR_BOT_TOKEN" in str(w) for w in loaded.warnings)
    warnings = load_config(EXAMPLE_CONFIG, env={"MONITOR_BOT_TOKEN": TOKEN}).warnings
    assert [w.key for w in warnings] == ["telegram.chats[0].id"], "the example's chat id stays"


def test_storage_path_is_relative_to_the_config_file(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(MINIMAL)
    assert load_config(path, env={}).config.database_path == path.parent / "m.db"


def test_broken_toml_names_the_line(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config('[storage]\npath = "m.db"\n[sla\nfirst_response = "8h"\n')
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:3:")
    assert "синтаксиса TOML" in problem


def test_every_problem_is_reported_at_once_with_line_and_key(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(
        MINIMAL
        + 'interval = "5 minutes"\n'          # line 9: bad duration
        + "colour = 1\n"                      # line 10: unknown key in a source
        + "[sla]\nfirst_response = true\n"    # line 12: wrong type
        + "[calendar]\ntimezone = \"Mars/Olympus\"\n"  # line 14
        + "[[telegram.chats]]\nid = \"abc\"\nname = \"Дежурные\"\n"  # line 16
    )
    found = problems_of(path)
    assert len(found) == 5, found
    text = "\n".join(found)
    assert f"{path}:9: sources[0].interval: длительность '5 minutes' не распознана" in text
    assert f"{path}:10: sources[0].colour: неизвестный ключ" in text
    assert f"{path}:12: sla.first_response:" in text
    assert f"{path}:14: calendar.timezone: часовой пояс 'Mars/Olympus' неизвестен" in text
    assert f"{path}:16: telegram.chats[0].id: ожидалось целое число" in text


def test_unknown_keys_anywhere_are_rejected(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config('[storage]\npaht = "x.db"\n[telegram]\ntoken = "secret"\n')
    found = problems_of(path)
    assert f"{path}:2: storage.paht: неизвестный ключ (опечатка?)" in found
    assert f"{path}:4: telegram.token: неизвестный ключ (опечатка?)" in found


def test_the_old_name_of_repeats_says_what_to_write(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config('[storage]\npath = "x.db"\n\n[duplicates]\nwindow = "3d"\n')
    assert problems_of(path) == [
        f"{path}:4: duplicates: раздел переименован: пишите [repeats] (ключи те же)"]


def test_duplicate_ids_unknown_network_and_dangling_references(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(
        MINIMAL
        + '[[sources]]\nid = "news"\nnetwork = "telegram_web"\nchannel = "other_chan"\n'
        + '[[sources]]\nid = "vk1"\nnetwork = "myspace"\n'
        + '[[topics]]\nid = "pits"\ngroup = "Дороги"\nname = "Ямы"\norganisation = "УГХ"\n'
        + 'sla = "nope"\nwords = ["яма"]\n'
        + '[[topics]]\nid = "pits"\ngroup = "Дорогии"\nname = "Ямы"\norganisation = "УГХ"\n'
    )
    text = "\n".join(problems_of(path))
    assert "sources[2].network: неизвестная сеть 'myspace'" in text
    assert "topics[1].group: группа 'Дорогии' не из рубрикатора ЦУР" in text
    # Cross-references are checked once the sections themselves are valid.
    path = write_config(
        MINIMAL
        + '[[sources]]\nid = "news"\nnetwork = "telegram_web"\nchannel = "other_chan"\n'
        + '[[topics]]\nid = "pits"\ngroup = "Дороги"\nname = "Ямы"\norganisation = "УГХ"\n'
        + 'sla = "nope"\nwords = ["яма"]\n'
        + '[[topics]]\nid = "pits"\ngroup = "Дороги"\nname = "Ямы"\norganisation = "УГХ"\n'
    )
    found = problems_of(path)
    assert f"{path}:10: sources[1].id: повторяется id 'news' (уже есть в элементе 1)" in found
    assert any(p.startswith(f"{path}:18: topics[0].sla: политика 'nope'") for p in found)
    assert any(p.startswith(f"{path}:21: topics[1].id: повторяется id 'pits'") for p in found)


def test_missing_file_non_utf8_and_oversized_files(tmp_path: Path) -> None:
    assert "файл не найден" in problems_of(tmp_path / "absent.toml")[0]
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[storage]\npath = "м.db"\n'.encode("cp1251"))
    assert "не в кодировке UTF-8" in problems_of(latin)[0]
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"# " + b"x" * 6_000_000)
    assert "слишком большой" in problems_of(huge)[0]


class TokenSettings(SourceSettings):
    """A plugin network used to prove token handling; registered like any connector."""

    network: str = "test_tokened"


class _TokenSource:
    def __init__(self, settings: SourceSettings, ctx: object) -> None:
        self.id = settings.id

    async def fetch(self, cursor: object) -> Page:
        return Page([], {})


def test_a_missing_source_secret_is_a_warning_not_an_error(write_config) -> None:  # type: ignore[no-untyped-def]
    if "test_tokened" not in registry():
        register(ConnectorSpec("test_tokened", TokenSettings, _TokenSource, needs_token=True))
    path = write_config('[[sources]]\nid = "vk"\nnetwork = "test_tokened"\n'
                        'token_env = "MONITOR_TEST_TOKEN"\n')
    loaded = load_config(path, env={})
    [source_warning, bot_warning, chats_warning] = [str(w) for w in loaded.warnings]
    assert source_warning == (f"{path}:4: sources[0].token_env: переменная окружения "
                              "MONITOR_TEST_TOKEN не задана: источник 'vk' будет пропущен")
    assert "MONITOR_BOT_TOKEN" in bot_warning
    assert "telegram.chats" in chats_warning
    loaded = load_config(path, env={"MONITOR_TEST_TOKEN": "t", "MONITOR_BOT_TOKEN": TOKEN})
    assert [str(w) for w in loaded.warnings] == [
        f"{path}: telegram.chats: не указан ни один чат [[telegram.chats]]: "
        "оповещения будут писаться только в журнал"]


def test_check_config_command_exit_codes(write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["check-config", "--config", str(EXAMPLE_CONFIG)]) == 0
    out = capsys.readouterr().out
    assert "в порядке" in out and "kamensk-news" in out and "Дежурные МЦУ" in out
    bad = write_config('[storage]\npaht = 1\n')
    assert main(["check-config", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "storage.paht" in err and ":2:" in err
    assert main(["run", "--config", str(bad)]) == 2


def test_rule_terms_the_classifier_cannot_use_are_config_errors(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config('[[topics]]\nid = "pits"\ngroup = "Дороги"\nname = "Ямы"\n'
                        'organisation = "УГХ"\nwords = ["яма на дороге", "!!!"]\n')
    found = problems_of(path)
    assert len(found) == 2
    assert all(p.startswith(f"{path}:1: topics[0]: тема 'pits'") for p in found), found


def test_reading_a_config_loads_only_the_connectors_of_its_networks() -> None:
    # The example's one source is telegram_web; the other networks are still known by name.
    code = ("import sys\n"
            "from monitor.config import load_config, rule_context\n"
            f"config = load_config({str(EXAMPLE_CONFIG)!r}, env={{}}).config\n"
            "print(sorted(rule_context(config).networks))\n"
            "print(sorted(m for m in sys.modules if m.startswith('connectors.')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=EXAMPLE_CONFIG.parent, check=True, timeout=120)
    networks, loaded = done.stdout.splitlines()
    assert networks == "['ok', 'telegram_bot', 'telegram_web', 'vk']"
    assert loaded == "['connectors.base', 'connectors.telegram_web']"
