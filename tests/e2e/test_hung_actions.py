"""A hung action server (SIGSTOP) never silences the bot: new conversations, FAQs and escalations
are answered within seconds, the escalation reaches the queue anyway, and once the action server
runs again (SIGCONT, so it may still run the calls Rasa gave up on) nothing lands twice."""
from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from bot.channels.rest import conversation_id
from bot.handoff.store import HandoffStore
from tests.support.stack import start_stack
from tests.support.tickets import wait_for_tickets

pytestmark = pytest.mark.slow
REPLY_WITHIN_S = 10
OWN_CASE = "should I stop taking my prednisone? my face is so puffy"
RED_FLAG = "my husband collapsed and he cannot breathe"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("hung"))  # default action timeout
    yield running
    running.stack.stop()


@pytest.fixture(scope="module")
def store(running):
    store = HandoffStore.from_url(running.settings.database_url)
    yield store
    store.dispose()


def timed(running, user: str, text: str):
    started = time.monotonic()
    replies = running.rest(user, text)
    elapsed = time.monotonic() - started
    assert elapsed < REPLY_WITHIN_S, f"{text!r} answered after {elapsed:.1f}s"
    assert any(r.strip() for r in replies), f"no reply to {text!r}"
    return replies


def escalations_in(store: HandoffStore, ticket_id: int) -> int:
    return sum(e.kind in ("opened", "appended") for e in store.history(ticket_id).events)


def test_a_hung_action_server_never_silences_the_bot_and_escalations_land_once(running, store):
    emergency_line = running.settings.emergency_number
    actions = running.stack.service("actions").process
    user, urgent = f"hung-{uuid.uuid4().hex[:8]}", f"hung-{uuid.uuid4().hex[:8]}"
    os.killpg(actions.pid, signal.SIGSTOP)
    try:
        greeting = timed(running, user, "hello")
        assert any("FSGS information assistant" in r for r in greeting)  # the disclaimer
        assert any("Source:" in r for r in timed(running, user, "what is FSGS?"))
        escalated = timed(running, user, OWN_CASE)
        assert any("saved" in r and emergency_line in r for r in escalated), escalated
        emergency = timed(running, urgent, RED_FLAG)
        assert any("seek urgent care now" in r for r in emergency), emergency

        # It reached the queue while the action server hung.
        [ticket] = wait_for_tickets(store, conversation_id(user))
        [urgent_ticket] = wait_for_tickets(store, conversation_id(urgent))
        assert urgent_ticket.priority == "urgent"
    finally:
        os.killpg(actions.pid, signal.SIGCONT)

    # The action server now runs whatever was still waiting for it; a later call proves it is back.
    later = f"hung-{uuid.uuid4().hex[:8]}"
    replies = running.rest(later, OWN_CASE)
    assert any("passed your question to the care team" in r for r in replies), replies
    wait_for_tickets(store, conversation_id(later))
    [ticket] = store.tickets_for(conversation_id(user))
    assert (ticket.message_count, escalations_in(store, ticket.id)) == (1, 1)
    [urgent_ticket] = store.tickets_for(conversation_id(urgent))
    assert (urgent_ticket.message_count, escalations_in(store, urgent_ticket.id)) == (1, 1)


def test_an_escalation_that_timed_out_is_not_doubled_when_the_user_continues(running, store):
    """After the action server is back, the same conversation's next question appends as usual."""
    user = f"hung-{uuid.uuid4().hex[:8]}"
    actions = running.stack.service("actions").process
    os.killpg(actions.pid, signal.SIGSTOP)
    try:
        timed(running, user, OWN_CASE)
        wait_for_tickets(store, conversation_id(user))
    finally:
        os.killpg(actions.pid, signal.SIGCONT)
    replies = running.rest(user, "can I take ibuprofen for my headache with my kidney disease")
    assert any("added this to your open request" in r for r in replies), replies
    [ticket] = store.tickets_for(conversation_id(user))
    assert (ticket.message_count, escalations_in(store, ticket.id)) == (2, 2)
