"""Rasa's REST channel, plus the two things this project needs from it.

REST users only ever get replies in the HTTP response, so staff messages cannot be pushed to them:
the ones waiting in the handoff store are handed over, oldest first, the next time the user writes.
Requests that are not a JSON object with a string `sender` and `message` get a 400, not a 500.
Size and rate limits and `/intent` neutralising: `bot.channels.guard`, as for every channel.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import re
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels import rest
from rasa.core.channels.channel import UserMessage
from sanic import Blueprint
from sanic.exceptions import InvalidUsage
from sanic.request import Request

from bot.channels.guard import address_metadata, guard_messages
from bot.client_address import request_client_address
from bot.handoff.delivery import CARE_TEAM_LABEL
from bot.handoff.store import HandoffError, HandoffStore
from bot.settings import get_settings

logger = logging.getLogger(__name__)
# Conversation ids must be addressable in Rasa's HTTP API path (/conversations/<id>/...), where the
# staff desk pauses, resumes and pushes: no "/", whitespace or control characters.
SENDER_ID = re.compile(r"^[A-Za-z0-9_.:@+=-]{1,200}$")


@functools.lru_cache(maxsize=1)
def _store() -> HandoffStore:
    return HandoffStore.from_url(get_settings().database_url)


def _json_object(request: Request) -> dict:
    payload = request.json
    if not isinstance(payload, dict):
        raise InvalidUsage("Expected a JSON object with 'sender' and 'message'.")
    return payload


def _take_pending(sender_id: Text) -> list:
    """Staff messages waiting for this user, marked delivered as they are handed over."""
    store = _store()
    messages = store.pending_messages(sender_id)
    for message in messages:
        store.mark_delivered(message.id)
    return messages


async def hand_over_pending(message: UserMessage) -> None:
    try:
        pending = await asyncio.to_thread(_take_pending, message.sender_id)
    except HandoffError as exc:
        logger.warning("Could not read pending staff messages: %s", exc)
        return
    for staff_message in pending:
        await message.output_channel.send_text_message(
            message.sender_id, f"{CARE_TEAM_LABEL}: {staff_message.text}")


class RestInput(rest.RestInput):
    """`rest` channel with pending staff messages and strict payload checks."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        async def with_pending_first(message: UserMessage) -> None:
            await hand_over_pending(message)
            await on_new_message(message)

        return super().blueprint(guard_messages(with_pending_first))

    async def _extract_sender(self, req: Request) -> Text:
        sender = _json_object(req).get("sender")
        if not isinstance(sender, str) or not SENDER_ID.match(sender):
            raise InvalidUsage("'sender' must be 1-200 letters, digits or _.:@+=- characters.")
        return sender

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        """Only the client's address, for the guard's per-address limit (which removes it)."""
        return address_metadata(request_client_address(request, get_settings().trusted_proxies))

    def _extract_message(self, req: Request) -> Text:
        message = _json_object(req).get("message")
        if not isinstance(message, str):
            raise InvalidUsage("'message' must be a string.")
        return message
