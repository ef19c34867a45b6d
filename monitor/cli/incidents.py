"""`monitor incidents`: list stored incidents as a table or JSON."""

from __future__ import annotations

import json

from common.clock import Clock
from monitor.config import AppConfig
from storage import open_store


async def print_incidents(config: AppConfig, clock: Clock, overdue: bool, fmt: str) -> int:
    """Print incidents (only open overdue ones with `overdue`); return the exit code."""
    if not config.database_path.exists():
        rows = []
    else:
        store = await open_store(config.database_path)
        try:
            rows = await store.list_incidents(overdue_at=clock.now() if overdue else None)
        finally:
            await store.close()
    if fmt == "json":
        print(json.dumps([r.as_json() for r in rows], ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("Инцидентов нет." if not overdue else "Просроченных инцидентов нет.")
        return 0
    zone = config.calendar.zone
    for r in rows:
        due = r.due_at.astimezone(zone).strftime("%d.%m.%Y %H:%M")
        late = " ПРОСРОЧЕН" if r.status == "open" and r.due_at <= clock.now() else ""
        text = " ".join(r.text.split())
        text = text[:97] + "…" if len(text) > 98 else text
        extra = f", повторов {r.repeats}" if r.repeats else ""
        place = f" ({r.settlement})" if r.settlement else ""
        print(f"#{r.id} [{r.status}{late}{extra}] срок {due} {r.group_name or '—'} / "
              f"{r.topic_name or '—'}{place}\n    {r.url}\n    {text}")
    return 0
