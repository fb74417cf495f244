"""Size and rate limits in front of every input channel (bot/channels/guard.py)."""
from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.channels.guard import MemoryRateLimiter, RedisRateLimiter, guard_messages
from bot.settings import load_settings

SECRET_TEXT = "my-very-private-symptom-text"


@pytest.fixture
def settings(tmp_path):
    return load_settings({"FSGS_VAR_DIR": str(tmp_path), "RASA_AUTH_TOKEN": "t", "WEB_SECRET_KEY": "k",
                          "RATE_LIMIT_PER_MINUTE": "3"})


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(handler, text: str, sender: str = "alice"):
    """Send one message through `handler`; the reply texts the user got."""
    out = CollectingOutputChannel()
    asyncio.run(handler(UserMessage(text, out, sender, input_channel="rest")))
    return [m["text"] for m in out.messages]


def guarded(settings, limiter=None, fail=False):
    seen = []

    async def on_new_message(message: UserMessage) -> None:
        if fail:
            raise RuntimeError(f"database said no about {message.text}")
        seen.append(message.text)
        await message.output_channel.send_text_message(message.sender_id, "answer")

    handler = guard_messages(on_new_message, settings,
                             limiter or MemoryRateLimiter(settings.rate_limit_per_minute, clock=Clock()))
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


def test_rate_limit_is_per_sender_and_sliding():
    clock = Clock()
    limiter = MemoryRateLimiter(3, window=60, clock=clock)
    assert [asyncio.run(limiter.allow("a")) for _ in range(4)] == [True, True, True, False]
    assert asyncio.run(limiter.allow("b"))
    clock.now += 61
    assert asyncio.run(limiter.allow("a"))


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
def test_redis_limit_is_shared_by_replicas():
    prefix = f"test{uuid.uuid4().hex[:8]}"
    replicas = [RedisRateLimiter("redis://127.0.0.1:6379/1", prefix, limit=3) for _ in range(2)]

    async def scenario():
        results = [await replicas[i % 2].allow("rest:carol") for i in range(5)]
        for replica in replicas:
            await replica.redis.close()
        return results

    assert asyncio.run(scenario()) == [True, True, True, False, False]


def test_unreachable_redis_falls_back_to_a_per_process_limit(caplog):
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", "test", limit=2)
    with caplog.at_level(logging.WARNING):
        results = asyncio.run(_allow_many(limiter, "rest:dave", 3))
    assert results == [True, True, False]
    assert caplog.text.count("Redis unreachable") == 1  # said once, not once per message
    # Per process: another replica's limiter has counted nothing of this sender.
    other_replica = RedisRateLimiter("redis://127.0.0.1:1/0", "test", limit=2)
    assert asyncio.run(_allow_many(other_replica, "rest:dave", 1)) == [True]


async def _allow_many(limiter, key, count):
    return [await limiter.allow(key) for _ in range(count)]
