"""Already-handled ids shared by every process through a real Redis (Slack retries reach any
replica, a double-submitted form any console process), and per process without it."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.seen import MemorySeenIds, RedisSeenIds, seen_ids
from bot.settings import load_settings
from bot.web.forms import FormError, SubmittedForms
from tests.support.ha import REDIS_URL

pytestmark = pytest.mark.redis


def prefix() -> str:
    return f"fsgstest{uuid.uuid4().hex[:8]}"


def test_two_processes_sharing_redis_see_an_id_once():
    async def scenario():
        name = prefix()
        replica_a, replica_b = RedisSeenIds(REDIS_URL, name, 60), RedisSeenIds(REDIS_URL, name, 60)
        return [await replica_a.first_time("Ev1"), await replica_b.first_time("Ev1"),
                await replica_b.first_time("Ev2"), await replica_a.first_time("Ev2")]

    assert asyncio.run(scenario()) == [True, False, True, False]


def test_concurrent_copies_of_one_id_pass_exactly_once():
    async def scenario():
        name = prefix()
        replicas = [RedisSeenIds(REDIS_URL, name, 60) for _ in range(5)]
        return await asyncio.gather(*(r.first_time("Ev-same") for r in replicas for _ in range(4)))

    assert sorted(asyncio.run(scenario())) == [False] * 19 + [True]


def test_ids_are_forgotten_after_their_time_to_live():
    async def scenario():
        seen = RedisSeenIds(REDIS_URL, prefix(), 1)
        assert await seen.first_time("form-1")
        for _ in range(100):
            await asyncio.sleep(0.1)
            if await seen.first_time("form-1"):
                return True
        return False

    assert asyncio.run(scenario())


def test_while_redis_is_unreachable_each_process_still_refuses_its_own_repeats():
    seen = RedisSeenIds("redis://127.0.0.1:1/0", prefix(), 60)
    assert asyncio.run(seen.first_time("Ev1")) is True
    assert asyncio.run(seen.first_time("Ev1")) is False


def test_without_redis_the_record_is_per_process(tmp_path):
    assert isinstance(seen_ids(load_settings({"FSGS_VAR_DIR": str(tmp_path)}), "x", 60),
                      MemorySeenIds)


def test_a_form_submitted_to_two_console_processes_is_accepted_once(tmp_path):
    settings = load_settings({"FSGS_VAR_DIR": str(tmp_path), "REDIS_URL": REDIS_URL,
                              "REDIS_KEY_PREFIX": prefix()})
    first, second = SubmittedForms(settings), SubmittedForms(settings)
    form_id = SubmittedForms.new_id()
    asyncio.run(first.accept(form_id))
    with pytest.raises(FormError, match="already submitted") as refused:
        asyncio.run(second.accept(form_id))
    assert refused.value.status == 409
