"""Rasa's SQL tracker store with a turn whose cost does not grow with the conversation.

Rasa's `SQLTrackerStore` reads, deserialises and replays every event of the current session on
each message, counts them again to save, and the policies then featurise the whole history: the
cost of a turn grows linearly with the conversation (measured: 25 ms at message 10, 253 ms at
message 390), so a long handoff conversation costs quadratically in total.

Here a conversation is loaded as a *snapshot* plus a bounded *window* of recent events:

- the window always starts at a user message (with the `action_listen` before it), and holds
  between `keep_turns` and `max_turns` user messages, so the latest message, its input channel
  and the session-expiry clock are the real ones, and rules (which look back a few turns) see
  the same recent history as before;
- the snapshot is the state the events before the window leave behind, written as ordinary
  events prepended to the window: every slot that differs from its initial value, the active
  loop (with its interrupted/rejected flags), `ConversationPaused` when staff had paused the
  conversation, and the latest action when the window does not begin with one. It is computed
  once every `max_turns - keep_turns` user messages from the tracker already in memory, stored
  in its own table (`tracker_snapshots`) in the same transaction as the events that triggered
  it, and only used while it belongs to the current session (a new `session_started` makes Rasa
  start from scratch, as before);
- saving appends only the events this process has not stored (no count query), with their ids
  tracked from the retrieval.

Rasa's `events` table is unchanged and complete: `retrieve_full_tracker` (the HTTP API's
`GET /tracker`, transcripts, exports) still returns every event. Database work runs in a worker
thread so the event loop keeps parsing other users' messages while this one waits for the disk or
the network. On SQLite the database uses write-ahead logging: readers no longer block the writer
and a commit costs one fsync of the log instead of several of the database and its journal
(`synchronous=FULL` is kept, so a committed turn survives a power cut).

Configured in endpoints.yml (`type: bot.tracker_store.WindowedSQLTrackerStore`).
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    Event,
    LoopInterrupted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from rasa.shared.utils.common import all_subclasses

from bot import rasa_patches
from bot.statement_timeout import limit_statements
from bot.tracker_snapshots import metadata, snapshot_table

logger = logging.getLogger(__name__)

KEEP_TURNS = 10   # user messages a window keeps after a snapshot (rules here look back at most 3)
MAX_TURNS = 20    # user messages in a window before the next snapshot is taken
# Rasa finds the session start with max(timestamp) over a sender's `session_started` events; its
# only index is on sender_id, so that look-up reads every row of the conversation. This index
# answers it from the index alone.
SESSION_INDEX = "ix_events_sender_type_timestamp"
# A message redelivered after a replica failed is among the conversation's latest few, and was
# received minutes ago at most (nginx gives up on a replica after 120 s): both bound the look-up,
# which then reads a few rows through the session index, however long the conversation.
REDELIVERY_LOOKBACK = 5
REDELIVERY_WINDOW_SECONDS = 600.0
_WINDOW = "_fsgs_window"  # attribute on trackers this store loaded (see `StoredWindow`)


@dataclass
class StoredWindow:
    """What of a loaded tracker is already in the database: its first `prefix` events are the
    snapshot (never stored as events), the next ones have the `events.id`s in `ids`."""

    prefix: int
    ids: list[int] = field(default_factory=list)
    session_start: float | None = None

    @property
    def stored(self) -> int:
        return self.prefix + len(self.ids)


def state_events(tracker: DialogueStateTracker, timestamp: float | None,
                 with_latest_action: bool) -> list[Event]:
    """Events that recreate what matters of `tracker`'s state on an empty tracker; the latest
    action too when the window does not begin with one (a paused conversation's window holds
    only user messages)."""
    events: list[Event] = [SlotSet(name, slot.value, timestamp=timestamp)
                           for name, slot in tracker.slots.items() if slot.value != slot.initial_value]
    if with_latest_action and tracker.latest_action:  # before the loop: it resets loop flags
        events.append(ActionExecuted(tracker.latest_action.get("action_name"), timestamp=timestamp,
                                     action_text=tracker.latest_action.get("action_text")))
    loop = tracker.active_loop
    if loop is not None and loop.name:
        events.append(ActiveLoop(loop.name, timestamp=timestamp))
        if loop.is_interrupted:
            events.append(LoopInterrupted(True, timestamp=timestamp))
        if loop.rejected:
            events.append(ActionExecutionRejected(loop.name, timestamp=timestamp))
    if tracker.is_paused():
        events.append(ConversationPaused(timestamp=timestamp))
    return events


def window_start(events: list[Event], first: int, keep_turns: int) -> int:
    """Index where a window keeping the last `keep_turns` user messages begins: at the
    `action_listen` just before that message when there is one."""
    users = [i for i in range(first, len(events)) if isinstance(events[i], UserUttered)]
    start = users[-keep_turns]
    before = events[start - 1] if start - 1 >= first else None
    if isinstance(before, ActionExecuted) and before.action_name == ACTION_LISTEN_NAME:
        start -= 1
    return start


@functools.lru_cache(maxsize=1)
def _event_classes() -> dict[str, type[Event]]:
    """Event classes by type name, first match first as in `Event.resolve_by_type`, which walks
    every subclass of `Event` for each event it deserialises (15% of a turn at message 150)."""
    classes: dict[str, type[Event]] = {}
    for cls in all_subclasses(Event):
        classes.setdefault(cls.type_name, cls)
    return classes


def event_from_dict(data: dict[str, Any]) -> Event | None:
    """`Event.from_parameters` with a cached class look-up (Rasa's own for anything unknown)."""
    cls = _event_classes().get(data.get("event"))  # type: ignore[arg-type]
    return cls._from_parameters(data) if cls is not None else Event.from_parameters(data)


class WindowedSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` that loads a snapshot plus a bounded window (see the module docstring)."""

    engine: Any  # set by SQLTrackerStore.__init__ (untyped upstream)

    def __init__(self, domain: Any = None, keep_turns: int = KEEP_TURNS, max_turns: int = MAX_TURNS,
                 **kwargs: Any) -> None:
        super().__init__(domain, **kwargs)
        rasa_patches.apply()
        self.keep_turns, self.max_turns = int(keep_turns), int(max_turns)
        if not 1 <= self.keep_turns < self.max_turns:
            raise ValueError(f"need 1 <= keep_turns < max_turns, got {keep_turns}, {max_turns}")
        if self.engine.dialect.name == "sqlite":
            self._pool_sqlite_connections()
        limit_statements(self.engine)
        self.create_schema()

    def _pool_sqlite_connections(self) -> None:
        """SQLAlchemy 1.4 opens a new SQLite connection for every session (`NullPool`): a connect,
        a schema read and a close per retrieval and per save. Pooled connections (safe across the
        worker threads: one thread uses a connection at a time), each switched to WAL once."""
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(url, poolclass=sa.pool.QueuePool,
                                       connect_args={"check_same_thread": False})
        sa.event.listen(self.engine, "connect", _sqlite_write_ahead_log)
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)

    def create_schema(self) -> None:
        """The snapshot table and the session-start index; replicas starting together may race
        here, which is fine once one of them has succeeded (as for Rasa's own tables)."""
        try:
            metadata.create_all(self.engine)
            with self.engine.begin() as connection:
                connection.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {SESSION_INDEX} "
                                           "ON events (sender_id, type_name, timestamp)"))
        except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError) as exc:
            logger.warning("Could not create the tracker snapshot schema (another replica may be "
                           "creating it): %s", exc)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The current session's tracker as snapshot + window; None for an unknown conversation."""
        return await _riding_out_outages(self._load_window, sender_id)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the events not stored yet; take a new snapshot when the window is full."""
        await self.stream_events(tracker)
        await _riding_out_outages(self._append, tracker)

    async def recorded_replies(self, sender_id: str, message_id: str
                               ) -> tuple[str, list[dict[str, Any]]] | None:
        """(text, replies) of a recent user message with this id, None if there is none: what a
        replica answered before it failed (bot/redelivery.py). Replies are `BotUttered.message()`s:
        the session start's (the disclaimer) when the message opened a session, then the message's."""
        return await _riding_out_outages(self._recorded_replies, sender_id, message_id)

    def _recorded_replies(self, sender_id: str, message_id: str
                          ) -> tuple[str, list[dict[str, Any]]] | None:
        event = self.SQLEvent
        recent = (event.sender_id == sender_id,
                  event.timestamp >= time.time() - REDELIVERY_WINDOW_SECONDS)
        with self.session_scope() as session:
            users = session.execute(
                sa.select(event.id, event.data).where(*recent, event.type_name == UserUttered.type_name)
                .order_by(event.id.desc()).limit(REDELIVERY_LOOKBACK)).all()
            found_id, found = next(((row.id, data) for row in users
                                    if (data := json.loads(row.data)).get("message_id") == message_id),
                                   (None, None))
            if found is None:
                return None
            before = (*recent, event.id < found_id)
            previous_user = session.execute(sa.select(sa.func.max(event.id)).where(
                *before, event.type_name == UserUttered.type_name)).scalar() or 0
            session_start = session.execute(sa.select(sa.func.max(event.id)).where(
                *before, event.type_name == ActionExecuted.type_name,
                event.action_name == ACTION_SESSION_START_NAME)).scalar() or 0
            first = session_start if session_start > previous_user else found_id
            turn = session.execute(sa.select(event.type_name, event.data).where(
                event.sender_id == sender_id, event.id >= first).order_by(event.id)).all()
        replies = []
        for row in turn:
            data = json.loads(row.data)
            if row.type_name == UserUttered.type_name and data.get("message_id") != message_id:
                break  # the next message's turn
            reply = event_from_dict(data) if row.type_name == BotUttered.type_name else None
            if isinstance(reply, BotUttered):
                replies.append(reply.message())
        return found.get("text") or "", replies

    def _load_window(self, sender_id: str) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            session_start = session.execute(
                sa.select(sa.func.max(self.SQLEvent.timestamp)).where(
                    self.SQLEvent.sender_id == sender_id,
                    self.SQLEvent.type_name == SessionStarted.type_name)).scalar()
            snapshot = session.execute(
                sa.select(snapshot_table.c.first_event_id, snapshot_table.c.session_start,
                          snapshot_table.c.events).where(snapshot_table.c.sender_id == sender_id)).first()
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
            prefix: list[Event] = []
            if snapshot is not None and snapshot.session_start == session_start:
                query = query.filter(self.SQLEvent.id >= snapshot.first_event_id)
                prefix = [e for e in map(event_from_dict, json.loads(snapshot.events)) if e is not None]
            rows = query.with_entities(self.SQLEvent.id, self.SQLEvent.data).all()
        if not rows:
            return None
        window = StoredWindow(len(prefix), session_start=session_start)
        events = list(prefix)
        for row in rows:
            event = event_from_dict(json.loads(row.data))
            if event is not None:  # as Rasa's `deserialise_events`, which skips what it cannot read
                events.append(event)
                window.ids.append(row.id)
        tracker = DialogueStateTracker.from_events(sender_id, events, self.domain.slots)
        setattr(tracker, _WINDOW, window)
        return tracker

    def _append(self, tracker: DialogueStateTracker) -> None:
        window: StoredWindow | None = getattr(tracker, _WINDOW, None)
        if window is not None and len(tracker.events) < window.stored:
            window = None  # events were removed from the object: nothing to trust but the database
        with self.session_scope() as session:
            if window is None:
                # Not loaded here (a new conversation, a tracker built elsewhere): Rasa's own rule.
                new_events = list(self._additional_events(session, tracker))
            else:
                new_events = list(itertools.islice(tracker.events, window.stored, None))
            rows = [self._event_row(tracker.sender_id, event) for event in new_events]
            session.add_all(rows)
            session.flush()
            new_ids = [row.id for row in rows]
            if window is not None:
                self._snapshot_if_full(session, tracker, StoredWindow(
                    window.prefix, window.ids + new_ids, window.session_start))
            session.commit()
        if window is not None:
            window.ids.extend(new_ids)  # only once committed: a failed save leaves the window as it was

    def _event_row(self, sender_id: str, event: Event) -> Any:
        """The `events` row Rasa's `SQLTrackerStore.save` writes for `event`."""
        data = event.as_dict()
        return self.SQLEvent(
            sender_id=sender_id, type_name=event.type_name, timestamp=data.get("timestamp"),
            intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            action_name=data.get("name"), data=json.dumps(data))

    def _snapshot_if_full(self, session: Any, tracker: DialogueStateTracker, window: StoredWindow) -> None:
        events = list(tracker.events)
        turns = sum(1 for event in events[window.prefix:] if isinstance(event, UserUttered))
        if turns <= self.max_turns:
            return
        start = window_start(events, window.prefix, self.keep_turns)
        if start <= window.prefix or any(isinstance(e, SessionStarted) for e in events[start:]):
            return  # a new session began inside the window: Rasa loads from its start anyway
        before = DialogueStateTracker.from_events(tracker.sender_id, events[:start], self.domain.slots)
        starts_with_action = isinstance(events[start], ActionExecuted)
        snapshot = json.dumps([e.as_dict() for e in state_events(
            before, events[start].timestamp, with_latest_action=not starts_with_action)])
        values = {"first_event_id": window.ids[start - window.prefix],
                  "session_start": window.session_start, "events": snapshot}
        updated = session.execute(snapshot_table.update().where(
            snapshot_table.c.sender_id == tracker.sender_id).values(**values))
        if not updated.rowcount:
            session.execute(snapshot_table.insert().values(sender_id=tracker.sender_id, **values))
        logger.debug("Snapshot for %d user turns taken", turns - self.keep_turns)


def _sqlite_write_ahead_log(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


# A database restart or fail-over takes seconds. Rasa's FailSafeTrackerStore turns a failed read
# into "no tracker" (a fresh conversation that forgets a staff pause) and a failed save into memory
# only (a lost turn), so transient connection errors are retried here first, briefly.
OUTAGE_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 3.0, 4.0)
_TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


async def _riding_out_outages(work: Any, *args: Any) -> Any:
    """`work(*args)` in a worker thread, retried over about ten seconds of connection errors."""
    for pause in (*OUTAGE_RETRY_SECONDS, None):
        try:
            return await asyncio.to_thread(work, *args)
        except (*_TRANSIENT, sa.exc.DBAPIError) as exc:
            transient = isinstance(exc, _TRANSIENT) or getattr(exc, "connection_invalidated", False)
            if not transient or pause is None:
                raise
            logger.warning("Tracker store unreachable (%s); retrying in %.1f s", type(exc).__name__, pause)
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")
