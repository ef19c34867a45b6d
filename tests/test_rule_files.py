"""Rule files: includes, lists, overrides, and every error located with file, line and topic."""

from __future__ import annotations

from pathlib import Path

import pytest

import rules
from monitor.config import AppConfig, build_ruleset, load_config, with_rules_from
from monitor.config.problems import ConfigError
from monitor.config.rulefiles import include_path
from rules import classify

MAIN = """\
[[sources]]
id = "news"
network = "telegram_web"
channel = "kamensk_news"

[sla.policies.sutki]
first_response = "24h"

[places]
[[places.settlements]]
name = "Мартюш"

[rules]
min_score = 1.0
include = [{include}]
"""

TOPIC = """
[[topics]]
id = "{id}"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["{word}"]
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def main_config(folder: Path, *includes: str, extra: str = "") -> Path:
    listed = ", ".join(f'"{name}"' for name in includes)
    return write(folder, "config.toml", MAIN.format(include=listed) + extra)


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    return [str(problem) for problem in caught.value.problems]


def test_includes_nest_in_order_and_lists_are_global(tmp_path: Path) -> None:
    write(tmp_path, "rules/common.toml", '[lists.pits]\nterms = ["яма", "выбоина"]\n'
          + TOPIC.format(id="common", word="колдобина"))
    write(tmp_path, "rules/kamensk.toml", 'include = ["common.toml"]\n'
          + TOPIC.format(id="kamensk", word="@pits"))
    path = main_config(tmp_path, "rules/kamensk.toml",
                       extra=TOPIC.format(id="own", word="ухаб") + '[[noise]]\nid = "ads"\n'
                       'name = "Объявления"\nwords = ["=продам"]\n')
    config = load_config(path, env={}).config
    assert [t.id for t in config.topics] == ["common", "kamensk", "own"]
    assert [n.id for n in config.noise] == ["ads"]
    assert set(config.lists) == {"pits"}
    ruleset = build_ruleset(config)
    assert classify("выбоины", ruleset).topic == "kamensk"
    assert classify("продам ухаб", ruleset).actionable is False


def test_builtin_names_the_packaged_rule_file(tmp_path: Path) -> None:
    package = Path(rules.__file__).resolve().parent
    assert include_path("builtin:rubricator", tmp_path) == package / "rubricator.toml"
    assert include_path("local.toml", tmp_path) == tmp_path / "local.toml"
    with pytest.raises(ValueError, match="builtin"):
        include_path("builtin:../secrets", tmp_path)


def test_missing_include_and_cycles(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", 'include = ["b.toml"]\n')
    write(tmp_path, "b.toml", 'include = ["a.toml", "gone.toml"]\n')
    path = main_config(tmp_path, "a.toml", "absent.toml", "builtin:no-such-file")
    found = problems_of(path)
    assert len(found) == 4, found
    assert f"{tmp_path / 'b.toml'}:1: include[0]: файлы правил подключают друг друга: " \
           "config.toml → a.toml → b.toml → a.toml" in found
    assert any(p.startswith(f"{tmp_path / 'b.toml'}:1: include[1]: файл правил 'gone.toml' "
                            "не найден") for p in found)
    assert any(p.startswith(f"{path}:15: rules.include[1]: файл правил 'absent.toml'")
               for p in found)
    assert any("'builtin:no-such-file' не найден" in p for p in found)


BAD_TOPIC = """\
[lists.ads]
terms = ["=продам"]

