"""A PostgreSQL statement stuck behind someone else's lock fails after the bound instead of
hanging: the handoff queue reports itself unavailable (escalations then go to the outbox), the
tracker store raises after its retries. Real PostgreSQL, a real lock held by another session."""
from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager

import psycopg2
import pytest
from rasa.shared.core.domain import Domain

from bot import statement_timeout
from bot.handoff.store import HandoffStore, StoreUnavailable
from bot.settings import PROJECT_ROOT
from bot.tracker_store import WindowedSQLTrackerStore
from tests.support.postgres import SERVER, fresh_database

pytestmark = pytest.mark.postgres
BOUND_MS = 300


@pytest.fixture
def url(monkeypatch):
    monkeypatch.setattr(statement_timeout, "STATEMENT_TIMEOUT_MS", BOUND_MS)
    with fresh_database("fsgs_timeout") as name:
        yield f"{SERVER}/{name}"


@contextmanager
def table_locked(url: str, table: str):
    """Another session holds an exclusive lock on `table` until the block ends."""
    connection = psycopg2.connect(url, connect_timeout=5)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        connection.rollback()
        connection.close()


def test_a_queue_statement_behind_a_lock_fails_fast_as_unavailable(url):
    store = HandoffStore.from_url(url)
    store.create_schema()
    try:
        with table_locked(url, "handoff_tickets"):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                store.list_tickets()
            assert time.monotonic() - started < 10
        assert store.list_tickets() == []  # the bound does not outlive the lock
    finally:
        store.dispose()


def test_a_tracker_statement_behind_a_lock_is_bounded(url, monkeypatch):
    from bot import tracker_store

    monkeypatch.setattr(tracker_store, "OUTAGE_RETRY_SECONDS", (0.1,))
    store = WindowedSQLTrackerStore(Domain.load(str(PROJECT_ROOT / "domain")), host=url)
    with table_locked(url, "events"):
        started = time.monotonic()
        with pytest.raises(Exception, match="statement timeout"):
            asyncio.run(store.retrieve("someone"))
        assert time.monotonic() - started < 10
    assert asyncio.run(store.retrieve("someone")) is None
    store.engine.dispose()
