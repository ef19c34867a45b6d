"""Tables of texts and the topic the rules must give them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from monitor.config import build_ruleset, load_config
from rules import (
    Classification,
    NoiseConfig,
    RulesConfig,
    RulesError,
    RuleSet,
    TopicConfig,
    classify,
    compile_rules,
    lemmas,
)
from rules.model import ListConfig
from rules.morph import normalise_word, tokenise

CONFIG = Path(__file__).resolve().parents[1] / "config.example.toml"


def topic(id: str, group: str, **fields: object) -> TopicConfig:
    """A topic with a placeholder name and organisation."""
    return TopicConfig(id=id, group=group, name=id, organisation="Администрация", **fields)


TOPICS = (
    topic(
        "roads",
        "Дороги",
        words=("яма", "выбоина", "дорога"),
        phrases=("ремонт дороги", "не чистят дорогу"),
        exclude=("выгребная яма",),
    ),
    topic("light", "Энергетика", priority="critical", words=("электричество",),
          phrases=("нет света", "света нет")),
    topic("waste", "Обращение с отходами", words=("мусорка", "контейнер"),
          phrases=("не вывозят мусор",)),
    topic("housing", "ЖКХ", sla="sutki", words=("ук", "лифт", "отопление")),
    topic("trees", "Благоустройство", words=("ёлка", "дерево")),
    topic("internet", "Связь и телевидение", words=("интернет",), exclude=("интернет-приемная",)),
)
RULES = RulesConfig(min_score=1.0, phrase_weight=2.0)
NOISE = (
    NoiseConfig(id="ads", name="Объявления", words=("=продам", "=куплю")),
    NoiseConfig(id="greetings", name="Поздравления",
                words=("=поздравляем",), phrases=("=с =новым =годом",)),
    NoiseConfig(id="thanks", name="Благодарности", phrases=("спасибо за ремонт",)),
)


def compiled(topics: tuple[TopicConfig, ...] = TOPICS, rules: RulesConfig = RULES,
             **options: object) -> RuleSet:
    """The topics with the shared noise rules."""
    return compile_rules(topics, rules, noise=NOISE, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return compiled()


# (text, expected topic id or None, actionable)
CASES = [
    # any form of a rule word
    ("Ямы", "roads", True),
    ("Весь двор перекопан, сплошные ямы", "roads", True),
    ("Машина провалилась в яму", "roads", True),
    ("Замучились объезжать дорогу с ямами", "roads", True),
    ("ЯМА!!!", "roads", True),
    ("я́ма у подъезда", "roads", True),
    # ё and е are one letter
    ("Ёлку на площади так и не убрали", "trees", True),
    ("елку на площади так и не убрали", "trees", True),
    ("ЁЛКИ-ПАЛКИ, опять ёлки во дворе", "trees", True),
    # Latin look-alikes inside Cyrillic words
    ("Огромная Ямa во дворе", "roads", True),  # Latin a
    ("Уk не отвечает на звонки", "housing", True),  # Latin k
    ("Лuфт не работает", None, False),  # Latin u is no look-alike of и
    ("Kонтейнер переполнен", "waste", True),  # Latin K
    ("мусоpка горит", "waste", True),  # Latin p
    # phrases: consecutive words in order, each in any form
    ("Опять нет света!", "light", True),
    ("Света нет с утра", "light", True),
    ("Третий день не вывозят мусор", "waste", True),
    ("мусор не вывозят", None, False),
    ("нет у нас света", None, False),
    # a dictionary-form rule word keeps its meaning: «дорога» is not «дорогой»
    ("Дорогие жители, приглашаем на праздник", None, False),
    # exclusions veto their topic
    ("Выгребная яма переполнена", None, False),
    ("Пишу в интернет-приёмную губернатора", None, False),
    ("Интернет-провайдер опять без связи", "internet", True),
    # noise keeps the topic but needs no reaction
    ("Продам гараж", None, False),
    ("Продам контейнер для мусора", "waste", False),
    ("Куплю ёлку", "trees", False),
    ("Спасибо за ремонт дороги!", "roads", False),
    ("Поздравляем с Новым годом! Ёлка на площади чудесная", "trees", False),
    # the same words in other forms are complaints, not noise
    ("Нам продали сломанный контейнер", "waste", True),
    ("С нового года не вывозят мусор", "waste", True),
    # nothing to read
    ("", None, False),
    ("   \n\t  ", None, False),
    ("🙂🔥👍🏻", None, False),
    ("!!! ??? ...", None, False),
    # markup, control characters, mixed scripts
    ("<p>Во дворе&nbsp;<b>яма</b></p><br/>", "roads", True),
    ("\x00\x07яма\x1b[0m\ufeff", "roads", True),
    ("Яма 🚗 на дороге, фото: https://t.me/x?y=1 #яма", "roads", True),
    ("Лифт 不工作 again, УК молчит", "housing", True),
]


@pytest.mark.parametrize(("text", "expected", "actionable"), CASES)
def test_classify(ruleset: RuleSet, text: str, expected: str | None, actionable: bool) -> None:
    result = classify(text, ruleset)
    assert (result.topic, result.actionable) == (expected, actionable), result.why


def test_topic_fields_come_from_config(ruleset: RuleSet) -> None:
    result = classify("Опять отключили электричество", ruleset)
    assert (result.group, result.topic, result.priority, result.sla) == (
        "Энергетика", "light", "critical", None,
    )
    assert classify("Лифт не работает", ruleset).sla == "sutki"


# (text, expected why)
WHY = [
    ("Одни ямы", ("«яма» (ямы)",)),
    ("Опять нет света", ("фраза «нет света» (нет света)",)),
    ("Ямa", ("«яма» (ямa)",)),
    ("Продам гараж", ("шум ads: «продам» (продам)",)),
    (
        "Спасибо за ремонт дороги",
        ("фраза «ремонт дороги» (ремонт дороги)", "«дорога» (дороги)",
         "шум thanks: фраза «спасибо за ремонт» (спасибо за ремонт)"),
    ),
    ("Выгребная яма", ("тема roads снята исключением «выгребная яма» (выгребная яма)",)),
    ("Котики", ()),
]


@pytest.mark.parametrize(("text", "why"), WHY)
def test_why_explains_the_match(ruleset: RuleSet, text: str, why: tuple[str, ...]) -> None:
    assert classify(text, ruleset).why == why


# (text, score): each distinct word once, a phrase phrase_weight times
SCORES = [
    ("яма", 1.0),
    ("яма, яма, ещё яма и ямы", 1.0),
    ("яма и выбоина", 2.0),
    ("нет света", 2.0),
    ("ремонт дороги", 3.0),
]


@pytest.mark.parametrize(("text", "score"), SCORES)
def test_score(ruleset: RuleSet, text: str, score: float) -> None:
    assert classify(text, ruleset).score == score


def test_best_score_wins(ruleset: RuleSet) -> None:
    assert classify("Яма у мусорки, выбоина и ямы на дороге", ruleset).topic == "roads"
    assert classify("Мусорка и контейнер возле ямы", ruleset).topic == "waste"


def test_ties_go_to_the_topic_written_first() -> None:
    first = topic("parking-a", "Благоустройство", words=("шлагбаум",))
    second = topic("parking-b", "Дороги", words=("шлагбаум",))
    text = "Поставили шлагбаум"
    assert classify(text, compiled((first, second))).topic == "parking-a"
    assert classify(text, compiled((second, first))).topic == "parking-b"
    ruleset = compiled((first, second))
    assert len({classify(text, ruleset) for _ in range(20)}) == 1


def test_below_min_score_keeps_topic_but_needs_no_reaction() -> None:
    ruleset = compiled(TOPICS, RULES.model_copy(update={"min_score": 2.0}))
    result = classify("Яма", ruleset)
    assert (result.topic, result.actionable) == ("roads", False)
    assert result.why[-1] == "балл 1 ниже порога 2"
    assert classify("Яма и выбоина", ruleset).actionable


def test_topic_weight_scales_words_and_phrases() -> None:
    heavy = topic("light", "Энергетика", words=("электричество",), phrases=("нет света",),
                  weight=3.0)
    assert classify("нет света, электричество обещают к вечеру", compiled((heavy,))).score == 9.0


def test_as_dict_has_exactly_the_published_fields(ruleset: RuleSet) -> None:
    heavy = topic("t", "ЖКХ", words=("лифт",), weight=1 / 3)
    data = classify("лифт", compiled((heavy,))).as_dict()
    assert list(data) == [
        "group", "topic", "topic_name", "organisation", "priority", "actionable", "score", "why",
        "settlement", "address",
    ]
    assert data["score"] == 0.33
    assert data["why"] == ["«лифт» (лифт)", "балл 0.33 ниже порога 1"]
    parsed = json.loads(classify("Ямы", ruleset).to_json())
    assert parsed["group"] == "Дороги"
    assert "Дороги" in classify("Ямы", ruleset).to_json()


def test_nothing_matched_is_empty(ruleset: RuleSet) -> None:
    assert classify("Погода хорошая", ruleset) == Classification()


def test_long_texts(ruleset: RuleSet) -> None:
    filler = "бла " * 2490
    assert classify(filler + "яма на дороге", ruleset).topic == "roads"
    assert classify("я" * 10_000, ruleset).topic is None
    assert classify("-".join(["ямы"] * 3_000), ruleset).topic is None
    assert classify("яма " * 2_500, ruleset).why == ("«яма» (яма)",)


def test_never_raises_on_garbage(ruleset: RuleSet) -> None:
    alphabet = "ямаЯМAaeopcxЁё- \n\t\x00\x1f<>/&;#@🙂\u0301\u00ad\u200b\ud800漢字١٢"
    generator = random.Random(20240601)
    for _ in range(500):
        text = "".join(generator.choices(alphabet, k=generator.randint(0, 300)))
        result = classify(text, ruleset)
        assert isinstance(result, Classification)
        json.loads(result.to_json())


# rule sets that cannot be compiled, and the problem reported
BAD_RULES = [
    ((topic("a", "ЖКХ", words=("горячая вода",)),), "не одно слово"),
    ((topic("a", "ЖКХ", words=("!!!",)),), "не содержит слов"),
    ((topic("a", "ЖКХ", words=("лифт",)), topic("a", "ЖКХ", words=("ук",))), "дважды"),
]


@pytest.mark.parametrize(("topics", "problem"), BAD_RULES)
def test_bad_rules_are_rejected(topics: tuple[TopicConfig, ...], problem: str) -> None:
    with pytest.raises(RulesError, match=problem):
        compiled(topics)


def test_every_problem_is_reported_at_once() -> None:
    bad = topic("a", "ЖКХ", words=("горячая вода", "???"), phrases=("...",), exclude=("@nope",))
    noise = NoiseConfig(id="n", name="n", words=("с праздником",))
    with pytest.raises(RulesError) as caught:
        compile_rules((bad,), RULES, noise=(noise,))
    assert len(caught.value.problems) == 5
    assert "шум 'n', words: «с праздником» — не одно слово" in caught.value.problems[-1]


def test_forms_of_one_word_in_a_topic_count_once() -> None:
    ruleset = compiled((topic("r", "Дороги", words=("яма", "ямы", "ямами")),))
    assert classify("яма", ruleset).score == 1.0
    assert classify("ямы и ямами", ruleset).score == 1.0


# (token, lemmas it must include)
LEMMAS = [
    ("ямы", {"яма", "ям"}),
    ("ямами", {"яма"}),
    ("Ёлки", {"елка"}),
    ("ямa", {"яма"}),
    ("сосульки", {"сосулька"}),
    ("хвс", {"хвс"}),
]


@pytest.mark.parametrize(("token", "expected"), LEMMAS)
def test_lemmas(token: str, expected: set[str]) -> None:
    assert expected <= lemmas(token)


# (written, normalised)
SPELLINGS = [
    ("ЯМА", "яма"),
    ("ёлка", "елка"),
    ("я́ма", "яма"),
    ("Yк", "ук"),
    ("wifi", "wifi"),
    ("CTOП", "стоп"),
]


@pytest.mark.parametrize(("written", "normal"), SPELLINGS)
def test_normalise_word(written: str, normal: str) -> None:
    assert normalise_word(written) == normal


def test_tokenise_keeps_hyphenated_words() -> None:
    assert tokenise("Кто-то сломал Wi-Fi, а 03 не отвечает!") == [
        "кто-то", "сломал", "wi-fi", "а", "03", "не", "отвечает",
    ]


# --- the example config, on messages written the way residents write in comments ------

ANY_GROUP = "(noise: any group)"

RESIDENTS = [
    ("Когда уже залатают ямы на Ленина?? Вчера колесо пробил", "Дороги", True),
    ("Тротуар не чистят, бабушки падают, всё во льду", "Дороги", True),
    ("Третий день нет горячей воды, УК трубку не берёт", "ЖКХ", True),
    ("Батареи ледяные, дети дома в куртках сидят, сделайте что-нибудь!", "ЖКХ", True),
    ("С крыши свисают огромные сосульки прямо над входом в подъезд", "ЖКХ", True),
    ("Во дворе опять темно, фонари не горят с ноября", "Благоустройство", True),
    ("Качели на детской площадке сломаны, дети могут покалечиться", "Благоустройство", True),
    ("Во дворе на Садовой опять не вывезли мусор, баки переполнены", "Обращение с отходами",
     True),
    ("Пазик по 40 минут ждём, водители хамят", "Общественный транспорт", True),
    ("Света нет с утра по всей улице, когда дадут???", "Энергетика", True),
    ("В поликлинику не дозвониться, записаться к терапевту невозможно", "Здравоохранение", True),
    ("Скорую ждали два часа, бабушке плохо", "Здравоохранение", True),
    ("Уже год стоим в очереди в садик, мест нет", "Образование", True),
    ("Стая бродячих собак у школы, дети боятся ходить", "Безопасность и правопорядок", True),
    ("Опять соседи шумят до трёх ночи, музыка орёт", "Безопасность и правопорядок", True),
    ("Завод опять дымит, ночью дышать нечем", "Экология", True),
    ("Маме 80 лет, инвалид, пандуса нет, на улицу выйти не может",
     "Социальное обслуживание и защита", True),
    ("Интернет пропадает каждый вечер, Ростелеком только обещает", "Связь и телевидение", True),
    # noise: whatever topic the words suggest, no reaction is needed
    ("Продам гараж недорого, звоните", ANY_GROUP, False),
    ("Спасибо за ремонт дороги на Мира!", ANY_GROUP, False),
    ("Поздравляем всех с Днём города!", ANY_GROUP, False),
]


@pytest.fixture(scope="module")
def example() -> RuleSet:
    return build_ruleset(load_config(CONFIG, env={}).config)


@pytest.mark.parametrize(("text", "group", "actionable"), RESIDENTS)
def test_example_config_on_resident_messages(
    example: RuleSet, text: str, group: str | None, actionable: bool
) -> None:
    result = classify(text, example)
    assert result.actionable is actionable, result.why
    if group is not ANY_GROUP:
        assert result.group == group, result.why


def test_example_config_marks_emergencies(example: RuleSet) -> None:
    assert classify("Прорвало трубу в подвале, кипяток хлещет", example).priority == "critical"
    assert classify("Пахнет газом в подъезде", example).priority == "critical"
    assert any(t.sla == "sutki" for t in example.topics)


# --- the rest of the rule language: weights, lists, near, require, regex, scopes ----------

LISTS = {
    "ads": ListConfig(terms=("=продам", "сдается квартира")),
    "pits": ListConfig(terms=("яма", {"text": "выбоина", "weight": 3})),  # type: ignore[arg-type]
}
LANGUAGE = (
    topic("roads", "Дороги", words=("@pits", {"text": "колдобина", "weight": 5}),
          phrases=({"text": "разбитая дорога", "weight": 4},),
          near=({"terms": ("асфальт", "провалиться"), "within": 3},),
          exclude=("@ads",)),
    topic("water", "ЖКХ", words=("вода",), require=("нет", "@pits"), weight=2.0),
    topic("gas", "Энергетика",
          regex=(r"\bпахнет\s+газом", {"pattern": r"газ\w*\s+утечк", "weight": 3})),
    topic("vk-only", "Связь и телевидение", words=("сигнал",), networks=("vk",)),
    topic("news-only", "Культура", words=("концерт",), sources=("kamensk-news",)),
    topic("off", "Туризм", words=("яма",), enabled=False),
)
LANGUAGE_NOISE = (
    NoiseConfig(id="ads", name="Объявления", words=("@ads",)),
    NoiseConfig(id="thanks", name="Благодарности", phrases=("спасибо за",),
                exclude=("до сих пор",)),
)


@pytest.fixture(scope="module")
def language() -> RuleSet:
    return compile_rules(LANGUAGE, RULES, noise=LANGUAGE_NOISE, lists=LISTS)


# (text, topic, actionable, score)
LANGUAGE_CASES = [
    # list terms, with the list's own weights; a term's own weight replaces the default
    ("ямы во дворе", "roads", True, 1.0),
    ("выбоина во дворе", "roads", True, 3.0),
    ("колдобина", "roads", True, 5.0),
    ("разбитая дорога", "roads", True, 4.0),
    # near: any order, at most `within` words apart
    ("асфальт провалился", "roads", True, 2.0),
    ("провалился весь асфальт", "roads", True, 2.0),
    ("асфальт у нас во дворе опять провалился", None, False, 0.0),
    # exclude through a list also vetoes the topic; the list's phrase is a noise term
    ("сдается квартира, во дворе яма", None, False, 0.0),
    # require: every entry; a list entry is satisfied by any of its terms
    ("нет воды", None, False, 0.0),
    ("вода", None, False, 0.0),
    ("вода в яме", "roads", True, 1.0),
    ("нет воды, во дворе яма", "water", True, 2.0),
    ("нет воды, кругом выбоины", "roads", True, 3.0),
    # regex over the normalised text
    ("В подъезде ПАХНЕТ  газом", "gas", True, 1.0),
    ("газовая утечка в подвале", "gas", True, 3.0),
    # scopes: without the network or source the topic does not apply
    ("пропал сигнал", None, False, 0.0),
    ("концерт отменили", None, False, 0.0),
    # a disabled topic is gone
    ("яма", "roads", True, 1.0),
    # noise with its own exclusion
    ("Спасибо за ремонт, яма", "roads", False, 1.0),
    ("Спасибо за ремонт, но яма до сих пор", "roads", True, 1.0),
]


@pytest.mark.parametrize(("text", "expected", "actionable", "score"), LANGUAGE_CASES)
def test_rule_language(
    language: RuleSet, text: str, expected: str | None, actionable: bool, score: float
) -> None:
    result = classify(text, language)
    assert (result.topic, result.actionable, result.score) == (expected, actionable, score), \
        result.why


def test_scopes_follow_the_source_and_network(language: RuleSet) -> None:
    assert classify("пропал сигнал", language, network="vk").topic == "vk-only"
    assert classify("пропал сигнал", language, network="ok").topic is None
    assert classify("концерт отменили", language, source="kamensk-news").topic == "news-only"
    assert classify("концерт отменили", language, source="other").topic is None


# (text, expected why)
LANGUAGE_WHY = [
    ("выбоина", ("«выбоина» из «@pits» (выбоина)",)),
    ("асфальт провалился", ("рядом «асфальт» + «провалиться» (асфальт провалился)",)),
    ("пахнет газом", ("regex «\\bпахнет\\s+газом» (пахнет газом)",)),
    ("продам яму", ("шум ads: «продам» из «@ads» (продам)",
                    "тема roads снята исключением «продам» из «@ads» (продам)")),
]


@pytest.mark.parametrize(("text", "why"), LANGUAGE_WHY)
def test_why_names_lists_near_and_regex(language: RuleSet, text: str, why: tuple[str, ...]) -> None:
    assert classify(text, language).why == why


# (written, topic): misspellings resolved without rules of their own
SPELLING_CASES = [
    ("ямммы во дворе", "roads"),
    ("ЯМЫЫЫ", "roads"),
    ("ёлки-палки, опять ёлки", "trees"),
    ("яmа", "roads"),  # Latin m
    ("кассовый аппарат", None),  # a double letter of a real word is left alone
]


@pytest.mark.parametrize(("text", "expected"), SPELLING_CASES)
def test_misspellings(ruleset: RuleSet, text: str, expected: str | None) -> None:
    assert classify(text, ruleset).topic == expected


def test_stretched_exact_forms_still_match_noise(ruleset: RuleSet) -> None:
    assert classify("Продаааам контейнер", ruleset).actionable is False


def test_texts_without_letters_never_need_a_reaction() -> None:
    digits = compiled((topic("phone", "ЦУР", words=("112",)),))
    assert classify("112", digits).topic == "phone"
    assert classify("112 !!!", digits).actionable is False
    assert classify("звоню в 112", digits).actionable is True


def test_a_list_phrase_may_stand_in_words() -> None:
    ruleset = compile_rules(
        (topic("flat", "ЖКХ", words=("@ads",)),), RULES, lists={"ads": LISTS["ads"]}
    )
    assert classify("Сдаётся квартира", ruleset).score == 1.0


def test_undefined_lists_and_bad_near_are_rejected() -> None:
    with pytest.raises(RulesError, match=r"список @nope не описан"):
        compile_rules((topic("a", "ЖКХ", words=("@nope",)),), RULES)
    with pytest.raises(ValueError, match="от 1 до 20"):
        topic("a", "ЖКХ", near=({"terms": ("а", "б"), "within": 0},))
    with pytest.raises(ValueError, match="не компилируется"):
        topic("a", "ЖКХ", regex=("(яма",))


def test_place_required_only_withdraws_actionable_verdicts_without_a_settlement() -> None:
    verdict = Classification(topic="t", actionable=True, why=("«яма» (яма)",))
    withdrawn = verdict.place_required()
    assert withdrawn.actionable is False and "населённый пункт не найден" in withdrawn.why[-1]
    placed = Classification(topic="t", actionable=True, settlement="Мартюш")
    assert placed.place_required() is placed
    assert Classification().place_required() == Classification()


def test_classification_is_frozen_and_hashable(ruleset: RuleSet) -> None:
    result = classify("Ямы", ruleset)
    with pytest.raises(AttributeError):
        result.topic = "x"  # type: ignore[misc]
    assert hash(result) == hash(classify("Ямы", ruleset))
    assert result == Classification(
        group="Дороги", topic="roads", topic_name="roads", organisation="Администрация",
        priority="normal", sla=None, actionable=True, score=1.0, why=("«яма» (ямы)",),
    )


def test_cost_does_not_depend_on_topic_count_for_unmatched_vocabulary() -> None:
    many = tuple(topic(f"t{n}", "ЖКХ", words=(f"слово{n}",)) for n in range(2000))
    ruleset = compiled((*TOPICS, *many))
    assert classify("Ямы на дороге", ruleset).topic == "roads"
    assert len(ruleset.index.words) > 2000


def test_near_with_lists_and_phrases() -> None:
    yard = ListConfig(terms=("двор", "возле дома"))
    litter = topic("litter", "Благоустройство",
                   near=({"terms": ("мусор", "@yard"), "within": 3, "weight": 5},))
    ruleset = compile_rules((litter,), RULES, lists={"yard": yard})
    assert classify("мусор возле дома", ruleset).score == 5.0
    assert classify("во дворе опять мусор", ruleset).score == 5.0
    assert classify("мусор лежит уже третью неделю во дворе", ruleset).topic is None
    result = classify("двор, потом пять слов без него и снова мусор, двор", ruleset)
    assert result.why == ("рядом «мусор» + «@yard» (мусор двор)",)


# --- mentions: landmarks only, no complaint, no question --------------------------------

PARKS = topic("parks", "Благоустройство", words=("парк", "лавочка"),
              phrases=("в парке", "школа в парке"))
SCHOOL = topic("school", "Образование", words=("школа",))


def with_mentions(**fields: object) -> RuleSet:
    from rules.model import MentionsConfig

    settings = {"landmarks": ("парк", "@places"), "signals": ("=не", "когда уже"), **fields}
    return compile_rules((PARKS, SCHOOL), RULES, mentions=MentionsConfig(**settings),
                         lists={"places": ListConfig(terms=("школа",))})


@pytest.mark.parametrize(("text", "actionable"), [
    ("Гуляли в парке с детьми, красота", False),   # a landmark and a phrase of landmarks
    ("В школе концерт", False),                    # a landmark from a list
    ("В парке сломана лавочка", True),             # a word of the rules that is no landmark
    ("В парке не убрано", True),                   # a signal
    ("Когда уже в школе сделают ремонт", True),    # a signal phrase
    ("Во сколько открывается парк?", True),        # a question
    ("Гуляли в парке https://vk.com/video?z=1", False),  # a «?» in a link asks nothing
    ("Школа в парке закрыта", True),               # a phrase of two landmarks says more
])
def test_a_text_of_landmarks_alone_is_a_mention(text: str, actionable: bool) -> None:
    verdict = classify(text, with_mentions())
    assert verdict.topic in {"parks", "school"}
    assert verdict.actionable is actionable
    assert any("упоминание без жалобы" in reason for reason in verdict.why) is not actionable


def test_mentions_can_ignore_questions_or_be_switched_off() -> None:
    assert classify("Во сколько открывается парк?", with_mentions(questions=False)).actionable \
        is False
    assert classify("Гуляли в парке", with_mentions(enabled=False)).actionable is True
    assert classify("Гуляли в парке", compiled((PARKS,))).actionable is True  # no [mentions]
