"""Where an incident's alerts go: its route's chat (a night chat at night), the escalation's
chats, or, when no route matches, the duty chats; never nowhere (at least the log).

With `[[municipalities]]`, a route or escalation tagged with a municipality serves only its
incidents, and the duty chats of an incident are its municipality's chats, else the regional
(untagged) ones (docs/region.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config import AppConfig
from monitor.config.alerting import Route, within
from monitor.config.settings import TelegramChat
from monitor.config.templates import AlertTemplates
from monitor.daemon.alert_steps import Step
from storage import IncidentRow

LOG_CHAT = 0
"""The daemon's log: where alerts go when there is no bot to send them."""


@dataclass(frozen=True, slots=True)
class Target:
    """A chat, and a forum topic in it (`thread_id`); `why` says which rule chose it."""

    chat_id: int
    thread_id: int | None = None
    why: str = ""


def _matches(route: Route, incident: IncidentRow) -> bool:
    checks = ((route.organisations, incident.organisation), (route.groups, incident.group_name),
              (route.settlements, incident.settlement), (route.priorities, incident.priority))
    return (route.municipality in (None, incident.municipality)
            and all(not wanted or value in wanted for wanted, value in checks))


class Router:
    """Chooses the chats of each alert step; with no bot (`sending` off), the log."""

    def __init__(self, config: AppConfig, sending: bool) -> None:
        self._config = config
        self._sending = sending

    @property
    def templates(self) -> AlertTemplates:
        """The alert texts of `[alerts.templates]`."""
        return self._config.alerts.templates

    @property
    def sending(self) -> bool:
        """Whether there is a bot to send with (else every alert goes to the log)."""
        return self._sending

    def is_night(self, now: datetime) -> bool:
        """Whether `now` falls in the night hours of `[alerts]`."""
        hours = self._config.alerts.night
        local = now.astimezone(self._config.calendar.zone).time()
        return hours is not None and within(hours, local)

    def held_until(self, incident: IncidentRow, step: Step, now: datetime) -> datetime | None:
        """When quiet hours end, if they hold this step now (it is not urgent); else None."""
        alerts = self._config.alerts
        zone = self._config.calendar.zone
        local = now.astimezone(zone)
        if (alerts.quiet is None or not within(alerts.quiet, local.time())
                or step.kind in alerts.urgent or incident.priority in alerts.urgent_priorities):
            return None
        end = local.replace(hour=alerts.quiet[1].hour, minute=alerts.quiet[1].minute, second=0,
                            microsecond=0)
        if end <= local:
            end = (end.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone)
        return end.astimezone(now.tzinfo)

    def targets(self, incident: IncidentRow, step: Step, now: datetime) -> list[Target]:
        """The chats that get this step of this incident's alerts (never none: the log)."""
        if not self._sending:
            return [Target(LOG_CHAT, why="журнал: бот не настроен")]
        if step.escalation is not None:
            escalation = self._config.alerts.escalations[step.escalation]
            return [Target(chat, why=f"эскалация «{escalation.name}»")
                    for chat in escalation.chats]
        found = self.duty_targets(incident, now)
        return found or [Target(LOG_CHAT, why="журнал: нет ни маршрута, ни [[telegram.chats]]"
                                                  " для этого инцидента")]

    def duty_targets(self, incident: IncidentRow, now: datetime) -> list[Target]:
        """The chats of the incident's routes (at night their night chats), or when no route
        matches its duty chats (at night the night chat, if there is one)."""
        alerts = self._config.alerts
        night = self.is_night(now)
        found: list[Target] = []
        for route in alerts.routes:
            if not _matches(route, incident):
                continue
            if night and (route.night_chat or alerts.night_chat) is not None:
                chat = route.night_chat if route.night_chat is not None else alerts.night_chat
                thread = route.night_thread if route.night_chat is not None else alerts.night_thread
                assert chat is not None
                found.append(Target(chat, thread, f"маршрут «{route.name}», ночь"))
            else:
                found.append(Target(route.chat, route.thread, f"маршрут «{route.name}»"))
            if not route.keep_going:
                break
        if not found and night and alerts.night_chat is not None:
            found.append(Target(alerts.night_chat, alerts.night_thread, "ночной дежурный чат"))
        if not found:
            found = [Target(chat.id, why=f"дежурный чат «{chat.name}»")
                     for chat in self.duty_chats(incident.municipality)]
        unique: dict[tuple[int, int | None], Target] = {}
        for target in found:
            unique.setdefault((target.chat_id, target.thread_id), target)
        return list(unique.values())

    def duty_chats(self, municipality: str | None) -> list[TelegramChat]:
        """The [[telegram.chats]] of a municipality's incidents: its own, else the regional
        (untagged) ones; without `[[municipalities]]`, every chat."""
        chats = self._config.telegram.chats
        own = [c for c in chats if municipality is not None and c.municipality == municipality]
        return own or [c for c in chats if c.municipality is None]