[[topics]]
id = "pits"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
{line}
"""

# (the line added to a topic of an included file, the problem reported for line 9 or 4)
TOPIC_ERRORS = [
    ('colour = "red"', "topics[0].colour: неизвестный ключ (опечатка?) (тема 'pits')"),
    ('words = ["@nope"]', "topics[0]: тема 'pits', words: список @nope не описан"),
    ('regex = ["(яма"]', "topics[0].regex[0].pattern: регулярное выражение '(яма' "
                         "не компилируется"),
    ('near = [{ terms = ["яма", "дорога"], within = 0 }]',
     "topics[0].near[0].within: within = 0: расстояние в словах должно быть от 1 до 20"),
    ('near = [{ terms = ["яма", "дорога"], within = 500 }]',
     "topics[0].near[0].within: within = 500"),
    ('near = [{ terms = ["яма"], within = 3 }]', "topics[0].near[0].terms:"),
    ('sources = ["vk-main"]', "topics[0].sources: источник 'vk-main' не описан в [[sources]] "
                              "(есть: news) (тема 'pits')"),
    ('networks = ["myspace"]', "topics[0].networks: сеть 'myspace' неизвестна"),
    ('settlements = ["Атлантида"]', "topics[0].settlements: населённый пункт 'Атлантида' "
                                    "не описан в [places] (есть: Мартюш) (тема 'pits')"),
    ('sla = "nope"', "topics[0].sla: политика 'nope' не описана в [sla.policies]"),
    ('words = ["яма на дороге"]', "topics[0]: тема 'pits', words: «яма на дороге» — "
                                  "не одно слово"),
    ('words = [5]', "topics[0].words[0]: ожидалась строка или таблица"),
    ('phrases = [{ text = "разбитая дорога" }]', "topics[0].phrases[0]: ожидалась строка или"),
    ('exclude = ["@"]', "topics[0].exclude: «@»: после @ ожидалось имя списка"),
]


@pytest.mark.parametrize(("line", "problem"), TOPIC_ERRORS)
def test_each_error_names_the_included_file_line_and_topic(
    tmp_path: Path, line: str, problem: str
) -> None:
    rule_file = write(tmp_path, "kamensk.toml", BAD_TOPIC.format(line=line))
    [found] = problems_of(main_config(tmp_path, "kamensk.toml"))
    where, text = found.split(": ", 1)
    assert where in (f"{rule_file}:4", f"{rule_file}:9"), found
    assert text.startswith(problem), found


def test_unknown_group_is_named_with_a_suggestion(tmp_path: Path) -> None:
    rule_file = write(tmp_path, "k.toml", TOPIC.format(id="pits", word="яма")
                      .replace('"Дороги"', '"Дорги"'))
    [found] = problems_of(main_config(tmp_path, "k.toml"))
    assert found.startswith(f"{rule_file}:4: topics[0].group: группа 'Дорги' не из рубрикатора "
                            "ЦУР; может быть, 'Дороги'? (тема 'pits')")


# (rule file text, problem)
FILE_ERRORS = [
    ('[[noise]]\nid = "ads"\nname = "x"\ncolour = 1\n', ":4: noise[0].colour: неизвестный ключ"),
    ('[[overrides]]\nid = "ghost"\npriority = "high"\n',
     ":2: overrides[0].id: изменение 'ghost': нет темы или шума с таким id"),
    ('[[overrides]]\nid = "x"\ncolour = 1\n', ":3: overrides[0].colour: неизвестный ключ"),
    ('[lists.ads]\nterms = ["a"]\ncolour = 1\n', ":3: lists.ads.colour: неизвестный ключ"),
    ('[lists.ads]\nterms = []\n', ":2: lists.ads.terms:"),
    ('[rules]\nmin_score = 2\n', ":1: rules: [rules] задаётся только в основном конфиге"),
    ('[storage]\npath = "x"\n', ":1: storage: неизвестный ключ; в файле правил допустимы"),
    ('[[topics]\nid = 1\n', ":1: ошибка синтаксиса TOML"),
]


@pytest.mark.parametrize(("text", "problem"), FILE_ERRORS)
def test_errors_in_noise_overrides_lists_and_files(
    tmp_path: Path, text: str, problem: str
) -> None:
    rule_file = write(tmp_path, "k.toml", text)
    found = problems_of(main_config(tmp_path, "k.toml"))
    assert any(p.startswith(f"{rule_file}{problem}") for p in found), found


def test_duplicate_lists_and_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.toml",
          '[lists.ads]\nterms = ["=продам"]\n' + TOPIC.format(id="p", word="яма"))
    second = write(tmp_path, "b.toml",
                   '[lists.ads]\nterms = ["=куплю"]\n' + TOPIC.format(id="p", word="ухаб"))
    found = problems_of(main_config(tmp_path, "a.toml", "b.toml"))
    assert found == [
        f"{second}:1: lists.ads: список 'ads' уже описан ({tmp_path / 'a.toml'}:1)",
        f"{second}:5: topics[0].id: повторяется id 'p' (уже есть: {tmp_path / 'a.toml'}:4); "
        "чтобы изменить подключённую тему, используйте [[overrides]]",
    ]


def test_every_problem_of_every_file_at_once(tmp_path: Path) -> None:
    write(tmp_path, "k.toml", BAD_TOPIC.format(line='words = ["@nope"]\nregex = ["("]\n'
                                               'settlements = ["Атлантида"]\ncolour = 1'))
    path = main_config(tmp_path, "k.toml", "missing.toml",
                       extra='[[overrides]]\nid = "ghost"\n[[topics]]\nid = "x"\n')
    found = problems_of(path)
    # k.toml: the regex and the unknown key (terms and references of a topic are checked
    # once the topic itself is valid); config.toml: the missing file, the override of an
    # unknown id, and the inline topic's three missing keys.
    assert len(found) == 7, found
    assert sum(p.startswith(str(tmp_path / "k.toml")) for p in found) == 2


def test_overrides_replace_and_extend_topics_and_noise(tmp_path: Path) -> None:
    write(tmp_path, "base.toml", TOPIC.format(id="pits", word="яма") + TOPIC.format(
        id="other", word="ухаб") + '[[noise]]\nid = "ads"\nname = "Объявления"\n'
        'words = ["=продам"]\n')
    path = main_config(tmp_path, "base.toml", extra="""
