"""Rasa's socket.io connector (the website widget) without conversation hijacking.

With `session_persistence`, Rasa uses whatever `session_id` a browser sends as the conversation id,
and conversation ids are shared by all channels. Anyone could then write into, and receive the care
team's replies for, a Telegram chat (its numeric chat id) or a Slack user (their `U...` id) just by
naming it. Here a session id must look like one the widget creates (32 hex characters, 128 random
bits), anything else gets a fresh one; each socket's messages go to the session it confirmed,
whatever the message says; and client-supplied `metadata` is dropped (notes: never trust it).

Messages pass the size and rate limits of `bot.channels.guard` (per session and per client
address: the address of the request that opened the socket). With `REDIS_URL` set, the server
uses python-socketio's Redis client manager, so an emit from any replica (a reply, or a staff
message pushed through Rasa's HTTP API) reaches the socket wherever it is connected.
"""
from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import socketio as python_socketio
from rasa.core.channels import socketio
from rasa.core.channels.channel import UserMessage
from sanic import Blueprint

from bot.channels.guard import address_metadata, guard_messages
from bot.client_address import request_client_address
from bot.ids import SESSION_ID
from bot.settings import get_settings

PING_TIMEOUT_SECONDS = 60


class SocketIOInput(socketio.SocketIOInput):
    """socket.io with server-checked session ids (credentials.yml: bot.channels.socketio.SocketIOInput)."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(guard_messages(on_new_message))
        sio = self.sio
        _share_through_redis(sio)
        # Rasa handles messages on the event loop, so under overload a heartbeat can wait longer
        # than engine.io's 20 s default and the socket is dropped with the replies emitted
        # meanwhile (measured at 200 users on 2 replicas). Dead clients are noticed a bit later.
        sio.eio.ping_timeout = PING_TIMEOUT_SECONDS
        handlers = sio.handlers[self.namespace or "/"]
        confirm_session = handlers["session_request"]
        handle_message = handlers[self.user_message_evt]

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: dict | None) -> None:
            requested = data.get("session_id") if isinstance(data, dict) else None
            session_id = requested if isinstance(requested, str) and SESSION_ID.fullmatch(requested) \
                else uuid.uuid4().hex
            await sio.save_session(sid, {"session_id": session_id}, namespace=self.namespace)
            await confirm_session(sid, {"session_id": session_id})

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def user_message(sid: str, data: Any) -> None:
            session = await sio.get_session(sid, namespace=self.namespace)
            text = data.get("message") if isinstance(data, dict) else None
            if "session_id" in session and isinstance(text, str):
                await handle_message(sid, {"message": text, "session_id": session["session_id"],
                                           "metadata": address_metadata(_address(sid))})

        def _address(sid: str) -> str:
            """The address of the request that opened this socket (engine.io's own REMOTE_ADDR
            for Sanic is always 127.0.0.1)."""
            request = (sio.get_environ(sid, namespace=self.namespace) or {}).get("sanic.request")
            return request_client_address(request, get_settings().trusted_proxies) if request \
                else "unknown"

        return blueprint


def _share_through_redis(sio: python_socketio.AsyncServer) -> None:
    """Swap in the Redis client manager when REDIS_URL is set. Rasa builds the AsyncServer itself
    without a `client_manager` argument; replacing the manager before any client has connected is
    what that argument does (`Server.__init__`: `self.manager = ...; manager.set_server(self)`)."""
    settings = get_settings()
    if settings.redis_url:
        sio.manager = python_socketio.AsyncRedisManager(
            settings.redis_url, channel=f"{settings.redis_key_prefix}:socketio")
        sio.manager.set_server(sio)
