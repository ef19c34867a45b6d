"""What the daemon counts for `/metrics` and judges for `/healthz` (prometheus-client)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from monitor.daemon.fleet import source_lease
from storage import PollResult

if TYPE_CHECKING:
    from monitor.daemon.app import App
    from monitor.daemon.poller import SourcePoller

SOURCE_STATES = ("ok", "backing_off", "paused")
NO_GROUP = "без группы"
_POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def source_state(poller: SourcePoller, now: datetime) -> str:
    """ok, backing_off (waiting to retry after a failure) or paused (until restart or reload)."""
    if poller.paused:
        return "paused"
    if poller.retry_at is not None and now < poller.retry_at:
        return "backing_off"
    return "ok"


@dataclass(slots=True)
class Health:
    """The verdict of `/healthz`: healthy unless a reason says otherwise (Russian, for admins)."""

    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong."""
        return not self.problems


class DaemonMetrics:
    """The daemon's figures: counted as polls and flushes happen, the rest read at a scrape."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_resident_memory_bytes and the like
        self.poll_seconds = Histogram(
            "monitor_poll_duration_seconds", "Duration of a poll that reached the network",
            ["source"], registry=registry, buckets=_POLL_BUCKETS)
        self.items = Counter("monitor_source_items", "New items stored", ["source"],
                             registry=registry)
        self.incidents_opened = Counter("monitor_source_incidents_opened", "Incidents opened",
                                        ["source"], registry=registry)
        self.alerts = Counter("monitor_alerts", "Alert send attempts since start, by outcome "
                              "(sent, failed, retried)", ["outcome"], registry=registry)
        self.last_success = Gauge("monitor_source_last_success_timestamp_seconds",
                                  "Last successful poll (Unix time)", ["source"],
                                  registry=registry)
        self.last_error = Gauge("monitor_source_last_error_timestamp_seconds",
                                "Last failed poll (Unix time)", ["source"], registry=registry)
        self.state = Gauge("monitor_source_state", "1 for the source's current state",
                           ["source", "state"], registry=registry)
        self.open = Gauge("monitor_incidents_open", "Open incidents", ["group"],
                          registry=registry)
        self.overdue = Gauge("monitor_incidents_overdue", "Open incidents past their deadline",
                             ["group"], registry=registry)
        self.outbox = Gauge("monitor_outbox_alerts", "Alerts in the outbox by status",
                            ["status"], registry=registry)
        self.outbox_age = Gauge("monitor_outbox_oldest_waiting_seconds",
                                "Age of the oldest alert due and not yet sent (0: none)",
                                registry=registry)
        self.failing_since: dict[str, datetime] = {}
        self.errors_at: dict[str, datetime] = {}

    def observe_poll(self, poller: SourcePoller, seconds: float, result: PollResult | None,
                     failures_before: int, now: datetime) -> None:
        """Count one call of a poller (a skipped one, while backing off or paused, is none)."""
        source = poller.settings.id
        if poller.failures > failures_before:
            self.errors_at[source] = now
            self.failing_since.setdefault(source, now)
        elif result is None:
            return
        else:
            self.failing_since.pop(source, None)
            self.items.labels(source).inc(result.new_items)
            self.incidents_opened.labels(source).inc(len(result.incidents))
        self.poll_seconds.labels(source).observe(seconds)

    def observe_flush(self, sent: int, failed: int, retried: int) -> None:
        """Count one pass over the outbox."""
        for outcome, count in (("sent", sent), ("failed", failed), ("retried", retried)):
            self.alerts.labels(outcome).inc(count)

    def forget_source(self, source: str) -> None:
        """A source removed by a reload: its series go."""
        self.failing_since.pop(source, None)
        self.errors_at.pop(source, None)
        for metric in (self.poll_seconds, self.items, self.incidents_opened, self.last_success,
                       self.last_error):
            try:
                metric.remove(source)
            except KeyError:
                pass

    async def refresh(self, app: App) -> Health:
        """Read the state behind the gauges from the app and its store; judge health."""
        now = app.clock.now()
        health = Health()
        self.state.clear()
        for source, poller in app.pollers.items():
            state = source_state(poller, now)
            for name in SOURCE_STATES:
                self.state.labels(source, name).set(1 if name == state else 0)
            if poller.last_success is not None:
                self.last_success.labels(source).set(poller.last_success.timestamp())
            if source in self.errors_at:
                self.last_error.labels(source).set(self.errors_at[source].timestamp())
            since = self.failing_since.get(source)
            limit = poller.settings.silence_alert  # the source's own limit (0: never judged)
            held = app.fleet.holds(source_lease(source))  # another daemon's to poll: not judged
            if held and limit and since is not None and now - since > limit:
                health.problems.append(f"источник {source} не опрашивается с "
                                       f"{since:%Y-%m-%d %H:%M} UTC (дольше {_hours(limit)})")
        await self._incidents(app, now)
        await self._outbox(app, now, health)
        return health

    async def _incidents(self, app: App, now: datetime) -> None:
        counts = await app.store.open_counts(now)
        self.open.clear()
        self.overdue.clear()
        for group, (opened, overdue) in counts.items():
            self.open.labels(group or NO_GROUP).inc(opened)
            self.overdue.labels(group or NO_GROUP).inc(overdue)

    async def _outbox(self, app: App, now: datetime, health: Health) -> None:
        for status, count in (await app.store.outbox_counts()).items():
            self.outbox.labels(status).set(count)
        oldest = await app.store.oldest_waiting_alert(now)
        age = max(now - oldest, timedelta(0)) if oldest is not None else timedelta(0)
        self.outbox_age.set(age.total_seconds())
        stuck = app.config.daemon.outbox_stuck
        if age > stuck:
            health.problems.append(f"оповещения не уходят: старейшее ждёт {_hours(age)} "
                                   f"(порог {_hours(stuck)})")


def _hours(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} ч {minutes % 60} мин" if minutes >= 60 else f"{minutes} мин"
