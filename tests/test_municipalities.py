"""Several municipalities in one config (a regional centre): sources, chats, routes, escalations,
settlements and policies tagged with a `municipality`; each incident belongs to the municipality
of the settlement its text names, else of its source; its alerts go to that municipality's
chats, its policy is that municipality's, and reports are made per municipality and for the
region. Through the real daemon (polls of the fake t.me, the fake Bot API) on both backends."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from common.clock import ManualClock
from connectors.base import Item
from monitor.cli import main
from monitor.config import AppConfig, build_ruleset, load_config
from monitor.config.problems import ConfigError
from monitor.daemon.app import App
from monitor.daemon.intake import Intake
from monitor.daemon.recompute import recompute_deadlines
from monitor.daemon.workcal import WorkingCalendar
from storage import IncidentRow
from storage.sql.repeats import FIND_SAME_TEXT
from storage.sql.reports import EVENTS, INCIDENTS, SCOPE
from storage.sqlite.store import SqliteStore
from tests.alerting import EKB, TOPICS
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.tme import FakeTme
from tests.postgres import fresh_schema

START = datetime(2026, 11, 25, 9, 0, tzinfo=EKB).astimezone(UTC)  # Wednesday, working hours
REGION_CHAT, KAMENSK_CHAT, BOGDANOVICH_CHAT = -1000, -1001, -1002
KAMENSK_HEAD, BOGDANOVICH_UTILITIES = -1011, -1012
KAMENSK_CURATOR, BOGDANOVICH_CURATOR, REGION_CURATOR = -2001, -2002, -2000
IVANOVA = 111
CHANNELS = ("region_news", "kamensk_news", "bogdanovich_news")

MUNICIPALITIES = """
[[municipalities]]
id = "kamensk"
name = "Каменский городской округ"
curator_chat = {kamensk_curator}

[[municipalities]]
id = "bogdanovich"
name = "Городской округ Богданович"
curator_chat = {bogdanovich_curator}
"""
REGION = """
[telegram]
base_url = "{bot}"
timeout = "2s"
long_poll = "1s"
max_attempts = 2

[[telegram.chats]]
id = {region_chat}
name = "ЦУР: дежурные"

[[telegram.chats]]
id = {kamensk_chat}
name = "МЦУ Каменского ГО"
municipality = "kamensk"

[[telegram.chats]]
id = {bogdanovich_chat}
name = "МЦУ Богдановича"
municipality = "bogdanovich"

[[telegram.staff]]
id = {ivanova}
name = "Иванова А. П."

[report]
curator_chat = {region_curator}

[[alerts.escalations]]
name = "ЦУР"
after = "2h"
chats = [{region_chat}]

[[alerts.escalations]]
name = "глава Каменского ГО"
after = "1h"
chats = [{kamensk_head}]
municipality = "kamensk"

[[alerts.routes]]
name = "ЖКХ Богдановича"
groups = ["ЖКХ"]
municipality = "bogdanovich"
chat = {bogdanovich_utilities}

[[policies]]
name = "богданович-дороги"
municipality = "bogdanovich"
groups = ["Дороги"]
first_response = "2h"
clock = "calendar"

[[policies]]
name = "дороги"
groups = ["Дороги"]
first_response = "8h"

[places]
[[places.settlements]]
name = "Мартюш"
municipality = "kamensk"

[[places.settlements]]
name = "Грязновское"
municipality = "bogdanovich"

[[places.settlements]]
name = "Кедровое"

[[places.settlements]]
name = "Покровское"
municipality = "kamensk"

