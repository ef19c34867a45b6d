"""The app object: owns the database, the HTTP session and the bot; runs the scheduled jobs."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from functools import partial
from types import TracebackType

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

import connectors
from common.clock import Clock, SystemClock
from connectors.base import Source, SourceContext, SourceSettings
from connectors.telegram_bot import TelegramBotSettings
from connectors.vk_quota import quota_lines
from monitor.config import AppConfig, build_ruleset
from monitor.daemon.alert_sender import AlertSender, TelegramAuthError
from monitor.daemon.alert_steps import AlertSchedule
from monitor.daemon.alerts import FlushResult, flush_outbox, queue_due_alerts
from monitor.daemon.bot_intake import BotIntake
from monitor.daemon.bot_updates import BotUpdates, UpdateHandler
from monitor.daemon.delivery import Delivery, Pacer
from monitor.daemon.digest import digest_trigger, queue_digest
from monitor.daemon.fleet import UPDATES, FleetMember, source_lease
from monitor.daemon.http import serve_http
from monitor.daemon.intake import Intake
from monitor.daemon.metrics import DaemonMetrics
from monitor.daemon.poller import SourcePoller
from monitor.daemon.recompute import recompute_deadlines
from monitor.daemon.report.delivery import QuarterlyDelivery
from monitor.daemon.report.spike_alerts import alert_spikes
from monitor.daemon.routing import Router
from monitor.daemon.staff import COMMANDS, StaffDesk
from monitor.daemon.system_alerts import SystemWatch, admin_messages
from monitor.daemon.workcal import WorkingCalendar
from storage import PollResult, open_store

log = logging.getLogger(__name__)


REPORT_JOB = "quarterly-report"
"""The scheduler's id of the quarterly report's check."""


def poll_job_id(source_id: str) -> str:
    """The scheduler's id of a source's poll job."""
    return f"poll:{source_id}"


class App:
    """One owner of every resource, opened and closed in one `async with`."""

    def __init__(
        self, config: AppConfig, clock: Clock | None = None, env: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        """Draws the pollers' backoff jitter (seeded in tests)."""
        self._env = os.environ if env is None else env
        self._stack = AsyncExitStack()
        self._running: set[asyncio.Task[object]] = set()
        self.sender: AlertSender | None = None
        self.updates: BotUpdates | None = None
        self.pollers: dict[str, SourcePoller] = {}
        self._flushing = asyncio.Lock()
        self._ticking = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._reading = asyncio.Event()
        self.delivery = Delivery(Pacer(config.alerts.per_chat_per_minute))
        self.reloading = asyncio.Lock()
        """Held while the config is re-read (monitor/daemon/reload.py): one reload at a time."""
        self.metrics = DaemonMetrics()
        self.scheduler: AsyncIOScheduler | None = None
        self.http_address: tuple[str, int] | None = None
        """Where `/healthz` and `/metrics` listen (the port bound, when 0 was asked)."""

    async def __aenter__(self) -> App:
        try:
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    async def _open(self) -> None:
        config = self.config
        self.calendar = WorkingCalendar(config.calendar)
        self.intake = Intake(config, build_ruleset(config), self.calendar)
        self.use_alert_config()
        self.store = await open_store(config.store_location(self._env))
        self._stack.push_async_callback(self.store.close)
        await self.recompute_deadlines()
        self.http = await self._stack.enter_async_context(
            aiohttp.ClientSession(headers={"User-Agent": config.daemon.user_agent})
        )
        await self._open_sender()
        await self._open_updates()
        if self._bot_chats() and self.updates is None:
            log.error("источники telegram_bot читают то, что получает бот, но обновления бота "
                      "не читаются (нет токена в $%s, токен отклонён или [telegram] updates = "
                      "false): они ничего не найдут", config.telegram.token_env)
        self._build_pollers()
        self.fleet = FleetMember(self.store, self.clock, config.storage.lease_ttl,
                                 self.lease_names())
        await self.fleet.join()
        self._stack.push_async_callback(self.fleet.leave)
        self.watch = SystemWatch(config, self.store, self.clock, self.pollers,
                                 self.sender is not None)
        self.quarterly = self.make_quarterly()
        if config.daemon.http:
            self.http_address = await self._stack.enter_async_context(
                serve_http(self, config.daemon.http))
        for line in quota_lines([poller.settings for poller in self.pollers.values()]):
            log.info("квоты ВКонтакте: %s", line)

    async def _open_sender(self) -> None:
        tg = self.config.telegram
        token = self._env.get(tg.token_env)
        if not token:
            log.warning("нет токена бота в $%s: оповещения пишутся только в журнал",
                        tg.token_env)
            return
        if not tg.chats:
            log.warning("не указан ни один чат [[telegram.chats]]: оповещения пишутся только "
                        "в журнал")
            if not self._bot_chats():
                return
        try:
            self.sender = await self._stack.enter_async_context(AlertSender(tg, token))
        except TelegramAuthError as exc:
            log.error("Telegram отклонил токен бота из $%s (%s): оповещения пишутся только "
                      "в журнал", tg.token_env, exc)

    async def _open_updates(self) -> None:
        """Staff buttons and commands: the token's one update reader, and the «/» menu."""
        tg = self.config.telegram
        if self.sender is None or not tg.updates:
            return
        self.updates = BotUpdates(self.sender.bot, self.store, self.clock,
                                  tg.long_poll.total_seconds(), tg.timeout.total_seconds())
        for handler in self.update_handlers():
            self.updates.add(handler)
        outcome = await self.sender.set_commands(COMMANDS)
        if outcome.status != "sent":
            log.warning("команды бота не зарегистрированы (%s); набранные вручную они "
                        "работают", outcome.error)
        if not tg.staff:
            log.warning("не указан ни один сотрудник [[telegram.staff]]: действовать по "
                        "инцидентам из Telegram некому")

    def update_handlers(self) -> list[UpdateHandler]:
        """Who reads the bot's updates under the current config (rebuilt by a reload)."""
        assert self.sender is not None
        handlers: list[UpdateHandler] = []
        chats = self._bot_chats()
        if chats:  # asked first: a source chat's messages are citizens', never staff commands
            handlers.append(BotIntake(self.store, self.clock, chats))
        handlers.append(StaffDesk(self.config, self.store, self.sender, self.clock))
        return handlers

    def _bot_chats(self) -> set[int]:
        """Chats and channels that `telegram_bot` sources read."""
        return {chat for s in self.config.sources if s.enabled
                and isinstance(s, TelegramBotSettings) for chat in s.chats()}

    def use_alert_config(self) -> None:
        """Build the alert steps' schedule and the delivery (pace, group window, rescue chat)
        from the current config and (re)schedule the digest: at start and on a reload."""
        alerts = self.config.alerts
        self.schedule = AlertSchedule(alerts, self.calendar, self.config.telegram.announce_new)
        rescue = next((m.chat_id for m in admin_messages(self.config, "")), None)
        self.delivery = Delivery(self.delivery.pacer.with_limit(alerts.per_chat_per_minute),
                                 alerts.group_window, rescue)
        self.schedule_digest()

    def schedule_digest(self) -> None:
        """The morning digest's cron job under the current config (none when it is off)."""
        if self.scheduler is None:
            return
        if self.scheduler.get_job("digest") is not None:
            self.scheduler.remove_job("digest")
        digest = digest_trigger(self.config)
        if digest is not None:
            self.scheduler.add_job(self._tracked, digest, args=["digest", self.morning_digest],
                                   id="digest")

    async def recompute_deadlines(self) -> int:
        """Recompute open incidents' deadlines if the calendar or a policy changed."""
        return await recompute_deadlines(self.store, self.config, self.calendar,
                                         self.clock.now())

    async def process_updates(self) -> int:
        """Handle the bot's pending updates once, without waiting (tests, demo)."""
        return 0 if self.updates is None else await self.updates.poll_once(0)

    def _build_pollers(self) -> None:
        for settings in self.config.sources:
            poller = self.make_poller(settings)
            if poller is not None:
                self.pollers[settings.id] = poller

    def make_poller(
        self, settings: SourceSettings, source: Source | None = None
    ) -> SourcePoller | None:
        """A poller of one configured source (reusing `source` if given), or None when the
        source is disabled or lacks its token (said in the log)."""
        spec = connectors.registry()[settings.network]
        if not settings.enabled:
            log.info("источник %s отключён в конфигурации", settings.id)
            return None
        token = self._env.get(settings.token_env) if settings.token_env else None
        if spec.needs_token and not token:
            log.warning("источник %s пропущен: нет токена в $%s", settings.id,
                        settings.token_env or "(token_env не задан)")
            return None
        if source is None:
            secrets = {name: self._env[name] for key, name in settings
                       if key.endswith("_env") and key != "token_env"
                       and isinstance(name, str) and self._env.get(name)}
            context = SourceContext(self.http, self.clock, token,
                                    self.config.official_of(settings.network), secrets,
                                    self.store.kept_bot_updates)
            source = spec.create(settings, context)
        return SourcePoller(source, settings, self.store, self.intake, self.clock, self.rng)

    def lease_names(self) -> list[str]:
        """The leases this daemon competes for: its sources now (a reload changes them) and the
        bot's update reader."""
        names = [source_lease(source_id) for source_id in self.pollers]
        return names + ([UPDATES] if self.updates is not None else [])

    async def poll(self, source_id: str) -> PollResult | None:
        """Poll one source now."""
        return await self._poll_one(self.pollers[source_id])

    async def poll_all(self) -> None:
        """Poll every active source once, concurrently."""
        await asyncio.gather(*(self._poll_one(p) for p in self.pollers.values()))

    async def _poll_one(self, poller: SourcePoller) -> PollResult | None:
        """Poll, counted for the metrics."""
        failures, started = poller.failures, asyncio.get_running_loop().time()
        result = await poller.poll()
        seconds = asyncio.get_running_loop().time() - started
        self.metrics.observe_poll(poller, seconds, result, failures, self.clock.now())
        return result

    async def deadline_tick(self) -> int:
        """Queue the alerts due now: new incidents, warnings, overdue, reminders, escalations,
        ended snoozes (one tick at a time: the polls that opened incidents at once wait for
        each other, not race)."""
        async with self._ticking:
            return await queue_due_alerts(self.store, self.clock, self.schedule,
                                          Router(self.config, self.sender is not None),
                                          self.config.calendar.zone)

    async def system_check(self) -> int:
        """Tell the admin chat of sources refused or silent and tokens near their caps, and of
        their recovery, once each (on a shared store each condition changes in one unit of
        work, so several daemons checking tell it once)."""
        return await self.watch.check()

    async def morning_digest(self) -> int:
        """Queue today's digest to every chat (once a day per chat, however many daemons)."""
        return await queue_digest(self.store, self.config,
                                  Router(self.config, self.sender is not None), self.clock)

    async def alert_spikes(self, opened: list[int]) -> int:
        """Queue the alert of any spike the newly opened incidents make (docs/report.md), to
        the route of its group and settlement."""
        return await alert_spikes(self.store, self.config,
                                  Router(self.config, self.sender is not None), opened,
                                  self.clock.now())

    async def flush_outbox(self) -> FlushResult:
        """Send what the outbox holds (one pass at a time: a row is never sent twice)."""
        async with self._flushing:
            result = await flush_outbox(self.store, self.sender, self.clock,
                                        self.config.telegram, self.delivery)
        self.metrics.observe_flush(result.sent, result.failed, result.retried)
        return result

    async def _poll_job(self, poller: SourcePoller) -> None:
        """A scheduled poll of a source this daemon holds; staff hear of the incidents it opened
        at once, not at the tick."""
        if not self.fleet.holds(source_lease(poller.settings.id)):
            return
        result = await self._poll_one(poller)
        if result is not None and result.incidents:
            await self.alert_spikes(result.incidents)
            await self.deadline_tick()
            await self.flush_outbox()

    async def run(self, stop: asyncio.Event) -> None:
        """Run the scheduled jobs until `stop` is set, then drain within the grace period."""
        daemon = self.config.daemon
        scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1,
            "misfire_grace_time": max(1, int(daemon.misfire_grace.total_seconds())),
        })
        now = datetime.now(UTC)  # the scheduler runs on wall time; deadlines use self.clock
        self.scheduler = scheduler
        for poller in self.pollers.values():
            self.schedule_poll(poller)
        self._add_job(scheduler, "deadline-tick", self._scheduled_tick, daemon.deadline_tick,
                      None, now)
        if self.fleet.shared:
            self._add_job(scheduler, "leases", self.renew_leases, self.config.storage.lease_renew,
                          None, now + self.config.storage.lease_renew)
        self._add_job(scheduler, "outbox", self.flush_outbox, daemon.outbox_interval, None, now)
        self._add_job(scheduler, "system-check", self.system_check, daemon.deadline_tick, None,
                      now)
        self.schedule_digest()
        self.schedule_report()
        scheduler.start()
        self._sync_reader()
        log.info("монитор запущен: источников %s, оповещения %s", len(self.pollers),
                 "в Telegram" if self.sender else "в журнал")
        try:
            await stop.wait()
        finally:
            scheduler.pause()
            await self._stop_reader()
            await self._drain(daemon.shutdown_grace)
            scheduler.shutdown(wait=False)
            log.info("монитор остановлен")

    def schedule_poll(self, poller: SourcePoller) -> None:
        """(Re)schedule a source's polls, the first within `first_poll_spread`."""
        if self.scheduler is None:
            return
        spread = min(poller.settings.interval, self.config.daemon.first_poll_spread)
        first = datetime.now(UTC) + timedelta(seconds=self.rng.uniform(0, spread.total_seconds()))
        self._add_job(self.scheduler, poll_job_id(poller.settings.id),
                      self.poll_job(poller), poller.settings.interval,
                      poller.settings.jitter, first)

    def make_quarterly(self) -> QuarterlyDelivery:
        """The curator's quarterly report under the current config (rebuilt by a reload)."""
        return QuarterlyDelivery(self.config, self.store, self.sender, self.clock, self.fleet)

    def schedule_report(self) -> None:
        """(Re)schedule the quarterly report's check every `[report] check_every`, from now."""
        if self.scheduler is None:
            return
        self._add_job(self.scheduler, REPORT_JOB, self._report_tick,
                      self.config.report.check_every, None, datetime.now(UTC))

    async def _report_tick(self) -> None:
        await self.quarterly.tick()  # the delivery of the config now (a reload replaces it)

    def poll_job(self, poller: SourcePoller) -> Callable[[], Awaitable[object]]:
        """What the scheduler runs for a source."""
        return partial(self._poll_job, poller)

    async def _scheduled_tick(self) -> None:
        """The deadline tick of one daemon per moment (all of them on a shared store)."""
        if await self.fleet.once("deadline-tick", self.config.daemon.deadline_tick):
            await self.deadline_tick()

    async def renew_leases(self) -> None:
        """Renew this daemon's leases; read the bot's updates only while holding theirs."""
        await self.fleet.renew()
        if self._reader is not None and not self.fleet.holds(UPDATES):
            await self._stop_reader()
        self._sync_reader()

    def _sync_reader(self) -> None:
        """Start the bot's update reader if this daemon holds its lease and it is not running."""
        if self.updates is None or self._reader is not None or not self.fleet.holds(UPDATES):
            return
        self._reading = asyncio.Event()
        self._reader = asyncio.create_task(self.updates.run(self._reading))

    async def _stop_reader(self) -> None:
        if self._reader is None:
            return
        self._reading.set()
        self._reader.cancel()  # a long poll in flight holds nothing: its updates come again
        await asyncio.gather(self._reader, return_exceptions=True)
        self._reader = None

    def _add_job(
        self, scheduler: AsyncIOScheduler, job_id: str, job: Callable[[], Awaitable[object]],
        every: timedelta, jitter: timedelta | None, first: datetime,
    ) -> None:
        seconds = max(every.total_seconds(), 0.1)
        jitter_s = int(jitter.total_seconds()) if jitter else None
        scheduler.add_job(self._tracked, IntervalTrigger(seconds=seconds, jitter=jitter_s,
                                                         timezone=UTC),
                          args=[job_id, job], id=job_id, next_run_time=first,
                          replace_existing=True)

    async def _tracked(self, job_id: str, job: Callable[[], Awaitable[object]]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("задача %s завершилась ошибкой; она запустится снова в свой срок",
                          job_id)
        finally:
            self._running.discard(task)

    async def _drain(self, grace: timedelta) -> None:
        running = set(self._running)
        if not running:
            return
        log.info("ждём до %s с завершения задач (%s)", grace.total_seconds(), len(running))
        _, pending = await asyncio.wait(running, timeout=grace.total_seconds())
        for task in pending:
            task.cancel()
        if pending:
            log.warning("отменено задач, не успевших завершиться: %s", len(pending))
            await asyncio.gather(*pending, return_exceptions=True)
