"""The windowed tracker store against real SQLite and PostgreSQL databases: a bounded read per turn,
only new events written, and nothing that matters lost at the window's edge (a pause from
hundreds of events back, slots, the contact form, the latest channel, session boundaries).
Rasa's own `SQLTrackerStore` on the same tables is the reference for what the state must be."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot import tracker_store
from bot.conversations import TrackerEvents
from bot.settings import PROJECT_ROOT
from bot.tracker_snapshots import SNAPSHOTS
from bot.tracker_store import KEEP_TURNS, MAX_TURNS, WindowedSQLTrackerStore
from tests.support.postgres import SERVER, fresh_database

DOMAIN = Domain.load(str(PROJECT_ROOT / "domain"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
    else:
        with fresh_database("fsgs_trackers") as name:
            yield f"{SERVER}/{name}"


def windowed(url: str) -> WindowedSQLTrackerStore:
    if url.startswith("sqlite"):
        return WindowedSQLTrackerStore(DOMAIN, dialect="sqlite", db=url.split(":///", 1)[1])
    return WindowedSQLTrackerStore(DOMAIN, host=url)


def reference(url: str) -> SQLTrackerStore:
    """Rasa's own store on the same tables: the whole current session, replayed."""
    if url.startswith("sqlite"):
        return SQLTrackerStore(DOMAIN, dialect="sqlite", db=url.split(":///", 1)[1])
    return SQLTrackerStore(DOMAIN, host=url)


def state(tracker: DialogueStateTracker) -> dict:
    loop = tracker.active_loop
    return {"slots": tracker.current_slot_values(), "paused": tracker.is_paused(),
            "loop": (loop.name, loop.is_interrupted, loop.rejected) if loop else None,
            "channel": tracker.get_latest_input_channel(), "text": tracker.latest_message.text,
            "latest_action": tracker.latest_action_name, "followup": tracker.followup_action}


def texts(tracker: DialogueStateTracker) -> list:
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


def user_turn(text: str, channel: str = "rest", *extra: Event, reply: str = "utter_fsgs_definition") -> list:
    """What Rasa logs for one answered user message."""
    now = time.time()
    return [UserUttered(text, {"name": "fsgs_definition", "confidence": 0.9}, input_channel=channel,
                        timestamp=now), *extra,
            ActionExecuted(reply, timestamp=now), BotUttered("FSGS is ...", timestamp=now),
            ActionExecuted("action_listen", timestamp=now)]


async def turn(store: WindowedSQLTrackerStore, sender: str, events: list) -> DialogueStateTracker:
    """One message through the store the way Rasa's processor does it: load, append, save."""
    tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
    for event in events:
        tracker.update(event, DOMAIN)
    await store.save(tracker)
    return tracker


def start_session() -> list:
    return [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]


def stored_events(url: str, sender: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM events WHERE sender_id = :s"),
                                   {"s": sender}).scalar()
    engine.dispose()
    return count


def test_a_turn_reads_a_bounded_window_and_writes_only_its_new_events(url):
    async def scenario():
        store = windowed(url)
        await turn(store, "long", start_session())
        written = 3
        for n in range(200):
            events = user_turn(f"message {n}")
            await turn(store, "long", events)
            written += len(events)
            assert stored_events(url, "long") == written  # nothing written twice
        tracker = await store.retrieve("long")
        assert sum(isinstance(e, UserUttered) for e in tracker.events) <= MAX_TURNS
        assert len(tracker.events) <= MAX_TURNS * 4 + len(DOMAIN.slots) + 3
        full = await store.retrieve_full_tracker("long")
        assert len(full.events) == written  # Rasa's table keeps every event
        assert state(tracker) == state(await reference(url).retrieve("long"))

    asyncio.run(scenario())


def test_a_pause_hundreds_of_events_back_still_holds(url):
    async def scenario():
        store = windowed(url)
        await turn(store, "handoff", start_session() + user_turn("I need a nurse", "socketio"))
        await turn(store, "handoff", [ConversationPaused()])  # staff claimed the ticket
        for n in range(150):  # while paused Rasa logs the user's messages and never answers
            await turn(store, "handoff", [UserUttered(f"are you there? {n}", {"name": "greet"},
                                                      input_channel="socketio")])
        tracker = await store.retrieve("handoff")
        assert "I need a nurse" not in texts(tracker)  # the pause is hundreds of events back
        assert tracker.is_paused()
        assert tracker.get_latest_input_channel() == "socketio"
        assert state(tracker) == state(await reference(url).retrieve("handoff"))

        await turn(store, "handoff", [ConversationResumed()])  # staff resolved
        assert not (await store.retrieve("handoff")).is_paused()

    asyncio.run(scenario())


def test_slots_and_a_contact_form_that_spans_the_window_edge_are_carried(url):
    async def scenario():
        store = windowed(url)
        await turn(store, "form", start_session() + user_turn(
            "is tacrolimus safe", "rest", SlotSet("medication", "tacrolimus")))
        for n in range(MAX_TURNS - 3):
            await turn(store, "form", user_turn(f"question {n}"))
        await turn(store, "form", user_turn("I need a person", "telegram", ActiveLoop("contact_form"),
                                            SlotSet("requested_slot", "contact_details"),
                                            reply="contact_form"))
        for n in range(MAX_TURNS):  # answers the form does not accept: it keeps asking
            await turn(store, "form", user_turn(f"not a phone {n}", "telegram", reply="contact_form"))
        tracker = await store.retrieve("form")
        assert "I need a person" not in texts(tracker)  # the form started before the window
        assert tracker.active_loop_name == "contact_form"
        assert tracker.get_slot("requested_slot") == "contact_details"
        assert tracker.get_slot("medication") == "tacrolimus"
        assert tracker.get_latest_input_channel() == "telegram"
        assert state(tracker) == state(await reference(url).retrieve("form"))

    asyncio.run(scenario())


