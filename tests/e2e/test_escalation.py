"""Escalation end to end: real Rasa and action servers on loopback, real REST and socket.io clients,
the handoff queue in a real SQLite file, staff actions through `bot.handoff.desk`."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.channels.rest import conversation_id
from bot.handoff.desk import CLOSED_TEXT, JOINED_TEXT
from bot.rasa_api import staff_desk
from tests.support.users import SocketUser

pytestmark = pytest.mark.slow
NURSE = "nurse@example.org"


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def test_personal_advice_opens_one_ticket_and_a_repeat_appends(stack, store):
    user = new_user()
    replies = stack.rest(user, "should I stop taking my prednisone? my face is so puffy")
    assert any("can't advise on your own case" in r for r in replies)
    assert any("care team" in r for r in replies)
    [ticket] = store.tickets_for(conversation_id(user))
    assert (ticket.reason, ticket.priority, ticket.channel) == ("personal_advice", "normal", "rest")

    replies = stack.rest(user, "can I take ibuprofen for my headache with my kidney disease")
    assert any("added this to your open request" in r for r in replies)
    [ticket] = store.tickets_for(conversation_id(user))
    assert ticket.message_count == 2


def test_emergency_says_seek_urgent_care_first_then_opens_an_urgent_ticket(stack, store):
    user = new_user()
    replies = stack.rest(user, "my son has chest pain and he can't breathe properly")
    answer = [r for r in replies if "Hi, I'm the FSGS information assistant" not in r]
    assert "seek urgent care now" in answer[0]
    assert answer[-1].startswith("I've marked your request as urgent.")
    assert "alerted" not in answer[-1]  # no alert destination configured: never claim one
    assert f"call {stack.settings.emergency_number} now" in answer[-1]
    [ticket] = store.tickets_for(conversation_id(user))
    assert (ticket.reason, ticket.priority) == ("emergency", "urgent")


def test_two_misunderstandings_offer_a_person_and_accepting_escalates(stack, store):
    user = new_user()
    assert any("say it another way" in r for r in stack.rest(user, "blorp zzzqx wibble"))
    assert any("pass your question to a member of the care team" in r
               for r in stack.rest(user, "flibber jabber quux"))
    assert store.tickets_for(conversation_id(user)) == []
    stack.rest(user, "yes please")
    [ticket] = store.tickets_for(conversation_id(user))
    assert ticket.reason == "repeated_fallback"
    assert "flibber jabber quux" in ticket.first_message


def test_rest_user_gets_staff_reply_the_next_time_they_write(stack, store):
    user = new_user()
    stack.rest(user, "I want to talk to a nurse please")
    [ticket] = store.tickets_for(conversation_id(user))
    desk = staff_desk(stack.settings, store)
    asyncio.run(desk.claim(ticket.id, NURSE))
    asyncio.run(desk.reply(ticket.id, NURSE, "Hello, this is Sam from the kidney clinic."))
    assert [m.delivered_at for m in store.pending_messages(conversation_id(user))] == [None, None]

    replies = stack.rest(user, "are you there?")
    assert replies == [f"Care team: {JOINED_TEXT}", "Care team: Hello, this is Sam from the kidney clinic."]
    assert store.pending_messages(conversation_id(user)) == []
    user_texts = [e.get("text") for e in stack.tracker(conversation_id(user))["events"]
                  if e["event"] == "user"]
    assert "are you there?" in user_texts


def test_staff_reply_reaches_socketio_user_while_paused_and_bot_answers_after_resolve(stack, store):
    async def scenario():
        user = SocketUser(stack.settings.rasa_url)
        await user.connect()
        await user.say("my creatinine went up to 2.1, should I be worried about my dose?")
        escalation = await user.drain()
        assert any("passed your question to the care team" in (m.get("text") or "") for m in escalation)
        [ticket] = store.tickets_for(user.session_id)
        assert ticket.channel == "socketio"

        desk = staff_desk(stack.settings, store)
        await desk.claim(ticket.id, NURSE)
        joined = await user.next_message()
        assert joined == {"text": JOINED_TEXT, "from_care_team": True, "staff_name": "Care team"}

        await user.say("hello? is someone there?")
        await _until_recorded(stack, user.session_id, "hello? is someone there?")  # ... but records

        await desk.reply(ticket.id, NURSE, "Hi, I'm Alex, a renal nurse. Let's look at that together.")
        # Paused, the bot stays quiet: the first thing after the user's message is the staff reply
        # (a bot answer would have been emitted before the tracker that records the message was saved).
        reply = await user.next_message()
        assert reply["text"] == "Hi, I'm Alex, a renal nurse. Let's look at that together."
        assert reply["from_care_team"] is True

        await desk.resolve(ticket.id, NURSE)
        assert (await user.next_message())["text"] == CLOSED_TEXT
        await user.say("what is FSGS?")
        answer = await user.drain()
        assert any("Source:" in (m.get("text") or "") for m in answer)
        await user.client.disconnect()
        lines = await desk.transcript(ticket.id)
        assert [line.role for line in lines].count("staff") == 3
        assert all(line.delivered for line in lines if line.role == "staff")

    asyncio.run(scenario())


async def _until_recorded(stack, conversation_id: str, text: str, timeout: float = 60) -> None:
    """Wait until Rasa has stored the user's message (it is saved after the turn is handled)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        events = (await asyncio.to_thread(stack.tracker, conversation_id))["events"]
        if text in [e.get("text") for e in events if e["event"] == "user"]:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{text!r} never recorded"
        await asyncio.sleep(0.2)
