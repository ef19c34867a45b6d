"""`monitor rules list`: every topic and noise rule with the ids `[[overrides]]` need."""

from __future__ import annotations

import json

from monitor.config import AppConfig
from rules import TopicConfig

TOPIC, NOISE = "тема", "шум"


def rule_rows(config: AppConfig) -> list[dict[str, object]]:
    """One row per topic, then per noise rule, in the order the rule files give them."""
    rows: list[dict[str, object]] = []
    for rule in (*config.topics, *config.noise):
        topic = rule if isinstance(rule, TopicConfig) else None
        where = config.rule_origins.get(rule.id, ())
        rows.append({
            "id": rule.id,
            "kind": TOPIC if topic else NOISE,
            "group": topic.group if topic else None,
            "name": rule.name,
            "organisation": topic.organisation if topic else None,
            "priority": topic.priority if topic else None,
            "im_topic": topic.im_topic if topic else None,
            "enabled": rule.enabled,
            "defined": where[0] if where else None,
            "overridden": list(where[1:]),
        })
    return rows


def rules_list_command(config: AppConfig, fmt: str) -> int:
    """Print the rules as a table (text) or one JSON array; return the exit code."""
    rows = rule_rows(config)
    if fmt == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    topics = sum(row["kind"] == TOPIC for row in rows)
    print(f"Темы: {topics}, правила шума: {len(rows) - topics}")
    for row in rows:
        print(_line(row))
    return 0


def _line(row: dict[str, object]) -> str:
    """A rule in two lines: id, group and name; then the ЦУР theme, organisation, place."""
    off = " (выключено)" if not row["enabled"] else ""
    if row["kind"] == NOISE:
        head = f"{row['id']}  [шум] {row['name']}{off}"
        detail = ""
    else:
        head = f"{row['id']}  [{row['group']}] {row['name']}{off}"
        detail = f"ИМ: {row['im_topic'] or '—'}; {row['organisation']}; "
    changed = row["overridden"]
    place = f"{row['defined'] or 'место неизвестно'}"
    if isinstance(changed, list) and changed:
        place += "; изменено: " + ", ".join(map(str, changed))
    return f"{head}\n    {detail}{place}"

