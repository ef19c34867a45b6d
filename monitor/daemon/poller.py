"""One poller per source: fetch, classify, store atomically; log transitions, not every failure."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from common.clock import Clock
from common.fingerprints import TextPrint, text_print
from connectors.base import (
    Item,
    PermanentSourceError,
    Source,
    SourceAuthError,
    SourceError,
    SourceSettings,
    TransientSourceError,
)
from monitor.config import AppConfig
from monitor.daemon.workcal import WorkingCalendar, deadline
from rules import RuleSet, classify
from storage import (
    ClassifiedItem,
    Database,
    DuplicateRule,
    NewIncident,
    PollResult,
    load_cursor,
    save_items_and_cursor,
)

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


def content_hash(item: Item) -> str:
    """Return the fingerprint that tells an edit from a re-read."""
    return hashlib.sha256(item.text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Intake:
    """Classifies items and works out their deadlines: the part of a poll that is pure.

    `duplicates` says when a repeated complaint joins an open incident (None: never);
    `printer` makes the print that finds a complaint's repeats.
    """

    def __init__(
        self, config: AppConfig, ruleset: RuleSet, calendar: WorkingCalendar,
        printer: Callable[[str], TextPrint | None] = text_print,
    ) -> None:
        self._config = config
        self._printer = printer
        self._ruleset = ruleset
        self._calendar = calendar
        repeats = config.duplicates
        self.duplicates = (
            DuplicateRule(repeats.window, repeats.similarity) if repeats.enabled else None
        )

    def classify(self, item: Item, network: str, now: datetime) -> ClassifiedItem:
        """Classify one item and, if it needs a reaction, describe its incident.

        The ruleset knows which sources require one of our places (`require_place`).
        """
        result = classify(item.text, self._ruleset, source=item.source_id, network=network)
        incident = None
        if result.actionable and not item.is_official:
            policy = self._config.policy_for(result.sla, result.priority or "normal")
            warn_at, due_at = deadline(now, policy, self._calendar)
            text = self._printer(item.text) if self.duplicates is not None else None
            incident = NewIncident(result.topic_name, result.organisation,
                                   result.priority or "normal", warn_at, due_at, text)
        return ClassifiedItem(
            item=item, network=network, content_hash=content_hash(item), group=result.group,
            topic=result.topic, actionable=result.actionable, score=result.score,
            why=tuple(result.why), incident=incident, settlement=result.settlement,
        )


class SourcePoller:
    """Polls one source and keeps its health: backoff after failures, pause on auth errors."""

    def __init__(
        self, source: Source, settings: SourceSettings, db: Database, intake: Intake, clock: Clock
    ) -> None:
        self.source = source
        self.settings = settings
        self._db = db
        self._intake = intake
        self._clock = clock
        self.failures = 0
        self.paused = False
        self.retry_at: datetime | None = None
        self.last_success: datetime | None = None
        self._notices: set[str] = set()

    async def poll(self) -> PollResult | None:
        """Run one poll unless the source is paused or backing off; never raises SourceError."""
        now = self._clock.now()
        if self.paused or (self.retry_at is not None and now < self.retry_at):
            return None
        try:
            cursor = await load_cursor(self._db, self.settings.id)
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
        result = await save_items_and_cursor(self._db, self.settings.id, entries,
                                             page.next_cursor, now, self._intake.duplicates)
        self._succeeded(now, page.notices, result)
        return result

    def _failed(self, exc: SourceError | None, now: datetime) -> None:
        self.failures += 1
        if isinstance(exc, SourceAuthError):
            self.paused = True
            log.error("source %s: access refused, polling paused until restart: %s",
                      self.settings.id, exc)
            return
        delay = min(self.settings.interval * (2 ** min(self.failures - 1, 10)), MAX_BACKOFF)
        if isinstance(exc, TransientSourceError) and exc.retry_after:
            delay = max(delay, timedelta(seconds=exc.retry_after))
        self.retry_at = now + delay
        if self.failures == 1:
            kind = "permanent" if isinstance(exc, PermanentSourceError) else "transient"
            log.error("source %s is failing (%s): %s; retrying with backoff",
                      self.settings.id, kind, exc or "see traceback above")
        else:
            log.debug("source %s still failing (%s times): %s", self.settings.id,
                      self.failures, exc)

    def _succeeded(self, now: datetime, notices: list[str], result: PollResult) -> None:
        if self.failures:
            log.info("source %s recovered after %s failed poll(s)", self.settings.id,
                     self.failures)
        self.failures = 0
        self.retry_at = None
        self.last_success = now
        for notice in notices:
            kind = re.sub(r"\d+", "N", notice)  # one line per kind, not per post id
            if kind not in self._notices and len(self._notices) < 200:
                self._notices.add(kind)
                log.warning("source %s: skipped content it does not understand: %s",
                            self.settings.id, notice)
        if result.new_items or result.new_versions or result.incidents or result.joined:
            log.info("source %s: %s new item(s), %s edit(s), %s new incident(s),"
                     " %s repeat(s) joined open incidents", self.settings.id, result.new_items,
                     result.new_versions, len(result.incidents), len(result.joined))
