"""What every input channel applies before Rasa sees a message: size and rate limits per sender,
and typed `/intent` payloads neutralised (`bot.channels.payloads`) so no channel can skip NLU.

A message longer than `MAX_MESSAGE_CHARS`, or beyond `RATE_LIMIT_PER_MINUTE` messages from one
sender in the last 60 seconds, is not processed: the user gets a polite reply on their own channel
that always repeats the emergency line (a refused message may be someone in trouble). Counts live
in Redis when `REDIS_URL` is set, so every replica enforces one limit per sender; otherwise, or
while Redis is unreachable, each process counts on its own (see docs/production.md). Logs never
contain the message text, and name the sender only by a short hash; a message whose handling
fails gets an apology instead of silence (and no log line quoting it, as Rasa's REST channel does).
"""
from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import defaultdict, deque
from typing import Any, Awaitable, Callable, Deque, Dict, Optional

from rasa.core.channels.channel import UserMessage

from bot.channels.handoff_watch import watch_handoff
from bot.channels.payloads import neutralise_injection
from bot.settings import Settings, get_settings

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 60.0
Handler = Callable[[UserMessage], Awaitable[Any]]


def too_long_reply(settings: Settings) -> str:
    return (f"Sorry, your message is too long for me to read (the limit is "
            f"{settings.max_message_chars:,} characters). Please send a shorter message or split it "
            f"into parts. If this is an emergency, call {settings.emergency_number} now.")


def too_fast_reply(settings: Settings) -> str:
    return ("You're sending messages faster than I can answer. Please wait a minute and then try "
            f"again. If this is an emergency, call {settings.emergency_number} now.")


def failed_reply(settings: Settings) -> str:
    return ("Sorry, something went wrong on my side and I could not answer that. Please try again "
            f"in a moment. If this is an emergency, call {settings.emergency_number} now.")


def sender_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]


class MemoryRateLimiter:
    """Sliding window per key in this process's memory."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: Dict[str, Deque[float]] = defaultdict(deque)

    async def allow(self, key: str) -> bool:
        now = self.clock()
        hits = self._hits[key]
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        hits.append(now)
        if len(self._hits) > 100_000:  # bounded memory under a flood of one-message senders
            self._forget_idle(now)
        return len(hits) <= self.limit

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]:
            del self._hits[key]


class RedisRateLimiter:
    """Sliding window per key in a Redis sorted set shared by all replicas; falls back to a
    per-process window (logged once) while Redis is unreachable."""

    def __init__(self, url: str, prefix: str, limit: int, window: float = WINDOW_SECONDS):
        from redis import asyncio as aioredis

        self.redis = aioredis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.prefix, self.limit, self.window = prefix, limit, window
        self.fallback = MemoryRateLimiter(limit, window)
        self.degraded = False

    async def allow(self, key: str) -> bool:
        from redis.exceptions import RedisError

        name = f"{self.prefix}:rate:{sender_hash(key)}"
        now = time.time()
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(name, 0, now - self.window)
                pipe.zadd(name, {f"{now}:{uuid.uuid4().hex[:8]}": now})
                pipe.zcard(name)
                pipe.expire(name, int(self.window) + 1)
                count = (await pipe.execute())[2]
        except (RedisError, OSError) as exc:
            if not self.degraded:
                logger.warning("Redis unreachable (%s): rate limits are per process until it is back",
                               type(exc).__name__)
                self.degraded = True
            return await self.fallback.allow(key)
        if self.degraded:
            logger.warning("Redis reachable again: rate limits are shared again")
            self.degraded = False
        return count <= self.limit


def rate_limiter(settings: Settings):
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, settings.redis_key_prefix,
                                settings.rate_limit_per_minute)
    return MemoryRateLimiter(settings.rate_limit_per_minute)


def guard_messages(on_new_message: Handler, settings: Optional[Settings] = None,
                   limiter: Any = None) -> Handler:
    """`on_new_message` behind the size and rate limits (wrap it in an input channel's blueprint)."""
    settings = settings or get_settings()
    limiter = limiter or rate_limiter(settings)
    on_new_message = watch_handoff(on_new_message)  # red flags still answered while staff hold the chat

    async def guarded(message: UserMessage) -> Any:
        key = f"{message.input_channel}:{message.sender_id}"
        if not await limiter.allow(key):
            logger.info("Message refused: over %d per minute (sender %s)",
                        settings.rate_limit_per_minute, sender_hash(key))
            reply = too_fast_reply(settings)
        elif len(message.text or "") > settings.max_message_chars:
            logger.info("Message refused: %d characters (sender %s)", len(message.text), sender_hash(key))
            reply = too_long_reply(settings)
        else:
            message.text = neutralise_injection(message.text or "")
            return await _answer(message)
        await message.output_channel.send_text_message(message.sender_id, reply)
        return None

    async def _answer(message: UserMessage) -> Any:
        # Rasa's REST channel would log the failure with the message text; here only its type.
        try:
            return await on_new_message(message)
        except Exception as exc:  # noqa: BLE001 - any failure gets the same apology
            logger.error("Handling a message failed (%s, sender %s)", type(exc).__name__,
                         sender_hash(f"{message.input_channel}:{message.sender_id}"))
            logger.debug("Failure detail", exc_info=exc)
            await message.output_channel.send_text_message(message.sender_id, failed_reply(settings))
            return None

    return guarded
