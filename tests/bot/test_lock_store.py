"""The Redis lock store when a replica dies holding a conversation's lock (bot/lock_store.py)."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from rasa.core import lock_store as rasa_lock_store
from rasa.utils.endpoints import EndpointConfig

from bot.lock_store import RedisLockStore

pytestmark = pytest.mark.redis


def store(cls=RedisLockStore):
    config = EndpointConfig(url="127.0.0.1", port="6379", db="1", key_prefix=f"t{uuid.uuid4().hex[:8]}")
    return cls(config) if cls is RedisLockStore else cls(host=config.url, **config.kwargs)


async def retried_after_a_dead_holder(lock_store) -> bool:
    """A dead replica's ticket is never released; a retry queued 0.2 s later must still get in."""
    conversation = "patient-1"
    lock_store.issue_ticket(conversation, lock_lifetime=1.5)  # the dead holder
    await asyncio.sleep(0.2)
    async with lock_store.lock(conversation, lock_lifetime=1.5, wait_time_in_seconds=2):
        return True


def test_a_retry_gets_the_lock_once_the_dead_holders_ticket_expires():
    assert asyncio.run(asyncio.wait_for(retried_after_a_dead_holder(store()), 10))


def test_rasas_own_lock_store_waits_forever_in_that_case():
    """Documents the upstream behaviour this module exists for (Rasa 3.6.21)."""
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(asyncio.wait_for(retried_after_a_dead_holder(store(rasa_lock_store.RedisLockStore)), 8))


def test_the_lock_is_released_after_use_and_queues_in_order():
    lock_store = store()

    async def scenario():
        order = []

        async def hold(name: str, delay: float):
            await asyncio.sleep(delay)
            async with lock_store.lock("c", wait_time_in_seconds=0.05):
                order.append(name)
                await asyncio.sleep(0.2)

        await asyncio.gather(hold("first", 0), hold("second", 0.05))
        return order, lock_store.get_lock("c")

    order, lock = asyncio.run(scenario())
    assert order == ["first", "second"] and (lock is None or not lock.tickets)
