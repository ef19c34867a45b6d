"""What staff read: alert messages, the worklist, an incident's card and log, in Russian HTML.

Every text fits Telegram's 4,096 characters (counted in UTF-16 units, as Telegram counts) and
escapes whatever came from outside (posts, names, reasons, links).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config.templates import AlertTemplates, render
from storage import AlertKind, IncidentEvent, IncidentRow

DEFAULT_TEMPLATES = AlertTemplates()
TELEGRAM_LIMIT = 4096
FOOTER_ROOM = 600
"""Room an alert leaves for the lines that buttons add when staff act on it."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")

STATUS_NAMES = {"open": "открыт", "in_work": "в работе", "answered": "ответ дан",
                "closed": "ответ не нужен"}
_EVENT_NAMES = {
    "opened": "открыт", "repeat": "повтор", "alerted": "оповещение", "taken": "взят в работу",
    "answered": "ответ дан", "dismissed": "ответ не нужен", "snoozed": "отложен",
    "reclassified": "другая тема", "recomputed": "сроки пересчитаны",
    "interim": "промежуточный ответ", "reopened": "открыт снова", "satisfied": "житель доволен",
}
_ALERT_NAMES = {"opened": "о новом", "warning": "предупреждение", "overdue": "просрочка",
                "reminder": "напоминание", "escalation": "эскалация"}
_ACTOR_KINDS = {"system": "монитор", "cli": "командная строка", "official": "официальный ответ",
                "staff": "сотрудник", "citizen": "житель"}


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def clean(text: str) -> str:
    """Outside text without control and direction characters, trimmed."""
    return _CONTROL.sub("", text).strip()


def escape(text: str | None, default: str = "—") -> str:
    """Outside text made safe for Telegram HTML."""
    return html.escape(clean(text), quote=False) if text else default


def fit(text: str, budget: int) -> str:
    """Escape `text`, cutting it before escaping (never mid-entity) to fit `budget`."""
    escaped = html.escape(text, quote=False)
    if utf16_len(escaped) <= budget:
        return escaped
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if utf16_len(html.escape(text[:middle], quote=False)) + 1 <= budget:
            low = middle
        else:
            high = middle - 1
    return html.escape(text[:low], quote=False) + "…"


def local(moment: datetime, zone: ZoneInfo) -> str:
    """A moment as staff read it: day and time in the municipality's zone."""
    return moment.astimezone(zone).strftime("%d.%m.%Y %H:%M")


