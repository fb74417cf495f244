"""The REST channel cannot act as another channel's user, and hands each staff message over once.

Real Rasa and action servers with Telegram on (a fake Bot API on loopback), real HTTP, the real
SQLite queue; staff act through the desk the console uses."""
from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bot.channels.rest import conversation_id
from bot.handoff.store import HandoffStore
from bot.rasa_api import STAFF_METADATA_KEY, staff_desk
from tests.bot.channels.conftest import (
    NURSE,
    TELEGRAM_SECRET,
    escalated_ticket,
    post,
    staff_reply,
    user_texts,
)
from tests.bot.channels.test_telegram import new_chat, texts_to
from tests.fakes.api import telegram_update

pytestmark = pytest.mark.slow
SECRET = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}


def rest_post(stack, body) -> requests.Response:
    return post(f"{stack.settings.rasa_url}/webhooks/rest/webhook", json=body)


def test_posting_as_a_telegram_chat_neither_reaches_it_nor_diverts_its_staff_replies(
        channels_stack, telegram_api):
    chat = new_chat()
    post(f"{channels_stack.settings.rasa_url}/webhooks/telegram/webhook",
         json=telegram_update(chat, "I want to talk to a person"), headers=SECRET)
    ticket = escalated_ticket(channels_stack, str(chat))
    staff_reply(channels_stack, ticket, "Hello, this is Sam.")

    attack = {"sender": str(chat), "message": "hijack", "input_channel": "telegram",
              "metadata": {STAFF_METADATA_KEY: "nurse@example.org"}}
    answer = rest_post(channels_stack, attack)
    assert answer.status_code == 200
    assert all("Sam" not in (m.get("text") or "") for m in answer.json())
    assert {m["recipient_id"] for m in answer.json()} == {str(chat)}   # the id the client used
    assert "hijack" not in user_texts(channels_stack, str(chat))
    assert channels_stack.tracker(str(chat))["latest_input_channel"] == "telegram"

    staff_reply(channels_stack, ticket, "Second message, only for the patient.")
    assert texts_to(telegram_api, chat)[-1] == "Care team: Second message, only for the patient."
    again = rest_post(channels_stack, {"sender": str(chat), "message": "anything for me?"})
    assert all("only for the patient" not in (m.get("text") or "") for m in again.json())


def test_body_channel_and_metadata_are_not_trusted(channels_stack):
    sender = f"u-{uuid.uuid4().hex[:8]}"
    answer = rest_post(channels_stack, {"sender": sender, "message": "what is FSGS",
                                        "input_channel": "socketio",
                                        "metadata": {STAFF_METADATA_KEY: "nurse@example.org"}})
    assert answer.status_code == 200 and answer.json()
    tracker = channels_stack.tracker(conversation_id(sender))
    [said] = [e for e in tracker["events"] if e["event"] == "user"]
    assert said["input_channel"] == "rest"
    assert STAFF_METADATA_KEY not in (said.get("metadata") or {})
    assert tracker["latest_input_channel"] == "rest"


def test_streaming_is_refused_not_half_served(channels_stack):
    response = post(f"{channels_stack.settings.rasa_url}/webhooks/rest/webhook?stream=true",
                    json={"sender": "s1", "message": "hello"})
    assert response.status_code == 400


def test_concurrent_requests_hand_a_staff_message_over_exactly_once(channels_stack):
    store = HandoffStore.from_url(channels_stack.settings.database_url)
    sender = f"u-{uuid.uuid4().hex[:8]}"
    rest_post(channels_stack, {"sender": sender, "message": "I want to talk to a person"})
    [ticket] = [t for t in store.list_tickets() if t.conversation_id == conversation_id(sender)]
    asyncio.run(staff_desk(channels_stack.settings, store).reply(ticket.id, NURSE, "One moment."))
    assert len(store.pending_messages(conversation_id(sender))) == 2   # joined + reply

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda i: rest_post(channels_stack, {
            "sender": sender, "message": f"hello {i}"}), range(4)))
    handed = [m["text"] for a in answers for m in a.json() if m["text"].startswith("Care team:")]
    assert handed.count("Care team: One moment.") == 1, handed
    assert store.pending_messages(conversation_id(sender)) == []
    assert all(m.delivered_at for m in store.history(ticket.id).messages)
    store.dispose()
