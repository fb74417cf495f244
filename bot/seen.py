"""Remembering what was already handled, once for the whole deployment.

Slack redelivers events and browsers resubmit forms; whichever process gets the copy must know
the original was handled, and nginx sends requests to any replica. With REDIS_URL set the record
is a Redis key per id (`SET NX EX`, atomic across processes); otherwise, or while Redis is
unreachable (logged once), each process keeps its own.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Protocol

from bot.settings import Settings

logger = logging.getLogger(__name__)


class SeenIds(Protocol):
    async def first_time(self, key: str) -> bool:
        """Record `key`; False if it was already recorded (within the time to live)."""


class MemorySeenIds:
    """Ids seen within `ttl` seconds in this process, at most `max_size` of them."""

    def __init__(self, ttl: float, max_size: int = 50_000) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._seen: OrderedDict[str, float] = OrderedDict()

    async def first_time(self, key: str) -> bool:
        now = time.monotonic()
        while self._seen and (len(self._seen) >= self.max_size
                              or next(iter(self._seen.values())) < now - self.ttl):
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


class RedisSeenIds:
    """One Redis key per id under `prefix`, expiring after `ttl` seconds."""

    def __init__(self, url: str, prefix: str, ttl: float):
        from redis import asyncio as aioredis

        self.redis = aioredis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.prefix, self.ttl = prefix, max(1, int(ttl))
        self.fallback = MemorySeenIds(ttl)
        self.degraded = False

    async def first_time(self, key: str) -> bool:
        from redis.exceptions import RedisError

        try:
            first = bool(await self.redis.set(f"{self.prefix}:{key}", 1, nx=True, ex=self.ttl))
        except (RedisError, OSError) as exc:
            if not self.degraded:
                logger.warning("Redis unreachable (%s): %s de-duplication is per process until it "
                               "is back", type(exc).__name__, self.prefix)
                self.degraded = True
            return await self.fallback.first_time(key)
        if self.degraded:
            logger.warning("Redis reachable again: %s de-duplication is shared again", self.prefix)
            self.degraded = False
        await self.fallback.first_time(key)  # so a later outage still knows the recent ones
        return first


def seen_ids(settings: Settings, name: str, ttl: float) -> SeenIds:
    """Shared through Redis when the settings name one; `name` namespaces the keys."""
    if settings.redis_url:
        return RedisSeenIds(settings.redis_url, f"{settings.redis_key_prefix}:{name}", ttl)
    return MemorySeenIds(ttl)
