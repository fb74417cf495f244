"""Staff actions when a part fails never strand a patient: real Rasa, action server and web process
(which runs the background jobs), the real SQLite queue; "Rasa down" is a desk whose Rasa URL has
nothing listening, next to the working one."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.background import reconcile_paused
from bot.channels.rest import conversation_id
from bot.conversations import TrackerEvents
from bot.handoff.delivery import DeliveryError
from bot.handoff.desk import JOINED_TEXT, StaffDesk
from bot.rasa_api import RasaClient, staff_desk
from tests.support.stack import free_port
from tests.support.users import SocketUser

pytestmark = pytest.mark.slow
NURSE = "nurse@example.org"
RED_FLAG = "my son has chest pain and he can't breathe properly"


def rest_escalation(stack, store):
    sender = f"user-{uuid.uuid4().hex[:10]}"
    stack.rest(sender, "I want to talk to a nurse please")
    ticket = store.open_ticket_for(conversation_id(sender))
    assert ticket is not None
    return sender, ticket


def unreachable_desk(stack, store) -> StaffDesk:
    return StaffDesk(store, RasaClient(f"http://127.0.0.1:{free_port()}", stack.settings.rasa_auth_token))


def test_resolve_while_rasa_is_down_changes_nothing_and_resolving_again_resumes(stack, store):
    sender, ticket = rest_escalation(stack, store)
    asyncio.run(staff_desk(stack.settings, store).claim(ticket.id, NURSE))
    assert stack.tracker(conversation_id(sender))["paused"] is True

    with pytest.raises(DeliveryError):
        asyncio.run(unreachable_desk(stack, store).resolve(ticket.id, NURSE))
    assert store.get(ticket.id).status == "claimed"          # still the care team's: retry works
    assert stack.tracker(conversation_id(sender))["paused"] is True

    asyncio.run(staff_desk(stack.settings, store).resolve(ticket.id, NURSE))
    assert store.get(ticket.id).status == "resolved"
    assert stack.tracker(conversation_id(sender))["paused"] is False
    assert any("seek urgent care now" in r for r in stack.rest(sender, RED_FLAG))


def test_a_conversation_paused_without_a_claimed_ticket_is_resumed(stack, store):
    stranded, stranded_ticket = rest_escalation(stack, store)
    held, held_ticket = rest_escalation(stack, store)
    desk = staff_desk(stack.settings, store)
    for ticket in (stranded_ticket, held_ticket):
        asyncio.run(desk.claim(ticket.id, NURSE))
    store.resolve(stranded_ticket.id, NURSE)      # closed, but Rasa never heard (the old order)
    assert stack.tracker(conversation_id(stranded))["paused"] is True

    asyncio.run(reconcile_paused(desk, TrackerEvents(stack.settings.tracker_store_url)))
    assert stack.tracker(conversation_id(stranded))["paused"] is False
    assert stack.tracker(conversation_id(held))["paused"] is True   # staff still hold this one
    assert any("seek urgent care now" in r for r in stack.rest(stranded, RED_FLAG))


def test_a_staff_reply_rasa_could_not_take_reaches_the_widget_by_itself(stack, store):
    async def scenario():
        user = SocketUser(stack.settings.rasa_url)
        await user.connect()
        await user.say("I want to talk to a person")
        await user.drain()
        ticket = store.open_ticket_for(user.session_id)
        await staff_desk(stack.settings, store).claim(ticket.id, NURSE)
        assert (await user.next_message())["text"] == JOINED_TEXT

        with pytest.raises(DeliveryError):
            await unreachable_desk(stack, store).reply(ticket.id, NURSE, "Sorry for the wait.")
        assert [m.text for m in store.pending_messages(user.session_id)] == ["Sorry for the wait."]
        # Nobody acts again: the web process's push retry sends it.
        retried = await user.next_message(timeout=60)
        await user.client.disconnect()
        return retried

    assert asyncio.run(scenario())["text"] == "Sorry for the wait."