[[places.settlements]]
name = "Покровское"
municipality = "bogdanovich"
"""
SOURCE = """
[[sources]]
id = "{name}"
network = "telegram_web"
channel = "{name}"
base_url = "{tme}"
jitter = "0s"
{tag}
"""
TAGS = {"region_news": "", "kamensk_news": 'municipality = "kamensk"',
        "bogdanovich_news": 'municipality = "bogdanovich"'}


def region_config(path: Path, bot: str, tme: str, head: str) -> AppConfig:
    """The region's config (after the storage `head`), its three channels on the fake t.me."""
    chats = {"region_chat": REGION_CHAT, "kamensk_chat": KAMENSK_CHAT,
             "bogdanovich_chat": BOGDANOVICH_CHAT, "kamensk_head": KAMENSK_HEAD,
             "bogdanovich_utilities": BOGDANOVICH_UTILITIES, "region_curator": REGION_CURATOR,
             "kamensk_curator": KAMENSK_CURATOR, "bogdanovich_curator": BOGDANOVICH_CURATOR,
             "ivanova": IVANOVA, "bot": bot}
    sources = "".join(SOURCE.format(name=name, tme=tme, tag=TAGS[name]) for name in CHANNELS)
    path.write_text(head + MUNICIPALITIES.format(**chats) + REGION.format(**chats) + TOPICS
                    + sources, encoding="utf-8")
    return load_config(path, env={}).config


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, str]]]:
    """The `[storage]` head of the config and the environment it needs, on each backend."""
    if request.param == "sqlite":
        yield '[storage]\npath = "m.db"\n', {}
        return
    with _schema() as dsn:
        yield '[storage]\nbackend = "postgresql"\n', {"MONITOR_PG_DSN": dsn}


class _schema:
    """`fresh_schema` for a synchronous fixture (the event loop is the test's own)."""

    def __enter__(self) -> str:
        self._loop = asyncio.new_event_loop()
        self._context = fresh_schema()
        return self._loop.run_until_complete(self._context.__aenter__())

    def __exit__(self, *exc: object) -> None:
        self._loop.run_until_complete(self._context.__aexit__(None, None, None))
        self._loop.close()


POSTS = {
    # channel, post id: text — and the municipality its incident must belong to
    ("region_news", 1): ("Огромная яма на дороге в Мартюше", "kamensk"),  # the place decides
    ("region_news", 2): ("Яма посреди дороги в Грязновском", "bogdanovich"),
    ("region_news", 3): ("Яма у остановки, никто не чинит", None),  # a regional channel, no place
    ("region_news", 4): ("Яма в Кедровом", None),  # a place of no municipality
    ("kamensk_news", 1): ("Яма у школы", "kamensk"),  # no place: the source decides
    ("kamensk_news", 2): ("В Грязновском яма", "bogdanovich"),  # the place wins over the source
    ("bogdanovich_news", 1): ("Прорыв трубы, вода хлещет", "bogdanovich"),
}


@asynccontextmanager
async def running_region(
    tmp_path: Path, backend: tuple[str, dict[str, str]], clock: ManualClock
) -> AsyncIterator[tuple[App, FakeBotApi, dict[str, int]]]:
    """The region's daemon after one poll of each channel: its incidents by post."""
    head, env = backend
    async with FakeTme(CHANNELS[0]) as tme, FakeBotApi() as api:
        for name in CHANNELS[1:]:
            tme.add_channel(name)
        for (name, number), (text, _) in POSTS.items():
            tme.channels[name].add_post(number, START - timedelta(minutes=10), text)
        config = region_config(tmp_path / "config.toml", api.base_url, tme.base_url, head)
        async with App(config, clock=clock,
                       env={"MONITOR_BOT_TOKEN": api.token, **env}) as app:
            opened: dict[str, int] = {}
            for name in CHANNELS:
                result = await app.poll(name)
                assert result is not None
                for external, (_, number) in result.by_item.items():
                    opened[f"{name}/{external}"] = number
            yield app, api, opened


@pytest.fixture
async def region(
    tmp_path: Path, backend: tuple[str, dict[str, str]]
) -> AsyncIterator[tuple[App, FakeBotApi, ManualClock, dict[str, int]]]:
    clock = ManualClock(START)
    async with running_region(tmp_path, backend, clock) as (app, api, opened):
        yield app, api, clock, opened


