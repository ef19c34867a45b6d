"""Every fake network at once, a config aimed at them and a stream of content with ground truth.

The fault tests (in-process) and `bench/chaos.py`, `bench/soak.py` (the whole daemon process)
share it: `World` starts fake t.me, VK, OK and the Bot API (one chat the bot is in, one staff
chat for alerts); `World.step(at)` publishes a moment's posts and comments on every source and
records what the daemon must end up with (`Truth`).

What a step writes, per source, drawn from a seeded RNG: a resident's complaint (a unique text
with «яма»), noise (no topic), a repeat (the text of an earlier complaint, again, in another
source: it joins that open incident), an edit of an earlier complaint (t.me: a new version,
still one incident) and an official answer to an earlier complaint (VK, OK, the bot's chat).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self

from connectors.ok import comment_external_id as ok_comment_id
from connectors.ok import topic_external_id
from connectors.telegram_bot import external_id as bot_message_id
from connectors.vk import comment_external_id as vk_comment_id
from fakes.bot_api import FakeBotApi
from fakes.local import Chaos
from fakes.ok import FakeOk
from fakes.tme import FakeChannel, FakeTme
from fakes.vk import FakeVk

VK_GROUP, OK_GROUP = 123456, "55348644610059"
BOT_CHAT, STAFF_CHAT = -1001906889117, -1001234567890
VK_HEAD, OK_HEAD, BOT_HEAD = 7654321, "577155400001", 7654322
VK_TOKEN, OK_TOKEN = "vk-service-token-WORLD-7f3a9c", "tkn1-ok-token-WORLD-5b8e2d"
OK_KEY, OK_SECRET = "CBAWORLDAPPKEY", "ok-app-secret-WORLD-91c4"
SECRETS = (VK_TOKEN, OK_TOKEN, OK_SECRET)
"""Every secret the world hands the daemon (with the bot's token): none may reach a log."""

WORDS = (
    "подъезд двор дорога тротуар остановка школа садик поликлиника магазин парковка фонарь "
    "колодец люк асфальт бордюр лестница мост переход светофор забор площадка горка качели "
    "газон клумба дерево ветка лужа грязь снег лёд сосулька крыша подвал вода труба кран "
    "отопление батарея свет провод столб вывеска киоск рынок аптека библиотека стадион "
    "бассейн баня почта банк вокзал автобус маршрутка трамвай такси велосипед самокат "
    "утро вечер ночь понедельник вторник среда четверг пятница суббота воскресенье неделя "
    "сосед дети пенсионеры коляска собака кошка машина грузовик трактор экскаватор"
).split()
STREETS = ("Ленина", "Мира", "Гагарина", "Победы", "Кирова", "Советская", "Садовая", "Лесная")


@dataclass
class Truth:
    """What the daemon must have stored once everything was read."""

    items: set[tuple[str, str]] = field(default_factory=set)
    """(source id, external id) of every post and comment published."""
    complaints: dict[tuple[str, str], str] = field(default_factory=dict)
    """Every complaint that opens an incident of its own: its text."""
    repeats: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    """Complaints that repeat an open one → that one: the two make one incident (whichever
    the daemon reads first opens it, the other joins)."""
    answered: set[tuple[str, str]] = field(default_factory=set)
    """Complaints an official account answered."""
    edited: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class _Complaint:
    key: tuple[str, str]
    text: str
    place: Any
    """Where to answer it: the t.me post, the VK comment id, the OK comment id, the message."""


class World:
    """The fakes of every network, their content and its ground truth."""

    def __init__(self, start: datetime, *, seed: int = 14, channels: int = 2) -> None:
        self.start = start
        self.rng = random.Random(seed)
        self.truth = Truth()
        self.tme = FakeTme("world_news_0")
        self.names = [f"world_news_{n}" for n in range(channels)]
        self.channels: list[FakeChannel] = [self.tme.channel] + [
            self.tme.add_channel(name) for name in self.names[1:]]
        self.vk = FakeVk(now=start.timestamp())
        self.ok = FakeOk()
        self.bot = FakeBotApi()
        self._stack = AsyncExitStack()
        self._open: list[_Complaint] = []
        self._next_id = 1
        self._vk_post, self._ok_topic = 0, ""
        self._message = 1

    async def __aenter__(self) -> Self:
        for fake in (self.tme, self.vk, self.ok, self.bot):
            await self._stack.enter_async_context(fake)
        self.vk.add_community(VK_GROUP, name="Администрация Каменского округа")
        self.vk.add_token(VK_TOKEN, kind="service")
        self.ok.add_application(OK_KEY, OK_SECRET)
        self.ok.add_token(OK_TOKEN)
        self.ok.add_group(OK_GROUP, name="Администрация Каменского округа")
        self.ok.add_user(OK_HEAD, "Глава округа")
        before = self.start - timedelta(hours=2)
        self._vk_post = self.vk.add_post(VK_GROUP, "Вопросы жителей: пишите в комментариях",
                                         date=before)
        self._ok_topic = self.ok.add_topic(OK_GROUP, "Вопросы жителей", date=before)
        self.truth.items.add(("vk", f"wall-{VK_GROUP}_{self._vk_post}"))
        self.truth.items.add(("ok", topic_external_id(self._ok_topic)))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    # --- what the daemon is given ------------------------------------------------------
    def config(self, *, interval: str = "1s", timeout: str = "2s", extra: str = "") -> str:
        """The TOML config: every source on the fakes, alerts to the staff chat."""
        channels = "".join(
            f'[[sources]]\nid = "tg{n}"\nnetwork = "telegram_web"\nchannel = "{name}"\n'
            f'base_url = "{self.tme.base_url}"\ninterval = "{interval}"\njitter = "0s"\n'
            f'timeout = "{timeout}"\n\n' for n, name in enumerate(self.names))
        return f"""[storage]
path = "m.db"
{extra}
[telegram]
base_url = "{self.bot.base_url}"
timeout = "2s"
long_poll = "1s"

[[telegram.chats]]
id = {STAFF_CHAT}
name = "Дежурные"

{channels}[[sources]]
id = "vk"
network = "vk"
group_id = {VK_GROUP}
token_env = "WORLD_VK_TOKEN"
base_url = "{self.vk.base_url}"
interval = "{interval}"
jitter = "0s"
timeout = "{timeout}"

[[sources]]
id = "ok"
network = "ok"
group_id = "{OK_GROUP}"
token_env = "WORLD_OK_TOKEN"
application_key_env = "WORLD_OK_KEY"
application_secret_env = "WORLD_OK_SECRET"
base_url = "{self.ok.base_url}"
interval = "{interval}"
jitter = "0s"
timeout = "{timeout}"
rate = 100

[[sources]]
id = "chat"
network = "telegram_bot"
chat_id = {BOT_CHAT}
interval = "{interval}"
jitter = "0s"

[[official_accounts]]
network = "vk"
id = {VK_HEAD}
name = "Глава округа"

[[official_accounts]]
network = "ok"
id = "{OK_HEAD}"
name = "Глава округа"

[[official_accounts]]
network = "telegram_bot"
id = {BOT_HEAD}
name = "Глава округа"

[[topics]]
id = "pits"
group = "Дороги"
name = "Ямы"
organisation = "УГХ"
words = ["яма"]
"""

    def env(self) -> dict[str, str]:
        """The secrets the config names, as the daemon's environment has them."""
        return {"MONITOR_BOT_TOKEN": self.bot.token, "WORLD_VK_TOKEN": VK_TOKEN,
                "WORLD_OK_TOKEN": OK_TOKEN, "WORLD_OK_KEY": OK_KEY,
                "WORLD_OK_SECRET": OK_SECRET}

    def inject(self, chaos: Callable[[str], Chaos | None]) -> None:
        """Random faults in every fake: `chaos(name)` for "tme", "vk", "ok", "bot"."""
        self.tme.chaos, self.vk.chaos = chaos("tme"), chaos("vk")
        self.ok.chaos, self.bot.chaos = chaos("ok"), chaos("bot")

    # --- the stream of content -----------------------------------------------------------
    def step(self, at: datetime, sources: int | None = None) -> None:
        """Publish one moment's content at `at` on every source (or on `sources` of them)."""
        self.vk.now = at.timestamp()
        every = [f"tg{n}" for n in range(len(self.channels))] + ["vk", "ok", "chat"]
        for source in self.rng.sample(every, sources) if sources else every:
            roll = self.rng.random()
            if roll < 0.4:
                self._complaint(source, at, self._text())
            elif roll < 0.5 and self._open:
                original = self.rng.choice(self._open)
                if original.key[0] != source:
                    key = self._complaint(source, at, original.text, record=False)
                    self.truth.repeats[key] = original.key
                    # Whichever of the two the daemon reads first owns the incident; an answer
                    # to the other would not answer it, so a repeated complaint gets none.
                    self._open.remove(original)
            elif roll < 0.6:
                self._edit(source)
            elif roll < 0.7:
                self._answer(source, at)
            else:
                self._publish(source, at, " ".join(self.rng.sample(WORDS, 8)).capitalize())

    def _text(self) -> str:
        words = " ".join(self.rng.sample(WORDS, 10))
        return f"Яма на улице {self.rng.choice(STREETS)}, {words}, дом {self._next_id}"

    def _complaint(self, source: str, at: datetime, text: str, *,
                   record: bool = True) -> tuple[str, str]:
        key, place = self._publish(source, at, text)
        if record:
            self.truth.complaints[key] = text
            self._open.append(_Complaint(key, text, place))
        return key

    def _publish(self, source: str, at: datetime, text: str) -> tuple[tuple[str, str], Any]:
        """A resident's post or comment; its (source, external id) and where it lives."""
        self._next_id += 1
        place: Any
        if source.startswith("tg"):
            channel = self.channels[int(source[2:])]
            post = channel.add_post(self._next_id, at, text)
            key, place = (source, str(post.id)), post.id
        elif source == "vk":
            comment = self.vk.add_comment(VK_GROUP, self._vk_post, text,
                                          from_id=5_550_000 + self._next_id, date=at)
            key = (source, vk_comment_id(-VK_GROUP, self._vk_post, comment))
            place = comment
        elif source == "ok":
            user = str(577_155_000_000 + self._next_id)
            self.ok.add_user(user, f"Житель {self._next_id}")
            said = self.ok.add_comment(self._ok_topic, text, user=user, date=at)
            key, place = (source, ok_comment_id(self._ok_topic, said)), said
        else:
            self._message += 1
            self.bot.push_update("message", _message(self._message, text, at,
                                                     200_000 + self._next_id))
            key, place = (source, bot_message_id(BOT_CHAT, self._message)), self._message
        self.truth.items.add(key)
        return key, place

    def _edit(self, source: str) -> None:
        mine = [c for c in self._open if c.key[0] == source and source.startswith("tg")]
        if not mine:
            return
        complaint = self.rng.choice(mine)
        self.channels[int(source[2:])].edit_post(complaint.place, complaint.text + " (дополнено)")
        self.truth.edited.add(complaint.key)

    def _answer(self, source: str, at: datetime) -> None:
        mine = [c for c in self._open if c.key[0] == source and not source.startswith("tg")]
        if not mine:
            return
        complaint = mine[0]
        self._open.remove(complaint)
        text = "Спасибо, передали в службу, яму засыпали"  # a final answer (rules/answers.py)
        if source == "vk":
            reply = self.vk.add_comment(VK_GROUP, self._vk_post, text, from_id=VK_HEAD, date=at,
                                        reply_to_comment=complaint.place)
            self.truth.items.add((source, vk_comment_id(-VK_GROUP, self._vk_post, reply)))
        elif source == "ok":
            answer = self.ok.add_comment(self._ok_topic, text, user=OK_HEAD, date=at,
                                         reply_to=complaint.place)
            self.truth.items.add((source, ok_comment_id(self._ok_topic, answer)))
        else:
            self._message += 1
            self.bot.push_update("message", _message(self._message, text, at, BOT_HEAD,
                                                     reply_to=complaint.place))
            self.truth.items.add((source, bot_message_id(BOT_CHAT, self._message)))
        self.truth.answered.add(complaint.key)


def _message(number: int, text: str, at: datetime, user: int, *,
             reply_to: int | None = None) -> dict[str, Any]:
    chat = {"id": BOT_CHAT, "type": "supergroup", "title": "Мартюш — чат жителей"}
    body: dict[str, Any] = {"message_id": number, "date": int(at.timestamp()), "chat": chat,
                            "from": {"id": user, "is_bot": False, "first_name": "Житель"},
                            "text": text}
    if reply_to is not None:
        body["reply_to_message"] = {"message_id": reply_to, "date": int(at.timestamp()),
                                    "chat": chat, "text": "…"}
    return body


@dataclass
class Audit:
    """What a database holds against the ground truth, and what the staff chat received."""

    items_expected: int = 0
    items_stored: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)
    stored_twice: int = 0
    complaints: int = 0
    incidents: int = 0
    complaints_without_incident: list[tuple[str, str]] = field(default_factory=list)
    complaints_with_several: int = 0
    answered_expected: int = 0
    answered_not_marked: list[tuple[str, str]] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)
    alerts_delivered: int = 0
    duplicate_alerts: int = 0
    integrity: str = ""

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing doubled, every alert out, the file intact."""
        return not (self.missing or self.stored_twice or self.complaints_without_incident
                    or self.complaints_with_several
                    or self.answered_not_marked or self.outbox.get("pending")
                    or self.outbox.get("failed")) and self.integrity == "ok"


def audit(db: str, truth: Truth, bot: FakeBotApi) -> Audit:
    """Check the database at `db` against `truth` (read with sqlite3, as an outsider would)."""
    import sqlite3

    found = Audit(items_expected=len(truth.items), complaints=len(truth.complaints),
                  answered_expected=len(truth.answered))
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        found.integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows = conn.execute("SELECT source_id, external_id, count(*) FROM items "
                            "GROUP BY source_id, external_id").fetchall()
        stored = {(source, ext): count for source, ext, count in rows}
        found.items_stored = len(stored)
        found.stored_twice = sum(1 for count in stored.values() if count > 1)
        found.missing = sorted(truth.items - set(stored))
        owned = conn.execute("SELECT i.source_id, i.external_id, n.status FROM incidents n "
                             "JOIN items i ON i.id = n.item_id").fetchall()
        found.incidents = len(owned)
        statuses: dict[tuple[str, str], list[str]] = {}
        for source, ext, status in owned:
            statuses.setdefault((source, ext), []).append(status)
        groups: dict[tuple[str, str], list[str]] = {key: [] for key in truth.complaints}
        for key, status in statuses.items():
            groups.setdefault(truth.repeats.get(key, key), []).extend(status)
        found.complaints_without_incident = sorted(k for k in truth.complaints if not groups[k])
        found.complaints_with_several = sum(1 for s in groups.values() if len(s) > 1)
        found.answered_not_marked = sorted(
            key for key in truth.answered if "answered" not in groups.get(key, ["answered"]))
        found.outbox = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status"))
    kinds = [(m["text"].split("\n")[0], m["text"].split("Инцидент №")[-1].split(":")[0])
             for m in bot.delivered if m["chat"]["id"] == STAFF_CHAT]
    found.alerts_delivered = len(kinds)
    found.duplicate_alerts = len(kinds) - len(set(kinds))
    return found
