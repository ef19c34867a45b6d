"""Warnings for settings that are valid but quietly do the wrong thing on the first day:
polling the real network too often, nothing to watch, nobody to tell, values left from the
example."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from common.durations import format_duration
from monitor.config.problems import Problem, key_path
from monitor.config.settings import SlaPolicy
from monitor.config.tomllines import LineIndex

if TYPE_CHECKING:
    from monitor.config import AppConfig

EXAMPLE_CHAT_ID = -1001234567890
"""The staff chat id `config.example.toml` ships with: no real chat has it."""
_BOT_TOKEN = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")
_EXAMPLE_TOKENS = frozenset({
    "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11",  # the Bot API documentation's example
    "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",  # BotFather's help example
})
_PLACEHOLDER = re.compile(r"(?i)^(?:x+|0+|1234\d*|.*(?:token|токен|your|ваш|change|example|"
                          r"placeholder|secret|xxx).*)$")


def trap_warnings(
    config: AppConfig, file: str, lines: LineIndex, env: Mapping[str, str]
) -> list[Problem]:
    """Every first-day trap of a valid config, located by key and line."""
    found = list(_intervals(config, file, lines)) + list(_warnings_too_early(config, file, lines))
    if not [s for s in config.sources if s.enabled]:
        found.append(Problem(file, lines.line_of(("sources",)), "sources",
                             "не описан ни один включённый источник [[sources]]: "
                             "опрашивать нечего"))
    if not config.telegram.chats:
        found.append(Problem(file, lines.line_of(("telegram",)), "telegram.chats",
                             "не указан ни один чат [[telegram.chats]]: оповещения будут "
                             "писаться только в журнал"))
    for index, chat in enumerate(config.telegram.chats):
        if chat.id == EXAMPLE_CHAT_ID:
            where: tuple[str | int, ...] = ("telegram", "chats", index, "id")
            found.append(Problem(file, lines.line_of(where), key_path(where),
                                 f"id {chat.id} оставлен из примера: впишите id своего чата "
                                 "(его покажет monitor telegram chats)"))
    token = env.get(config.telegram.token_env, "").strip()
    if token and (token in _EXAMPLE_TOKENS or not _BOT_TOKEN.match(token)
                  or _PLACEHOLDER.match(token)):
        where = ("telegram", "token_env")
        found.append(Problem(file, lines.line_of(where), key_path(where),
                             f"значение ${config.telegram.token_env} не похоже на настоящий "
                             "токен бота (вид 123456789:AA…, 35 знаков после двоеточия; "
                             "его выдаёт @BotFather)"))
    return found


def _warnings_too_early(config: AppConfig, file: str, lines: LineIndex) -> Iterable[Problem]:
    """A warning as long before the deadline as the deadline itself (or longer) comes the
    moment the incident opens. The warnings are `[alerts] warnings` when set (a share is always
    inside the term; a lead time may not be), else each policy's `warn_before`: of `[sla]`, its
    named and per-priority policies, and every `[[policies]]`."""
    sla = config.sla
    policies: list[tuple[tuple[str | int, ...], SlaPolicy]] = [(("sla",), sla)]
    policies += [(("sla", "policies", name), p) for name, p in sla.policies.items()]
    policies += [(("sla", "by_priority", name), p) for name, p in sla.by_priority.items()]
    policies += [(("policies", i), p) for i, p in enumerate(config.policies)]
    points = config.alerts.warnings
    if points is not None:
        leads = sorted({p.lead for p in points if p.lead is not None}, reverse=True)
        if not leads:
            return
        at: tuple[str | int, ...] = ("alerts", "warnings")
        shortest = min(policies, key=lambda found: found[1].first_response)
        if leads[0] >= shortest[1].first_response:
            yield Problem(file, lines.line_of(at), key_path(at),
                          f"предупреждение за {format_duration(leads[0])} до срока не короче "
                          f"срока first_response = "
                          f"{format_duration(shortest[1].first_response)} "
                          f"({key_path(shortest[0])}): оно придёт сразу при открытии инцидента; "
                          "укажите время до срока меньше самого короткого срока или долю («80%»)")
        return
    for where, policy in policies:
        if policy.warn_before < policy.first_response:
            continue
        key = (*where, "warn_before")
        yield Problem(file, lines.line_of(key), key_path(key),
                      f"предупреждение за {format_duration(policy.warn_before)} не короче "
                      f"самого срока first_response = {format_duration(policy.first_response)}: "
                      "оно придёт сразу при открытии инцидента; укажите warn_before меньше срока")


def _intervals(config: AppConfig, file: str, lines: LineIndex) -> Iterable[Problem]:
    for index, source in enumerate(config.sources):
        floor = source.interval_floor()
        if floor is None or source.interval >= floor or not source.enabled:
            continue
        where: tuple[str | int, ...] = ("sources", index, "interval")
        yield Problem(file, lines.line_of(where), key_path(where),
                      f"интервал {format_duration(source.interval)} чаще, чем разумно для "
                      f"настоящей сети {source.network} (не меньше "
                      f"{format_duration(floor)}): частые запросы ведут к ограничениям и "
                      "блокировке; для локального сервера или зеркала укажите base_url")
