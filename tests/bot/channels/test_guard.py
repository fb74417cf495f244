"""Size and rate limits in front of every input channel (bot/channels/guard.py)."""
from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.channels.guard import CLIENT_ADDRESS_KEY, RateLimiter, address_metadata, guard_messages
from bot.rate_limits import MemoryWindows, RedisWindows
from bot.settings import load_settings

SECRET_TEXT = "my-very-private-symptom-text"


@pytest.fixture
def settings(tmp_path):
    return load_settings({"FSGS_VAR_DIR": str(tmp_path), "RASA_AUTH_TOKEN": "t", "WEB_SECRET_KEY": "k",
                          "RATE_LIMIT_PER_MINUTE": "3", "RATE_LIMIT_PER_ADDRESS_PER_MINUTE": "5"})


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(handler, text: str, sender: str = "alice", address=None, channel: str = "rest"):
    """Send one message through `handler` (from `address`, as our REST and socket.io connectors
    say it); the reply texts the user got."""
    out = CollectingOutputChannel()
    metadata = address_metadata(address) if address else None
    asyncio.run(handler(UserMessage(text, out, sender, input_channel=channel, metadata=metadata)))
    return [m["text"] for m in out.messages]


def guarded(settings, limiter=None, fail=False):
    seen = []

    async def on_new_message(message: UserMessage) -> None:
        if fail:
            raise RuntimeError(f"database said no about {message.text}")
        seen.append(message.text)
        metadata.append(message.metadata)
        await message.output_channel.send_text_message(message.sender_id, "answer")

    metadata = []
    handler = guard_messages(on_new_message, settings,
                             limiter or RateLimiter(settings, MemoryWindows(60, clock=Clock())))
    handler.metadata = metadata
    return handler, seen


def test_typed_intent_payloads_reach_nlu_as_text_on_every_channel_but_buttons_pass(settings):
    handler, seen = guarded(settings)
    run(handler, "/fsgs_definition@1.0 my son is coughing up blood")
    run(handler, "/affirm", sender="bob")
    assert seen == ["fsgs_definition@1.0 my son is coughing up blood", "/affirm"]


def test_default_size_limit_is_above_ten_thousand_characters(tmp_path):
    assert load_settings({"FSGS_VAR_DIR": str(tmp_path)}).max_message_chars == 12000


def test_messages_up_to_the_limit_pass_and_longer_ones_get_a_polite_reply_with_the_emergency_line(settings):
    handler, seen = guarded(settings)
    assert run(handler, "x" * settings.max_message_chars) == ["answer"]
    [reply] = run(handler, "x" * (settings.max_message_chars + 1), sender="bob")
    assert "too long" in reply and "12,000" in reply
    assert "If this is an emergency, call your local emergency number" in reply
    assert len(seen) == 1


def test_rate_limit_is_per_sender_and_sliding(settings):
    clock = Clock()
    limiter = RateLimiter(settings, MemoryWindows(60, clock=clock))
    assert [asyncio.run(limiter.allow("a")) for _ in range(4)] == [None, None, None, "sender"]
    assert asyncio.run(limiter.allow("b")) is None
    clock.now += 61
    assert asyncio.run(limiter.allow("a")) is None


def test_one_address_is_limited_across_senders_and_others_are_not(settings):
    handler, seen = guarded(settings)
    replies = [run(handler, f"hi {n}", sender=f"user{n}", address="203.0.113.9") for n in range(6)]
    assert replies[:5] == [["answer"]] * 5
    [reply] = replies[5]
    assert "faster than I can answer" in reply and "If this is an emergency" in reply
    assert run(handler, "hi", sender="user9", address="198.51.100.1") == ["answer"]
    assert len(seen) == 6


def test_the_address_never_reaches_rasa(settings):
    handler, _ = guarded(settings)
    run(handler, "hi", address="203.0.113.9")
    assert handler.metadata == [None]
    assert CLIENT_ADDRESS_KEY not in str(handler.metadata)


def test_messages_refused_for_their_sender_do_not_use_up_the_address(settings):
    handler, _ = guarded(settings)
    for n in range(6):  # one sender over its 3 a minute, from a shared address
        run(handler, f"flood {n}", sender="flooder", address="203.0.113.9")
    replies = [run(handler, "hi", sender=f"neighbour{n}", address="203.0.113.9") for n in range(2)]
    assert replies == [["answer"]] * 2


def test_clients_on_this_machine_are_limited_per_sender_only(settings):
    """Tests, benchmarks, or everybody behind a local proxy that is not in TRUSTED_PROXIES."""
    handler, seen = guarded(settings)
    for n in range(8):
        assert run(handler, "hi", sender=f"local{n}", address="127.0.0.1") == ["answer"]
    assert len(seen) == 8


def test_platform_channels_without_an_address_have_no_per_address_limit(settings):
    """Telegram and Slack requests all come from the platforms' servers."""
    handler, seen = guarded(settings)
    for n in range(8):
        assert run(handler, "hi", sender=f"chat{n}", channel="telegram") == ["answer"]
    assert len(seen) == 8


def test_over_the_rate_the_user_is_told_to_wait_and_the_message_is_not_processed(settings):
    handler, seen = guarded(settings)
    replies = [run(handler, f"hello {i}") for i in range(4)]
    assert replies[:3] == [["answer"]] * 3
    [reply] = replies[3]
    assert "faster than I can answer" in reply and "If this is an emergency" in reply
    assert seen == ["hello 0", "hello 1", "hello 2"]


def test_a_failure_gets_an_apology_and_no_log_line_quotes_the_message(settings, caplog):
    handler, _ = guarded(settings, fail=True)
    with caplog.at_level(logging.INFO):
        [reply] = run(handler, SECRET_TEXT)
    assert "something went wrong" in reply and "If this is an emergency" in reply
    assert "RuntimeError" in caplog.text
    assert SECRET_TEXT not in caplog.text


def test_refusals_do_not_log_the_text(settings, caplog):
    handler, _ = guarded(settings)
    with caplog.at_level(logging.DEBUG, logger="bot.channels.guard"):
        run(handler, SECRET_TEXT * 1000)
    assert "refused" in caplog.text and SECRET_TEXT not in caplog.text


@pytest.mark.redis
def test_redis_limit_is_shared_by_replicas(settings):
    prefix = f"test{uuid.uuid4().hex[:8]}"

    async def scenario():
        windows = [RedisWindows("redis://127.0.0.1:6379/1", prefix, 60) for _ in range(2)]
        replicas = [RateLimiter(settings, w) for w in windows]
        results = [await replicas[i % 2].allow("rest:carol") for i in range(5)]
        for w in windows:
            await w.clear("sender:rest:carol")
            await w.close()
        return results

    assert asyncio.run(scenario()) == [None, None, None, "sender", "sender"]