@pytest.fixture
def filled(
    tmp_path: Path, backend: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The region's store after the daemon's polls, for the commands; its config's path."""
    async def fill() -> None:
        async with running_region(tmp_path, backend, ManualClock(START)):
            pass

    asyncio.run(fill())
    for key, value in backend[1].items():
        monkeypatch.setenv(key, value)
    clock = tmp_path / "clock"
    clock.write_text(datetime(2026, 12, 1, 9, 0, tzinfo=EKB).isoformat(), encoding="utf-8")
    monkeypatch.setenv("MONITOR_CLOCK_FILE", str(clock))
    return tmp_path / "config.toml"


def chats_of(api: FakeBotApi, number: int) -> set[int]:
    """The chats that got any alert naming incident №`number`."""
    return {m["chat_id"] for m in api.sent if f"№{number}" in m["text"]}


async def test_each_incident_belongs_to_its_place_else_its_source_and_goes_to_its_chats(
    region: tuple[App, FakeBotApi, ManualClock, dict[str, int]]
) -> None:
    app, api, clock, opened = region
    incidents: dict[str, IncidentRow] = {}
    for (name, number), (_, municipality) in POSTS.items():
        found = await app.store.incident(opened[f"{name}/{number}"])
        assert found is not None
        assert found.municipality == municipality, (name, number)
        incidents[f"{name}/{number}"] = found
    await app.deadline_tick()
    await app.flush_outbox()
    expected_new = {
        "region_news/1": {KAMENSK_CHAT}, "region_news/2": {BOGDANOVICH_CHAT},
        "region_news/3": {REGION_CHAT}, "region_news/4": {REGION_CHAT},
        "kamensk_news/1": {KAMENSK_CHAT}, "kamensk_news/2": {BOGDANOVICH_CHAT},
        "bogdanovich_news/1": {BOGDANOVICH_UTILITIES},  # the municipality's own route
    }
    assert {key: chats_of(api, i.id) for key, i in incidents.items()} == expected_new
    # The morning digest: each chat counts the open incidents its alerts go to.
    api.sent.clear()
    await app.morning_digest()
    await app.flush_outbox()
    digests = {m["chat_id"]: m["text"].split("\n")[1].split(" · ")[0] for m in api.sent
               if "Утренняя сводка" in m["text"]}
    assert digests == {REGION_CHAT: "Открыто: 2", KAMENSK_CHAT: "Открыто: 2",
                       BOGDANOVICH_CHAT: "Открыто: 2", BOGDANOVICH_UTILITIES: "Открыто: 1"}
    # The municipality's policy: Bogdanovich's roads are due in 2 calendar hours, the others'
    # under the regional road policy in 8 working hours (the working day, lunch aside).
    assert incidents["region_news/2"].policy == "богданович-дороги"
    assert incidents["region_news/2"].due_at == START + timedelta(hours=2)
    assert incidents["region_news/1"].policy == "дороги"
    assert incidents["region_news/1"].due_at == datetime(2026, 11, 25, 18, 0, tzinfo=EKB)
    # A day on: the region's escalation reaches the region's chat for every incident; the
    # Kamensk head's only for Kamensk's.
    api.sent.clear()
    clock.set(datetime(2026, 11, 27, 17, 0, tzinfo=EKB).astimezone(UTC))
    await app.deadline_tick()
    await app.flush_outbox()
    escalated = {m["chat_id"] for m in api.sent if "глава Каменского ГО" in m["text"]}
    assert escalated == {KAMENSK_HEAD}
    for key, incident in incidents.items():
        heads = {m["chat_id"] for m in api.sent
                 if f"№{incident.id}" in m["text"] and "глава Каменского ГО" in m["text"]}
        assert (heads == {KAMENSK_HEAD}) == (incident.municipality == "kamensk"), key
        assert REGION_CHAT in chats_of(api, incident.id), key


async def test_a_changed_municipality_policy_moves_only_its_incidents(
    region: tuple[App, FakeBotApi, ManualClock, dict[str, int]]
) -> None:
    """Recomputation chooses the policy by the stored municipality, as the opening did."""
    app, _, clock, opened = region
    [first, *rest] = app.config.policies
    longer = first.model_copy(update={"first_response": timedelta(hours=3)})
    config = app.config.model_copy(update={"policies": (longer, *rest)})
    moved = await recompute_deadlines(app.store, config, WorkingCalendar(config.calendar),
                                      clock.now())
    assert moved == 2  # Bogdanovich's two road incidents; its burst pipe is no road
    for key in ("region_news/2", "kamensk_news/2"):
        incident = await app.store.incident(opened[key])
        assert incident is not None and incident.due_at == START + timedelta(hours=3)
    kamensk = await app.store.incident(opened["region_news/1"])
    assert kamensk is not None and kamensk.due_at == datetime(2026, 11, 25, 18, 0, tzinfo=EKB)


@pytest.mark.parametrize(("source", "municipality"), [
    ("bogdanovich_news", "bogdanovich"),  # the source's own «Покровское»
    ("kamensk_news", "kamensk"),
    ("region_news", "kamensk"),  # a regional channel: the first listed
])
def test_a_village_name_two_municipalities_have_goes_by_the_source(
    tmp_path: Path, source: str, municipality: str
) -> None:
    config = region_config(tmp_path / "config.toml", "http://127.0.0.1:9/bot",
                           "http://127.0.0.1:9", "")
    intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))
    item = Item(source, "1", "https://t.me/x/1", "Яма на дороге в Покровском", START)
    entry = intake.classify(item, "telegram_web", START)
    assert entry.settlement == "Покровское"
    assert entry.incident is not None and entry.incident.municipality == municipality


