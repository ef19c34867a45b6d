"""System alerts: a source whose access is refused, a source silent for longer than its
`silence_alert`, a token near its daily cap — each told to the admin chat once, and once more
when it recovers (the conditions live in the store, so a restart neither repeats nor loses
them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.clock import Clock
from common.durations import format_duration
from connectors.base import PermanentSourceError, SourceAuthError
from connectors.vk_quota import DAILY_CAPS, plan
from monitor.config import AppConfig
from monitor.daemon.poller import SourcePoller
from monitor.daemon.routing import LOG_CHAT
from monitor.daemon.texts import escape, local
from storage import AlertMessage, Store


@dataclass(frozen=True, slots=True)
class Condition:
    """A condition that stands now: its key and what staff are told."""

    key: str
    text: str


class SystemWatch:
    """Checks the sources and tokens each tick and raises or clears conditions."""

    def __init__(
        self, config: AppConfig, store: Store, clock: Clock,
        pollers: Mapping[str, SourcePoller], sending: bool,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._pollers = pollers
        self._sending = sending
        self._started = clock.now()

    async def check(self) -> int:
        """Raise what stands and was not raised, clear what was raised and no longer stands;
        return how many changed."""
        now = self._clock.now()
        raised = await self._store.open_conditions()
        standing = {c.key: c for c in await self._standing(now, raised)}
        changed = 0
        for key, condition in standing.items():
            if key not in raised:
                changed += await self._store.set_condition(
                    key, True, self._messages(condition.text), now)
        for key in raised:
            if key not in standing:
                changed += await self._store.set_condition(
                    key, False, self._messages(_recovered(key)), now)
        return changed

    async def _standing(self, now: datetime, raised: dict[str, datetime]) -> list[Condition]:
        found = []
        last = await self._store.last_items(list(self._pollers))
        zone = self._config.calendar.zone
        for source_id, poller in self._pollers.items():
            # Paused until a restart (access refused, or an error retrying cannot mend): the
            # condition stays until a poll succeeds again.
            for kind, error, text in (("auth", SourceAuthError, _refused),
                                      ("stopped", PermanentSourceError, _stopped)):
                key = f"{kind}:{source_id}"
                since = raised.get(key)
                stopped = poller.paused and isinstance(poller.last_error, error)
                if stopped or (since is not None and not _after(poller.last_success, since)):
                    found.append(Condition(key, text(poller)))
            limit = poller.settings.silence_alert
            key = f"silent:{source_id}"
            seen = last.get(source_id)
            quiet_since = seen or self._started
            since = raised.get(key)
            if limit > timedelta(0) and (now - quiet_since > limit or (
                    since is not None and not _after(seen, since))):
                found.append(Condition(key, f"🔇 <b>Источник {escape(source_id)} молчит</b>: "
                                            f"нового нет с {local(quiet_since, zone)} (дольше "
                                            f"{format_duration(limit)}){_failing(poller)}"))
        found += self._near_caps()
        return found

    def _near_caps(self) -> list[Condition]:
        share = self._config.alerts.cap_share
        found = []
        for quota in plan(poller.settings for poller in self._pollers.values()):
            near = [f"{method}: {quota.calls[method]:,.0f} из {cap:,}".replace(",", " ")
                    for method, cap in DAILY_CAPS.items()
                    if quota.calls.get(method, 0.0) >= share * cap]
            if near:
                found.append(Condition(
                    f"cap:{quota.token_env}",
                    f"📈 <b>Токен ${escape(quota.token_env)} близок к дневному лимиту</b>: по "
                    f"расчёту вызовов в сутки {'; '.join(near)}. Увеличьте интервалы опроса "
                    "или добавьте токен (monitor check-config покажет расчёт)."))
        return found

    def use(self, config: AppConfig, pollers: Mapping[str, SourcePoller]) -> None:
        """Watch under a reloaded config and its pollers (conditions raised stay raised)."""
        self._config, self._pollers = config, pollers

    def _messages(self, text: str) -> list[AlertMessage]:
        if not self._sending:
            return [AlertMessage(LOG_CHAT, text, None)]
        return admin_messages(self._config, text) or [AlertMessage(LOG_CHAT, text, None)]


def admin_messages(config: AppConfig, text: str) -> list[AlertMessage]:
    """The daemon's own troubles as messages: to `[alerts] admin_chat` (its thread) when set,
    else to every staff chat; none when there is no chat at all."""
    alerts = config.alerts
    if alerts.admin_chat is not None:
        return [AlertMessage(alerts.admin_chat, text, None, alerts.admin_thread)]
    return [AlertMessage(c.id, text, None) for c in config.telegram.chats]


def _after(moment: datetime | None, since: datetime) -> bool:
    return moment is not None and moment > since


def _refused(poller: SourcePoller) -> str:
    settings = poller.settings
    where = f" в ${escape(settings.token_env)}" if settings.token_env else ""
    return (f"🚫 <b>Источник {escape(settings.id)}: доступ отклонён</b>\n"
            f"{escape(str(poller.last_error or 'ошибка доступа'))[:300]}\n"
            f"Опрос остановлен: обновите токен{where} и перезапустите монитор.")


def _stopped(poller: SourcePoller) -> str:
    return (f"⛔️ <b>Источник {escape(poller.settings.id)} остановлен: постоянная ошибка</b>\n"
            f"{escape(str(poller.last_error or 'постоянная ошибка'))[:300]}\n"
            "Опрос не возобновится сам: исправьте источник в конфигурации и перезапустите "
            "монитор.")


def _failing(poller: SourcePoller) -> str:
    if poller.failures:
        return f"; последние опросы с ошибкой ({poller.failures} подряд), подробности в журнале"
    return ""


def _recovered(key: str) -> str:
    kind, _, name = key.partition(":")
    if kind == "auth":
        return f"✅ <b>Источник {escape(name)}: доступ восстановлен</b>, опрос идёт."
    if kind == "stopped":
        return f"✅ <b>Источник {escape(name)} снова читается</b>, опрос идёт."
    if kind == "silent":
        return (f"✅ <b>Источник {escape(name)} снова приносит новое</b>"
                " (или больше не опрашивается).")
    return f"✅ <b>Токен ${escape(name)} больше не близок к дневному лимиту</b>."
