"""PostgreSQL for tests: a fresh schema per test on the server `$MONITOR_TEST_PG_DSN` names.

Every PostgreSQL test runs in a schema of its own (the DSN's `search_path`), dropped afterwards,
so tests, helpers and CI share one server without seeing each other. An unreachable server
fails the test with what to do, never a silent skip: CI must run these. Someone without
PostgreSQL sets `MONITOR_TEST_PG_DSN=skip` and sees every PostgreSQL test skipped, by name.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

from fakes.local import remember

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
SKIP = "skip"


def server_dsn() -> str:
    """The test server's DSN; skips the test if it is explicitly turned off."""
    dsn = os.environ.get("MONITOR_TEST_PG_DSN", DEFAULT_DSN)
    if dsn == SKIP:
        pytest.skip("PostgreSQL tests turned off: MONITOR_TEST_PG_DSN=skip")
    remember(urlsplit(dsn).password)  # the log watch (tests/logwatch.py) looks for it too
    return dsn


def with_schema(dsn: str, schema: str) -> str:
    """The DSN with the schema as its search path (asyncpg passes it as a server setting)."""
    parts = urlsplit(dsn)
    query = "&".join(q for q in (parts.query, urlencode({"search_path": schema})) if q)
    return urlunsplit(parts._replace(query=query))


async def _admin(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {dsn} is unreachable ({exc}): start it, point "
                    "MONITOR_TEST_PG_DSN at one, or set MONITOR_TEST_PG_DSN=skip", pytrace=False)


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    """A DSN whose search path is a fresh, empty schema, dropped after the test."""
    async with fresh_schema() as dsn:
        yield dsn


@asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """A DSN whose search path is a fresh, empty schema, dropped when the block ends."""
    dsn = server_dsn()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = await _admin(dsn)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        yield with_schema(dsn, schema)
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()
