"""Staff act on incidents from Telegram: the buttons under alerts and the bot's commands.

Only `[[telegram.staff]]` members may act, in a chat of `[[telegram.chats]]` or in a private
chat with the bot; anyone else is refused politely and the attempt is logged. Every action goes
through `Store.act`, the same path as the command line and official answers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from telegram import CallbackQuery, MaybeInaccessibleMessage, Message, Update

from common.clock import Clock
from common.durations import parse_duration
from monitor.config import AppConfig
from monitor.config.municipalities import Municipalities
from monitor.config.policies import PolicyBook
from monitor.daemon import staff_texts as say
from monitor.daemon.alert_sender import AlertSender
from monitor.daemon.buttons import Press, incident_keyboard, parse_callback, topics_keyboard
from monitor.daemon.deadlines import interim_term
from monitor.daemon.report.build import whose
from monitor.daemon.report.delivery import asked_period, send_report
from monitor.daemon.report.output import report_scope
from monitor.daemon.report.period import PeriodError
from monitor.daemon.texts import alert_text, fit_lines, incident_card, status_lines, with_footer
from monitor.daemon.workcal import WorkingCalendar
from storage import Action, Actor, IncidentRow, Store, TopicRef

log = logging.getLogger(__name__)

SNOOZE = timedelta(hours=2)
MAX_SNOOZE = timedelta(days=7)
COMMANDS = [
    ("status", "открытые инциденты по оставшемуся времени"),
    ("incident", "N — инцидент и его журнал"),
    ("take", "N — взять в работу"),
    ("answered", "N [ссылка] — ответ дан"),
    ("interim", "N [ссылка] — промежуточный ответ, новый срок"),
    ("dismiss", "N [причина] — ответ не нужен"),
    ("snooze", "N [2h] — отложить оповещения"),
    ("topic", "N ТЕМА — исправить тему"),
    ("report", "[2026Q3] — отчёт в ЦУР: XLSX и графики"),
    ("help", "что умеет бот"),
]
_ACTION_EVENTS = ("taken", "answered", "dismissed", "snoozed", "reclassified", "interim")


class StaffDesk:
    """Handles staff buttons and commands (one handler of `BotUpdates`)."""

    update_types: Sequence[str] = ("message", "callback_query")

    def __init__(
        self, config: AppConfig, store: Store, sender: AlertSender, clock: Clock
    ) -> None:
        self._config = config
        self._store = store
        self._sender = sender
        self._clock = clock
        self._zone = config.calendar.zone
        self._chats = {chat.id for chat in config.telegram.chats}
        self._calendar = WorkingCalendar(config.calendar)
        self._policies = PolicyBook(config)

    def wants(self, update: Update | None, raw: Mapping[str, Any]) -> bool:
        """Button presses and commands (messages that start with «/»)."""
        if update is None:
            return False
        if update.callback_query is not None:
            return True
        message = update.message
        return message is not None and (message.text or "").startswith("/")

    async def handle(self, update: Update | None, raw: Mapping[str, Any]) -> bool:
        """Act on one press or command; True when the update id was stored with the change."""
        assert update is not None
        actor = self._actor(update)
        if update.callback_query is not None:
            if actor is None:
                await self._sender.answer_callback(update.callback_query.id, say.REFUSED)
                return False
            return await self._press(update.callback_query, actor, update.update_id)
        message = update.message
        assert message is not None
        command, args = _command(message.text or "")
        if actor is None:
            await self._reply(message, say.refused(command, update.effective_user))
            return False
        return await self._command(message, command, args, actor, update.update_id)

    def _actor(self, update: Update) -> Actor | None:
        """The staff member acting, or None (logged) when this user or chat may not act."""
        user, chat = update.effective_user, update.effective_chat
        member = self._config.telegram.staff_member(user.id) if user else None
        allowed_chat = chat is not None and (chat.type == "private" or chat.id in self._chats)
        if member is not None and allowed_chat:
            return Actor("staff", member.name, str(member.id))
        log.warning("бот: отказано пользователю %s в чате %s (%s)", user.id if user else None,
                    chat.id if chat else None,
                    "нет в [[telegram.staff]]" if member is None else "чата нет в конфигурации")
        return None

    # --- buttons -------------------------------------------------------------------------

    async def _press(self, query: CallbackQuery, actor: Actor, update_id: int) -> bool:
        press = parse_callback(query.data)
        # An old alert comes as an InaccessibleMessage: its chat and id still say which one.
        message = query.message
        if press is None or message is None:
            log.warning("бот: неизвестная кнопка %r от %s", query.data, actor.name)
            await self._sender.answer_callback(query.id, say.UNKNOWN_BUTTON)
            return False
        press = await self._renumbered(press, message)
        if press.verb in ("topics", "back"):
            await self._show_choices(query, message, press)
            return False
        action = self._button_action(press, actor)
        if action is None:
            await self._sender.answer_callback(query.id, say.unknown_topic(press.topic or ""))
            return False
        result = await self._store.act(press.incident_id, action, self._clock.now(),
                                       bot_update=update_id)
        await self._sender.answer_callback(query.id, say.result(result, press.incident_id,
                                                                self._zone))
        if result.incident is not None:
            await self._refresh(message, result.incident)
        return True

    async def _renumbered(self, press: Press, message: MaybeInaccessibleMessage) -> Press:
        """The button names its incident's number, and so does the alert it sits under, which
        wins: a store moved into a regional database (`monitor migrate`) renumbers incidents
        after their alerts were sent."""
        alert = await self._store.sent_alert(message.chat.id, message.message_id)
        if alert is None or alert.incident_id in (None, press.incident_id):
            return press
        return replace(press, incident_id=alert.incident_id)

    def _button_action(self, press: Press, actor: Actor) -> Action | None:
        """The action a button asks for; None for a topic the config no longer has."""
        if press.verb == "take":
            return Action("take", actor)
        if press.verb == "answer":
            return Action("answer", actor)
        if press.verb == "dismiss":
            return Action("dismiss", actor)
        if press.verb == "snooze":
            return Action("snooze", actor, until=self._clock.now() + SNOOZE)
        topic = self._topic(press.topic or "")
        return None if topic is None else Action("reclassify", actor, topic=topic)

    async def _show_choices(
        self, query: CallbackQuery, message: MaybeInaccessibleMessage, press: Press
    ) -> None:
        incident = await self._store.incident(press.incident_id)
        if incident is None:
            await self._sender.answer_callback(query.id, say.unknown(press.incident_id))
            return
        await self._sender.answer_callback(query.id, "")
        if press.verb == "back" or not incident.is_open:
            markup = incident_keyboard(incident.id, incident.status, incident.url)
        else:
            markup = topics_keyboard(incident.id, self._choices(incident), incident.url)
        text = await self._message_text(message, incident)
        await self._sender.edit(message.chat.id, message.message_id, text, markup)

    async def _refresh(self, message: MaybeInaccessibleMessage, incident: IncidentRow) -> None:
        """The pressed message shows who did what and keeps only the buttons that apply."""
        text = await self._message_text(message, incident)
        markup = incident_keyboard(incident.id, incident.status, incident.url)
        outcome = await self._sender.edit(message.chat.id, message.message_id, text, markup)
        if outcome.status != "sent":
            log.warning("бот: сообщение %s в чате %s не обновлено: %s", message.message_id,
                        message.chat.id, outcome.error)

    async def _message_text(
        self, message: MaybeInaccessibleMessage, incident: IncidentRow
    ) -> str:
        """The alert as sent, and a line for every staff action since."""
        alert = await self._store.sent_alert(message.chat.id, message.message_id)
        now = self._clock.now()
        text = alert.text if alert is not None else alert_text(incident, "opened", self._zone, now)
        for event in await self._store.events_of(incident.id):
            if event.kind in _ACTION_EVENTS:
                text = with_footer(text, say.action_line(event, self._zone))
        return text

    def _choices(self, incident: IncidentRow) -> list[tuple[str, str]]:
        """Topics to offer: the incident's group first, then the rest, never its own."""
        topics = [t for t in self._config.topics if t.enabled and t.id != incident.topic]
        topics.sort(key=lambda t: (t.group != incident.group_name, t.group, t.name))
        return [(t.id, t.name) for t in topics]

    def _topic(self, topic_id: str) -> TopicRef | None:
        topic = self._config.topic(topic_id)
        if topic is None:
            return None
        return TopicRef(topic.id, topic.group, topic.name, topic.organisation, topic.im_topic)

    # --- commands ------------------------------------------------------------------------

    async def _command(
        self, message: Message, command: str, args: list[str], actor: Actor, update_id: int
    ) -> bool:
        if command in ("help", "start"):
            await self._reply(message, say.HELP)
            return False
        if command == "report":
            await self._report(message, args)
            return False
        if command == "status":
            # A municipality's chat sees its municipality's worklist; any other, all of it.
            municipality = Municipalities(self._config).of_chat(message.chat.id)
            waiting = [i for i in await self._store.list_incidents(open_only=True)
                       if municipality is None or i.municipality == municipality]
            for text in fit_lines(status_lines(waiting, self._clock.now())):
                await self._reply(message, text)
            return False
        number = _number(args[0]) if args else None
        if command not in ("incident", "take", "answered", "interim", "dismiss", "snooze",
                           "topic"):
            await self._reply(message, say.UNKNOWN_COMMAND)
            return False
        if number is None:
            await self._reply(message, say.usage(command))
            return False
        if command == "incident":
            await self._show(message, number)
            return False
        action = self._command_action(command, args[1:], actor)
        if isinstance(action, Action) and action.kind == "interim":
            action = await self._with_term(number, action)
        if isinstance(action, str):
            await self._reply(message, action)
            return False
        result = await self._store.act(number, action, self._clock.now(), bot_update=update_id)
        await self._reply(message, say.result(result, number, self._zone))
        return True

    def _command_action(self, command: str, rest: list[str], actor: Actor) -> Action | str:
        """The action a command asks for, or what is wrong with it (in Russian)."""
        text = " ".join(rest).strip()
        if command == "take":
            return Action("take", actor)
        if command in ("answered", "interim"):
            link = rest[0] if rest else None
            if link is not None and not say.is_link(link):
                return say.BAD_LINK
            return Action("answer" if command == "answered" else "interim", actor, link=link)
        if command == "dismiss":
            return Action("dismiss", actor, reason=text[:300] or None)
        if command == "snooze":
            return self._snooze(rest, actor)
        topic = self._topic(rest[0]) if rest else None
        if topic is None:
            return say.unknown_topic(rest[0] if rest else "")
        return Action("reclassify", actor, topic=topic)

    async def _with_term(self, number: int, action: Action) -> Action:
        """An interim answer given now, with the follow-up term of the incident's policy."""
        incident = await self._store.incident(number)
        now = self._clock.now()
        term = interim_term(self._policies, self._calendar,
                            incident.policy if incident else None, now)
        return replace(action, at=now, term=term)

    def _snooze(self, rest: list[str], actor: Actor) -> Action | str:
        try:
            delay = parse_duration(rest[0]) if rest else SNOOZE
        except ValueError:
            return say.BAD_SNOOZE
        if not timedelta(minutes=1) <= delay <= MAX_SNOOZE:
            return say.BAD_SNOOZE
        return Action("snooze", actor, until=self._clock.now() + delay)

    async def _show(self, message: Message, number: int) -> None:
        incident = await self._store.incident(number)
        if incident is None:
            await self._reply(message, say.unknown(number))
            return
        card = incident_card(incident, await self._store.events_of(number), self._zone,
                             self._clock.now())
        for text in fit_lines(card.split("\n")):
            await self._reply(message, text)

    async def _report(self, message: Message, args: list[str]) -> None:
        """Make a period's report and send its XLSX and charts to the chat that asked."""
        now = self._clock.now()
        try:
            period = asked_period(args, now.astimezone(self._zone).date())
        except PeriodError as exc:
            await self._reply(message, say.bad_period(str(exc)))
            return
        # A municipality's chat gets its municipality's report; any other, the whole store's.
        municipality = Municipalities(self._config).of_chat(message.chat.id)
        scope = report_scope(self._config, municipality)
        label = period.label + whose(scope)
        await self._reply(message, say.report_coming(label))
        outcome = await send_report(self._store, self._config, self._sender, message.chat.id,
                                    period, now, say.report_caption(label), scope)
        if outcome.status != "sent":
            log.warning("бот: отчёт в чат %s не отправлен: %s", message.chat.id, outcome.error)

    async def _reply(self, message: Message, text: str) -> None:
        outcome = await self._sender.send(message.chat.id, text)
        if outcome.status != "sent":
            log.warning("бот: ответ в чат %s не отправлен: %s", message.chat.id, outcome.error)


def _command(text: str) -> tuple[str, list[str]]:
    """«/take@mcu_bot 12» → ("take", ["12"]); the command is lower-cased."""
    head, *args = text.split()
    return head[1:].split("@", 1)[0].lower(), args


def _number(value: str) -> int | None:
    """An incident number as staff write it: «12», «№12», «#12»."""
    digits = value.lstrip("№#")
    # ASCII digits only: "²" passes isdigit and breaks int().
    return int(digits) if digits.isascii() and digits.isdigit() and 0 < len(digits) <= 12 \
        else None

