"""Sliding-window counters for the patient channels' guard and the console's login throttle.

`hit` decides and records in one step: in memory there is no `await` between the check and the
record, in Redis it is one Lua script; so 300 parallel requests can never all pass a check that
only five of them should. A refused hit is not recorded (someone retrying a locked login does not
extend their own lockout). `release` gives one recorded hit back (a login that turned out right),
`clear` forgets a key. With `REDIS_URL` the counts are shared by every process; while Redis is
unreachable each process counts on its own (logged once, and once when Redis is back). Redis keys
are hashes: no sender id, email or address is stored in clear.

Hand-rolled on purpose: the maintained `limits` package (2.8 and later) requires packaging >= 21
while Rasa 3.6 requires packaging < 21, and the releases that install (2.6 and older, 2022) need
`coredis` for asynchronous Redis. This module is small and tested against the real Redis.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.settings import Settings

logger = logging.getLogger(__name__)
MAX_MEMORY_KEYS = 100_000  # idle keys are dropped beyond this (a flood of one-message senders)
POOL_CONNECTIONS, POOL_WAIT_SECONDS = 16, 5
REDIS_TIMEOUT_SECONDS = 1.0  # a Redis that does not answer in this long counts as unreachable

# KEYS[1]: the window; ARGV: window seconds, limit, token. Returns {allowed, retry_after}.
# Scores are the Redis server's clock, read as the script runs: one clock for every replica, in
# the order the hits are applied (a client's clock read before its request travelled could be
# older than a hit already recorded, and its retry_after then longer than the window).
# Floats travel as strings.
_HIT_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local freeing = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  return {0, tostring(tonumber(freeing[2]) + window - now)}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return {1, '0'}
"""


@dataclass(frozen=True)
class Hit:
    allowed: bool
    retry_after: float = 0.0   # seconds until a refused hit would fit; 0 when allowed
    token: str = ""            # names this hit for `release`


class Windows(Protocol):
    window: float

    async def hit(self, key: str, limit: int) -> Hit: ...

    async def release(self, key: str, token: str) -> None: ...

    async def clear(self, key: str) -> None: ...


def _new_token() -> str:
    return uuid.uuid4().hex


class MemoryWindows:
    """Sliding windows in this process's memory."""

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic):
        self.window, self.clock = window, clock
        self._hits: dict[str, list[tuple[float, str]]] = {}

    def _recent(self, key: str, now: float) -> list[tuple[float, str]]:
        hits = [hit for hit in self._hits.get(key, ()) if hit[0] > now - self.window]
        if hits:
            self._hits[key] = hits
        else:
            self._hits.pop(key, None)
        return hits

    async def hit(self, key: str, limit: int) -> Hit:
        now = self.clock()
        hits = self._recent(key, now)
        if len(hits) >= limit:
            return Hit(False, hits[len(hits) - limit][0] + self.window - now)
        token = _new_token()
        self._hits[key] = [*hits, (now, token)]
        if len(self._hits) > MAX_MEMORY_KEYS:
            for idle in [k for k, v in self._hits.items() if v[-1][0] <= now - self.window]:
                del self._hits[idle]
        return Hit(True, 0.0, token)

    async def release(self, key: str, token: str) -> None:
        hits = [hit for hit in self._hits.get(key, ()) if hit[1] != token]
        if hits:
            self._hits[key] = hits
        else:
            self._hits.pop(key, None)

    async def clear(self, key: str) -> None:
        self._hits.pop(key, None)


class RedisWindows:
    """Sliding windows in Redis sorted sets shared by every process, with a per-process fallback."""

    def __init__(self, url: str, prefix: str, window: float,
                 timeout: float = REDIS_TIMEOUT_SECONDS):
        from redis import asyncio as aioredis

        # A bounded pool: a burst of requests waits for a connection instead of opening hundreds
        # (which time out on a busy machine and would fall back to per-process counts).
        pool: Any = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=POOL_CONNECTIONS, timeout=POOL_WAIT_SECONDS, socket_timeout=timeout,
            socket_connect_timeout=timeout)
        self.redis = aioredis.Redis(connection_pool=pool)
        self.prefix, self.window = prefix, window
        self._script = self.redis.register_script(_HIT_SCRIPT)
        self.fallback = MemoryWindows(window)
        self.degraded = False

    def _name(self, key: str) -> str:
        return f"{self.prefix}:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"

    def _unreachable(self, exc: Exception) -> None:
        if not self.degraded:
            logger.warning("Redis unreachable (%s): rate limits are per process until it is back",
                           type(exc).__name__)
            self.degraded = True

    def _reachable(self) -> None:
        if self.degraded:
            logger.warning("Redis reachable again: rate limits are shared again")
            self.degraded = False

    async def hit(self, key: str, limit: int) -> Hit:
        from redis.exceptions import RedisError

        token = _new_token()
        try:
            allowed, retry_after = await self._script(
                keys=[self._name(key)], args=[repr(self.window), limit, token])
        except (RedisError, OSError) as exc:
            self._unreachable(exc)
            return await self.fallback.hit(key, limit)
        self._reachable()
        return Hit(bool(allowed), max(0.0, float(retry_after)), token if allowed else "")

    async def release(self, key: str, token: str) -> None:
        await self._apply(key, "zrem", token)
        await self.fallback.release(key, token)

    async def clear(self, key: str) -> None:
        await self._apply(key, "delete")
        await self.fallback.clear(key)

    async def _apply(self, key: str, command: str, *args: str) -> None:
        from redis.exceptions import RedisError

        try:
            await getattr(self.redis, command)(self._name(key), *args)
        except (RedisError, OSError) as exc:
            self._unreachable(exc)

    async def close(self) -> None:
        await self.redis.close()


def windows(settings: Settings, namespace: str, window: float) -> Windows:
    """Shared windows when REDIS_URL is set, else this process's; keys live under `namespace`."""
    if settings.redis_url:
        return RedisWindows(settings.redis_url, f"{settings.redis_key_prefix}:{namespace}", window)
    return MemoryWindows(window)


def seconds(retry_after: float) -> int:
    """Whole seconds for a Retry-After header (never 0 for a refusal)."""
    return max(1, math.ceil(retry_after))