def span(delta: timedelta) -> str:
    """A duration in words: «2 дн 3 ч», «1 ч 15 мин», «5 мин»."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} дн {hours} ч"
    return f"{hours} ч {minutes} мин" if hours else f"{minutes} мин"


def time_left(incident: IncidentRow, now: datetime) -> str:
    """«осталось 2 ч 5 мин» or «просрочен на 1 ч 10 мин»."""
    if incident.due_at <= now:
        return f"просрочен на {span(now - incident.due_at)}"
    return f"осталось {span(incident.due_at - now)}"


def topic_of(incident: IncidentRow) -> str:
    """«Дороги / Ямы» or «без темы»."""
    return " / ".join(x for x in (incident.group_name, incident.topic_name) if x) or "без темы"


def template_of(kind: AlertKind, label: str, templates: AlertTemplates) -> str:
    """The template of a step: a reminder while overdue has a label, the end of a snooze none."""
    if kind == "reminder" and not label:
        return templates.snooze_end
    return str(getattr(templates, kind))


def alert_text(
    incident: IncidentRow, kind: AlertKind, zone: ZoneInfo, now: datetime, label: str = "",
    templates: AlertTemplates = DEFAULT_TEMPLATES,
) -> str:
    """The alert of a kind about an incident from its template (what, who answers, where, by
    when), then the post's text and the link to it, within Telegram's limit."""
    values = {
        "id": str(incident.id), "topic": escape(topic_of(incident)),
        "organisation": escape(incident.organisation, "не назначен"),
        "settlement": escape(incident.settlement, ""), "priority": escape(incident.priority),
        "im_topic": escape(incident.im_topic, ""), "address": escape(incident.address, ""),
        "due": local(incident.due_at, zone), "zone": html.escape(zone.key),
        "left": time_left(incident, now), "assignee": escape(incident.assignee, ""),
        "source": escape(incident.source_id), "step": escape(label, ""),
    }
    head = render(template_of(kind, label, templates), values)
    tail = f'\n<a href="{html.escape(incident.url, quote=True)}">Открыть пост</a>'
    room = TELEGRAM_LIMIT - FOOTER_ROOM - utf16_len(tail) - 4
    if utf16_len(head) > room // 2:  # long values in a long template: the post must show too
        head = _cut(head, room // 2)
    budget = room - utf16_len(head)
    return f"{head}\n\n{fit(clean(incident.text), budget)}{tail}"


def with_footer(text: str, line: str) -> str:
    """An alert with one more line about what staff did, still within the limit."""
    footer = f"\n\n{line}"
    if utf16_len(text + footer) <= TELEGRAM_LIMIT:
        return text + footer
    return _cut(text, TELEGRAM_LIMIT - utf16_len(footer)) + footer


def actor_name(event: IncidentEvent) -> str:
    """Who, as the log shows them."""
    actor = event.actor
    if actor.name:
        return actor.name
    return _ACTOR_KINDS.get(actor.kind, actor.kind)


def event_line(event: IncidentEvent, zone: ZoneInfo) -> str:
    """One line of the log: when, what, who, details."""
    what = _EVENT_NAMES.get(event.kind, event.kind)
    detail = event.detail
    extra = ""
    if event.kind == "alerted":
        chat = detail.get("chat")
        where = "журнал" if chat in (0, None) else f"чат {chat}"
        extra = f" ({_ALERT_NAMES.get(str(detail.get('alert')), detail.get('alert'))}, {where})"
    elif event.kind == "repeat" and detail.get("url"):
        extra = f": {detail['url']}"
    elif event.kind == "snoozed" and detail.get("until"):
        extra = f" до {local(datetime.fromisoformat(str(detail['until'])), zone)}"
    elif event.kind == "dismissed" and detail.get("reason"):
        extra = f": {detail['reason']}"
    elif event.kind in ("answered", "interim", "reopened", "satisfied") and detail.get("link"):
        extra = f": {detail['link']}"
    elif event.kind == "reclassified":
        extra = f": {detail.get('from_topic') or '—'} → {detail.get('topic') or '—'}"
    return f"{local(event.at, zone)} {what}{extra} — {actor_name(event)}"


def incident_card(
    incident: IncidentRow, events: Sequence[IncidentEvent], zone: ZoneInfo, now: datetime
) -> str:
    """Everything about one incident, with its log: what `/incident N` and `incidents show`
    print (HTML; the command line strips the tags)."""
    lines = [
        f"<b>Инцидент №{incident.id}</b>: {escape(topic_of(incident))}",
        *([f"Тема ЦУР: {escape(incident.im_topic)}"] if incident.im_topic else []),
        f"Статус: {STATUS_NAMES.get(incident.status, incident.status)}"
        + (f", в работе у {escape(incident.assignee)}" if incident.assignee else ""),
        f"Ответственный: {escape(incident.organisation, 'не назначен')}",
        f"Населённый пункт: {escape(incident.settlement)}"
        + (f", {escape(incident.address)}" if incident.address else ""),
        f"Открыт: {local(incident.opened_at, zone)}; срок: {local(incident.due_at, zone)}"
        + (f" ({time_left(incident, now)})" if incident.is_open else ""),
        f"Источник: {escape(incident.source_id)}, {escape(incident.url)}",
    ]
    if incident.snoozed_until and incident.is_open:
        lines.append(f"Отложен до {local(incident.snoozed_until, zone)}")
    if incident.answered_at:
        lines.append(f"Ответ: {local(incident.answered_at, zone)}, "
                     f"{escape(incident.answered_by)} {escape(incident.answer_url, '')}".rstrip())
    if incident.answer_text:
        lines.append(f"Текст ответа: {fit(clean(incident.answer_text), 500)}")
    if incident.close_reason:
        lines.append(f"Причина: {escape(incident.close_reason)}")
    lines += ["", fit(clean(incident.text), 1500), "", "<b>Журнал</b>"]
    lines += [escape(event_line(e, zone)) for e in events]
    return "\n".join(lines)


def status_lines(incidents: Iterable[IncidentRow], now: datetime) -> list[str]:
    """The worklist: incidents still waiting, least time left first (overdue on top), one line
    each; grouped under their organisation when there are many."""
    waiting = sorted((i for i in incidents if i.is_open), key=lambda i: (i.due_at, i.id))
    if not waiting:
        return ["Открытых инцидентов нет."]
    lines = [f"<b>Открытые инциденты: {len(waiting)}</b>"]
    if len(waiting) <= 15:
        return lines + [status_line(i, now) for i in waiting]
    organisations = sorted({i.organisation or "" for i in waiting},
                           key=lambda o: min(i.due_at for i in waiting
                                             if (i.organisation or "") == o))
    for organisation in organisations:
        lines.append(f"\n<b>{escape(organisation, 'Ответственный не назначен')}</b>")
        lines += [status_line(i, now) for i in waiting if (i.organisation or "") == organisation]
    return lines


def status_line(incident: IncidentRow, now: datetime) -> str:
    """One incident in a list: a mark (overdue, warned, waiting), its number and time left."""
    mark = "🔴" if incident.due_at <= now else "🟡" if incident.warn_at <= now else "⚪"
    who = f", у {escape(incident.assignee)}" if incident.assignee else ""
    place = f", {escape(incident.settlement)}" if incident.settlement else ""
    return (f"{mark} №{incident.id} {time_left(incident, now)} · "
            f"{escape(topic_of(incident))}{place}{who}")


def fit_lines(lines: Sequence[str], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Join lines into as few messages as fit `limit`; a line too long alone is cut."""
    messages: list[str] = []
    current = ""
    for line in lines:
        if utf16_len(line) > limit:
            line = _cut(line, limit)
        joined = f"{current}\n{line}" if current else line
        if utf16_len(joined) <= limit:
            current = joined
            continue
        messages.append(current)
        current = line
    if current:
        messages.append(current)
    return messages


def _cut(line: str, limit: int) -> str:
    """A line cut to the limit, never inside a tag or an entity (tags dropped if need be)."""
    plain = html.unescape(re.sub(r"<[^>]*>", "", line))
    return fit(plain, limit)
