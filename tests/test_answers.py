"""Answers in depth: interim answers keep an incident open with a follow-up term, the citizen
writing again after the final answer reopens it, thanks are recorded; the same states and events
from the thread (fake VK, end to end), the command line and the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.clock import ManualClock
from connectors.base import Item
from monitor.cli import main
from monitor.config import AppConfig, build_ruleset, load_config
from monitor.config.problems import ConfigError
from monitor.daemon.app import App
from monitor.daemon.intake import Intake
from monitor.daemon.workcal import WorkingCalendar
from rules.answers import answer_kind, follow_up_kind
from storage import (
    SYSTEM,
    Action,
    ActionResult,
    IncidentEvent,
    IncidentRow,
    open_store,
)
from tests.conftest import PITS_TOPIC
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.vk import FakeVk
from tests.postgres import fresh_schema
from tests.test_staff_bot import api, app, command, open_incident  # noqa: F401 (fixtures)

START = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # Wednesday 09:00 in Yekaterinburg
WALL, CITIZEN, NEIGHBOUR = 111, 5551234, 7770001


@pytest.mark.parametrize(("text", "kind"), [
    # The examples and their relatives: promises only.
    ("Уточним информацию и вернёмся с ответом", "interim"),
    ("Уточняем сроки", "interim"),
    ("Информация будет уточнена", "interim"),
    ("Ваше обращение передано в управляющую компанию", "interim"),
    ("Передали в МУП «Водоканал»", "interim"),
    ("Разберёмся!", "interim"),
    ("Разбираемся с подрядчиком", "interim"),
    ("Ответ будет дан в течение 10 дней", "interim"),
    ("Вопрос рассматривается", "interim"),
    ("Направлен запрос в управление ЖКХ", "interim"),
    ("Вопрос находится на контроле администрации", "interim"),
    ("Ситуация под контролем", "interim"),
    ("Проверим и сообщим", "interim"),
    ("Специалисты выедут на место завтра", "interim"),
    ("Отремонтируем", "interim"),
    ("Работы пока не выполнены, уточняем сроки", "interim"),
    # Done, decided, or planned with a term: final.
    ("Спасибо за обращение. Яма засыпана.", "final"),
    ("Добрый день! Работы выполнены.", "final"),
    ("Обращение передано в УК, течь устранена", "final"),
    ("Ремонт дороги запланирован на 2027 год", "final"),
    ("Засыплем в пятницу", "final"),
    ("Бригада выехала, к вечеру засыплем", "final"),
    ("Добрый вечер! Отремонтируем", "interim"),
    ("Бригада направлена, работы будут выполнены до 15 мая", "final"),
    ("Сообщаем, что мусор вывезен", "final"),
    ("Бригада выехала", "final"),
    ("Вам ответили в личных сообщениях", "final"),
    ("", "final"),
])
def test_interim_or_final_answer(text: str, kind: str) -> None:
    assert answer_kind(text).kind == kind


@pytest.mark.parametrize(("text", "kind"), [
    ("Так и не сделали", "reopen"),
    ("Ничего не убрано", "reopen"),
    ("До сих пор лежит мусор", "reopen"),
    ("По-прежнему течёт", "reopen"),
    ("Опять яма", "reopen"),
    ("Никто не приехал", "reopen"),
    ("Спасибо за отписку", "reopen"),
    ("Спасибо, что так и не сделали", "reopen"),
    ("Спасибо, сделали!", "thanks"),
    ("Благодарю, всё починили", "thanks"),
    ("Сделали, наконец", "thanks"),
    ("Спасибо", "thanks"),
    ("А когда?", None),
    ("", None),
])
def test_what_a_citizen_says_after_the_answer(text: str, kind: str | None) -> None:
    assert follow_up_kind(text) == kind


def test_hostile_and_oversized_texts_are_handled() -> None:
    assert answer_kind("уточним " * 100_000).kind == "interim"
    assert answer_kind("\x00\u202e<script>передали в</script>").kind == "interim"
    assert follow_up_kind("😀" * 10_000) is None


CONFIG = """
[[sources]]
id = "wall"
network = "vk"
group_id = {wall}
token_env = "VK_SERVICE_TOKEN"
base_url = "{url}"
""" + PITS_TOPIC


Backend = tuple[str, dict[str, str]]


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """The `[storage]` section and the App's environment of each backend: a thread is followed
    by the shared queries, so these tests run on both."""
    env = {"VK_SERVICE_TOKEN": "svc"}
    if request.param == "sqlite":
        yield '[storage]\npath = "m.db"\n', env
        return
    async with fresh_schema() as dsn:
        yield '[storage]\nbackend = "postgresql"\n', {**env, "MONITOR_PG_DSN": dsn}


def complaint_on_a_wall(vk: FakeVk, tmp_path: Path, backend: Backend, extra: str = ""
                        ) -> tuple[int, int, AppConfig]:
    """A community wall with a citizen's complaint under a post; the config that reads it."""
    vk.add_community(WALL, name="Администрация")
    vk.add_token("svc", kind="service")
    post = vk.add_post(WALL, "Новости района", date=START - timedelta(hours=2))
    complaint = vk.add_comment(WALL, post, "Яма у школы", from_id=CITIZEN,
                               date=START - timedelta(minutes=20))
    path = tmp_path / "config.toml"
    path.write_text(backend[0] + CONFIG.format(wall=WALL, url=vk.base_url) + extra,
                    encoding="utf-8")
    return int(post), int(complaint), load_config(path, env=backend[1]).config


