"""What every input channel applies before Rasa sees a message: size and rate limits per sender
and per client address, and typed `/intent` payloads neutralised (`bot.channels.payloads`) so no
channel can skip NLU.

A message longer than `MAX_MESSAGE_CHARS`, or beyond `RATE_LIMIT_PER_MINUTE` messages from one
sender (or `RATE_LIMIT_PER_ADDRESS_PER_MINUTE` from one REST/widget client address, see
`RateLimiter`) in the last 60 seconds, is not processed: the user gets a polite reply on their own channel
that always repeats the emergency line (a refused message may be someone in trouble). Counts live
in Redis when `REDIS_URL` is set, so every replica enforces one limit per sender; otherwise, or
while Redis is unreachable, each process counts on its own (see docs/production.md). Logs never
contain the message text, and name the sender only by a short hash; a message whose handling
fails gets an apology instead of silence (and no log line quoting it, as Rasa's REST channel does).
"""
from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage

from bot import rate_limits
from bot.channels.handoff_watch import watch_handoff
from bot.channels.payloads import neutralise_injection
from bot.client_address import is_loopback
from bot.rate_limits import Windows
from bot.settings import Settings, get_settings

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 60.0
# Set by our REST and socket.io connectors from the request (never by the client), popped here.
CLIENT_ADDRESS_KEY = "_fsgs_client_address"
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


class RateLimiter:
    """Messages per sender and per client address in a sliding minute (`bot.rate_limits`).

    The address is known only for REST and socket.io, whose requests come from the users
    themselves. Telegram and Slack requests all come from the platforms' servers (and are
    authenticated by a secret or a signature), so they are limited per sender only: a per-address
    limit there would throttle a whole platform. So are clients on this machine (loopback): the
    tests, benchmarks and `fsgs-bot shell`, or every patient at once if a local proxy is not in
    TRUSTED_PROXIES; lumping those together would refuse everybody.
    """

    def __init__(self, settings: Settings, windows: Windows | None = None):
        self.per_sender = settings.rate_limit_per_minute
        self.per_address = settings.rate_limit_per_address_per_minute
        self.windows = windows or rate_limits.windows(settings, "rate", WINDOW_SECONDS)

    async def allow(self, sender_key: str, address: str | None = None) -> str | None:
        """None if the message may be processed, else what was exceeded ("address" or "sender").
        A message refused for its sender does not use up its address's allowance."""
        address_hit = None
        if address is not None and not is_loopback(address):
            address_hit = await self.windows.hit(f"address:{address}", self.per_address)
            if not address_hit.allowed:
                return "address"
        if not (await self.windows.hit(f"sender:{sender_key}", self.per_sender)).allowed:
            if address_hit is not None:
                await self.windows.release(f"address:{address}", address_hit.token)
            return "sender"
        return None


@functools.cache
def shared_limiter(settings: Settings) -> RateLimiter:
    """One limiter per process for all channels, so an address's REST and widget messages count
    together."""
    return RateLimiter(settings)


def address_metadata(address: str) -> dict[str, Any]:
    """UserMessage metadata from our REST and socket.io connectors: the request's client address,
    for the guard, which removes it again (it never reaches the tracker)."""
    return {CLIENT_ADDRESS_KEY: address}


def guard_messages(on_new_message: Handler, settings: Settings | None = None,
                   limiter: RateLimiter | None = None) -> Handler:
    """`on_new_message` behind the size and rate limits (wrap it in an input channel's blueprint)."""
    settings = settings or get_settings()
    limiter = limiter or shared_limiter(settings)
    on_new_message = watch_handoff(on_new_message)  # red flags still answered while staff hold the chat

    async def guarded(message: UserMessage) -> Any:
        key = f"{message.input_channel}:{message.sender_id}"
        address = None
        if isinstance(message.metadata, dict):
            address = message.metadata.pop(CLIENT_ADDRESS_KEY, None)
            message.metadata = message.metadata or None
        exceeded = await limiter.allow(key, address)
        if exceeded:
            logger.info("Message refused: over the per-%s limit a minute (sender %s)", exceeded,
                        sender_hash(key))
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
