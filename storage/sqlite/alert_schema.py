"""Schema of alert steps (migration 0011): where each open incident's alert schedule stands.

`next_alert_at` is when the deadline tick next looks at an incident; `alerted_until` the moment
up to which its steps have fired. Triggers set `next_alert_at` to a past moment (its opening)
whenever something the schedule depends on changes — a new incident, a moved deadline or
warning time, a reopening — and to the snooze's end when it is snoozed, so whichever code
changes those never needs to know about alerts.
"""

from __future__ import annotations

_OPEN = "('open', 'in_work')"

ALERT_STEPS: list[str] = [
    "ALTER TABLE incidents ADD COLUMN next_alert_at TEXT",
    "ALTER TABLE incidents ADD COLUMN alerted_until TEXT",
    "ALTER TABLE outbox ADD COLUMN thread_id INTEGER",
    # Open incidents alerted before: their steps fired up to their last alert; look at all now.
    "UPDATE incidents SET alerted_until = COALESCE(overdue_at, warned_at, announced_at),"
    f" next_alert_at = COALESCE(snoozed_until, opened_at) WHERE status IN {_OPEN}",
    f"CREATE INDEX incidents_next_alert ON incidents (next_alert_at) WHERE status IN {_OPEN}",
    """CREATE TRIGGER incidents_alert_new AFTER INSERT ON incidents
        WHEN NEW.next_alert_at IS NULL
        BEGIN UPDATE incidents SET next_alert_at = NEW.opened_at WHERE id = NEW.id; END""",
    """CREATE TRIGGER incidents_alert_deadline AFTER UPDATE OF due_at, warn_at ON incidents
        WHEN NEW.due_at IS NOT OLD.due_at OR NEW.warn_at IS NOT OLD.warn_at
        BEGIN UPDATE incidents SET next_alert_at = NEW.opened_at WHERE id = NEW.id; END""",
    f"""CREATE TRIGGER incidents_alert_reopened AFTER UPDATE OF status ON incidents
        WHEN NEW.status IN {_OPEN} AND OLD.status NOT IN {_OPEN}
        BEGIN UPDATE incidents SET next_alert_at = NEW.opened_at WHERE id = NEW.id; END""",
    """CREATE TRIGGER incidents_alert_snoozed AFTER UPDATE OF snoozed_until ON incidents
        WHEN NEW.snoozed_until IS NOT NULL AND NEW.snoozed_until IS NOT OLD.snoozed_until
        BEGIN UPDATE incidents SET next_alert_at = NEW.snoozed_until WHERE id = NEW.id; END""",
]

NOTICES: list[str] = [
    # Outbox rows about no one incident (digests, system alerts): incident_id may be NULL, and
    # such a row is kept once per reason and chat.
    """CREATE TABLE outbox_new (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER REFERENCES incidents(id),
        reason TEXT NOT NULL,
        chat_id INTEGER NOT NULL,
        text TEXT NOT NULL,
        link TEXT,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        message_id INTEGER,
        last_error TEXT,
        thread_id INTEGER)""",
    "INSERT INTO outbox_new (id, incident_id, reason, chat_id, text, link, status, attempts,"
    " next_attempt_at, created_at, sent_at, message_id, last_error, thread_id)"
    " SELECT id, incident_id, reason, chat_id, text, link, status, attempts, next_attempt_at,"
    " created_at, sent_at, message_id, last_error, thread_id FROM outbox",
    "DROP TABLE outbox",
    "ALTER TABLE outbox_new RENAME TO outbox",
    "CREATE UNIQUE INDEX outbox_step ON outbox (incident_id, reason, chat_id)"
    " WHERE incident_id IS NOT NULL",
    "CREATE UNIQUE INDEX outbox_notice ON outbox (reason, chat_id) WHERE incident_id IS NULL",
    "CREATE INDEX outbox_pending ON outbox (status, next_attempt_at)",
    "CREATE INDEX outbox_message ON outbox (chat_id, message_id)",
]

CONDITIONS: list[str] = [
    # System conditions staff were told of (a source refused, silent, a token near its cap):
    # told once when raised, once more when cleared, even across restarts.
    """CREATE TABLE system_conditions (
        key TEXT PRIMARY KEY,
        since TEXT NOT NULL)""",
    "CREATE INDEX items_source_seen ON items (source_id, first_seen_at)",
]