def test_a_new_session_starts_from_scratch_as_in_rasa(url):
    async def scenario():
        store = windowed(url)
        await turn(store, "returning", start_session() + user_turn(
            "cyclosporine side effects", "rest", SlotSet("medication", "cyclosporine")))
        for n in range(MAX_TURNS + KEEP_TURNS):
            await turn(store, "returning", user_turn(f"message {n}"))
        await turn(store, "returning", start_session() + user_turn("hello again"))
        tracker = await store.retrieve("returning")
        assert tracker.get_slot("medication") is None
        assert state(tracker) == state(await reference(url).retrieve("returning"))

    asyncio.run(scenario())


def test_deleting_a_conversation_forgets_its_snapshot(url):
    async def scenario():
        store = windowed(url)
        await turn(store, "gone", start_session() + user_turn(
            "hi", "rest", SlotSet("medication", "rituximab")))
        for n in range(MAX_TURNS + 1):
            await turn(store, "gone", user_turn(f"message {n}"))
        engine = sa.create_engine(url)
        count = f"SELECT count(*) FROM {SNAPSHOTS} WHERE sender_id = 'gone'"
        with engine.connect() as connection:
            assert connection.execute(sa.text(count)).scalar() == 1
        TrackerEvents(url).delete("gone")
        with engine.connect() as connection:
            assert connection.execute(sa.text(count)).scalar() == 0
        engine.dispose()
        assert await store.retrieve("gone") is None

    asyncio.run(scenario())


def test_window_sizes_are_checked():
    with pytest.raises(ValueError):
        WindowedSQLTrackerStore(DOMAIN, dialect="sqlite", db=":memory:", keep_turns=20, max_turns=10)


# -- riding out a database outage (a restart or fail-over takes seconds) ------------------------------
def _failing(times: int, error: Exception):
    calls = []

    def work(value):
        calls.append(value)
        if len(calls) <= times:
            raise error
        return f"stored {value}"
    return work, calls


def _connection_lost() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))


def test_connection_errors_are_retried_until_the_database_is_back(monkeypatch):
    monkeypatch.setattr(tracker_store, "OUTAGE_RETRY_SECONDS", (0.01, 0.01, 0.01))
    work, calls = _failing(2, _connection_lost())
    assert asyncio.run(tracker_store._riding_out_outages(work, "turn")) == "stored turn"
    assert calls == ["turn"] * 3


def test_an_outage_longer_than_the_retries_is_raised(monkeypatch):
    monkeypatch.setattr(tracker_store, "OUTAGE_RETRY_SECONDS", (0.01, 0.01))
    work, calls = _failing(10, _connection_lost())
    with pytest.raises(sa.exc.OperationalError):
        asyncio.run(tracker_store._riding_out_outages(work, "turn"))
    assert len(calls) == 3


def test_errors_that_are_not_about_the_connection_are_not_retried(monkeypatch):
    monkeypatch.setattr(tracker_store, "OUTAGE_RETRY_SECONDS", (0.01, 0.01))
    work, calls = _failing(1, sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    with pytest.raises(sa.exc.IntegrityError):
        asyncio.run(tracker_store._riding_out_outages(work, "turn"))
    assert calls == ["turn"]


def test_a_recent_message_is_found_by_its_id_with_the_replies_recorded_after_it(url):
    """What bot/redelivery.py answers a message with when a replica handled it and then failed."""
    def message(text: str, message_id: str, age: float = 0) -> list:
        events = user_turn(text)
        events[0] = UserUttered(text, {"name": "fsgs_definition", "confidence": 0.9},
                                input_channel="rest", message_id=message_id,
                                timestamp=time.time() - age)
        events.insert(3, BotUttered("More: ...", {"buttons": [{"title": "Yes", "payload": "/affirm"}]}))
        return events

    async def scenario():
        store = windowed(url)
        await turn(store, "c", start_session())
        await turn(store, "c", message("what is fsgs", "fwd-1"))
        await turn(store, "c", message("and the treatment", "fwd-2"))
        text, replies = await store.recorded_replies("c", "fwd-1")
        assert text == "what is fsgs"  # only its own replies, not the next message's
        assert [r["text"] for r in replies] == ["FSGS is ...", "More: ..."]
        assert replies[1]["buttons"] == [{"title": "Yes", "payload": "/affirm"}]
        assert await store.recorded_replies("c", "fwd-9") is None
        assert await store.recorded_replies("other", "fwd-1") is None
        for n in range(tracker_store.REDELIVERY_LOOKBACK):
            await turn(store, "c", message(f"later {n}", f"later-{n}"))
        assert await store.recorded_replies("c", "fwd-2") is None  # only the latest few are searched
        too_old = tracker_store.REDELIVERY_WINDOW_SECONDS + 60
        await turn(store, "c", message("much earlier", "fwd-old", age=too_old))
        assert await store.recorded_replies("c", "fwd-old") is None  # nor anything but the last minutes

        # The first message of a session: the session start's disclaimer is part of its answer.
        await turn(store, "d", [ActionExecuted("action_session_start"), BotUttered("Hi, I'm ..."),
                                SessionStarted(), ActionExecuted("action_listen")])
        await turn(store, "d", message("hello", "fwd-d"))
        assert [r["text"] for r in (await store.recorded_replies("d", "fwd-d"))[1]] == [
            "Hi, I'm ...", "FSGS is ...", "More: ..."]

    asyncio.run(scenario())
