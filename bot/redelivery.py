"""A REST message that nginx hands to a second replica is handled, and recorded, once.

nginx retries a POST on the next replica when the first one fails with the request
(`proxy_next_upstream error non_idempotent`, deploy/nginx.conf.template): a replica killed while
it works on a message. Rasa saves the conversation once, after the whole turn; a replica that died
after that save but before its response left had handled the message already, and handling it
again would record (and answer, and escalate) it twice.

nginx sends the same `X-Request-ID` to every replica it tries. The REST channel turns it into the
message's id (`message_id`: derived from the conversation and the text too, so no two
conversations or messages share one even if a client reuses a header of its own, and the handoff
queue's idempotent `request_id`, which is this id, never drops a different message). Before Rasa
handles a message with such an id, `handle_message_once` (installed on Rasa's `MessageProcessor`
by `bot.rasa_patches`, so it runs under the conversation lock, like the turn) looks for it among
the conversation's latest user messages; if it is there (with the same text), the replies
recorded after it are sent instead.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

logger = logging.getLogger(__name__)
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[0-9A-Za-z-]{16,64}$")
PREFIX = "fwd-"


def message_id(conversation_id: str, request_id: str | None, text: str) -> str | None:
    """The id a forwarded request's message gets (None: no usable request id, Rasa makes one)."""
    if not request_id or not _REQUEST_ID.match(request_id):
        return None
    key = "\n".join((conversation_id, request_id, text))
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return PREFIX + digest[:40]


def is_forwarded(message: UserMessage) -> bool:
    return bool(message.message_id) and message.message_id.startswith(PREFIX)


def recording_store(tracker_store: Any) -> Any:
    """The store under Rasa's wrappers (FailSafe, Awaitable) that can look up recorded replies."""
    while not hasattr(tracker_store, "recorded_replies") and hasattr(tracker_store, "_tracker_store"):
        tracker_store = tracker_store._tracker_store
    return tracker_store if hasattr(tracker_store, "recorded_replies") else None


Handle = Callable[[Any, UserMessage], Awaitable[Any]]


def handle_message_once(handle_message: Handle) -> Handle:
    """Rasa's `MessageProcessor.handle_message`, answering a repeated forwarded message from the
    record (see the module docstring)."""

    @functools.wraps(handle_message)
    async def handle(processor: Any, message: UserMessage) -> Any:
        if is_forwarded(message):
            replies = await _recorded_replies(processor.tracker_store, message)
            if replies is not None:
                logger.info("Message %s was handled by a replica that failed before answering; "
                            "sending the %d recorded replies", message.message_id, len(replies))
                for reply in replies:
                    await message.output_channel.send_response(message.sender_id, reply)
                if isinstance(message.output_channel, CollectingOutputChannel):
                    return message.output_channel.messages
                return None
        return await handle_message(processor, message)

    handle.handles_repeats = True  # type: ignore[attr-defined]
    return handle


async def _recorded_replies(tracker_store: Any, message: UserMessage) -> list[dict[str, Any]] | None:
    store = recording_store(tracker_store)
    if store is None:
        return None
    try:
        recorded = await store.recorded_replies(message.sender_id, message.message_id)
    except Exception:  # the turn itself will meet the same outage, with Rasa's handling of it
        logger.exception("Could not look for an earlier delivery of message %s", message.message_id)
        return None
    if recorded is None or recorded[0] != message.text:
        return None
    return recorded[1]
