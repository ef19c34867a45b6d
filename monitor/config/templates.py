"""`[alerts.templates]`: the texts of alerts, as templates with named fields (Russian defaults).

A template is Telegram HTML with fields in braces: `{id}`, `{topic}`, `{im_topic}` (the
«Инцидент Менеджмент» theme), `{organisation}`, `{settlement}`, `{address}` (street and house),
`{priority}`, `{due}`, `{zone}`, `{left}`, `{assignee}`, `{source}`, `{step}`.
Field values are escaped; a line whose fields are all empty is left out (no «Населённый пункт:»
without a settlement). The post's text and the link to the post always follow the template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from string import Formatter

from pydantic import BaseModel, ConfigDict, field_validator

FIELDS = frozenset({"id", "topic", "im_topic", "organisation", "settlement", "address",
                    "priority", "due", "zone", "left", "assignee", "source", "step"})
TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre",
                  "blockquote", "tg-spoiler"})
MAX_TEMPLATE = 1000
_TAG = re.compile(r"<(/?)([a-z-]+)>|<[^>]*>?", re.IGNORECASE)

_BODY = ("Инцидент №{id}: {topic}\nТема ЦУР: {im_topic}\nОтветственный: {organisation}"
         "\nНаселённый пункт: {settlement}\nАдрес: {address}"
         "\nСрок: {due} ({zone}), {left}\nВ работе у: {assignee}\nИсточник: {source}")


def _fields(template: str) -> list[str]:
    """The template's field names; a wrong field or any conversion or format is an error."""
    found = []
    try:
        parts = list(Formatter().parse(template))
    except ValueError as exc:
        msg = f"шаблон не разобран ({exc}): фигурные скобки пишите как {{{{ и }}}}"
        raise ValueError(msg) from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in FIELDS or spec or conversion:
            known = ", ".join(f"{{{f}}}" for f in sorted(FIELDS))
            msg = f"поле {{{name}}} неизвестно; доступны: {known}"
            raise ValueError(msg)
        found.append(name)
    return found


def _check_tags(line: str) -> None:
    """Only Telegram's formatting tags, without attributes, each closed on its own line."""
    open_tags: list[str] = []
    for match in _TAG.finditer(line):
        closing, name = match.group(1), (match.group(2) or "").lower()
        if not name or name not in TAGS:
            msg = (f"тег {match.group(0)!r} недопустим: можно {', '.join(sorted(TAGS))} "
                   "без атрибутов (& < > пишите как &amp; &lt; &gt;)")
            raise ValueError(msg)
        if not closing:
            open_tags.append(name)
        elif not open_tags or open_tags.pop() != name:
            msg = f"тег </{name}> закрыт не по порядку в строке {line!r}"
            raise ValueError(msg)
    if open_tags:
        msg = f"тег <{open_tags[-1]}> не закрыт в строке {line!r}: каждый тег — в своей строке"
        raise ValueError(msg)


class AlertTemplates(BaseModel):
    """Alert texts per kind of step."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    opened: str = "🆕 <b>Новый инцидент</b>\n" + _BODY
    warning: str = "⏳ <b>Скоро истекает срок ответа</b> ({left})\n" + _BODY
    overdue: str = "🔴 <b>Срок ответа истёк</b>\n" + _BODY
    reminder: str = "🔔 <b>Напоминание: ответа всё ещё нет</b> ({left})\n" + _BODY
    snooze_end: str = "🔔 <b>Напоминание</b>\n" + _BODY
    escalation: str = "⬆️ <b>Эскалация: {step}</b> ({left})\n" + _BODY

    @field_validator("*")
    @classmethod
    def _valid(cls, value: str) -> str:
        if not value.strip():
            msg = "шаблон пуст"
            raise ValueError(msg)
        if len(value) > MAX_TEMPLATE:
            msg = f"шаблон длиннее {MAX_TEMPLATE} символов"
            raise ValueError(msg)
        _fields(value)
        for line in value.split("\n"):
            _check_tags(line)
        return value


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill a valid template with escaped values, leaving out lines whose fields are all
    empty."""
    lines = []
    for line in template.split("\n"):
        names = _fields(line)
        if names and not any(values.get(name) for name in names):
            continue
        lines.append(line.format_map({name: values.get(name, "") for name in names}))
    return "\n".join(lines)
