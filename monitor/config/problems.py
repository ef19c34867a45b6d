"""Config problems located for a human (file, line, key path) and pydantic errors in Russian."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from monitor.config.tomllines import LineIndex


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth a warning) in the config, located for a human."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """The config cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems

    def described(self, heading: str) -> str:
        """«heading (N):» and every problem on a line of its own, as commands print them."""
        return "\n".join((f"{heading} ({len(self.problems)}):",
                          *(f"  {problem}" for problem in self.problems)))


def problems_from(
    exc: ValidationError, file: str, lines: LineIndex, prefix: tuple[str | int, ...]
) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc: tuple[str | int, ...] = (*prefix, *error["loc"])
        problems.append(Problem(file, lines.line_of(loc), key_path(loc), _russian(error)))
    return problems


def key_path(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_MESSAGES = {
    "missing": "обязательный ключ отсутствует",
    "extra_forbidden": "неизвестный ключ (опечатка?)",
    "int_type": "ожидалось целое число",
    "int_parsing": "ожидалось целое число",
    "int_from_float": "ожидалось целое число",
    "float_type": "ожидалось число",
    "float_parsing": "ожидалось число",
    "bool_type": "ожидалось true или false",
    "bool_parsing": "ожидалось true или false",
    "string_type": "ожидалась строка в кавычках",
    "list_type": "ожидался список [...]",
    "tuple_type": "ожидался список [...]",
    "dict_type": "ожидалась таблица",
    "model_type": "ожидалась таблица",
    "model_attributes_type": "ожидалась таблица",
    "date_type": "ожидалась дата вида 2026-01-31",
    "date_parsing": "ожидалась дата вида 2026-01-31",
    "date_from_datetime_parsing": "ожидалась дата вида 2026-01-31",
    "string_too_short": "строка не должна быть пустой",
}


def _russian(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        return f"недопустимое значение; допустимые: {ctx.get('expected', '')}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        sign = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<",
                "less_than_equal": "≤"}[kind]
        bound = next(iter(ctx.values()), "")
        return f"значение должно быть {sign} {bound}"
    if kind == "string_pattern_mismatch":
        return f"строка не подходит под шаблон {ctx.get('pattern', '')}"
    return _MESSAGES.get(kind, str(error["msg"]))
