"""`monitor incidents answer|dismiss|take|interim N`: act on an incident from the command line."""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import replace
from typing import Literal
from urllib.parse import urlsplit

from common.clock import Clock
from monitor.cli.database import existing_store
from monitor.cli.terminal import one_line
from monitor.config import AppConfig
from monitor.config.policies import PolicyBook
from monitor.daemon.deadlines import interim_term
from monitor.daemon.texts import STATUS_NAMES, local
from monitor.daemon.workcal import WorkingCalendar
from storage import Action, Actor

CliAction = Literal["answer", "dismiss", "take", "interim"]

MAX_LINK = 500
MAX_REASON = 300
"""As much of a reason as the staff bot keeps."""

_DONE = {
    "answer": "Инцидент №{number}: ответ дан.",
    "interim": "Инцидент №{number}: промежуточный ответ; новый срок {due}.",
    "dismiss": "Инцидент №{number} закрыт: ответ не нужен.",
    "take": "Инцидент №{number} взят в работу ({who}).",
}


def link_problem(link: str) -> str | None:
    """What is wrong with an answer's link, in Russian, or None for an http(s) link."""
    if len(link) > MAX_LINK:
        return f"ссылка длиннее {MAX_LINK} символов"
    if one_line(link) != link or " " in link:
        return "в ссылке пробелы или невидимые символы"
    try:
        parts = urlsplit(link)
        host = parts.hostname
    except ValueError:
        return "ссылка повреждена"
    if parts.scheme.lower() not in ("http", "https") or not host:
        return "нужна ссылка вида https://сайт/путь"
    return None


def reason_problem(reason: str) -> str | None:
    """What is wrong with a dismissal's reason, in Russian, or None."""
    if not one_line(reason):
        return "причина пустая"
    if len(reason) > MAX_REASON:
        return f"причина длиннее {MAX_REASON} символов"
    return None


def cli_actor() -> Actor:
    """The command line as the actor, named by the OS user when that is known."""
    try:
        name = one_line(getpass.getuser(), 64) or None
    except (OSError, KeyError, ImportError):  # no login name and no passwd entry
        name = None
    return Actor("cli", name)


async def act_on_incident(
    config: AppConfig, clock: Clock, kind: CliAction, number: int,
    link: str | None = None, reason: str | None = None,
) -> int:
    """Apply one action through the store and say what came of it; return the exit code."""
    actor = cli_actor()
    now = clock.now()
    action = Action(kind, actor, link=link, reason=one_line(reason) if reason else None)
    async with existing_store(config.store_location(os.environ)) as store:
        if kind == "interim":
            incident = await store.incident(number)
            term = interim_term(PolicyBook(config), WorkingCalendar(config.calendar),
                                incident.policy if incident else None, now)
            action = replace(action, at=now, term=term)
        result = await store.act(number, action, now)
    if result.outcome == "unknown":
        print(f"Инцидента №{number} нет.", file=sys.stderr)
        return 1
    if result.outcome == "not_open":
        status = result.incident.status if result.incident else "?"
        print(f"Инцидент №{number} уже закрыт ({STATUS_NAMES.get(status, status)}): "
              "ничего не изменено.", file=sys.stderr)
        return 1
    due = local(result.incident.due_at, config.calendar.zone) if result.incident else "—"
    print(_DONE[kind].format(number=number, who=actor.name or "командная строка", due=due))
    return 0
