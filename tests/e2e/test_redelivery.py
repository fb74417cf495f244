"""A request delivered twice with one `X-Request-ID` (what nginx does when the replica that had
handled it died before answering) is answered from the record: one user message, one set of
replies, one ticket entry. Real Rasa and action servers, the queue in a real SQLite file."""
from __future__ import annotations

import uuid

import pytest

from bot.channels.rest import conversation_id

pytestmark = pytest.mark.slow


def user_texts(stack, user: str) -> list[str]:
    events = stack.tracker(conversation_id(user))["events"]
    return [e["text"] for e in events if e["event"] == "user"]


def bot_texts(stack, user: str) -> list[str]:
    return [e.get("text") or "" for e in stack.tracker(conversation_id(user))["events"]
            if e["event"] == "bot"]


def test_a_redelivered_message_gets_the_recorded_replies_and_is_recorded_once(stack):
    user, request = f"redeliver-{uuid.uuid4().hex[:8]}", {"X-Request-ID": uuid.uuid4().hex}
    first = stack.rest(user, "what is fsgs?", headers=request)
    recorded = bot_texts(stack, user)
    assert any("FSGS" in r for r in first)
    assert stack.rest(user, "what is fsgs?", headers=request) == first
    assert user_texts(stack, user) == ["what is fsgs?"]
    assert bot_texts(stack, user) == recorded


def test_a_repeated_escalation_appends_to_the_ticket_once(stack, store):
    user, request = f"redeliver-{uuid.uuid4().hex[:8]}", {"X-Request-ID": uuid.uuid4().hex}
    text = "should I stop taking my prednisone? my face is so puffy"
    first = stack.rest(user, text, headers=request)
    assert any("care team" in r for r in first)
    assert stack.rest(user, text, headers=request) == first
    [ticket] = store.tickets_for(conversation_id(user))
    assert ticket.message_count == 1


def test_a_new_message_under_a_reused_request_id_is_handled_as_new(stack, store):
    """A client that sends one header with everything is never answered from an old record, and
    its emergency is not taken for the earlier escalation's repeat."""
    user, request = f"redeliver-{uuid.uuid4().hex[:8]}", {"X-Request-ID": uuid.uuid4().hex}
    stack.rest(user, "should I stop taking my prednisone? my face is so puffy", headers=request)
    replies = stack.rest(user, "my son collapsed and cannot breathe", headers=request)
    assert any("seek urgent care now" in r for r in replies)
    assert len(user_texts(stack, user)) == 2
    [ticket] = store.tickets_for(conversation_id(user))
    assert (ticket.priority, ticket.message_count) == ("urgent", 2)
