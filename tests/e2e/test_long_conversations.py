"""Long conversations through real Rasa and action servers: the tracker store loads only a window of
recent events (bot/tracker_store.py), and what lies before the window still holds: a handoff
paused hundreds of messages back keeps the bot silent, and a contact form begun before the window
finishes with the details the user gives after it."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.channels.rest import conversation_id
from bot.handoff.delivery import CARE_TEAM_LABEL
from bot.handoff.desk import CLOSED_TEXT, JOINED_TEXT
from bot.handoff.store import HandoffStore
from bot.rasa_api import staff_desk
from bot.tracker_store import MAX_TURNS
from tests.support.stack import start_stack

pytestmark = pytest.mark.slow
NURSE = "nurse@example.org"


@pytest.fixture(scope="module")
def closed_clinic(tmp_path_factory):
    # One user writes hundreds of messages in a few minutes: far above the limit meant for people.
    running = start_stack(tmp_path_factory.mktemp("long"), STAFFED_HOURS="never",
                          RATE_LIMIT_PER_MINUTE="1000000")
    yield running
    running.stack.stop()


def open_ticket(stack, user):
    return HandoffStore.from_url(stack.settings.database_url).open_ticket_for(conversation_id(user))


def test_the_bot_stays_silent_at_message_400_of_a_handoff(closed_clinic):
    user = f"user-{uuid.uuid4().hex[:8]}"
    assert any("care team" in r for r in closed_clinic.rest(user, "I need to speak with a nurse"))
    closed_clinic.rest(user, "no")  # no contact detail: the conversation stays in the queue
    ticket = open_ticket(closed_clinic, user)
    desk = staff_desk(closed_clinic.settings, HandoffStore.from_url(closed_clinic.settings.database_url))
    asyncio.run(desk.claim(ticket.id, NURSE))  # pauses the conversation
    assert closed_clinic.rest(user, "hello?") == [f"{CARE_TEAM_LABEL}: {JOINED_TEXT}"]
    for n in range(2, 400):
        assert closed_clinic.rest(user, f"what is FSGS? ({n})") == [], f"the bot answered message {n}"
    assert closed_clinic.rest(user, "what is FSGS?") == []  # message 400

    asyncio.run(desk.resolve(ticket.id, NURSE))  # resumes it: the bot answers again
    replies = closed_clinic.rest(user, "what is FSGS?")
    assert replies[0] == f"{CARE_TEAM_LABEL}: {CLOSED_TEXT}"
    assert any("Source:" in r for r in replies[1:])
    recorded = closed_clinic.tracker(conversation_id(user))["events"]
    assert sum(1 for e in recorded if e["event"] == "user") == 403  # every message kept


def test_a_contact_form_begun_before_the_window_finishes_after_it(closed_clinic):
    user = f"user-{uuid.uuid4().hex[:8]}"
    replies = closed_clinic.rest(user, "should I lower my tacrolimus dose, my levels were high")
    assert any("How should the care team contact you?" in r for r in replies)
    for _ in range(MAX_TURNS + 5):  # questions: the form steps aside, answers, asks again
        replies = closed_clinic.rest(user, "what is FSGS?")
        assert any("Source:" in r for r in replies), replies
        assert any("How should the care team contact you?" in r for r in replies), replies
    replies = closed_clinic.rest(user, "+44 7911 123456")  # the form's start is out of the window
    assert any("Do you agree that we store +447911123456" in r for r in replies)
    replies = closed_clinic.rest(user, "/affirm")
    assert any("will contact you at +447911123456" in r for r in replies)
    ticket = open_ticket(closed_clinic, user)
    assert (ticket.contact_details, ticket.contact_consent) == ("+447911123456", True)
