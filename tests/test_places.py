"""The gazetteer: which settlement a message is about, in any case form."""

from __future__ import annotations

import pytest

from monitor.config.settings import Settlement
from rules import RulesConfig, RuleSet, TopicConfig, classify, compile_rules
from rules.places import name_forms, pick_settlement

SETTLEMENTS = (
    Settlement(name="Мартюш", streets=("Бажова", "Ленина")),
    Settlement(name="Колчедан", streets=("Ленина",)),
    Settlement(name="Покровское"),
    Settlement(name="Новый Быт"),
    Settlement(name="Позариха"),
    Settlement(name="Большая Грязнуха", aliases=("Грязнуха",)),
    Settlement(name="Каменск-Уральский"),
    Settlement(name="Сипавское", streets=("Садовая",)),
)
ROADS = TopicConfig(id="roads", group="Дороги", name="Ямы", organisation="УГХ", words=("яма",))
LOCAL = TopicConfig(id="martyush-roads", group="Дороги", name="Ямы в Мартюше",
                    organisation="Администрация Мартюша", words=("яма",), weight=1.5,
                    settlements=("Мартюш",))


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return compile_rules((ROADS, LOCAL), RulesConfig(), settlements=SETTLEMENTS,
                         place_required=("strict",))


# (text, settlement)
PLACES = [
    ("Ямы в Мартюше", "Мартюш"),
    ("Жители Мартюша жалуются", "Мартюш"),
    ("МАРТЮШ: опять ямы", "Мартюш"),
    ("Мартюшем никто не занимается", "Мартюш"),
    ("По Колчедану не проехать", "Колчедан"),
    ("в Колчедане нет света", "Колчедан"),
    ("В Покровском прорвало трубу", "Покровское"),
    ("Покровского сельсовета", "Покровское"),
    ("Дорога до Нового Быта разбита", "Новый Быт"),
    ("в Новом Быте", "Новый Быт"),
    ("в Позарихе ямы", "Позариха"),
    ("в Грязнухе ямы", "Большая Грязнуха"),
    ("в Большой Грязнухе ямы", "Большая Грязнуха"),
    ("в Каменске-Уральском ямы", "Каменск-Уральский"),
    ("Каменск-Уральский", "Каменск-Уральский"),
    # streets identify a settlement only if exactly one settlement has them, after a marker
    ("ул. Бажова, яма", "Мартюш"),
    ("на улице Бажова яма", "Мартюш"),
    ("ул. Садовая, 5", "Сипавское"),
    ("на Садовой улице", "Сипавское"),
    # …or without a street word: after a preposition or before a house number (issue 10)
    ("на Бажова мусор", "Мартюш"),
    ("Бажова 5 нет воды", "Мартюш"),
    ("по Садовой не пройти", "Сипавское"),
    ("Ленина 5 нет воды", None),
    ("сказы Бажова читали", None),
    ("ул. Ленина, яма", None),
    ("книга Бажова", None),
    # nothing of ours; other words that merely resemble ours
    ("Ямы на дороге", None),
    ("Покровская церковь", None),
    ("новый быт", "Новый Быт"),
    ("", None),
]


@pytest.mark.parametrize(("text", "settlement"), PLACES)
def test_settlement_in_any_case_form(ruleset: RuleSet, text: str, settlement: str | None) -> None:
    assert classify(text, ruleset).settlement == settlement


def test_most_mentioned_settlement_wins_ties_go_to_the_first(ruleset: RuleSet) -> None:
    text = "Из Колчедана в Мартюш, потом снова в Колчедан"
    assert classify(text, ruleset).settlement == "Колчедан"
    assert classify("Из Мартюша в Колчедан", ruleset).settlement == "Мартюш"
    assert classify("Из Колчедана в Мартюш", ruleset).settlement == "Колчедан"


@pytest.mark.parametrize(("text", "address"), [
    ("Бажова 5 нет воды", "Бажова, 5"),
    ("на Бажова 12а яма", "Бажова, 12а"),
    ("ул. Бажова, д. 7 яма", "Бажова, 7"),
    ("на улице Бажова яма", "Бажова"),
    ("в Мартюше яма", None),
    ("ул. Ленина, 5", None),
])
def test_the_address_is_the_street_and_house_number(
    ruleset: RuleSet, text: str, address: str | None
) -> None:
    verdict = classify(text, ruleset)
    assert verdict.address == address
    assert verdict.as_dict()["address"] == address


def test_pick_settlement() -> None:
    assert pick_settlement([]) is None
    assert pick_settlement([(2, 5), (1, 7), (1, 9)]) == 1
    assert pick_settlement([(2, 5), (1, 3)]) == 1


def test_a_settlement_alone_is_reported_without_a_topic(ruleset: RuleSet) -> None:
    result = classify("Хорошо в Мартюше", ruleset)
    assert (result.topic, result.settlement, result.actionable) == (None, "Мартюш", False)
    assert result.as_dict()["settlement"] == "Мартюш"


def test_settlement_scope(ruleset: RuleSet) -> None:
    assert classify("Ямы в Мартюше", ruleset).topic == "martyush-roads"
    assert classify("Ямы в Колчедане", ruleset).topic == "roads"
    assert classify("Ямы", ruleset).topic == "roads"


def test_a_source_that_requires_a_place(ruleset: RuleSet) -> None:
    elsewhere = classify("Ямы на дороге", ruleset, source="strict")
    assert (elsewhere.topic, elsewhere.actionable) == ("roads", False)
    assert "населённый пункт не найден" in elsewhere.why[-1]
    assert classify("Ямы в Мартюше", ruleset, source="strict").actionable
    assert classify("Ямы на дороге", ruleset, source="other").actionable


# (name, forms it must include)
FORMS = [
    ("Мартюш", {"мартюш", "мартюша", "мартюше", "мартюшу", "мартюшем"}),
    ("Колчедан", {"колчедане", "колчедану"}),
    ("Покровское", {"покровском", "покровского", "покровскому"}),
    ("Позариха", {"позарихе", "позарихи", "позарихой"}),
    ("Каменск-Уральский", {"каменске-уральском", "каменска-уральского"}),
    ("Черёмхово", {"черемхово"}),
]


@pytest.mark.parametrize(("name", "forms"), FORMS)
def test_name_forms(name: str, forms: set[str]) -> None:
    assert forms <= name_forms(name)


def test_the_incident_keeps_the_theme_and_the_address(write_config) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from connectors.base import Item
    from monitor.config import build_ruleset, load_config
    from monitor.daemon.intake import Intake
    from monitor.daemon.workcal import WorkingCalendar

    theme = "Нарушение графика вывоза ТКО"
    config = load_config(write_config(f"""
[[places.settlements]]
name = "Мартюш"
streets = ["Бажова"]

[[topics]]
id = "bins"
group = "Обращение с отходами"
name = "Мусор"
organisation = "Регоператор"
im_topic = "{theme}"
words = ["мусор"]
""")).config
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))
    entry = intake.classify(Item("vk", "1", "https://vk.com/1", "Бажова 5 мусор не вывозят",
                                 now), "vk", now)
    assert entry.incident is not None
    assert (entry.incident.im_topic, entry.incident.address) == (theme, "Бажова, 5")