async def test_a_thread_on_vk_from_complaint_to_thanks(tmp_path: Path, backend: Backend) -> None:
    clock = ManualClock(START)
    async with FakeVk(now=START.timestamp()) as vk:
        post, complaint, config = complaint_on_a_wall(vk, tmp_path, backend)

        async def step(minutes: int, text: str, author: int, reply_to: int) -> int:
            moment = START + timedelta(minutes=minutes)
            clock.set(moment)
            vk.now = moment
            comment = vk.add_comment(WALL, post, text, from_id=author, date=moment,
                                     reply_to_comment=reply_to)
            await app.poll("wall")
            return int(comment)

        async with App(config, clock=clock, env=backend[1]) as app:
            first = await app.poll("wall")
            assert first is not None
            [number] = first.incidents
            assert await app.deadline_tick() == 1  # announced (to the log: no bot here)
            opened = await app.store.incident(number)
            assert opened is not None and opened.due_at == datetime(2026, 11, 25, 13, 0,
                                                                    tzinfo=UTC)
            # An interim answer: still open, with 7 working days from the answer.
            interim = await step(30, "Передали в управляющую компанию, уточним сроки", -WALL,
                                 complaint)
            row = await app.store.incident(number)
            assert row is not None and row.status == "open" and row.deadline_round == 1
            assert row.due_at == datetime(2026, 12, 4, 13, 0, tzinfo=UTC)  # close of day 7
            # A neighbour thanking in the thread changes nothing; the final answer answers it.
            await step(40, "Спасибо!", NEIGHBOUR, interim)
            final = await step(60 * 5, "Яма засыпана", -WALL, complaint)
            row = await app.store.incident(number)
            assert row is not None and row.status == "answered"
            # The citizen writes that it was not done: reopened with a new term, no new
            # incident of its own.
            reopening = await step(60 * 24, "Так и не сделали, яма на месте", CITIZEN,
                                   final)
            row = await app.store.incident(number)
            assert row is not None and row.status == "open" and row.deadline_round == 2
            assert row.answered_at is None and row.due_at > START + timedelta(days=7)
            assert [i.id for i in await app.store.list_incidents()] == [number]
            # Staff hear of it again (a new term, a new announcement), and only once.
            assert await app.deadline_tick() == 1
            assert await app.deadline_tick() == 0
            # Answered again, then thanked.
            again = await step(60 * 30, "Яма заасфальтирована", -WALL, reopening)
            await step(60 * 40, "Спасибо, сделали!", CITIZEN, again)
            row = await app.store.incident(number)
            events = await app.store.events_of(number)
    assert row is not None and row.status == "answered"
    kinds = [e.kind for e in events]
    assert kinds == ["opened", "interim", "answered", "reopened", "answered", "satisfied"]
    by_kind = {e.kind: e for e in events}
    assert by_kind["interim"].actor.kind == "official"
    assert by_kind["interim"].detail["due_at"] == "2026-12-04T13:00:00+00:00"
    assert by_kind["reopened"].actor.kind == "citizen"
    assert by_kind["reopened"].detail["text"] == "Так и не сделали, яма на месте"
    assert by_kind["satisfied"].detail["said_at"] == (START + timedelta(hours=40)).isoformat()


async def test_a_late_or_foreign_message_does_not_reopen(tmp_path: Path, backend: Backend
                                                         ) -> None:
    clock = ManualClock(START)
    async with FakeVk(now=START.timestamp()) as vk:
        post, complaint, config = complaint_on_a_wall(vk, tmp_path, backend,
                                                      '[answers]\nwindow = "1d"\n')
        async with App(config, clock=clock, env=backend[1]) as app:
            [number] = (await app.poll("wall")).incidents  # type: ignore[union-attr]
            answer = vk.add_comment(WALL, post, "Яма засыпана", from_id=-WALL,
                                    date=START + timedelta(minutes=10), reply_to_comment=complaint)
            vk.add_comment(WALL, post, "Так и не сделали", from_id=NEIGHBOUR,
                           date=START + timedelta(minutes=20), reply_to_comment=answer)
            vk.add_comment(WALL, post, "Так и не сделали", from_id=CITIZEN,
                           date=START + timedelta(days=1, hours=1), reply_to_comment=answer)
            vk.now = START + timedelta(days=1, hours=1)
            clock.set(START + timedelta(days=1, hours=1))
            await app.poll("wall")
            row = await app.store.incident(number)
            kinds = [e.kind for e in await app.store.events_of(number)]
    assert row is not None and row.status == "answered"
    assert kinds == ["opened", "answered"]