def _summary(text: str, label: str) -> str:
    """The first value column of a summary row of the Markdown report."""
    line = next(row for row in text.splitlines() if row.startswith(f"| {label} |"))
    return line.split("|")[2].strip()


def test_reports_per_municipality_and_for_the_region(
    tmp_path: Path, filled: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(filled)
    out = tmp_path / "out"
    for municipality in ("kamensk", "bogdanovich"):
        assert main(["report", "--config", config, "--period", "2026-11", "--out", str(out),
                     "--format", "md", "--municipality", municipality]) == 0
    assert main(["report", "--config", config, "--period", "2026-11", "--out", str(out),
                 "--format", "md,csv"]) == 0
    printed = capsys.readouterr().out
    assert "Отчёт за ноябрь 2026 (Каменский городской округ): 1 файл(ов)" in printed
    kamensk = (out / "report_2026-11_kamensk.md").read_text(encoding="utf-8")
    bogdanovich = (out / "report_2026-11_bogdanovich.md").read_text(encoding="utf-8")
    whole = (out / "report_2026-11.md").read_text(encoding="utf-8")
    assert kamensk.startswith("# Отчёт МЦУ о работе с сообщениями жителей: ноябрь 2026 — "
                              "Каменский городской округ")
    assert [_summary(t, "Инцидентов зарегистрировано") for t in (kamensk, bogdanovich, whole)] \
        == ["2", "3", "7"]
    # Residents' messages: a municipality's own sources; the regional channel's only in the
    # region's report.
    assert [_summary(t, "Сообщений жителей получено") for t in (kamensk, bogdanovich, whole)] \
        == ["2", "1", "7"]
    assert "## По муниципалитетам" not in kamensk
    assert "## По муниципалитетам" in whole
    rows = (out / "report_2026-11_municipalities.csv").read_text(encoding="utf-8").splitlines()
    # name, incidents now, before, change, on time, counted, shares now and before, change:
    # by 1 December every deadline has passed unanswered.
    assert rows[1:] == ["Городской округ Богданович,3,0,3,0,3,0.0,,",
                        "Каменский городской округ,2,0,2,0,2,0.0,,"]


def test_an_unknown_municipality_is_refused_and_nothing_is_written(
    tmp_path: Path, filled: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    for hostile in ("kamensk'; DROP TABLE incidents; --", "Каменск", "x" * 10_000):
        assert main(["report", "--config", str(filled), "--period", "2026-11", "--out",
                     str(out), "--municipality", hostile]) == 2
        assert "нет в [[municipalities]] (известны: kamensk, bogdanovich)" in \
            capsys.readouterr().err
    assert not out.exists()
    assert main(["report", "--config", str(filled), "--period", "2026-11", "--out", str(out),
                 "--format", "md", "--municipality", "kamensk"]) == 0, "the store is whole"


async def test_each_curator_gets_their_municipality_and_the_region_its_whole(
    region: tuple[App, FakeBotApi, ManualClock, dict[str, int]]
) -> None:
    app, api, clock, _ = region
    clock.set(datetime(2027, 1, 11, 9, 0, tzinfo=EKB).astimezone(UTC))  # after the holidays
    assert await app.quarterly.tick()
    assert not await app.quarterly.tick(), "each sent once"
    documents = {u.chat_id: u for u in api.uploads if u.method == "sendDocument"}
    assert {chat: [name for name, _ in u.files] for chat, u in documents.items()} == {
        REGION_CURATOR: ["report_2026Q4.xlsx"],
        KAMENSK_CURATOR: ["report_2026Q4_kamensk.xlsx"],
        BOGDANOVICH_CURATOR: ["report_2026Q4_bogdanovich.xlsx"]}
    assert documents[KAMENSK_CURATOR].caption.startswith(
        "Отчёт МЦУ за IV квартал 2026 (Каменский городской округ):")
    registered = {chat: load_workbook(io.BytesIO(u.files[0][1]))["Сводка"]["B5"].value
                  for chat, u in documents.items()}
    assert registered == {REGION_CURATOR: 7, KAMENSK_CURATOR: 2, BOGDANOVICH_CURATOR: 3}
    region_book = load_workbook(io.BytesIO(documents[REGION_CURATOR].files[0][1]))
    assert "Муниципалитеты" in region_book.sheetnames


async def test_report_in_a_municipalitys_chat_is_that_municipalitys(
    region: tuple[App, FakeBotApi, ManualClock, dict[str, int]]
) -> None:
    app, api, _, _ = region
    api.push_message(BOGDANOVICH_CHAT, IVANOVA, "/report 2026-11")
    api.push_message(REGION_CHAT, IVANOVA, "/report 2026-11")
    await app.process_updates()
    replies = [m["text"] for m in api.sent if m["text"].startswith("Готовлю")]
    assert replies == ["Готовлю отчёт за ноябрь 2026 (Городской округ Богданович)…",
                       "Готовлю отчёт за ноябрь 2026…"]
    documents = [(u.chat_id, u.files[0][0], u.caption) for u in api.uploads
                 if u.method == "sendDocument"]
    assert documents == [
        (BOGDANOVICH_CHAT, "report_2026-11_bogdanovich.xlsx",
         "Отчёт МЦУ за ноябрь 2026 (Городской округ Богданович)"),
        (REGION_CHAT, "report_2026-11.xlsx", "Отчёт МЦУ за ноябрь 2026")]


async def test_status_in_a_municipalitys_chat_lists_its_incidents(
    region: tuple[App, FakeBotApi, ManualClock, dict[str, int]]
) -> None:
    app, api, _, _ = region
    api.push_message(KAMENSK_CHAT, IVANOVA, "/status")
    api.push_message(REGION_CHAT, IVANOVA, "/status")
    await app.process_updates()
    kamensk, region_wide = [m["text"].split("\n")[0] for m in api.sent]
    assert (kamensk, region_wide) == ("<b>Открытые инциденты: 2</b>",
                                      "<b>Открытые инциденты: 7</b>")


# --- the config --------------------------------------------------------------------------

HEAD = """
[[municipalities]]
id = "kamensk"
name = "Каменский городской округ"
"""


@pytest.mark.parametrize(("text", "key", "line"), [
    ('[[sources]]\nid = "a"\nnetwork = "telegram_web"\nchannel = "kamensk_news"\n'
     'municipality = "kamesnk"\n', "sources[0].municipality", 10),
    ('[[telegram.chats]]\nid = -1\nname = "x"\nmunicipality = "kamesnk"\n',
     "telegram.chats[0].municipality", 9),
    ('[[alerts.routes]]\nname = "r"\nchat = -1\nmunicipality = "kamesnk"\n',
     "alerts.routes[0].municipality", 9),
    ('[[alerts.escalations]]\nname = "e"\nafter = "1h"\nchats = [-1]\nmunicipality = "kamesnk"\n',
     "alerts.escalations[0].municipality", 10),
    ('[[places.settlements]]\nname = "Мартюш"\nmunicipality = "kamesnk"\n',
     "places.settlements[0].municipality", 8),
    ('[[policies]]\nname = "p"\nmunicipality = "kamesnk"\n', "policies[0].municipality", 8),
])
def test_a_tag_naming_no_municipality_is_an_error_with_its_line(
    tmp_path: Path, text: str, key: str, line: int
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(HEAD + "\n" + text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    [problem] = caught.value.problems
    assert (problem.line, problem.key) == (line, key)
    assert problem.message == ("нет муниципалитета 'kamesnk' в [[municipalities]]; "
                               "известны: kamensk")


@pytest.mark.parametrize(("text", "message"), [
    ('[[telegram.chats]]\nid = -1\nname = "x"\nmunicipality = "kamensk"\n',
     "config.toml:4: telegram.chats[0].municipality: нет муниципалитета 'kamensk' в "
     "[[municipalities]]; известны: их нет: добавьте таблицы [[municipalities]]"),
    (HEAD + HEAD, "config.toml:7: municipalities[1].id: повторяется id 'kamensk' (уже есть в "
                  "элементе 1)"),
    (HEAD + '[[places.settlements]]\nname = "Мартюш"\nmunicipality = "kamensk"\n'
            '[[places.settlements]]\nname = "Мартюш"\nmunicipality = "kamensk"\n',
     "places.settlements[1].name: повторяется name 'Мартюш (kamensk)' (уже есть в элементе 1)"),
    ('[[municipalities]]\nid = "Каменск"\nname = "x"\n',
     "municipalities[0].id: строка не подходит под шаблон"),
    ('[[municipalities]]\nid = "kamensk"\n', "municipalities[0].name: обязательный ключ"),
    (f'[[municipalities]]\nid = "{"k" * 41}"\nname = "x"\n', "municipalities[0].id"),
    ('[[municipalities]]\nid = "k"\nname = "x"\ncurator_chat = "чат"\n',
     "municipalities[0].curator_chat: ожидалось целое число"),
    ('[[municipalities]]\nid = "k"\nname = "x"\nchats = [1]\n',
     "municipalities[0].chats: неизвестный ключ"),
    (HEAD + '[[policies]]\nname = "p"\nmunicipality = 7\n',
     "policies[0].municipality: ожидалась строка в кавычках"),
    ("municipalities = 5\n", "municipalities: ожидался список"),
])
def test_bad_municipalities_are_refused_in_russian(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert message in str(caught.value)


def test_a_municipalitys_policy_hides_nothing_and_check_config_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The municipality's road policy comes before the region's: the region's still applies
    to every other municipality, so no «не применится никогда» warning."""
    path = tmp_path / "config.toml"
    config = region_config(path, "http://127.0.0.1:9/bot", "http://127.0.0.1:9", "")
    loaded = load_config(path, env={"MONITOR_BOT_TOKEN": "1:x"})
    assert [w for w in loaded.warnings if "не применится" in w.message] == []
    assert len(config.municipalities) == 2
    assert main(["check-config", "--config", str(path)]) == 0
    capsys.readouterr()
    swapped = path.read_text(encoding="utf-8").replace(
        'name = "дороги"\ngroups', 'name = "дороги-0"\ngroups')
    narrow = swapped.replace(
        '[[policies]]\nname = "богданович-дороги"\nmunicipality = "bogdanovich"\n',
        '[[policies]]\nname = "богданович-дороги"\n')
    path.write_text(narrow, encoding="utf-8")
    hidden = [w.message for w in load_config(path, env={}).warnings
              if "не применится" in w.message]
    assert hidden == ["политика 'дороги-0' не применится никогда: всё, что она охватывает, "
                      "раньше забирает политика 'богданович-дороги' (побеждает первая "
                      "подходящая; поставьте её выше или сузьте ту)"]


def test_routes_test_names_the_municipality(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    region_config(path, "http://127.0.0.1:9/bot", "http://127.0.0.1:9", "")
    assert main(["routes", "test", "--config", str(path), "--at", "2026-11-25T10:00",
                 "--source", "region_news", "Яма в Грязновском"]) == 0
    out = capsys.readouterr().out
    assert "Муниципалитет: Городской округ Богданович" in out
    assert "о новом → чат -1002 (дежурный чат «МЦУ Богдановича»)" in out
    assert "эскалация: ЦУР → чат -1000" in out and "глава Каменского ГО" not in out


def test_check_config_lists_the_municipalities_and_warns_where_alerts_go_astray(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    region_config(path, "http://127.0.0.1:9/bot", "http://127.0.0.1:9", "")
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Муниципалитеты (2):\n  Каменский городской округ (kamensk): источников 1, " \
           "населённых пунктов 2, своих чатов 1, чат куратора -2001\n" in out
    assert "  региональных источников (без municipality): 1" in out
    assert "богданович-дороги [groups = Дороги; municipality = bogdanovich]" in out
    assert "municipalities: не указан [alerts] admin_chat: системные оповещения (источник " \
           "молчит, токен отклонён) придут во все 3 чатов" in out
    # Without the regional chat, a municipality with no chat of its own alerts only the log.
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f'[[telegram.chats]]\nid = {REGION_CHAT}\nname = "ЦУР: '
                                 'дежурные"\n', "").replace(
        f'id = {BOGDANOVICH_CHAT}\nname = "МЦУ Богдановича"\nmunicipality = "bogdanovich"',
        f'id = {BOGDANOVICH_CHAT}\nname = "МЦУ Богдановича"\nmunicipality = "kamensk"'),
        encoding="utf-8")
    warnings = [str(w) for w in load_config(path, env={}).warnings
                if "журнал" in w.message and w.key.startswith("municipalities")]
    assert warnings == [f"{path}:8: municipalities[1].id: у муниципалитета 'bogdanovich' нет "
                        "своих [[telegram.chats]] и нет региональных (без municipality): "
                        "оповещения без маршрута пойдут только в журнал"]


def test_incidents_of_one_municipality_are_listed(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(filled)
    assert main(["incidents", "--config", config, "--format", "json",
                 "--municipality", "kamensk"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted("/".join(i["url"].split("/")[-2:]) for i in listed) == [
        "kamensk_news/1", "region_news/1"]
    assert {i["municipality"] for i in listed} == {"kamensk"}
    assert main(["incidents", "--config", config, "--municipality", "Каменск"]) == 2
    assert "муниципалитета 'Каменск' нет в [[municipalities]]" in capsys.readouterr().err
    assert main(["incidents", "show", "1", "--config", config, "--municipality", "kamensk"]) == 2
    assert "--municipality — только для списка инцидентов" in capsys.readouterr().err


async def test_the_same_complaint_in_two_municipalities_is_two_incidents(
    tmp_path: Path, backend: tuple[str, dict[str, str]]
) -> None:
    """A repeat joins an open incident of its own municipality only: «нет воды» in two
    municipalities is two problems; in one, one incident with a repeat."""
    config = region_config(tmp_path / "config.toml", "http://127.0.0.1:9/bot",
                           "http://127.0.0.1:9", backend[0])
    intake = Intake(config, build_ruleset(config), WorkingCalendar(config.calendar))
    text = "Прорыв трубы на улице, вода хлещет третий час, никто не приезжает"
    async with App(config, clock=ManualClock(START), env=backend[1]) as app:
        opened = []
        for source in ("kamensk_news", "bogdanovich_news", "kamensk_news"):
            item = Item(source, f"{source}-{len(opened)}", f"https://t.me/{source}/1", text,
                        START)
            entry = intake.classify(item, "telegram_web", START)
            result = await app.store.save_items_and_cursor(source, [entry], {}, START,
                                                           intake.repeats)
            opened.append((result.incidents, result.repeats))
    assert [len(new) for new, _ in opened] == [1, 1, 0]
    assert opened[2][1] == opened[0][0], "Kamensk's second one joins Kamensk's incident"


async def test_a_municipalitys_report_reads_its_rows_and_repeats_keep_their_index(
    tmp_path: Path
) -> None:
    """SQLite's plans: a municipality's span by its partial index, not every incident of the
    span; the repeat search of a tagged incident still by the fingerprint."""
    store = await SqliteStore.open(tmp_path / "m.db")
    try:
        span = {"start": "2026-07-01", "end": "2026-10-01", "municipality": "kamensk"}
        found = {}
        for name, sql, params in (
                ("incidents", INCIDENTS.format(scope=SCOPE), span),
                ("events", EVENTS.format(scope=SCOPE), span),
                ("repeats", FIND_SAME_TEXT, ("fingerprint", "2026-01-01", "Дороги", "kamensk"))):
            plan = await store.database.fetchall(f"EXPLAIN QUERY PLAN {sql}", params)
            found[name] = " / ".join(r["detail"] for r in plan)
    finally:
        await store.close()
    assert "USING INDEX incidents_municipality (municipality=? AND opened_at>? AND opened_at<?)" \
        in found["incidents"], found
    assert "incidents_municipality" in found["events"], found
    assert "USING INDEX incidents_fingerprint (fingerprint=?" in found["repeats"], found
