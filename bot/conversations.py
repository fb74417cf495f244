"""Reading and deleting whole conversations in Rasa's SQL tracker store (privacy requests, purge).

Rasa has no delete API, so this works on its `events` table directly, by `sender_id` (the
conversation id). Only whole conversations are deleted, and only idle ones should be: Rasa writes
the events a conversation's tracker has that the table lacks, so a replica still holding an active
conversation would write it back. Old conversations (`purge --older-than 90d`) are idle by
definition; for `user delete`, see docs/production.md.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa

from bot.tracker_snapshots import delete_snapshots

EVENTS = sa.table("events", sa.column("id"), sa.column("sender_id"), sa.column("type_name"),
                  sa.column("timestamp"), sa.column("data"))


class TrackerStoreUnavailable(Exception):
    """The tracker store cannot be read (not created yet, or the database is down)."""


class TrackerEvents:
    """The tracker store at `url` (`Settings.tracker_store_url`)."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(url, future=True, pool_pre_ping=True)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _connection(self, write: bool = False) -> Iterator[sa.engine.Connection]:
        try:
            with (self.engine.begin() if write else self.engine.connect()) as connection:
                yield connection
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise TrackerStoreUnavailable(f"tracker store unreachable: {type(exc.orig).__name__}") from exc

    def events(self, conversation_id: str) -> list[dict]:
        """Every stored event of one conversation, oldest first, as Rasa serialised it."""
        query = sa.select(EVENTS.c.data).where(EVENTS.c.sender_id == conversation_id).order_by(EVENTS.c.id)
        with self._connection() as connection:
            if not _has_events(connection):
                return []
            return [json.loads(data) for data in connection.execute(query).scalars()]

    def delete(self, conversation_id: str) -> int:
        """Delete one conversation; returns the number of events deleted."""
        with self._connection(write=True) as connection:
            if not _has_events(connection):
                return 0
            delete_snapshots(connection, [conversation_id])
            return connection.execute(sa.delete(EVENTS).where(EVENTS.c.sender_id == conversation_id)).rowcount

    def paused(self) -> list[str]:
        """Conversations whose bot is paused now: their latest pause, resume or restart event is
        a pause (Rasa answers nobody there until a resume)."""
        kinds = ("pause", "resume", "restart")
        latest = (sa.select(sa.func.max(EVENTS.c.id)).where(EVENTS.c.type_name.in_(kinds))
                  .group_by(EVENTS.c.sender_id))
        query = sa.select(EVENTS.c.sender_id).where(EVENTS.c.id.in_(latest),
                                                    EVENTS.c.type_name == "pause")
        with self._connection() as connection:
            if not _has_events(connection):
                return []
            return list(connection.execute(query).scalars())

    def purge_idle(self, before: datetime) -> int:
        """Delete conversations whose newest event is older than `before`; returns how many."""
        idle = (sa.select(EVENTS.c.sender_id).group_by(EVENTS.c.sender_id)
                .having(sa.func.max(EVENTS.c.timestamp) < before.timestamp()))
        with self._connection(write=True) as connection:
            if not _has_events(connection):
                return 0
            ids = list(connection.execute(idle).scalars())
            for start in range(0, len(ids), 500):
                delete_snapshots(connection, ids[start:start + 500])
                connection.execute(sa.delete(EVENTS).where(EVENTS.c.sender_id.in_(ids[start:start + 500])))
            return len(ids)


@contextlib.contextmanager
def tracker_events(url: str) -> Iterator[TrackerEvents]:
    """`TrackerEvents` for one command: its database connections are closed when the block ends."""
    conversations = TrackerEvents(url)
    try:
        yield conversations
    finally:
        conversations.dispose()


def _has_events(connection: sa.engine.Connection) -> bool:
    """False before Rasa (or `launcher.prepare_databases`) has created its table."""
    return sa.inspect(connection).has_table("events")
