"""One poller per source: fetch, classify, store atomically; log transitions, not every failure."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from datetime import datetime, timedelta

from common.clock import Clock
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
        self, source: Source, settings: SourceSettings, store: Store, intake: Intake, clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.source = source
        self.rng = rng or random.Random()
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
            log.exception("источник %s: непредвиденная ошибка при чтении", self.settings.id)
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
        if isinstance(exc, SourceAuthError | PermanentSourceError):
            # Retrying cannot help (a revoked token; a private, deleted or blocked community, a
            # channel that is gone, markup we cannot read): stop the source and say so once.
            self.paused = True
            why = "доступ запрещён" if isinstance(exc, SourceAuthError) else "постоянная ошибка"
            log.error("источник %s остановлен (%s): %s; опрос не возобновится до перезапуска — "
                      "исправьте конфигурацию или доступ и перезапустите демон",
                      self.settings.id, why, exc)
            return
        retry_after = exc.retry_after if isinstance(exc, TransientSourceError) else None
        delay = backoff(self.settings.interval, self.failures, self.rng.random(), retry_after)
        self.retry_at = now + delay
        level = logging.ERROR if self.failures == 1 else logging.DEBUG
        log.log(level, "источник %s: временная ошибка (%s-я подряд): %s; следующая попытка "
                "не раньше %s UTC (через %s)", self.settings.id, self.failures,
                exc or "подробности выше", f"{self.retry_at:%Y-%m-%d %H:%M:%S}",
                _spoken(delay))

    def _succeeded(self, now: datetime, notices: list[str], result: PollResult) -> None:
        if self.failures:
            log.info("источник %s снова читается после %s неудачных опросов", self.settings.id,
                     self.failures)
        self.failures = 0
        self.last_error = None
        self.retry_at = None
        self.last_success = now
        for notice in notices:
            kind = re.sub(r"\d+", "N", notice)  # one line per kind, not per post id
            if kind not in self._notices and len(self._notices) < 200:
                self._notices.add(kind)
                log.warning("источник %s: пропущено то, что не удалось прочитать: %s",
                            self.settings.id, notice)
        if result.new_items or result.new_versions or result.incidents or result.repeats:
            log.info("источник %s: новых сообщений %s, правок %s, новых инцидентов %s, "
                     "повторов к открытым инцидентам %s, ответов официальных лиц %s",
                     self.settings.id, result.new_items, result.new_versions,
                     len(result.incidents), len(result.repeats), len(result.answered))


def backoff(
    interval: timedelta, failures: int, draw: float, retry_after: float | None = None
) -> timedelta:
    """The wait before the next try: full jitter over an exponential ceiling (so sources that
    failed together do not retry together), never shorter than the platform's `retry_after`.

    `draw` is a number in [0, 1) from the poller's random source (injected in tests)."""
    ceiling = min(interval * (2 ** min(failures - 1, 16)), MAX_BACKOFF)
    delay = ceiling * draw
    if retry_after:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def _spoken(delay: timedelta) -> str:
    """«1 ч 5 мин 3 с»: a wait as an operator reads it."""
    seconds = max(0, round(delay.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours} ч" if hours else "", f"{minutes} мин" if minutes else "",
             f"{seconds} с" if seconds or not (hours or minutes) else ""]
    return " ".join(part for part in parts if part)
