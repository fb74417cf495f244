"""The handoff watch's reply count and emergency test (the paused path: tests/e2e/test_handoff_alerts.py)."""
from __future__ import annotations

import asyncio

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.channels.handoff_watch import _count_replies, is_emergency, watch_handoff


def test_emergency_is_the_intent_or_the_red_flag_mark():
    assert is_emergency({"intent": {"name": "emergency", "confidence": 0.6}})
    assert is_emergency({"intent": {"name": "nlu_fallback"}, "red_flag_override": ["chest_pain"]})
    assert not is_emergency({"intent": {"name": "request_human"}})
    assert not is_emergency({"intent": None})
    assert not is_emergency({})


def test_replies_are_counted_and_still_arrive():
    async def scenario():
        collector = CollectingOutputChannel()
        replies = _count_replies(collector)
        before = replies()
        await collector.send_response("rest:u1", {"text": "an answer"})
        await collector.send_response("rest:u1", {"text": "and another"})
        return before, replies(), [m["text"] for m in collector.messages]

    assert asyncio.run(scenario()) == (0, 2, ["an answer", "and another"])


def test_an_unanswered_message_without_a_rasa_agent_is_still_handled():
    """Outside a Rasa server there is no agent: the watch logs once and the message is not lost."""
    async def silent(message: UserMessage) -> str:
        return "handled"

    async def scenario():
        return await watch_handoff(silent)(UserMessage("hello?", CollectingOutputChannel(), "rest:u2",
                                                       input_channel="rest"))

    assert asyncio.run(scenario()) == "handled"
