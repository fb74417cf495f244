"""Rasa's REST channel, made safe to expose: its own id namespace, and staff messages handed over.

- REST users are anonymous: anyone can post any `sender`. Their conversations therefore live in
  their own namespace, `rest:<sender>` (`conversation_id`), so posting as a Telegram chat id or a
  Slack user id never touches that person's conversation (nor makes `rest` its latest channel,
  which would hold the care team's replies back and then hand them to whoever posts next). The
  response's `recipient_id` is the `sender` the client posted, as with Rasa's own channel.
- Nothing else in the body is trusted: the input channel is always `rest` and client `metadata`
  is dropped (it is stored in the tracker, where staff tags live).
- REST users only ever get replies in the HTTP response, so staff messages cannot be pushed to
  them: the ones waiting in the handoff store are claimed for this request (atomically: two
  concurrent requests never both get a message), put first in the response, and marked delivered
  once the response is built. If answering fails they are given back, for the next request.
- Requests that are not a JSON object with a string `sender` and `message` get a 400, not a 500;
  `?stream=true` is not offered (a stream cannot hand staff messages over reliably).
- A request nginx retried on a second replica (the first died with it) keeps one message id, so
  it is handled once (`bot.redelivery`).
- Size and rate limits and `/intent` neutralising: `bot.channels.guard`, as for every channel;
  the guard alone gets the request's client address, for its per-address limit.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels import rest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import redelivery
from bot.channels.guard import address_metadata, guard_messages
from bot.client_address import request_client_address
from bot.handoff.delivery import CARE_TEAM_LABEL
from bot.handoff.store import HandoffError, HandoffStore, StaffMessageView
from bot.settings import get_settings

logger = logging.getLogger(__name__)
# Conversation ids must be addressable in Rasa's HTTP API path (/conversations/<id>/...), where the
# staff desk pauses, resumes and pushes: no "/", whitespace or control characters.
SENDER_ID = re.compile(r"^[A-Za-z0-9_.:@+=-]{1,200}$")
NAMESPACE = "rest:"


def conversation_id(sender: str) -> str:
    """The conversation a REST `sender` writes in."""
    return NAMESPACE + sender


@functools.lru_cache(maxsize=1)
def _store() -> HandoffStore:
    return HandoffStore.from_url(get_settings().database_url)


def _json_object(request: Request) -> dict:
    payload = request.json
    if not isinstance(payload, dict):
        raise InvalidUsage("Expected a JSON object with 'sender' and 'message'.")
    return payload


def _sender(payload: dict) -> str:
    sender = payload.get("sender")
    if not isinstance(sender, str) or not SENDER_ID.match(sender):
        raise InvalidUsage("'sender' must be 1-200 letters, digits or _.:@+=- characters.")
    return sender


def _message(payload: dict) -> str:
    message = payload.get("message")
    if not isinstance(message, str):
        raise InvalidUsage("'message' must be a string.")
    return message


class StaffHandover:
    """The staff messages one REST request hands over (see the module docstring)."""

    def __init__(self, store: Callable[[], HandoffStore] = _store):
        self.store = store

    async def claim(self, conversation: str) -> list[StaffMessageView]:
        try:
            return await asyncio.to_thread(self.store().claim_pending, conversation)
        except HandoffError as exc:
            logger.warning("Could not read pending staff messages: %s", exc)
            return []

    async def delivered(self, messages: list[StaffMessageView]) -> None:
        """After the response is built. If the store is down now, the claims lapse after the
        store's lease and the messages are handed over again: twice rather than never."""
        try:
            for message in messages:
                await asyncio.to_thread(self.store().mark_delivered, message.id)
        except HandoffError as exc:
            logger.warning("Could not mark staff messages delivered: %s", exc)

    async def give_back(self, messages: list[StaffMessageView]) -> None:
        try:
            await asyncio.to_thread(self.store().release, [m.id for m in messages])
        except HandoffError as exc:
            logger.warning("Could not give staff messages back: %s", exc)


class RestInput(rest.RestInput):
    """`rest` channel: namespaced ids, no client-chosen channel or metadata, staff hand-over."""

    handover = StaffHandover()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        guarded = guard_messages(on_new_message)
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            payload = _json_object(request)
            sender, text = _sender(payload), _message(payload)
            if bool_arg(request, "stream", default=False):
                raise InvalidUsage("Streaming responses are not offered on this channel.")
            address = request_client_address(request, get_settings().trusted_proxies)
            return await self._answer(guarded, sender, text, address,
                                      request.headers.get(redelivery.REQUEST_ID_HEADER))

        return webhook

    async def _answer(self, guarded: Callable[[UserMessage], Awaitable[Any]], sender: str,
                      text: str, address: str, request_id: str | None = None) -> HTTPResponse:
        conversation = conversation_id(sender)
        staff_messages = await self.handover.claim(conversation)
        collector = CollectingOutputChannel()
        try:
            for staff_message in staff_messages:
                await collector.send_text_message(conversation,
                                                  f"{CARE_TEAM_LABEL}: {staff_message.text}")
            # The guard answers any failure with an apology; a cancelled request (the client
            # left) raises here and the staff messages go back for the next request.
            await guarded(UserMessage(text, collector, conversation, input_channel=self.name(),
                                      metadata=address_metadata(address),
                                      message_id=redelivery.message_id(conversation, request_id, text)))
            answer = response.json([_for_client(m, sender) for m in collector.messages])
        except BaseException:
            await asyncio.shield(self.handover.give_back(staff_messages))
            raise
        await self.handover.delivered(staff_messages)
        return answer

    # Rasa's other entry points into a request, in case anything calls them: same rules.
    async def _extract_sender(self, req: Request) -> str:
        return conversation_id(_sender(_json_object(req)))

    def _extract_message(self, req: Request) -> str:
        return _message(_json_object(req))

    def _extract_input_channel(self, req: Request) -> str:
        return self.name()

    def get_metadata(self, request: Request) -> None:
        return None


def _for_client(message: dict[str, Any], sender: str) -> dict[str, Any]:
    return {**message, "recipient_id": sender}