async def _open_one(config: AppConfig) -> int:
    intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))
    store = await open_store(config.database_path)
    try:
        entry = intake.classify(Item("s", "1", "https://t.me/s/1", "Яма", START), "t", START)
        [number] = (await store.save_items_and_cursor("s", [entry], {}, START)).incidents
    finally:
        await store.close()
    return number


async def _read(config: AppConfig, number: int) -> tuple[IncidentRow | None,
                                                         list[IncidentEvent], ActionResult]:
    store = await open_store(config.database_path)
    try:
        return (await store.incident(number), await store.events_of(number),
                await store.act(number, Action("satisfied", SYSTEM), START))
    finally:
        await store.close()


def test_the_command_line_gives_an_interim_answer(write_config, capsys) -> None:  # type: ignore[no-untyped-def]
    path = write_config('[storage]\npath = "m.db"\n' + PITS_TOPIC)
    config = load_config(path, env={}).config
    number = asyncio.run(_open_one(config))
    assert main(["incidents", "interim", str(number), "--config", str(path),
                 "--link", "https://vk.com/wall-1_2"]) == 0
    out = capsys.readouterr().out
    assert f"Инцидент №{number}: промежуточный ответ; новый срок" in out
    row, events, again = asyncio.run(_read(config, number))
    assert row is not None and row.status == "open" and row.deadline_round == 1
    assert row.due_at > START + timedelta(days=7)
    assert events[-1].kind == "interim" and events[-1].actor.kind == "cli"
    assert events[-1].detail["link"] == "https://vk.com/wall-1_2"
    assert again.outcome == "not_answered"


async def test_staff_give_an_interim_answer_from_telegram(  # noqa: F811 (fixtures)
    app: App, api: FakeBotApi  # noqa: F811
) -> None:
    number = await open_incident(app)
    [reply] = await command(app, api, f"/interim {number} https://vk.com/wall-1_2?reply=3")
    # Wednesday 09:00 + 7 working days: the close of Friday next week (18:00 local).
    assert reply == f"Инцидент №{number}: промежуточный ответ (Иванова А. П.); новый срок " \
                    "04.12.2026 18:00."
    row = await app.store.incident(number)
    assert row is not None and row.status == "open" and row.deadline_round == 1
    [card] = await command(app, api, f"/incident {number}")
    assert "промежуточный ответ: https://vk.com/wall-1_2?reply=3 — Иванова А. П." in card
    assert await command(app, api, f"/interim {number} javascript:alert(1)") == \
        ["Ссылка на ответ должна начинаться с https:// или http://."]
    assert await command(app, api, f"/answered {number}") == \
        [f"Инцидент №{number}: ответ дан (Иванова А. П.)."]
    assert await command(app, api, f"/interim {number}") == \
        [f"Инцидент №{number} уже закрыт (ответ дан): ничего не изменено."]


@pytest.mark.parametrize(("answers", "problem"), [
    ('reopen = "может быть"', "answers.reopen"),
    ('window = "0s"', "answers.window"),
    ('window = "soon"', "answers.window"),
    ('close = true', "answers.close"),
])
def test_a_bad_answers_section_is_an_error(write_config, answers: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    path = write_config(f"[answers]\n{answers}\n" + PITS_TOPIC)
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert [(p.line, p.key) for p in exc.value.problems] == [(2, problem)]


async def test_interim_answers_and_reopening_can_be_turned_off(tmp_path: Path, backend: Backend
                                                               ) -> None:
    clock = ManualClock(START)
    async with FakeVk(now=START.timestamp()) as vk:
        off = "[answers]\ninterim = false\nreopen = false\n"
        post, complaint, config = complaint_on_a_wall(vk, tmp_path, backend, off)
        answer = vk.add_comment(WALL, post, "Уточним", from_id=-WALL,
                                date=START - timedelta(minutes=10), reply_to_comment=complaint)
        vk.add_comment(WALL, post, "Так и не сделали, яма", from_id=CITIZEN,
                       date=START - timedelta(minutes=5), reply_to_comment=answer)
        async with App(config, clock=clock, env=backend[1]) as app:
            result = await app.poll("wall")
            assert result is not None and len(result.incidents) == 2  # the reply is its own
            first = await app.store.incident(result.incidents[0])
    assert first is not None and first.status == "answered"
