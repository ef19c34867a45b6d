"""What the staff bot says: answers to buttons and commands, refusals, help (Russian, HTML)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from telegram import User

from monitor.daemon.texts import STATUS_NAMES, actor_name, escape, local
from storage import ActionResult, IncidentEvent

REFUSED = "Нет прав: действовать могут только сотрудники из списка [[telegram.staff]]."
UNKNOWN_BUTTON = "Кнопка не распознана: ничего не изменено."
UNKNOWN_COMMAND = "Такой команды нет. /help — что умеет бот."
BAD_LINK = "Ссылка на ответ должна начинаться с https:// или http://."
BAD_SNOOZE = "Отложить можно на срок от 1 минуты до 7 дней: например, /snooze 12 2h."
HELP = "\n".join([
    "<b>Бот монитора МЦУ</b>",
    "Кнопки под оповещением: «Взять в работу», «Ответ дан», «Ответ не нужен»,"
    " «Отложить на 2 ч», «Другая тема».",
    "",
    "/status — открытые инциденты, сначала просроченные",
    "/incident N — инцидент №N и его журнал",
    "/take N — взять в работу",
    "/answered N [ссылка] — ответ дан",
    "/interim N [ссылка] — дан промежуточный ответ («уточним», «передали в …»): новый срок",
    "/dismiss N [причина] — ответ не нужен",
    "/snooze N [2h] — не напоминать 2 часа (30m, 1d…)",
    "/topic N ТЕМА — исправить тему (id темы из конфигурации)",
    "/report [2026Q3] — отчёт в ЦУР за квартал (2026-09 — за месяц), XLSX и графики;"
    " без периода — текущий квартал",
])
_USAGE = {
    "incident": "/incident N", "take": "/take N", "answered": "/answered N [ссылка]",
    "interim": "/interim N [ссылка]",
    "dismiss": "/dismiss N [причина]", "snooze": "/snooze N [2h]", "topic": "/topic N ТЕМА",
}
_DONE = {
    "taken": "Инцидент №{n} взят в работу ({who}).",
    "answered": "Инцидент №{n}: ответ дан ({who}).",
    "interim": "Инцидент №{n}: промежуточный ответ ({who}); новый срок {due}.",
    "dismissed": "Инцидент №{n} закрыт: ответ не нужен ({who}).",
    "snoozed": "Инцидент №{n} отложен до {until}.",
    "reclassified": "Инцидент №{n}: тема исправлена на «{topic}».",
}
_LINES = {
    "taken": "👤 Взят в работу — {who}, {at}",
    "answered": "✅ Ответ дан — {who}, {at}",
    "interim": "⏳ Промежуточный ответ — {who}, {at}",
    "dismissed": "☑️ Ответ не нужен — {who}, {at}",
    "snoozed": "⏸ Отложен до {until} — {who}",
    "reclassified": "🏷 Другая тема: {topic} — {who}, {at}",
}


def unknown(number: int) -> str:
    """No incident with that number."""
    return f"Инцидента №{number} нет."


def usage(command: str) -> str:
    """How a command is written."""
    return f"Нужен номер инцидента: {_USAGE.get(command, '/' + command + ' N')}"


def unknown_topic(topic: str) -> str:
    """A topic id the config does not have."""
    return f"Темы «{escape(topic, '')}» нет в конфигурации: /topic N ТЕМА, где ТЕМА — id темы."


def refused(command: str, user: User | None) -> str:
    """A polite refusal; in a private chat /start and /help also tell the user their id."""
    if command in ("start", "help") and user is not None:
        return (f"{REFUSED}\nВаш id в Telegram: <code>{user.id}</code> — передайте его "
                "администратору, чтобы он добавил вас в [[telegram.staff]].")
    return REFUSED


def is_link(value: str) -> bool:
    """An http(s) link of a sane length."""
    try:
        parts = urlsplit(value)
    except ValueError:  # «http://[::1» and the like
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(value) <= 500


def _fields(event: IncidentEvent, zone: ZoneInfo) -> dict[str, str]:
    until, due = event.detail.get("until"), event.detail.get("due_at")
    return {
        "who": escape(actor_name(event)), "at": local(event.at, zone),
        "until": local(datetime.fromisoformat(until), zone) if isinstance(until, str) else "—",
        "due": local(datetime.fromisoformat(due), zone) if isinstance(due, str) else "—",
        "topic": escape(str(event.detail.get("topic") or "")),
    }


def action_line(event: IncidentEvent, zone: ZoneInfo) -> str:
    """The line an alert gains when staff act on it."""
    return _LINES[event.kind].format(**_fields(event, zone))


def result(outcome: ActionResult, number: int, zone: ZoneInfo) -> str:
    """What staff are told after a button or command (≤ 200 characters for a button)."""
    incident = outcome.incident
    if outcome.outcome == "unknown" or incident is None:
        return unknown(number)
    if outcome.outcome == "not_answered":
        return f"Инцидент №{number}: окончательного ответа ещё не было, ничего не изменено."
    if outcome.outcome == "not_open":
        status = STATUS_NAMES.get(incident.status, incident.status)
        return f"Инцидент №{number} уже закрыт ({status}): ничего не изменено."
    if outcome.event is None:
        return f"Инцидент №{number}: готово."
    return _DONE[outcome.event.kind].format(n=number, **_fields(outcome.event, zone))


def bad_period(problem: str) -> str:
    """The reply to `/report` with a period that cannot be read."""
    return f"Не понял период: {escape(problem)}. Пример: /report 2026Q3"


def report_coming(label: str) -> str:
    """The reply while the report is being made."""
    return f"Готовлю отчёт за {escape(label)}…"


def report_caption(label: str) -> str:
    """The caption of the report's workbook sent on `/report`."""
    return f"Отчёт МЦУ за {label}"
