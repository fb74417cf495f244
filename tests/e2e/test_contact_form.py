"""Conversations that never trap or mislead a patient, end to end over REST and socket.io: the
out-of-hours contact form answers questions, appends own-case questions to the ticket, gives way to
an emergency and lets the patient leave; emergencies are told exactly what happens."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from actions.escalation import clinic_time
from bot.channels.rest import conversation_id
from bot.handoff.store import HandoffStore
from bot.staffing import DAYS, parse_staffed_hours
from tests.support.stack import start_stack
from tests.support.users import SocketUser

pytestmark = pytest.mark.slow
EMERGENCY_NUMBER = "the e2e emergency line 0100"
CONTACT_ASK = "How should the care team contact you?"
OWN_CASE = "should I lower my tacrolimus dose, my levels were high"
CHANNELS = ["rest", "socketio"]


class Chat:
    """One patient on one channel. `say` returns the texts of the bot's turn: every reply for REST;
    for socket.io, messages until one contains `last` (a positive marker, never a quiet period)."""

    def __init__(self, running, channel: str):
        self.running, self.channel = running, channel
        self.socket = SocketUser(running.settings.rasa_url) if channel == "socketio" else None
        self.sender = self.socket.session_id if self.socket else f"user-{uuid.uuid4().hex[:10]}"

    async def __aenter__(self) -> Chat:
        if self.socket:
            await self.socket.connect()
        return self

    async def __aexit__(self, *_) -> None:
        if self.socket:
            await self.socket.client.disconnect()

    async def say(self, text: str, last: str) -> list[str]:
        if not self.socket:
            replies = await asyncio.to_thread(self.running.rest, self.sender, text)
            assert replies and last in replies[-1], replies
            return replies
        await self.socket.say(text)
        replies: list[str] = []
        while not replies or last not in replies[-1]:
            replies.append((await self.socket.next_message(timeout=60)).get("text") or "")
        return replies

    def ticket(self):
        conversation = self.sender if self.socket else conversation_id(self.sender)
        return HandoffStore.from_url(self.running.settings.database_url).open_ticket_for(conversation)


def converse(running, channel: str, scenario: Callable) -> None:
    async def main():
        async with Chat(running, channel) as chat:
            await scenario(chat)
    asyncio.run(main())


def without_disclaimer(replies: list[str]) -> list[str]:
    return [r for r in replies if not r.startswith("Hi, I'm the FSGS information assistant")]


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("closed"), STAFFED_HOURS="never",
                          EMERGENCY_NUMBER=EMERGENCY_NUMBER)
    yield running
    running.stack.stop()


@pytest.fixture(scope="module")
def staffed(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("staffed"), STAFFED_HOURS="always",
                          EMERGENCY_NUMBER=EMERGENCY_NUMBER)
    yield running
    running.stack.stop()


async def start_form(chat: Chat) -> None:
    replies = await chat.say(OWN_CASE, last=CONTACT_ASK)
    assert any("can't advise on your own case" in r for r in replies)
    assert chat.ticket().message_count == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_general_question_during_the_form_is_answered_and_the_form_asks_once_more(closed, channel):
    async def scenario(chat):
        await start_form(chat)
        replies = await chat.say("what are the side effects of tacrolimus?", last=CONTACT_ASK)
        assert any("Source:" in r for r in replies[:-1])
        assert not any("doesn't look like" in r for r in replies)
        assert chat.ticket().message_count == 1
        replies = await chat.say("+44 7911 123456", last="Do you agree that we store +447911123456")
        replies = await chat.say("/affirm", last="You can keep asking me general questions.")
        assert "will contact you at +447911123456" in replies[-1]
        ticket = chat.ticket()
        assert (ticket.contact_details, ticket.contact_consent) == ("+447911123456", True)
    converse(closed, channel, scenario)


@pytest.mark.parametrize("channel", CHANNELS)
def test_another_own_case_question_during_the_form_joins_the_ticket(closed, channel):
    async def scenario(chat):
        await start_form(chat)
        replies = await chat.say("should I also stop my prednisone?", last=CONTACT_ASK)
        assert any("added this to your open request" in r for r in replies)
        ticket = chat.ticket()
        assert (ticket.message_count, ticket.last_user_message) == (2, "should I also stop my prednisone?")
    converse(closed, channel, scenario)


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_emergency_during_the_form_gets_urgent_care_raises_the_ticket_and_ends_the_form(closed, channel):
    async def scenario(chat):
        await start_form(chat)
        replies = await chat.say("she is coughing up blood now", last=f"call {EMERGENCY_NUMBER} now")
        assert "seek urgent care now" in replies[0] and EMERGENCY_NUMBER in replies[0]
        assert "marked it urgent" in replies[-1]
        assert "alerted" not in replies[-1]       # no alert destination is configured here
        assert not any(CONTACT_ASK in r for r in replies)
        assert (chat.ticket().priority, chat.ticket().message_count) == ("urgent", 2)
        replies = await chat.say("what is fsgs?", last="Source:")
        assert not any(CONTACT_ASK in r for r in replies)  # the form really ended
    converse(closed, channel, scenario)


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_emergency_out_of_hours_says_what_happens_and_never_asks_for_a_contact(closed, channel):
    async def scenario(chat):
        replies = without_disclaimer(await chat.say("my son has chest pain and can't breathe properly",
                                                    last=f"call {EMERGENCY_NUMBER} now"))
        assert "seek urgent care now" in replies[0]
        assert replies[-1] == ("I've marked your request as urgent. The care team is not in right now, "
                               "and no staffed hours are set for this chat. Please don't wait for a reply "
                               "here: "
                               f"call {EMERGENCY_NUMBER} now.")
        assert (chat.ticket().reason, chat.ticket().priority) == ("emergency", "urgent")
        replies = await chat.say("what is fsgs?", last="Source:")
        assert not any(CONTACT_ASK in r for r in replies)
    converse(closed, channel, scenario)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("exit_phrase", ["stop", "cancel", "never mind", "no"])
def test_stop_cancel_never_mind_leave_the_form_politely(closed, channel, exit_phrase):
    async def scenario(chat):
        await start_form(chat)
        replies = await chat.say(exit_phrase, last="You can keep asking me general questions.")
        assert "won't store any contact details" in replies[-1]
        ticket = chat.ticket()
        assert (ticket.message_count, ticket.contact_details) == (1, None)
        replies = await chat.say("what is fsgs?", last="Source:")
        assert not any(CONTACT_ASK in r for r in replies)
    converse(closed, channel, scenario)


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_unusable_answer_gets_one_reask_then_the_form_ends(closed, channel):
    async def scenario(chat):
        await start_form(chat)
        replies = await chat.say("ok thanks", last=CONTACT_ASK)
        assert any("doesn't look like a phone number or an email address" in r for r in replies)
        replies = await chat.say("555 12", last="You can keep asking me general questions.")
        assert any("stop asking" in r for r in replies)
        assert chat.ticket().contact_details is None
    converse(closed, channel, scenario)


@pytest.mark.parametrize("channel", CHANNELS)
def test_stop_alone_opens_no_ticket(staffed, channel):
    async def scenario(chat):
        await chat.say("hello", last="What would you like to know?")
        replies = await chat.say("stop", last="What would you like to know about FSGS?")
        assert not any("care team" in r and "passed" in r for r in replies)
        assert chat.ticket() is None
    converse(staffed, channel, scenario)


@pytest.mark.parametrize("channel", CHANNELS)
def test_emergency_in_staffed_hours_is_urgent_and_says_call_now(staffed, channel):
    async def scenario(chat):
        replies = without_disclaimer(await chat.say("my husband is having chest pain right now",
                                                    last=f"call {EMERGENCY_NUMBER} now"))
        assert "seek urgent care now" in replies[0]
        assert replies[-1] == ("I've marked your request as urgent. A member of the care team will see it "
                               "as soon as they can. Please don't wait for a reply here: "
                               f"call {EMERGENCY_NUMBER} now.")
        assert chat.ticket().priority == "urgent"
        replies = await chat.say("what is fsgs?", last="Source:")
        assert not any(CONTACT_ASK in r for r in replies)
    converse(staffed, channel, scenario)


@pytest.mark.parametrize("channel", CHANNELS)
def test_own_case_in_staffed_hours_promises_a_person_without_a_form(staffed, channel):
    async def scenario(chat):
        replies = await chat.say(OWN_CASE, last="Your earlier messages are shared with them.")
        assert not any(CONTACT_ASK in r for r in replies)
        replies = await chat.say("what are the side effects of tacrolimus?", last="Source:")
        assert chat.ticket().message_count == 1
    converse(staffed, channel, scenario)


def test_out_of_hours_emergency_names_the_next_staffed_time_in_clinic_time(tmp_path):
    """A staffed window two days ahead: the reply gives its start in the clinic's time zone."""
    day = DAYS[(datetime.now(timezone.utc) + timedelta(days=2)).weekday()]
    spec, zone = f"{day} 08:00-09:00", "Europe/London"
    running = start_stack(tmp_path, STAFFED_HOURS=spec, STAFFED_TIMEZONE=zone,
                          EMERGENCY_NUMBER=EMERGENCY_NUMBER)
    try:
        replies = running.rest(f"user-{uuid.uuid4().hex[:8]}", "I have crushing chest pain now")
    finally:
        running.stack.stop()
    upcoming = parse_staffed_hours(spec, zone).next_staffed_time(datetime.now(timezone.utc))
    assert f"at 08:00 ({zone} time)" in clinic_time(upcoming)
    assert replies[-1] == ("I've marked your request as urgent. The care team is not in right now; the next "
                           f"time a person will see it is {clinic_time(upcoming)}. Please don't wait for a "
                           f"reply here: call {EMERGENCY_NUMBER} now.")


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("clinic", ["closed", "staffed"])
def test_a_general_question_phrased_with_i_gets_the_answer_and_the_offer_of_a_person(request, clinic,
                                                                                     channel):
    async def scenario(chat):
        replies = await chat.say("can I drink alcohol?", last="Source:")
        assert "alcohol" in replies[-1] and 'say "talk to a person"' in replies[-1]
        assert chat.ticket() is None  # nothing handed off silently
    converse(request.getfixturevalue(clinic), channel, scenario)
