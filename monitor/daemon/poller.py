"""One poller per source: fetch, classify, store atomically; log transitions, not every failure."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta

from common.clock import Clock
from common.durations import format_duration
from connectors.base import (
    PermanentSourceError,
    Source,
    SourceAuthError,
    SourceError,
    SourceSettings,
    TransientSourceError,
)
from monitor.daemon.intake import Intake
from storage import PollResult, Store

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


class SourcePoller:
    """Polls one source and keeps its health: backoff after failures, pause on auth errors."""

    def __init__(
        self, source: Source, settings: SourceSettings, store: Store, intake: Intake, clock: Clock
    ) -> None:
        self.source = source
        self.settings = settings
        self._store = store
        self._intake = intake
        self._clock = clock
        self.failures = 0
        self.paused = False
        self.retry_at: datetime | None = None
        self.last_success: datetime | None = None
        self.last_error: SourceError | None = None
        self._notices: set[str] = set()

    async def poll(self) -> PollResult | None:
        """Run one poll unless the source is paused or backing off; never raises SourceError."""
        now = self._clock.now()
        if self.paused or (self.retry_at is not None and now < self.retry_at):
            return None
        try:
            cursor = await self._store.load_cursor(self.settings.id)
            page = await self.source.fetch(cursor)
        except asyncio.CancelledError:
            raise
        except SourceError as exc:
            self._failed(exc, now)
            return None
        except Exception:
            log.exception("source %s: unexpected error while fetching", self.settings.id)
            self._failed(None, now)
            return None
        entries = [self._intake.classify(i, self.settings.network, now) for i in page.items]
        result = await self._store.save_items_and_cursor(
            self.settings.id, entries, page.next_cursor, now, self._intake.repeats)
        self._succeeded(now, page.notices, result)
        return result

    def _failed(self, exc: SourceError | None, now: datetime) -> None:
        self.failures += 1
        self.last_error = exc
        if isinstance(exc, SourceAuthError):
            self.paused = True
            log.error("source %s: access refused, polling paused until restart: %s",
                      self.settings.id, exc)
            return
        if isinstance(exc, PermanentSourceError):
            # Retrying cannot help (a private, deleted or blocked community, a channel that is
            # gone): stop the source and say so once; the rest keep working.
            self.paused = True
            log.error("source %s stopped (permanent error): %s; fix the config and restart",
                      self.settings.id, exc)
            return
        delay = min(self.settings.interval * (2 ** min(self.failures - 1, 10)), MAX_BACKOFF)
        if isinstance(exc, TransientSourceError) and exc.retry_after:
            delay = max(delay, timedelta(seconds=exc.retry_after))
        self.retry_at = now + delay
        if self.failures == 1:
            log.error("источник %s: временная ошибка: %s; следующая попытка в %s UTC (через %s)",
                      self.settings.id, exc or "см. трассировку выше",
                      f"{self.retry_at:%Y-%m-%d %H:%M:%S}", format_duration(delay))
        else:
            log.debug("source %s still failing (%s times): %s", self.settings.id,
                      self.failures, exc)

    def _succeeded(self, now: datetime, notices: list[str], result: PollResult) -> None:
        if self.failures:
            log.info("source %s recovered after %s failed poll(s)", self.settings.id,
                     self.failures)
        self.failures = 0
        self.last_error = None
        self.retry_at = None
        self.last_success = now
        for notice in notices:
            kind = re.sub(r"\d+", "N", notice)  # one line per kind, not per post id
            if kind not in self._notices and len(self._notices) < 200:
                self._notices.add(kind)
                log.warning("source %s: skipped content it does not understand: %s",
                            self.settings.id, notice)
        if result.new_items or result.new_versions or result.incidents or result.repeats:
            log.info("source %s: %s new item(s), %s edit(s), %s new incident(s),"
                     " %s repeat(s) joined open incidents, %s answered by an official reply",
                     self.settings.id, result.new_items, result.new_versions,
                     len(result.incidents), len(result.repeats), len(result.answered))
