"""Where an incident's alerts go: the duty chats, or for an escalation its own chats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.config import AppConfig
from monitor.daemon.alert_steps import Step
from storage import IncidentRow

LOG_CHAT = 0
"""The daemon's log: where alerts go when there is no bot to send them."""


@dataclass(frozen=True, slots=True)
class Target:
    """A chat, and a forum topic in it (`thread_id`)."""

    chat_id: int
    thread_id: int | None = None


class Router:
    """Chooses the chats of each alert step; with no bot (`sending` off), the log."""

    def __init__(self, config: AppConfig, sending: bool) -> None:
        self._config = config
        self._sending = sending

    def targets(self, incident: IncidentRow, step: Step, now: datetime) -> list[Target]:
        """The chats that get this step of this incident's alerts (never none: the log)."""
        if not self._sending:
            return [Target(LOG_CHAT)]
        if step.escalation is not None:
            chats = self._config.alerts.escalations[step.escalation].chats
        else:
            chats = tuple(chat.id for chat in self._config.telegram.chats)
        return [Target(chat) for chat in chats] or [Target(LOG_CHAT)]
