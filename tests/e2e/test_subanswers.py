"""Sub-answers through the real server: a specific question gets its sub-answer over REST and
socket.io, a general one the topic's general answer, the choice does not carry over to the next
turn, and the variations' `id`/`metadata` never reach the user's channel."""
from __future__ import annotations

import asyncio
import uuid

import pytest
import requests

from bot import content
from bot.channels.rest import conversation_id
from bot.content import Variation
from tests.support.users import SocketUser

pytestmark = pytest.mark.slow

# Worded afresh: none of these is a training or held-out question.
SPECIFIC = [
    ("is alcohol safe with tacrolimus?", "immunosuppressants.tacrolimus_alcohol"),
    ("are all tacrolimus brands taken twice a day?", "immunosuppressants.tacrolimus_once_or_twice_daily"),
    ("what are the sick day rules for people on long-term steroids?", "steroid_therapy.sick_day_rules"),
    ("why does the hospital want my husband to get the same brand of tacrolimus every time",
     "immunosuppressants.cni_brand"),
]
GENERAL = [("what is FSGS?", "fsgs_definition"), ("why are steroids given for FSGS", "steroid_therapy")]


@pytest.fixture(scope="module")
def by_text() -> dict[str, Variation]:
    return {v.text.strip(): v for v in content.curated_variations(content.load_variations())}


def _user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


def _answers(replies: list[str], by_text: dict[str, Variation]) -> list[Variation]:
    return [by_text[r.strip()] for r in replies if r.strip() in by_text]


@pytest.mark.parametrize("question, sub_answer", SPECIFIC)
def test_a_specific_question_gets_its_sub_answer_over_rest(stack, by_text, question, sub_answer):
    answers = _answers(stack.rest(_user(), question), by_text)
    assert [a.id for a in answers] == [sub_answer]


@pytest.mark.parametrize("question, topic", GENERAL)
def test_a_general_question_gets_the_general_answer(stack, by_text, question, topic):
    answers = _answers(stack.rest(_user(), question), by_text)
    assert [(a.topic, a.kind) for a in answers] == [(topic, "general")]


def test_a_drug_question_without_a_sub_answer_gets_the_drug_variant(stack, by_text):
    """Drug variants require sub_answer "": with the slot cleared they are still chosen."""
    answers = _answers(stack.rest(_user(), "what are the side effects of tacrolimus"), by_text)
    assert [(a.topic, a.kind, a.medication) for a in answers] == [("side_effects", "drug", "tacrolimus")]


def test_the_sub_answer_does_not_carry_over_to_the_next_question(stack, by_text):
    user = _user()
    first = _answers(stack.rest(user, SPECIFIC[2][0]), by_text)
    assert [a.id for a in first] == [SPECIFIC[2][1]]
    then = _answers(stack.rest(user, GENERAL[1][0]), by_text)
    assert [(a.topic, a.kind) for a in then] == [("steroid_therapy", "general")]
    slots = stack.tracker(conversation_id(user))["slots"]
    assert slots["sub_answer"] == ""


def test_rest_replies_carry_only_text(stack):
    response = requests.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook",
                             json={"sender": _user(), "message": SPECIFIC[0][0]}, timeout=60)
    response.raise_for_status()
    assert response.json() and {key for m in response.json() for key in m} <= {"recipient_id", "text"}


def test_socketio_replies_carry_only_text(stack, by_text):
    async def converse() -> list[dict]:
        user = SocketUser(stack.settings.rasa_url)
        await user.connect()
        try:
            await user.say(SPECIFIC[1][0])
            received = [await user.next_message(timeout=60)]
            return received + await user.drain(quiet_for=3.0)
        finally:
            await user.client.disconnect()

    messages = asyncio.run(converse())
    assert all(set(m) == {"text"} for m in messages), messages
    assert [a.id for a in _answers([m["text"] for m in messages], by_text)] == [SPECIFIC[1][1]]
