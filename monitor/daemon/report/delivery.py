"""The report in Telegram: `/report [period]` from staff, and the past quarter's report sent to
the curator's chat on the first working day after the quarter, reminding of the 5th."""

from __future__ import annotations

import logging
import tempfile
from datetime import date, datetime
from pathlib import Path

from common.clock import Clock
from monitor.config import AppConfig
from monitor.daemon.alert_sender import AlertSender, SendOutcome
from monitor.daemon.fleet import FleetMember
from monitor.daemon.report.output import make_report
from monitor.daemon.report.period import Period, PeriodError, parse_period, quarter_of
from monitor.daemon.workcal import WorkingCalendar
from storage import Store

log = logging.getLogger(__name__)

TELEGRAM_FORMATS = ("xlsx", "png")
DUE_DAY = 5
_MONTHS_GENITIVE = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
                    "сентября", "октября", "ноября", "декабря")


async def send_report(
    store: Store, config: AppConfig, sender: AlertSender, chat_id: int, period: Period,
    now: datetime, caption: str,
) -> SendOutcome:
    """Make the period's XLSX and charts in a scratch folder and send them to a chat: the
    workbook with `caption`, then the charts as one album."""
    with tempfile.TemporaryDirectory(prefix="mcu-report-") as folder:
        files = await make_report(store, config, period, now, Path(folder), TELEGRAM_FORMATS)
        workbook = next(p for p in files if p.suffix == ".xlsx")
        outcome = await sender.send_document(chat_id, workbook, caption)
        if outcome.status == "sent":
            outcome = await sender.send_photos(chat_id, [p for p in files if p.suffix == ".png"])
    return outcome


def asked_period(args: list[str], today: date) -> Period:
    """The period `/report` asks for: the one written, else the current quarter so far."""
    if not args:
        return quarter_of(today)
    if len(args) > 1:
        raise PeriodError("укажите один период: /report 2026Q3, /report 2026-09 или "
                          "/report 2026-07-01..2026-09-30")
    return parse_period(args[0])


def due_date(period: Period) -> date:
    """The 5th of the month after the quarter: when the report is due at the ЦУР."""
    after = period.last.toordinal() + 1
    return date.fromordinal(after).replace(day=DUE_DAY)


def curator_caption(period: Period, today: date) -> str:
    """The text that goes with the quarterly report to the curator (after the New Year
    holidays the first working day may already be past the 5th)."""
    due = due_date(period)
    when = f"{due.day} {_MONTHS_GENITIVE[due.month - 1]} {due.year}"
    reminder = (f"Напоминание: отчёт нужно направить в ЦУР до {when}." if today <= due else
                f"Срок направления в ЦУР — {when} — уже прошёл: направьте отчёт сегодня.")
    return (f"Отчёт МЦУ за {period.label}: обращения жителей, ответы в срок, картина проблем. "
            f"{reminder}")


def first_working_day(calendar: WorkingCalendar, after: date) -> date:
    """The first working day after `after`."""
    day = date.fromordinal(after.toordinal() + 1)
    while not calendar.is_working_day(day):
        day = date.fromordinal(day.toordinal() + 1)
    return day


JOB = "quarterly-report"
"""The fleet's name of the check: one daemon of all runs it at each moment of `check_every`."""


class QuarterlyDelivery:
    """Sends the past quarter's report to `[report] curator_chat` once: from the start of the
    first working day after the quarter (or the next check, if the daemon was down then),
    until the end of that month. Each check runs on one daemon of all (`FleetMember.once` per
    moment of `[report] check_every`), and the daemon claims the report before sending it
    (`Store.claim_job`: a live daemon's claim is never taken, so a send outlasting
    `check_every` is not begun again by another daemon); a sent report is recorded
    (`Store.mark_job_done`), a failed one is given back and tried again at the next check, by
    whichever daemon runs it. A daemon killed between sending and recording leaves the report
    to be sent again: the outbox's window."""

    def __init__(
        self, config: AppConfig, store: Store, sender: AlertSender | None, clock: Clock,
        fleet: FleetMember,
    ) -> None:
        self._config = config
        self._store = store
        self._sender = sender
        self._clock = clock
        self._fleet = fleet
        self._calendar = WorkingCalendar(config.calendar)

    def due(self, now: datetime) -> Period | None:
        """The quarter whose report is due to the curator at `now`, if any (not yet asked
        whether it was already sent)."""
        local = now.astimezone(self._calendar.zone)
        past = quarter_of(local.date()).previous()
        day = first_working_day(self._calendar, past.last)
        if local.date() < day or local.month != due_date(past).month:
            return None  # not yet, or a month late: a new install does not send old reports
        spans = self._calendar.intervals(day)
        if local.date() == day and spans and local < spans[0][0]:
            return None  # the working day has not begun
        return past

    async def tick(self) -> bool:
        """Send the report if it is due and not yet sent; True when it was sent now."""
        chat = self._config.report.curator_chat
        now = self._clock.now()
        period = self.due(now)
        if chat is None or self._sender is None or period is None:
            return False
        key = f"{JOB}:{period.slug}"
        if await self._store.job_done(key):
            return False
        every = self._config.report.check_every
        if not await self._fleet.once(JOB, every):
            return False  # another daemon sharing the store runs this moment's check
        if not await self._store.claim_job(key, now, every):
            return False  # another daemon's send, begun at an earlier check, still runs
        today = now.astimezone(self._calendar.zone).date()
        try:
            outcome = await send_report(self._store, self._config, self._sender, chat, period,
                                        now, curator_caption(period, today))
        except Exception:
            await self._store.release_job(key)
            raise
        if outcome.status != "sent":
            await self._store.release_job(key)
            log.warning("квартальный отчёт %s не доставлен в чат %s (%s); повторим при "
                        "следующей проверке",
                        period.slug, chat, outcome.error)
            return False
        await self._store.mark_job_done(key, now)
        log.info("квартальный отчёт %s отправлен в чат куратора %s", period.slug, chat)
        return True
