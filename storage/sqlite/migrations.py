"""SQLite's schema migrations (its own DDL); `storage.sql.migrate` applies them.

An applied migration is never edited (tests pin their digests): add a new one.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from storage.sql.migrate import Migration, apply_pending, check_names
from storage.sql.repeats import fingerprint_open_incidents
from storage.sqlite.adapter import SqliteTx
from storage.sqlite.alert_schema import ALERT_STEPS, CONDITIONS, NOTICES

__all__ = ["MIGRATIONS", "Migration", "apply_migrations", "check_names"]


MIGRATIONS: list[Migration] = [
    ("0001_initial", [
        """CREATE TABLE cursors (
            source_id TEXT PRIMARY KEY,
            cursor TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
        """CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            source_id TEXT NOT NULL,
            external_id TEXT NOT NULL,
            network TEXT NOT NULL,
            kind TEXT NOT NULL,
            url TEXT NOT NULL,
            author TEXT,
            is_official INTEGER NOT NULL DEFAULT 0,
            published_at TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            text TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            version INTEGER NOT NULL,
            group_name TEXT,
            topic TEXT,
            actionable INTEGER NOT NULL,
            score REAL NOT NULL,
            why TEXT NOT NULL,
            UNIQUE (source_id, external_id))""",
        """CREATE TABLE item_versions (
            item_id INTEGER NOT NULL REFERENCES items(id),
            version INTEGER NOT NULL,
            text TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (item_id, version))""",
        """CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL UNIQUE REFERENCES items(id),
            source_id TEXT NOT NULL,
            group_name TEXT,
            topic TEXT,
            topic_name TEXT,
            organisation TEXT,
            priority TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open',
            opened_at TEXT NOT NULL,
            warn_at TEXT NOT NULL,
            due_at TEXT NOT NULL,
            warned_at TEXT,
            overdue_at TEXT,
            answered_at TEXT,
            url TEXT NOT NULL,
            text TEXT NOT NULL)""",
        "CREATE INDEX incidents_open_warn ON incidents (status, warn_at)",
        "CREATE INDEX incidents_open_due ON incidents (status, due_at)",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
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
            UNIQUE (incident_id, reason, chat_id))""",
        "CREATE INDEX outbox_pending ON outbox (status, next_attempt_at)",
    ]),
    ("0002_settlements_and_mentions", [
        "ALTER TABLE items ADD COLUMN settlement TEXT",
        "ALTER TABLE incidents ADD COLUMN settlement TEXT",
        "ALTER TABLE incidents ADD COLUMN fingerprint TEXT",
        "CREATE INDEX incidents_fingerprint ON incidents (fingerprint, opened_at)",
        """CREATE TABLE incident_mentions (
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            item_id INTEGER NOT NULL UNIQUE REFERENCES items(id),
            joined_at TEXT NOT NULL,
            similarity REAL NOT NULL,
            PRIMARY KEY (incident_id, item_id))""",
        """CREATE TABLE incident_bands (
            band INTEGER NOT NULL,
            opened_at TEXT NOT NULL,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            PRIMARY KEY (band, opened_at, incident_id)) WITHOUT ROWID""",
        "CREATE INDEX incident_bands_incident ON incident_bands (incident_id)",
        "CREATE INDEX incident_bands_opened ON incident_bands (opened_at)",
    ]),
    ("0003_repeats", [
        "ALTER TABLE incident_mentions RENAME TO incident_repeats",
    ]),
    ("0004_fingerprint_open_incidents", [fingerprint_open_incidents]),
    ("0005_staff_actions", [
        "ALTER TABLE incidents ADD COLUMN announced_at TEXT",
        "ALTER TABLE incidents ADD COLUMN assignee TEXT",
        "ALTER TABLE incidents ADD COLUMN snoozed_until TEXT",
        "ALTER TABLE incidents ADD COLUMN closed_at TEXT",
        "ALTER TABLE incidents ADD COLUMN close_reason TEXT",
        "ALTER TABLE incidents ADD COLUMN answered_by TEXT",
        "ALTER TABLE incidents ADD COLUMN answer_url TEXT",
        "ALTER TABLE incidents ADD COLUMN answer_text TEXT",
        # Incidents opened before this release were never announced: they are not now either.
        "UPDATE incidents SET announced_at = opened_at",
        "CREATE INDEX incidents_open_snoozed ON incidents (status, snoozed_until)",
        """CREATE TABLE incident_events (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            actor_kind TEXT NOT NULL,
            actor_name TEXT,
            actor_ref TEXT,
            detail TEXT NOT NULL DEFAULT '{}')""",
        "CREATE INDEX incident_events_incident ON incident_events (incident_id, id)",
        # The log of incidents opened before it: what the tables already say, in order.
        "INSERT INTO incident_events (incident_id, at, kind, actor_kind)"
        " SELECT id, opened_at, 'opened', 'system' FROM incidents ORDER BY id",
        "INSERT INTO incident_events (incident_id, at, kind, actor_kind, detail)"
        " SELECT r.incident_id, r.joined_at, 'repeat', 'system',"
        " json_object('item_id', r.item_id, 'url', i.url, 'similarity', r.similarity)"
        " FROM incident_repeats r JOIN items i ON i.id = r.item_id ORDER BY r.joined_at",
        "INSERT INTO incident_events (incident_id, at, kind, actor_kind)"
        " SELECT id, answered_at, 'answered', 'system' FROM incidents"
        " WHERE answered_at IS NOT NULL ORDER BY answered_at",
        """CREATE TABLE bot_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL)""",
    ]),
    ("0006_bot_inbox", [
        """CREATE TABLE bot_inbox (
            id INTEGER PRIMARY KEY,
            update_id INTEGER NOT NULL,
            chat_id INTEGER NOT NULL,
            received_at TEXT NOT NULL,
            payload TEXT NOT NULL)""",
        "CREATE INDEX bot_inbox_chat ON bot_inbox (chat_id, id)",
    ]),
    ("0007_cancel_alerts_of_closed_incidents", [
        # The previous release left alerts of answered incidents pending: never send them.
        "UPDATE outbox SET status = 'cancelled' WHERE status = 'pending' AND incident_id IN"
        " (SELECT id FROM incidents WHERE status NOT IN ('open', 'in_work'))",
    ]),
    ("0008_item_deletions", [
        "ALTER TABLE items ADD COLUMN deleted_at TEXT",
    ]),
    ("0009_incident_policies", [
        # The policy an incident is under (its name and deadlines as JSON), when its clock
        # started, when a final answer is due, and how many deadlines it has had (an interim
        # answer or a reopening sets a new one). Older incidents get a policy when their
        # deadlines are next recomputed.
        "ALTER TABLE incidents ADD COLUMN policy TEXT",
        "ALTER TABLE incidents ADD COLUMN policy_terms TEXT",
        "ALTER TABLE incidents ADD COLUMN clock_started_at TEXT",
        "ALTER TABLE incidents ADD COLUMN resolution_due_at TEXT",
        "ALTER TABLE incidents ADD COLUMN deadline_round INTEGER NOT NULL DEFAULT 0",
        "UPDATE incidents SET clock_started_at = opened_at",
    ]),
    ("0010_answers_in_depth", [
        # When the running follow-up term started (an interim answer, a reopening).
        "ALTER TABLE incidents ADD COLUMN round_started_at TEXT",
        # Items of an incident's thread besides its own: official answers and the citizen's
        # later messages, so that a reply to any of them is known to continue the incident.
        """CREATE TABLE incident_thread (
            source_id TEXT NOT NULL,
            external_id TEXT NOT NULL,
            incident_id INTEGER NOT NULL REFERENCES incidents(id),
            PRIMARY KEY (source_id, external_id)) WITHOUT ROWID""",
        "CREATE INDEX incident_thread_incident ON incident_thread (incident_id)",
    ]),
    ("0011_alert_steps", ALERT_STEPS),
    ("0012_outbox_notices", NOTICES),
    ("0013_system_conditions", CONDITIONS),
    ("0014_report_indexes", [
        # The quarterly report reads a span of incidents, of residents' messages, and the
        # spike alerts already queued.
        "CREATE INDEX incidents_opened ON incidents (opened_at)",
        # Residents' messages per source: read in index order, no sort (GROUP BY matches it).
        "CREATE INDEX items_by_source ON items (is_official, network, source_id, published_at)",
        "CREATE INDEX outbox_reason ON outbox (reason, created_at)",
    ]),
    ("0015_incident_municipality", [
        # The municipality an incident belongs to (`[[municipalities]]` of a regional config;
        # NULL in a config of one municipality): its alerts, policies and reports follow it.
        # A municipality's report reads its span by the partial index; partial, because
        # an index over every row drew SQLite's planner away from the fingerprint index in the
        # repeat search, whose `municipality IS ?` this one cannot serve (tests/test_storage.py
        # checks both plans).
        "ALTER TABLE incidents ADD COLUMN municipality TEXT",
        "CREATE INDEX incidents_municipality ON incidents (municipality, opened_at)"
        " WHERE municipality IS NOT NULL",
    ]),
    ("0016_incident_theme_address", [
        # The «Инцидент Менеджмент» theme of the incident's topic (`im_topic`) and the street
        # and house the text names («Бажова, 5»), for alerts and the report.
        "ALTER TABLE incidents ADD COLUMN im_topic TEXT",
        "ALTER TABLE incidents ADD COLUMN address TEXT",
    ]),
]


async def apply_migrations(
    conn: aiosqlite.Connection, migrations: Sequence[Migration] = MIGRATIONS
) -> list[str]:
    """Apply every migration not yet recorded; the caller holds the transaction."""
    return await apply_pending(SqliteTx(conn), migrations)
