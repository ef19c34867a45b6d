"""`monitor incidents`: list stored incidents as a table or JSON, show one with its log,
or act on one (answer, dismiss, take: see incident_actions.py)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from common.clock import Clock
from monitor.cli.database import CommandFailed, existing_store
from monitor.cli.incident_actions import CliAction, act_on_incident, link_problem, reason_problem
from monitor.cli.terminal import one_line, screen_text
from monitor.config import AppConfig
from monitor.config.municipalities import Municipalities
from monitor.daemon.alert_sender import without_formatting
from monitor.daemon.texts import incident_card
from storage import IncidentEvent, StorageError, open_store


async def print_incidents(
    config: AppConfig, clock: Clock, overdue: bool, fmt: str, municipality: str | None = None
) -> int:
    """Print incidents (only open overdue ones with `overdue`, only a municipality's with
    `municipality`); return the exit code."""
    location = config.store_location(os.environ)
    if isinstance(location, Path) and not location.exists():
        rows = []
    else:
        store = await open_store(location)
        try:
            rows = await store.list_incidents(overdue_at=clock.now() if overdue else None)
        finally:
            await store.close()
    if municipality is not None:
        rows = [r for r in rows if r.municipality == municipality]
    if fmt == "json":
        print(json.dumps([r.as_json() for r in rows], ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("Инцидентов нет." if not overdue else "Просроченных инцидентов нет.")
        return 0
    zone = config.calendar.zone
    for r in rows:
        due = r.due_at.astimezone(zone).strftime("%d.%m.%Y %H:%M")
        late = " ПРОСРОЧЕН" if r.is_open and r.due_at <= clock.now() else ""
        extra = f", повторов {r.repeats}" if r.repeats else ""
        place = f" ({one_line(r.settlement)})" if r.settlement else ""
        print(f"#{r.id} [{r.status}{late}{extra}] срок {due} {r.group_name or '—'} / "
              f"{one_line(r.topic_name or '—')}{place}\n    {one_line(r.url)}\n"
              f"    {one_line(r.text, 98)}")
        if r.answered_at is not None:
            answer = " ".join(one_line(x) for x in (r.answer_url, r.answer_text) if x)
            print(f"    ответ {r.answered_at.astimezone(zone):%d.%m.%Y %H:%M}"
                  f" ({one_line(r.answered_by or '—')}) {one_line(answer, 120)}".rstrip())
    return 0


_ACTIONS: dict[str, CliAction] = {"answer": "answer", "dismiss": "dismiss", "take": "take",
                                  "interim": "interim"}


@dataclass(frozen=True, slots=True)
class IncidentRequest:
    """What `monitor incidents` was asked: an action, an incident number and options."""

    action: str = "list"
    number: int | None = None
    overdue: bool = False
    fmt: str | None = None
    link: str | None = None
    reason: str | None = None
    municipality: str | None = None

    def problem(self) -> str | None:
        """What is wrong with the arguments, in Russian, or None."""
        if self.action == "list":
            if self.number is not None:
                return f"номер указывают с действием: monitor incidents show {self.number}"
        elif self.number is None:
            return f"укажите номер инцидента: monitor incidents {self.action} N"
        return self._option_problem()

    def _option_problem(self) -> str | None:
        if self.overdue and self.action != "list":
            return "--overdue — только для списка инцидентов"
        if self.municipality is not None and self.action != "list":
            return "--municipality — только для списка инцидентов"
        if self.fmt is not None and self.action not in ("list", "show"):
            return "--format — только для списка и для show"
        if self.link is not None:
            if self.action not in ("answer", "interim"):
                return "--link — только для answer и interim"
            problem = link_problem(self.link)
            return f"--link: {problem}" if problem else None
        if self.reason is not None:
            if self.action != "dismiss":
                return "--reason — только для dismiss"
            problem = reason_problem(self.reason)
            return f"--reason: {problem}" if problem else None
        return None


async def incidents_command(config: AppConfig, clock: Clock, request: IncidentRequest) -> int:
    """Run `monitor incidents [ACTION] [N]`; return the exit code."""
    problem = request.problem()
    if problem is None and request.municipality is not None:
        try:
            Municipalities(config).check(request.municipality)
        except ValueError as exc:
            problem = str(exc)
    if problem is not None:
        print(f"Ошибка: {problem}", file=sys.stderr)
        return 2
    fmt = request.fmt or "text"
    try:
        if request.action == "list":
            return await print_incidents(config, clock, request.overdue, fmt,
                                         request.municipality)
        assert request.number is not None  # problem() said so
        if request.action == "show":
            return await show_incident(config, clock, request.number, fmt)
        return await act_on_incident(config, clock, _ACTIONS[request.action], request.number,
                                     request.link, request.reason)
    except CommandFailed as exc:
        print(exc.message, file=sys.stderr)
        return exc.code
    except StorageError as exc:  # the plain list opens the store itself
        print(f"Ошибка базы {config.store_location(os.environ)}: {exc}", file=sys.stderr)
        return 1


async def show_incident(config: AppConfig, clock: Clock, number: int, fmt: str) -> int:
    """Print one incident with its event log (the staff bot's card, as plain text)."""
    async with existing_store(config.store_location(os.environ)) as store:
        incident = await store.incident(number)
        events = await store.events_of(number) if incident is not None else []
    if incident is None:
        print(f"Инцидента №{number} нет.", file=sys.stderr)
        return 1
    if fmt == "json":
        shown = {**incident.as_json(), "events": [event_json(e) for e in events]}
        print(json.dumps(shown, ensure_ascii=False, indent=2))
    else:
        card = incident_card(incident, events, config.calendar.zone, clock.now())
        print(screen_text(without_formatting(card)))
    return 0


def event_json(event: IncidentEvent) -> dict[str, object]:
    """One line of the event log as `incidents show --format json` prints it."""
    actor = event.actor
    return {"at": event.at.isoformat(), "kind": event.kind,
            "actor": {"kind": actor.kind, "name": actor.name, "ref": actor.ref},
            "detail": event.detail}
