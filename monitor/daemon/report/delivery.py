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
from monitor.daemon.report.build import Scope, whose
from monitor.daemon.report.output import make_report, report_scope
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
    now: datetime, caption: str, scope: Scope | None = None,
) -> SendOutcome:
    """Make the period's XLSX and charts (of one municipality with `scope`) in a scratch folder
    and send them to a chat: the workbook with `caption`, then the charts as one album."""
    with tempfile.TemporaryDirectory(prefix="mcu-report-") as folder:
        files = await make_report(store, config, period, now, Path(folder), TELEGRAM_FORMATS,
                                  scope)
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


def curator_caption(period: Period, today: date, scope: Scope | None = None) -> str:
    """The text that goes with the quarterly report to the curator (after the New Year
    holidays the first working day may already be past the 5th)."""
    due = due_date(period)
    when = f"{due.day} {_MONTHS_GENITIVE[due.month - 1]} {due.year}"
    reminder = (f"Напоминание: отчёт нужно направить в ЦУР до {when}." if today <= due else
                f"Срок направления в ЦУР — {when} — уже прошёл: направьте отчёт сегодня.")
    return (f"Отчёт МЦУ за {period.label}{whose(scope)}: обращения жителей, ответы в срок, картина "
            f"проблем. {reminder}")


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

    def _deliveries(self) -> list[tuple[str, int, Scope | None]]:
        """(job key suffix, chat, scope) of every report to send: the whole store's to
        `[report] curator_chat`, each municipality's to its own `curator_chat`."""
        found: list[tuple[str, int, Scope | None]] = []
        if self._config.report.curator_chat is not None:
            found.append(("", self._config.report.curator_chat, None))
        for municipality in self._config.municipalities:
            if municipality.curator_chat is not None:
                found.append((f":{municipality.id}", municipality.curator_chat,
                              report_scope(self._config, municipality.id)))
        return found

    async def tick(self) -> bool:
        """Send the reports that are due and not yet sent; True when one was sent now."""
        now = self._clock.now()
        period = self.due(now)
        if self._sender is None or period is None:
            return False
        waiting = [(f"{JOB}:{period.slug}{suffix}", chat, scope)
                   for suffix, chat, scope in self._deliveries()]
        waiting = [entry for entry in waiting if not await self._store.job_done(entry[0])]
        if not waiting:
            return False
        every = self._config.report.check_every
        if not await self._fleet.once(JOB, every):
            return False  # another daemon sharing the store runs this moment's check
        today = now.astimezone(self._calendar.zone).date()
        sent = False
        for key, chat, scope in waiting:
            if not await self._store.claim_job(key, now, every):
                continue  # another daemon's send, begun at an earlier check, still runs
            try:
                outcome = await send_report(self._store, self._config, self._sender, chat,
                                            period, now, curator_caption(period, today, scope),
                                            scope)
            except Exception:
                await self._store.release_job(key)
                raise
            if outcome.status != "sent":
                await self._store.release_job(key)
                log.warning("квартальный отчёт %s%s не доставлен в чат %s (%s); повторим при "
                            "следующей проверке", period.slug, whose(scope), chat, outcome.error)
                continue
            await self._store.mark_job_done(key, now)
            log.info("квартальный отчёт %s%s отправлен в чат куратора %s", period.slug,
                     whose(scope), chat)
            sent = True
        return sent
