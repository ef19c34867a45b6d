"""`monitor routes test`: where an incident from a text would go, under which deadline, and
when each of its alerts would fire."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from common.clock import Clock
from connectors.base import Item
from monitor.config import AppConfig, build_ruleset
from monitor.config.municipalities import Municipalities
from monitor.config.policies import DEFAULT, PolicyBook
from monitor.daemon.alert_steps import AlertSchedule, Step
from monitor.daemon.intake import Intake
from monitor.daemon.routing import LOG_CHAT, Router, Target
from monitor.daemon.texts import local, topic_of
from monitor.daemon.workcal import WorkingCalendar
from storage import IncidentRow

_STEP_NAMES = {"opened": "о новом", "warning": "предупреждение", "overdue": "срок истёк",
               "reminder": "напоминание", "escalation": "эскалация"}
MAX_TEXT = 100_000
"""Longer texts are refused: a post never is."""


def parse_moment(value: str | None, zone: ZoneInfo, clock: Clock) -> datetime:
    """`--at`: ISO 8601; without an offset, in the municipality's zone; none: now."""
    if value is None:
        return clock.now()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        msg = f"--at {value!r}: не дата и время ISO 8601 (пример: 2026-11-25T09:00)"
        raise ValueError(msg) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def routes_report(config: AppConfig, text: str, at: datetime, source: str | None) -> list[str]:
    """What `monitor routes test` prints for one text published at `at` (Russian); ValueError
    (Russian) for a text too long or a source the config does not have."""
    if len(text) > MAX_TEXT:
        msg = f"текст длиннее {MAX_TEXT} символов: такой пост не бывает, проверка не сделана"
        raise ValueError(msg)
    if source is not None and all(s.id != source for s in config.sources):
        known = ", ".join(s.id for s in config.sources) or "нет ни одного"
        msg = f"источника {source!r} нет в конфигурации (источники: {known})"
        raise ValueError(msg)
    calendar = WorkingCalendar(config.calendar)
    intake = Intake(config, build_ruleset(config), calendar, fingerprinter=None)
    network = next((s.network for s in config.sources if s.id == source), "telegram_web")
    item = Item(source or "проверка", "0", "https://example.invalid/0", text, at)
    entry = intake.classify(item, network, at)
    lines = [f"Группа: {entry.group or '—'}, тема: {entry.topic or '—'}"
             f"{', населённый пункт: ' + entry.settlement if entry.settlement else ''}"]
    new = entry.incident
    if new is None:
        lines.append("Инцидент не откроется: текст не требует реакции. Оповещений не будет.")
        return lines
    incident = IncidentRow(
        id=0, source_id=item.source_id, group_name=entry.group, topic=entry.topic,
        topic_name=new.topic_name, organisation=new.organisation, priority=new.priority,
        status="open", opened_at=at, warn_at=new.warn_at, due_at=new.due_at, warned_at=None,
        overdue_at=None, answered_at=None, url=item.url, text=text, settlement=entry.settlement,
        policy=new.policy, clock_started_at=new.clock_started_at,
        municipality=new.municipality)
    zone = config.calendar.zone
    if new.municipality is not None:
        lines.append(f"Муниципалитет: {Municipalities(config).name(new.municipality)}")
    lines += [
        f"Инцидент: {topic_of(incident)}; ответственный: {new.organisation or 'не назначен'};"
        f" приоритет: {new.priority}",
        f"Срок ответа: {local(new.due_at, zone)} ({zone.key});"
        f" {_policy(config, new.policy)}",
        "Шаги оповещений:",
    ]
    router = Router(config, sending=True)
    schedule = AlertSchedule(config.alerts, calendar, config.telegram.announce_new)
    for step in schedule.steps(incident):
        held = router.held_until(incident, step, step.at)
        wait = f" (тихие часы: придёт в {local(held, zone)})" if held else ""
        lines.append(f"  {local(step.at, zone)}  {_step_name(step)}{wait} → "
                     + "; ".join(_target(t) for t in router.targets(incident, step, step.at)))
    if config.alerts.reminders:
        lines.append(f"  (напоминания — пока нет ответа, не больше {config.alerts.max_reminders})")
    return lines


_CLOCKS = {"working": "рабочее время", "calendar": "календарное время",
           "working_days": "рабочие дни"}


def _policy(config: AppConfig, name: str | None) -> str:
    """The SLA policy that gives the deadline (the one intake chose, `PolicyBook`)."""
    book = PolicyBook(config)
    policy = book.by_name[name or DEFAULT]
    if policy.name == DEFAULT:
        origin = "политика по умолчанию"
    elif policy.where[:2] == ("sla", "by_priority"):
        origin = f"политика приоритета {policy.where[2]}"
    else:
        origin = f"политика «{policy.name}»"
    terms = book.described[policy.name]
    return (f"{origin}: первый ответ за {terms['first_response']}, "
            f"{_CLOCKS.get(terms['clock'] or '', terms['clock'] or '')}")


def _step_name(step: Step) -> str:
    name = _STEP_NAMES[step.kind]
    if step.kind == "warning" and step.label:
        label = step.label
        if label.startswith("-"):
            label = f"за {label[1:]} до срока"
        return f"{name} ({label})"
    if step.kind == "reminder":
        return f"{name} {step.label}"
    if step.kind == "escalation":
        return f"{name}: {step.label}"
    return name


def _target(target: Target) -> str:
    if target.chat_id == LOG_CHAT:
        return target.why
    thread = f", тема {target.thread_id}" if target.thread_id is not None else ""
    return f"чат {target.chat_id}{thread} ({target.why})"

