"""The compiled rule set, the parsed rule files and the checked model on disk (rules/cache.py),
and the word forms that replace parsing."""

from __future__ import annotations

import json
import os
import pickle
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

import rules.opinion
from monitor.config import build_ruleset, configured_opinion, load_config
from monitor.config.problems import ConfigError
from rules import Classification, classify
from rules.cache import CACHE_ENV, MAX_BYTES, cache_dir, cached_opinion, parsed_toml
from rules.morph import EXACT, expand_forms, known_keys, token_keys
from rules.opinion import OpinionError, load_opinion

CONFIG = Path(__file__).resolve().parents[1] / "config.example.toml"
TEXTS = (
    "Во дворе огромная яма, машины ломают подвеску",
    "подьезд не убирают третью неделю",
    "Продам гараж недорого",
    "кто-то сломал лавочку у школы-интерната",
    "ямммы на дороге, фонари не горят",
    "Спасибо за ремонт!",
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def verdicts(ruleset: object) -> list[str]:
    return [classify(text, ruleset).to_json() for text in TEXTS]  # type: ignore[arg-type]


def cached_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("rules-*.pickle"))


def test_a_second_start_loads_the_same_rules(cache: Path) -> None:
    config = load_config(CONFIG, env={}).config
    first = build_ruleset(config)
    [stored] = cached_files(cache)
    second = build_ruleset(config)
    assert second is not first
    assert verdicts(second) == verdicts(first)
    assert cached_files(cache) == [stored]
    assert stored.stat().st_mode & 0o077 == 0


def test_changed_rules_name_another_file(cache: Path) -> None:
    config = load_config(CONFIG, env={}).config
    every = build_ruleset(config)
    fewer = config.model_copy(update={"topics": config.topics[1:]})
    assert build_ruleset(fewer).topics == every.topics[1:]
    assert len(cached_files(cache)) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_cache_file_is_compiled_again(cache: Path, damage: str) -> None:
    config = load_config(CONFIG, env={}).config
    expected = verdicts(build_ruleset(config))
    [stored] = cached_files(cache)
    data = stored.read_bytes()
    stored.write_bytes({"garbage": b"\x80\x05not a pickle at all", "truncated": data[:1000],
                        "empty": b""}[damage])
    assert verdicts(build_ruleset(config)) == expected
    assert stored.read_bytes() == data  # written again


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch hacked",))


