"""The day `monitor demo` plays: residents' messages on four simulated networks (complaints,
noise, repeats), the administration's answers in threads, and the networks themselves —
the same fake servers the tests use, on 127.0.0.1."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from fakes.bot_api import FakeBotApi
from fakes.ok import FakeOk
from fakes.tme import FakeTme
from fakes.vk import FakeVk

DAY_START = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
"""Wednesday 25 November 2026, 08:00 in Yekaterinburg: a working day."""
CHANNEL, VK_GROUP, OK_GROUP = "kamensk_news", 222, "55348644610059"
CITY_CHAT, DUTY_CHAT, STAFF_ID = -1001906889117, -1007770001111, 111
STAFF_NAME = "Иванова А. П."
VK_TOKEN, OK_TOKEN, OK_KEY, OK_SECRET = "demo-vk", "demo-ok", "DEMOOKAPPKEY", "demo-ok-secret"
NETWORK_NAMES = {"tme": "Telegram-канал", "vk": "ВКонтакте", "ok": "Одноклассники",
                 "chat": "чат округа"}


@dataclass(frozen=True, slots=True)
class Message:
    """A resident writes (`at` minutes after the day starts); `key` names it for an answer."""

    at: int
    network: str
    text: str
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The administration answers a message in its thread."""

    at: int
    to: str
    text: str


Event = Message | Answer

DAY: tuple[Event, ...] = (
    Message(3, "tme", "На улице Ленина у дома 12 огромная яма, машины бьют колёса"),
    Message(6, "vk", "Третий день нет горячей воды на Мира 5, когда дадут?", "water"),
    Message(9, "ok", "Спасибо администрации за новогоднюю ёлку на площади!"),
    Message(12, "chat", "Продам гараж в кооперативе «Северный», недорого"),
    Message(15, "ok", "Не вывозят мусор с контейнерной площадки на Садовой уже неделю",
            "waste"),
    Message(20, "chat", "Репост: На улице Ленина у дома 12 огромная яма, машины бьют колёса!"),
    Message(25, "chat", "Во дворе на Титова 3 не горят фонари, вечером темно и страшно"),
    Answer(40, "water", "Авария на сетях устранена, горячая вода будет к 14:00"),
    Message(48, "vk", "Кто нашёл собаку у школы №2, рыжая, откликается на Бим?"),
    Message(55, "ok", "Когда починят отопление в школе №3? Дети сидят в куртках", "heat"),
    Message(70, "tme", "С праздником, дорогие земляки! Поздравляем с Днём матери"),
    Message(85, "chat", "Автобус №5 опять не пришёл, ждём на остановке уже час"),
    Answer(95, "waste", "Вывоз назначен на сегодня до 16:00, подрядчику выставлен штраф"),
    Message(110, "vk", "На Бажова упало дерево на провода, искрит! Опасно", "tree"),
    Message(130, "tme", "Куда обращаться насчёт бездомных собак у детского сада на Кирова?"),
    Answer(140, "tree", "Аварийная бригада выехала, район обесточен на время работ"),
    Message(160, "ok", "Гололёд на тротуарах по Советской, никто не посыпает", "ice"),
    Message(190, "chat", "Подскажите, где в Мартюше оформить субсидию на ЖКУ?"),
    Message(220, "vk", "Яма на въезде в Колчедан, уже две машины пробили колёса"),
    Message(260, "tme", "Отличная погода сегодня, всем хорошего дня"),
    Message(300, "ok", "В подъезде дома на Садовой 8 неделю не убирают, грязь"),
    Answer(330, "heat", "Отопление в школе №3 восстановлено, температура в норме"),
    Message(360, "chat", "Не работает светофор на перекрёстке Ленина и Мира"),
    Message(420, "vk", "Когда уберут снег во дворе на Титова 5? Не пройти"),
    Message(480, "tme", "Нет воды во всём доме на Бажова 7 с утра"),
    Message(540, "ok", "Спасибо за быструю уборку снега на Советской!"),
)


