"""Re-read the config of a running daemon (SIGHUP, `monitor reload`): validated first; a broken
file keeps the old config and says why; a good one is applied between two awaits, so no poll,
tick or alert sees half of it and none is lost."""

from __future__ import annotations

import asyncio
import html
import logging
import signal
from typing import TYPE_CHECKING

from monitor.config import AppConfig, build_ruleset, load_config
from monitor.config.problems import ConfigError
from monitor.daemon.intake import Intake
from monitor.daemon.poller import SourcePoller
from monitor.daemon.recompute import deadline_basis
from monitor.daemon.system_alerts import admin_messages
from monitor.daemon.workcal import WorkingCalendar
from rules import RuleSet

if TYPE_CHECKING:
    from monitor.daemon.app import App

log = logging.getLogger(__name__)

_RESTART_ONLY = (
    ("storage", "путь к базе [storage]"),
    ("daemon", "раздел [daemon]"),
)
_TELEGRAM_RESTART_ONLY = ("token_env", "base_url", "timeout", "updates", "long_poll")


async def reload_config(app: App) -> bool:
    """Re-read the app's config file; apply it if valid. True when applied."""
    async with app.reloading:
        path = app.config.path
        try:
            loaded = await asyncio.to_thread(load_config, path)
            ruleset = await asyncio.to_thread(build_ruleset, loaded.config)
        except ConfigError as exc:
            await _refused(app, [str(p) for p in exc.problems])
            return False
        except Exception as exc:  # a rule set the compiler refuses: the old one stays too
            log.exception("конфигурация %s не применена", path)
            await _refused(app, [f"{path}: {exc}"])
            return False
        for warning in loaded.warnings:
            log.warning("конфигурация: %s", warning)
        restart = restart_only_changes(app.config, loaded.config)
        deadlines = deadline_basis(app.config) != deadline_basis(loaded.config)
        summary = apply_config(app, loaded.config, ruleset)
        if app.fleet.shared:  # take the added sources' leases now, not at the next renewal
            await app.renew_leases()
        if deadlines:  # the calendar or the policies changed: open incidents' terms follow
            summary += f", сроков пересчитано {await app.recompute_deadlines()}"
        log.info("конфигурация %s перечитана и применена: %s", path, summary)
        if restart:
            log.warning("без перезапуска не применяются: %s", ", ".join(restart))
        return True


def restart_only_changes(old: AppConfig, new: AppConfig) -> list[str]:
    """What changed that only a restart applies (the store, the daemon's jobs, the bot)."""
    found = [name for key, name in _RESTART_ONLY if getattr(old, key) != getattr(new, key)]
    found += [f"[telegram] {key}" for key in _TELEGRAM_RESTART_ONLY
              if getattr(old.telegram, key) != getattr(new.telegram, key)]
    return found


def apply_config(app: App, config: AppConfig, ruleset: RuleSet) -> str:
    """Swap config, rules, calendar, pollers and the quarterly report at once (no await
    inside); return a summary."""
    old_config, old = app.config, app.pollers
    app.config = config
    app.calendar = WorkingCalendar(config.calendar)
    app.intake = Intake(config, ruleset, app.calendar)
    app.use_alert_config()  # steps, routes, templates, quiet hours, pace, digest
    pollers: dict[str, SourcePoller] = {}
    added: list[str] = []
    changed: list[str] = []
    for settings in config.sources:
        before = old.get(settings.id)
        same = (before is not None and before.settings == settings
                and old_config.official_of(settings.network) == config.official_of(
                    settings.network))
        poller = app.make_poller(settings, before.source if same and before else None)
        if poller is None:
            continue
        if same and before is not None:
            _keep_health(before, poller)
        else:
            (changed if before is not None else added).append(settings.id)
        pollers[settings.id] = poller
    removed = [source for source in old if source not in pollers]
    app.pollers = pollers
    app.watch.use(config, pollers)
    app.fleet.set_names(app.lease_names())  # a source is polled only while its lease is held
    _reschedule(app, removed, set(added) | set(changed))
    if app.updates is not None:
        app.updates.handlers[:] = app.update_handlers()
    app.quarterly = app.make_quarterly()
    if config.report.check_every != old_config.report.check_every:
        app.schedule_report()
    return (f"источников {len(pollers)} (добавлено: {', '.join(added) or 'нет'}; изменено: "
            f"{', '.join(changed) or 'нет'}; убрано: {', '.join(removed) or 'нет'}), "
            f"тем {len([t for t in config.topics if t.enabled])}")


def _keep_health(before: SourcePoller, after: SourcePoller) -> None:
    """An unchanged source keeps its backoff, pause and last success across a reload."""
    after.failures, after.paused = before.failures, before.paused
    after.retry_at, after.last_success = before.retry_at, before.last_success


def _reschedule(app: App, removed: list[str], fresh: set[str]) -> None:
    from monitor.daemon.app import poll_job_id

    for source in removed:
        app.metrics.forget_source(source)
        if app.scheduler is not None and app.scheduler.get_job(poll_job_id(source)):
            app.scheduler.remove_job(poll_job_id(source))
    for source, poller in app.pollers.items():
        if source in fresh:
            app.schedule_poll(poller)
        elif app.scheduler is not None:  # same times; the job now calls the new poller
            job = app.scheduler.get_job(poll_job_id(source))
            if job is not None:
                app.scheduler.modify_job(job.id, args=[job.id, app.poll_job(poller)])


async def _refused(app: App, problems: list[str]) -> None:
    path = app.config.path
    log.error("конфигурация %s не применена, работает прежняя. Ошибки (%s):\n  %s", path,
              len(problems), "\n  ".join(problems))
    if app.sender is None:
        return
    shown = "\n".join(f"• {html.escape(p)}" for p in problems[:10])
    more = f"\n…и ещё {len(problems) - 10}" if len(problems) > 10 else ""
    text = (f"⚠️ <b>Конфигурация не применена</b>\n{html.escape(str(path))}: ошибок "
            f"{len(problems)}, монитор работает по прежней.\n{shown}{more}")
    for message in admin_messages(app.config, text):
        outcome = await app.sender.send(message.chat_id, message.text,
                                        thread_id=message.thread_id)
        if outcome.status != "sent":
            log.warning("сообщение о неудачной перезагрузке не отправлено в чат %s: %s",
                        message.chat_id, outcome.error)


class ReloadSignal:
    """SIGHUP from the moment the daemon holds its store: one that comes while the app is still
    opening is remembered and done once the app is ready (never the default: death)."""

    def __init__(self) -> None:
        self._asked = False
        self._tasks: set[asyncio.Task[bool]] = set()
        signal.signal(signal.SIGHUP, self._early)

    def _early(self, signum: int, frame: object) -> None:
        self._asked = True

    def attach(self, app: App) -> None:
        """Reload `app` on every SIGHUP from now on (and now, if one came before)."""
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._fire, app)
        if self._asked:
            self._fire(app)

    def _fire(self, app: App) -> None:
        task = asyncio.create_task(reload_config(app))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