def test_a_hostile_cache_file_runs_nothing(cache: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(CONFIG, env={}).config
    expected = verdicts(build_ruleset(config))
    [stored] = cached_files(cache)
    stored.write_bytes(pickle.dumps(_Payload()))
    assert verdicts(build_ruleset(config)) == expected
    assert not (tmp_path / "hacked").exists()


def test_a_file_others_may_write_is_not_trusted(cache: Path) -> None:
    config = load_config(CONFIG, env={}).config
    expected = build_ruleset(config).topics
    [stored] = cached_files(cache)
    planted = pickle.dumps("not a rule set")
    stored.write_bytes(planted)
    stored.chmod(0o666)
    assert build_ruleset(config).topics == expected
    assert stored.read_bytes() != planted


def test_an_oversized_cache_file_is_not_read(cache: Path) -> None:
    config = load_config(CONFIG, env={}).config
    expected = build_ruleset(config).topics
    [stored] = cached_files(cache)
    with stored.open("r+b") as handle:
        handle.truncate(MAX_BYTES + 10)
    assert build_ruleset(config).topics == expected
    assert stored.stat().st_size < MAX_BYTES


def test_an_unwritable_cache_folder_only_costs_speed(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    config = load_config(CONFIG, env={}).config
    assert build_ruleset(config).topics == tuple(t for t in config.topics if t.enabled)


def test_only_the_latest_rule_sets_are_kept(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rules.cache.KEEP", 2)
    config = load_config(CONFIG, env={}).config
    for count in (1, 2, 3):
        build_ruleset(config.model_copy(update={"topics": config.topics[count:]}))
    assert len(cached_files(cache)) == 2


def parses(folder: Path) -> list[Path]:
    return sorted(folder.glob("toml-*.pickle"))


def test_a_second_start_parses_no_toml(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_config(CONFIG, env={}).config
    assert len(parses(cache)) == 2  # the config and the rubricator it includes
    assert all(p.stat().st_mode & 0o077 == 0 for p in parses(cache))

    def no_parsing(text: str) -> object:
        raise AssertionError("parsed again")

    monkeypatch.setattr(tomllib, "loads", no_parsing)
    assert load_config(CONFIG, env={}).config == first


TOML_VALUES = """
date = 2024-01-31
moment = 2024-01-31T08:30:00
zoned = 2024-01-31T08:30:00+03:00
utc = 2024-01-31T08:30:00Z
time = 08:30:00.25
numbers = [1, -2.5, inf, 0x1F]
flags = { yes = true, no = false }
[[tables]]
text = 'яма "на" дороге'
"""


def test_a_stored_parse_is_what_parsing_gives(cache: Path) -> None:
    expected = tomllib.loads(TOML_VALUES)
    assert parsed_toml(TOML_VALUES) == expected
    [stored] = parses(cache)
    again = parsed_toml(TOML_VALUES)
    assert again == expected
    assert repr(again) == repr(expected)  # the same types: dates, zones, floats
    assert parses(cache) == [stored]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "hostile", "not a table"])
def test_a_damaged_or_hostile_parse_is_parsed_again(cache: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    damage: str) -> None:
    monkeypatch.chdir(tmp_path)
    parsed_toml(TOML_VALUES)
    [stored] = parses(cache)
    data = stored.read_bytes()
    stored.write_bytes({"garbage": b"\x80\x05not a pickle at all", "truncated": data[:100],
                        "hostile": pickle.dumps(_Payload()),
                        "not a table": pickle.dumps([1, 2])}[damage])
    assert parsed_toml(TOML_VALUES) == tomllib.loads(TOML_VALUES)
    assert not (tmp_path / "hacked").exists()
    assert stored.read_bytes() == data  # written again


def test_broken_toml_is_reported_as_without_the_cache(cache: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[storage]\npath = "m.db"\n[sla\nfirst_response = "8h"\n',
                      encoding="utf-8")
    with pytest.raises(ConfigError) as cached:
        load_config(broken, env={})
    assert parses(cache) == []
    monkeypatch.setenv(CACHE_ENV, "off")
    with pytest.raises(ConfigError) as plain:
        load_config(broken, env={})
    assert cached.value.problems == plain.value.problems


def models(folder: Path) -> list[Path]:
    return sorted(folder.glob("opinion-*.pickle"))


def test_a_second_start_reads_no_model_file(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(CONFIG, env={}).config
    first = configured_opinion(config)
    [stored] = models(cache)
    assert stored.stat().st_mode & 0o077 == 0

    def no_reading(raw: bytes, path: Path) -> object:
        raise AssertionError("read again")

    monkeypatch.setattr("rules.cache.opinion_from", no_reading)
    again = configured_opinion(config)
    assert again == first
    assert again is not first


def test_a_changed_model_is_read_again(cache: Path, tmp_path: Path) -> None:
    shipped = Path(rules.opinion.__file__).parent / "second-opinion.json"
    path = tmp_path / "model.json"
    data = json.loads(shipped.read_text(encoding="utf-8"))
    path.write_text(json.dumps(data), encoding="utf-8")
    assert cached_opinion(path) == load_opinion(shipped)
    data["min_probability"] = 0.99
    path.write_text(json.dumps(data), encoding="utf-8")
    assert cached_opinion(path).min_probability == 0.99
    assert len(models(cache)) == 2


@pytest.mark.parametrize("damage", ["garbage", "hostile", "not a model"])
def test_a_damaged_or_hostile_stored_model_is_read_again(cache: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         damage: str) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(CONFIG, env={}).config
    expected = configured_opinion(config)
    [stored] = models(cache)
    data = stored.read_bytes()
    stored.write_bytes({"garbage": b"\x80\x05not a pickle at all",
                        "hostile": pickle.dumps(_Payload()),
                        "not a model": pickle.dumps("not a model")}[damage])
    assert configured_opinion(config) == expected
    assert not (tmp_path / "hacked").exists()
    assert stored.read_bytes() == data  # written again


def test_a_refused_model_is_refused_as_without_the_cache(cache: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.json"
    path.write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(OpinionError) as cached:
        cached_opinion(path)
    assert models(cache) == []
    monkeypatch.setenv(CACHE_ENV, "off")
    with pytest.raises(OpinionError) as plain:
        cached_opinion(path)
    assert str(cached.value) == str(plain.value)


def test_cache_folder_choice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, "off")
    assert cache_dir() is None
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "mcu-monitor"


def test_known_words_are_looked_up_as_parsing_would_find_them() -> None:
    ruleset = build_ruleset(load_config(CONFIG, env={}).config)
    index = ruleset.index
    keys = set(index.words) | set(index.phrases) | set(index.slots)
    words = ("яма", "ямы", "ямами", "дороги", "дорогие", "подъезде", "ёлки", "елки", "фонарь",
             "кто-то", "школы-интерната", "лучше", "шел", "шёл", "бегущий", "жкх", "ук",
             "подьезда", "ямммы", "12", "qwerty", "ааааааааааааааааааааааааааааааааааааааааааа")
    for word in words:
        found = known_keys(word, index.forms)
        if found is not None:
            assert found & keys == token_keys(word) & keys, word


def test_forms_of_a_lemma() -> None:
    forms = expand_forms(["яма", "подьезд"])
    assert forms["ямами"] == {"яма"}
    assert "подьезда" not in forms  # a guessed lemma has no dictionary forms
    assert known_keys("ямы", forms) == {"яма", EXACT + "ямы"}
    assert known_keys("подьезда", forms) is None


def test_as_dict_keeps_the_field_order() -> None:
    verdict = Classification(group="ЖКХ", topic="t", score=1.234, why=("a",))
    names = [f.name for f in fields(Classification) if f.name not in ("sla", "contenders")]
    data = verdict.as_dict()
    assert list(data) == names
    assert data["score"] == 1.23
    assert data["why"] == ["a"]