class DemoWorld:
    """The simulated networks, started and stopped together; `publish` plays one event."""

    def __init__(self) -> None:
        self._stack = AsyncExitStack()
        self.tme = FakeTme(CHANNEL)
        self.vk = FakeVk(now=DAY_START.timestamp())
        self.ok = FakeOk()
        self.bot = FakeBotApi()
        self._refs: dict[str, tuple[str, object]] = {}
        self._next_post = 100

    async def __aenter__(self) -> DemoWorld:
        for fake in (self.tme, self.vk, self.ok, self.bot):
            await self._stack.enter_async_context(fake)  # type: ignore[type-var]
        self.vk.add_token(VK_TOKEN, kind="service")
        self.vk.add_community(VK_GROUP, name="Администрация Каменского округа")
        self._vk_post = self.vk.add_post(VK_GROUP, "Администрация: пишите о проблемах сюда",
                                         date=DAY_START - timedelta(days=1))
        self.ok.add_application(OK_KEY, OK_SECRET)
        self.ok.add_token(OK_TOKEN)
        self.ok.add_group(OK_GROUP, name="Администрация Каменского округа")
        self._ok_topic = self.ok.add_topic(OK_GROUP, "Обращения жителей: пишите в комментариях",
                                           date=DAY_START - timedelta(days=1))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def env(self) -> dict[str, str]:
        """The secrets the daemon reads from its environment (all of them the fakes')."""
        return {"MONITOR_BOT_TOKEN": self.bot.token, "VK_SERVICE_TOKEN": VK_TOKEN,
                "OK_ACCESS_TOKEN": OK_TOKEN, "OK_APP_KEY": OK_KEY, "OK_APP_SECRET": OK_SECRET}

    def config_text(self) -> str:
        """The demo's config: the built-in rubricator, a short SLA, every network aimed here."""
        return CONFIG.format(tme=self.tme.base_url, vk=self.vk.base_url, ok=self.ok.base_url,
                             bot=self.bot.base_url, vk_group=VK_GROUP, ok_group=OK_GROUP,
                             city_chat=CITY_CHAT, duty_chat=DUTY_CHAT, staff=STAFF_ID,
                             staff_name=STAFF_NAME, channel=CHANNEL)

    def publish(self, event: Event, when: datetime) -> str:
        """Put an event on its network at `when`; a line for the live view."""
        self.vk.now = when.timestamp()
        if isinstance(event, Answer):
            return self._answer(event, when)
        if event.network == "tme":
            self._next_post += 1
            self.tme.add_post(self._next_post, when, event.text)
        elif event.network == "vk":
            ref: object = self.vk.add_comment(VK_GROUP, self._vk_post, event.text,
                                              from_id=5550000 + event.at, date=when)
            self._remember(event, "vk", ref)
        elif event.network == "ok":
            self.ok.add_user(str(577000 + event.at), "Житель")
            ref = self.ok.add_comment(self._ok_topic, event.text, user=str(577000 + event.at),
                                      date=when)
            self._remember(event, "ok", ref)
        else:
            self.bot.push_message(CITY_CHAT, 9000 + event.at, event.text, title="Каменск: чат",
                                  first_name="Житель")
        return f"{NETWORK_NAMES[event.network]}: «{event.text}»"

    def _remember(self, event: Message, network: str, ref: object) -> None:
        if event.key:
            self._refs[event.key] = (network, ref)

    def _answer(self, event: Answer, when: datetime) -> str:
        network, ref = self._refs[event.to]
        if network == "vk":
            self.vk.add_comment(VK_GROUP, self._vk_post, event.text, from_id=-VK_GROUP,
                                date=when, reply_to_comment=ref)  # type: ignore[arg-type]
        else:
            self.ok.add_comment(self._ok_topic, event.text, date=when,
                                reply_to=str(ref))
        return f"{NETWORK_NAMES[network]}, ответ администрации: «{event.text}»"


def demo_config_path(folder: Path) -> Path:
    """Where the demo writes its config."""
    return folder / "config.toml"


CONFIG = """# Конфигурация демонстрации: все сети — локальные имитации на 127.0.0.1.
[storage]
path = "monitor.db"

[rules]
include = ["builtin:rubricator"]

[sla]
first_response = "2h"
clock = "working"
warn_before = "30m"

[daemon]
deadline_tick = "1s"
outbox_interval = "1s"
first_poll_spread = "0s"
shutdown_grace = "5s"

[[sources]]
id = "kamensk-news"
network = "telegram_web"
channel = "{channel}"
base_url = "{tme}"
interval = "1s"
jitter = "0s"

[[sources]]
id = "admin-vk"
network = "vk"
group_id = {vk_group}
token_env = "VK_SERVICE_TOKEN"
base_url = "{vk}"
interval = "1s"
jitter = "0s"

[[sources]]
id = "admin-ok"
network = "ok"
group_id = "{ok_group}"
token_env = "OK_ACCESS_TOKEN"
application_key_env = "OK_APP_KEY"
application_secret_env = "OK_APP_SECRET"
base_url = "{ok}"
interval = "1s"
jitter = "0s"
rate = 20

[[sources]]
id = "city-chat"
network = "telegram_bot"
chat_id = {city_chat}
interval = "1s"
jitter = "0s"

[telegram]
base_url = "{bot}"
timeout = "2s"
long_poll = "1s"

[[telegram.chats]]
id = {duty_chat}
name = "Дежурные МЦУ"

[[telegram.staff]]
id = {staff}
name = "{staff_name}"
"""
