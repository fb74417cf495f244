"""Sliding windows shared by the channel guard and the login throttle (bot/rate_limits.py):
decisions that hold under parallel hits, in memory and in the real Redis."""
from __future__ import annotations

import asyncio
import logging
import re
import uuid

import pytest

from bot.rate_limits import MemoryWindows, RedisWindows, seconds

REDIS_URL = "redis://127.0.0.1:6379/1"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# These tests check what Redis records, not how fast it answers: on a loaded 2-core machine the
# event loop can stall past the production 1 s timeout, and a timed-out hit falls back to the
# per-process count (15 of 300 parallel hits passed once, 5 per process plus Redis's 5).
PATIENT_TIMEOUT_SECONDS = 30.0


def redis_windows(window: float = 60.0, prefix: str = "") -> RedisWindows:
    return RedisWindows(REDIS_URL, prefix or f"test{uuid.uuid4().hex[:12]}", window,
                        timeout=PATIENT_TIMEOUT_SECONDS)


async def parallel_hits(windows, key: str, limit: int, count: int):
    return await asyncio.gather(*(windows.hit(key, limit) for _ in range(count)))


def test_memory_window_slides_and_tells_when_a_slot_frees():
    clock = Clock()
    windows = MemoryWindows(60, clock=clock)

    async def scenario():
        first = await windows.hit("a", 2)
        clock.now += 10
        await windows.hit("a", 2)
        refused = await windows.hit("a", 2)
        other = await windows.hit("b", 2)
        clock.now += 50.5  # the first hit has left the window
        return first, refused, other, await windows.hit("a", 2)

    first, refused, other, later = asyncio.run(scenario())
    assert first.allowed and first.token
    assert not refused.allowed and refused.retry_after == pytest.approx(50.0)
    assert other.allowed and later.allowed


def test_refused_hits_are_not_recorded_so_retrying_does_not_extend_the_wait():
    clock = Clock()
    windows = MemoryWindows(60, clock=clock)

    async def scenario():
        await windows.hit("a", 1)
        for _ in range(10):
            clock.now += 5
            assert not (await windows.hit("a", 1)).allowed
        clock.now += 10.5
        return await windows.hit("a", 1)

    assert asyncio.run(scenario()).allowed


def test_release_gives_one_hit_back_and_clear_forgets_the_key():
    windows = MemoryWindows(60, clock=Clock())

    async def scenario():
        hits = [await windows.hit("a", 2) for _ in range(2)]
        assert not (await windows.hit("a", 2)).allowed
        await windows.release("a", hits[0].token)
        assert (await windows.hit("a", 2)).allowed
        assert not (await windows.hit("a", 2)).allowed
        await windows.clear("a")
        return [(await windows.hit("a", 2)).allowed for _ in range(3)]

    assert asyncio.run(scenario()) == [True, True, False]


def test_retry_after_is_whole_seconds_and_never_zero():
    assert seconds(0.01) == 1 and seconds(59.2) == 60


def test_parallel_hits_in_memory_pass_exactly_the_limit():
    results = asyncio.run(parallel_hits(MemoryWindows(60), "a", 5, 300))
    assert sum(hit.allowed for hit in results) == 5


@pytest.mark.redis
def test_parallel_hits_on_two_processes_windows_in_redis_pass_exactly_the_limit():
    async def scenario():
        prefix = f"test{uuid.uuid4().hex[:12]}"
        replicas = [redis_windows(prefix=prefix), redis_windows(prefix=prefix)]
        results = await asyncio.gather(*(replicas[i % 2].hit("login:x", 5) for i in range(300)))
        refused = next(hit for hit in results if not hit.allowed)
        for replica in replicas:
            await replica.redis.delete(replica._name("login:x"))
            await replica.close()
        return results, refused

    results, refused = asyncio.run(scenario())
    assert sum(hit.allowed for hit in results) == 5
    assert 0 < refused.retry_after <= 60


@pytest.mark.redis
def test_a_hit_sent_before_one_already_recorded_never_waits_longer_than_the_window(monkeypatch):
    """Two replicas' hits reach Redis in any order; the window is timed by Redis's own clock, so
    a caller whose clock reads earlier than the recorded hit (what the parallel test above saw
    once: retry_after 60.009 s) still gets at most the window."""
    import bot.rate_limits

    async def scenario():
        windows = redis_windows()
        await windows.hit("k", 1)
        real = bot.rate_limits.time.time
        monkeypatch.setattr(bot.rate_limits.time, "time", lambda: real() - 5)
        refused = await windows.hit("k", 1)
        monkeypatch.undo()
        await windows.clear("k")
        await windows.close()
        return refused

    refused = asyncio.run(scenario())
    assert not refused.allowed
    assert 0 < refused.retry_after <= 60


@pytest.mark.redis
def test_redis_release_and_clear_are_shared():
    async def scenario():
        prefix = f"test{uuid.uuid4().hex[:12]}"
        one, two = redis_windows(prefix=prefix), redis_windows(prefix=prefix)
        hit = await one.hit("k", 1)
        refused_elsewhere = not (await two.hit("k", 1)).allowed
        await two.release("k", hit.token)
        again = await two.hit("k", 1)
        await one.clear("k")
        cleared = await one.hit("k", 1)
        stored = await one.redis.keys(f"{prefix}:*")
        await one.clear("k")
        await one.close()
        await two.close()
        return refused_elsewhere, again.allowed, cleared.allowed, stored

    refused_elsewhere, again, cleared, stored = asyncio.run(scenario())
    assert refused_elsewhere and again and cleared
    # Keys are hashes under the prefix: no sender id, email or address in clear.
    assert stored and all(re.fullmatch(rb"test[0-9a-f]{12}:[0-9a-f]{32}", key) for key in stored)


def test_unreachable_redis_falls_back_to_this_process_and_says_so_once(caplog):
    async def scenario():
        windows = RedisWindows("redis://127.0.0.1:1/0", "test", 60)
        return [(await windows.hit("k", 2)).allowed for _ in range(3)]

    with caplog.at_level(logging.WARNING):
        assert asyncio.run(scenario()) == [True, True, False]
    assert caplog.text.count("Redis unreachable") == 1
