"""SQLite storage: the only package that speaks SQL."""

from storage.db import Database, from_db, to_db
from storage.incidents import (
    AlertMessage,
    IncidentRow,
    incidents_needing_alert,
    list_incidents,
    mark_answered,
    queue_alert,
)
from storage.items import (
    ClassifiedItem,
    NewIncident,
    PollResult,
    item_versions,
    load_cursor,
    save_items_and_cursor,
)
from storage.mentions import DuplicateRule, Mention, mentions_of
from storage.outbox import (
    OutboxRow,
    mark_failed,
    mark_retry,
    mark_sent,
    outbox_counts,
    pending_alerts,
)

__all__ = [
    "AlertMessage", "ClassifiedItem", "Database", "DuplicateRule", "IncidentRow", "Mention",
    "NewIncident", "OutboxRow", "PollResult", "from_db", "incidents_needing_alert",
    "item_versions", "list_incidents", "load_cursor", "mark_answered", "mark_failed",
    "mark_retry", "mark_sent", "mentions_of", "outbox_counts", "pending_alerts", "queue_alert",
    "save_items_and_cursor", "to_db",
]
