"""The table where `bot.tracker_store` keeps each long conversation's state snapshot, without Rasa
imports, so privacy tooling (`bot.conversations`) can delete snapshots with their events."""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

SNAPSHOTS = "tracker_snapshots"

metadata = sa.MetaData()
snapshot_table = sa.Table(
    SNAPSHOTS, metadata,
    sa.Column("sender_id", sa.String(255), primary_key=True),
    # The window starts at this `events.id`; the snapshot is the state just before it.
    sa.Column("first_event_id", sa.Integer, nullable=False),
    # Timestamp of the session the snapshot belongs to (Rasa's max `session_started` timestamp),
    # NULL when the conversation had no session start; another value means a new session.
    sa.Column("session_start", sa.Float),
    # JSON list of Rasa events (slots, active loop, pause) that recreate the state.
    sa.Column("events", sa.Text, nullable=False),
)


def delete_snapshots(connection: sa.engine.Connection, conversation_ids: Iterable[str]) -> None:
    """Forget the snapshots of deleted conversations (they hold slot values such as contacts)."""
    if sa.inspect(connection).has_table(SNAPSHOTS):
        connection.execute(snapshot_table.delete().where(
            snapshot_table.c.sender_id.in_(list(conversation_ids))))
