"""A bound on every PostgreSQL statement this project runs (handoff queue and tracker store).

Without one, a statement that waits on a lock someone else holds (a stuck migration, an admin's
open transaction, a hung replica) waits forever, with the conversation's lock or a worker thread
held meanwhile. With it the statement fails after `STATEMENT_TIMEOUT_MS` as a connection-level
error (psycopg2's `QueryCanceled` is an `OperationalError`), which the callers already turn into a
graceful path: the queue's `StoreUnavailable` (escalations go to the outbox), the tracker store's
retries. SQLite has its own bound (the busy timeout).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

STATEMENT_TIMEOUT_MS = 30_000  # as SQLite's busy timeout in the handoff store


def limit_statements(engine: Engine) -> Engine:
    """Sets PostgreSQL's `statement_timeout` on every connection of `engine` (no-op elsewhere);
    connections already pooled are closed, so none is left without it."""
    if engine.dialect.name != "postgresql":
        return engine
    milliseconds = int(STATEMENT_TIMEOUT_MS)

    @event.listens_for(engine, "connect")
    def _limit(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {milliseconds}")
        dbapi_connection.commit()  # a session setting, kept past the pool's rollback on return

    engine.dispose()
    return engine
