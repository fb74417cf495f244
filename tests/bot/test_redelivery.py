"""Message ids for requests nginx may deliver to two replicas (bot/redelivery.py)."""
import re

import pytest

from bot import redelivery
from bot.handoff.store import valid_request_id


def test_a_forwarded_request_keeps_one_message_id_per_conversation_and_text():
    first = redelivery.message_id("rest:a", "0f" * 16, "hi")
    assert first == redelivery.message_id("rest:a", "0f" * 16, "hi")  # every replica derives it
    assert first != redelivery.message_id("rest:b", "0f" * 16, "hi")  # never across conversations
    assert first != redelivery.message_id("rest:a", "0f" * 16, "help")  # nor across messages
    assert first != redelivery.message_id("rest:a", "1f" * 16, "hi")
    assert redelivery.message_id("rest:a", "0f" * 16, "\ud800") is not None  # any text
    assert first.startswith(redelivery.PREFIX)
    assert valid_request_id(first) == first  # the handoff queue's idempotency key


@pytest.mark.parametrize("header", [None, "", "short", "x" * 65, "0f" * 8 + "/..", "0f 0f 0f 0f 0f 0f 0f 0f"])
def test_no_usable_request_id_leaves_the_id_to_rasa(header):
    assert redelivery.message_id("rest:a", header, "hi") is None


def test_only_forwarded_ids_are_looked_up():
    from rasa.core.channels.channel import UserMessage

    assert redelivery.is_forwarded(UserMessage("hi", message_id=redelivery.message_id("c", "ab" * 16, "hi")))
    assert not redelivery.is_forwarded(UserMessage("hi"))  # Rasa's own uuid
    assert re.fullmatch(r"[0-9a-f]{32}", UserMessage("hi").message_id)