[[overrides]]
id = "pits"
organisation = "МКУ «Дорожная служба»"
priority = "high"
sla = "sutki"
add_words = ["колдобина"]
add_exclude = ["выгребная яма"]

[[overrides]]
id = "other"
enabled = false

[[overrides]]
id = "ads"
add_words = ["=куплю"]
""")
    config = load_config(path, env={}).config
    pits = config.topics[0]
    assert (pits.organisation, pits.priority, pits.sla) == ("МКУ «Дорожная служба»", "high",
                                                             "sutki")
    assert pits.words == ("яма", "колдобина")
    ruleset = build_ruleset(config)
    assert classify("колдобина", ruleset).organisation == "МКУ «Дорожная служба»"
    assert classify("выгребная яма", ruleset).topic is None
    assert classify("ухаб", ruleset).topic is None
    assert classify("куплю яму", ruleset).actionable is False


def test_an_override_cannot_give_noise_an_organisation(tmp_path: Path) -> None:
    write(tmp_path, "base.toml", '[[noise]]\nid = "ads"\nname = "x"\nwords = ["=продам"]\n')
    path = main_config(tmp_path, "base.toml",
                       extra='[[overrides]]\nid = "ads"\norganisation = "УГХ"\n')
    [found] = problems_of(path)
    assert found == f"{path}:18: overrides[0].organisation: у шума 'ads' нет ключа organisation"


def test_old_noise_keys_get_a_pointer_to_the_new_syntax(tmp_path: Path) -> None:
    path = write(tmp_path, "config.toml", '[rules]\nnoise_words = ["=продам"]\n')
    [found] = problems_of(path)
    assert found.startswith(f"{path}:1: rules: noise_words и noise_phrases больше не "
                            "поддерживаются")


def test_settlements_are_named_once(tmp_path: Path) -> None:
    path = main_config(tmp_path, extra='[[places.settlements]]\nname = "Мартюш"\n')
    [found] = problems_of(path)
    assert "places.settlements[1].name: повторяется name 'Мартюш'" in found


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    return load_config(main_config(tmp_path, extra=TOPIC.format(id="old", word="яма")),
                       env={}).config


def test_with_rules_from_replaces_the_whole_rule_part(tmp_path: Path, config: AppConfig) -> None:
    write(tmp_path, "new/common.toml", '[lists.pits]\nterms = ["выбоина"]\n')
    new = write(tmp_path, "new/rules.toml", '[rules]\nmin_score = 2\ninclude = ["common.toml"]\n'
                + TOPIC.format(id="new", word="@pits")
                + '[[noise]]\nid = "ads"\nname = "x"\nwords = ["=продам"]\n')
    replaced = with_rules_from(config, new)
    assert [t.id for t in replaced.topics] == ["new"]
    assert [n.id for n in replaced.noise] == ["ads"]
    assert replaced.rules.min_score == 2
    assert replaced.sources == config.sources and replaced.places == config.places
    assert classify("выбоина", build_ruleset(replaced)).topic == "new"
    assert [t.id for t in config.topics] == ["old"], "the original config is unchanged"


def test_with_rules_from_reports_located_problems(tmp_path: Path, config: AppConfig) -> None:
    new = write(tmp_path, "bad.toml", '[storage]\npath = "x"\n[rules]\nmin_score = -1\n'
                + TOPIC.format(id="new", word="яма") + 'sources = ["nope"]\n')
    with pytest.raises(ConfigError) as caught:
        with_rules_from(config, new)
    found = [str(p) for p in caught.value.problems]
    assert found[0] == (f"{new}:1: storage: в файле правил допустимы только rules, topics, "
                        "noise, overrides, lists, mentions")
    assert found[1].startswith(f"{new}:4: rules.min_score: значение должно быть ≥ 0")
    assert found[2].startswith(f"{new}:12: topics[0].sources: источник 'nope' не описан")
    with pytest.raises(ConfigError, match="файл не найден"):
        with_rules_from(config, tmp_path / "absent.toml")


MENTIONS = '[mentions]\nlandmarks = ["парк"]\nsignals = ["когда уже"]\n'


def test_the_last_mentions_table_wins(tmp_path: Path) -> None:
    write(tmp_path, "rules/common.toml", MENTIONS + TOPIC.format(id="parks", word="парк"))
    path = main_config(tmp_path, "rules/common.toml")
    assert classify("гуляли в парке", build_ruleset(load_config(path, env={}).config)).actionable \
        is False
    path = main_config(tmp_path, "rules/common.toml", extra="[mentions]\nenabled = false\n")
    assert classify("гуляли в парке", build_ruleset(load_config(path, env={}).config)).actionable


def test_a_later_mentions_table_changes_what_it_sets(tmp_path: Path) -> None:
    write(tmp_path, "rules/common.toml", MENTIONS + TOPIC.format(id="parks", word="парк")
          + TOPIC.format(id="schools", word="школа").replace("Дороги", "Образование"))
    path = main_config(tmp_path, "rules/common.toml",
                       extra='[mentions]\nsignals = ["доколе"]\nadd_landmarks = ["школа"]\n')
    config = load_config(path, env={}).config
    assert config.mentions is not None
    assert (config.mentions.landmarks, config.mentions.signals) == (("парк", "школа"), ("доколе",))
    ruleset = build_ruleset(config)
    assert [classify(t, ruleset).actionable for t in (
        "гуляли в парке", "концерт в школе", "доколе в парке", "когда уже в парке")] == [
        False, False, True, False]


def test_bad_mentions_tables_are_located(tmp_path: Path) -> None:
    write(tmp_path, "rules/common.toml",
          '[mentions]\nlandmarks = ["@nowhere", "детская площадка"]\nsignals = []\nsize = 3\n')
    found = problems_of(main_config(tmp_path, "rules/common.toml"))
    common = str(tmp_path / "rules" / "common.toml")
    assert f"{common}:4: mentions.size: неизвестный ключ (опечатка?)" in found
    write(tmp_path, "rules/common.toml",
          '[mentions]\nlandmarks = ["@nowhere", "детская площадка"]\n')
    found = problems_of(main_config(tmp_path, "rules/common.toml"))
    assert found == [
        f"{common}:2: mentions.landmarks: список @nowhere не описан (нужна таблица "
        "[lists.nowhere])",
        f"{common}:2: mentions.landmarks: «детская площадка» — не одно слово: "
        "ориентир — это отдельное слово («парк», «школа»)",
    ]
    write(tmp_path, "rules/common.toml", '[lists.places]\nterms = ["сквер", "детская площадка"]'
          '\n[mentions]\nlandmarks = ["@places", "=парк"]\n')
    found = problems_of(main_config(tmp_path, "rules/common.toml"))
    assert found == [
        f"{common}:4: mentions.landmarks: «детская площадка» — не одно слово: "
        "ориентир — это отдельное слово («парк», «школа»)",
        f"{common}:4: mentions.landmarks: «=парк»: ориентир совпадает в любой форме, «=» здесь "
        "не нужен",
    ]
    write(tmp_path, "rules/common.toml", '[mentions]\nsignals = ["когда уже"]\n')
    assert problems_of(main_config(tmp_path, "rules/common.toml")) == [
        f"{common}:1: mentions.landmarks: ориентиры не заданы: без landmarks упоминания не "
        "распознать (или enabled = false)"]


def test_mentions_of_the_wrong_shape_are_clear_errors(tmp_path: Path) -> None:
    write(tmp_path, "rules/common.toml", '[[mentions]]\nlandmarks = ["парк"]\n')
    common = str(tmp_path / "rules" / "common.toml")
    assert problems_of(main_config(tmp_path, "rules/common.toml")) == [
        f"{common}:1: mentions: ожидалась таблица"]
    write(tmp_path, "rules/common.toml", '[mentions]\nlandmarks = "парк"\nquestions = "да"\n')
    assert problems_of(main_config(tmp_path, "rules/common.toml")) == [
        f"{common}:2: mentions.landmarks: ожидался список [...]",
        f"{common}:3: mentions.questions: ожидалось true или false"]
