"""Rasa's Redis lock store, minus a wait that never ends when a replica dies holding a lock.

Rasa queues a conversation's messages on numbered tickets that expire after `TICKET_LOCK_LIFETIME`
(60 s). When a replica dies while handling a message, the request retried on another replica
waits for the dead ticket to expire. Both tickets have the same lifetime, so the waiter's own
ticket often expires in the same poll as the dead one; Rasa 3.6 then compares against a ticket
that no longer exists and waits forever (measured: the retried request hung until nginx's 504).
Here a waiter whose ticket has expired takes a new one and carries on.
endpoints.yml selects it (`type: bot.lock_store.RedisLockStore`) when REDIS_URL is set.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from rasa.core import lock_store
from rasa.core.lock import TicketLock
from rasa.utils.endpoints import EndpointConfig


class RedisLockStore(lock_store.RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig) -> None:
        super().__init__(host=endpoint_config.url, **endpoint_config.kwargs)

    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = lock_store.LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        ticket = self.issue_ticket(conversation_id, lock_lifetime)
        try:
            while True:
                lock = self.get_lock(conversation_id)
                if lock is None or ticket not in {t.number for t in lock.tickets}:
                    ticket = self.issue_ticket(conversation_id, lock_lifetime)  # ours expired
                    continue
                if not lock.is_locked(ticket):
                    break
                await asyncio.sleep(wait_time_in_seconds)
                self.update_lock(conversation_id)
            yield lock
        finally:
            self.cleanup(conversation_id, ticket)
