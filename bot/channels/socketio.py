"""Rasa's socket.io connector (the website widget) without conversation hijacking.

With `session_persistence`, Rasa uses whatever `session_id` a browser sends as the conversation id,
and conversation ids are shared by all channels. Anyone could then write into, and receive the care
team's replies for, a Telegram chat (its numeric chat id) or a Slack user (their `U...` id) just by
naming it. Here a session id must look like one the widget creates (32 hex characters, 128 random
bits), anything else gets a fresh one; each socket's messages go to the session it confirmed,
whatever the message says; and client-supplied `metadata` is dropped (notes: never trust it).
"""
from __future__ import annotations

import re
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels import socketio
from rasa.core.channels.channel import UserMessage
from sanic import Blueprint

SESSION_ID = re.compile(r"[0-9a-f]{32}")


class SocketIOInput(socketio.SocketIOInput):
    """socket.io with server-checked session ids (credentials.yml: bot.channels.socketio.SocketIOInput)."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        sio = self.sio
        handlers = sio.handlers[self.namespace or "/"]
        confirm_session = handlers["session_request"]
        handle_message = handlers[self.user_message_evt]

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            requested = data.get("session_id") if isinstance(data, dict) else None
            session_id = requested if isinstance(requested, str) and SESSION_ID.fullmatch(requested) \
                else uuid.uuid4().hex
            await sio.save_session(sid, {"session_id": session_id}, namespace=self.namespace)
            await confirm_session(sid, {"session_id": session_id})

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def user_message(sid: Text, data: Any) -> None:
            session = await sio.get_session(sid, namespace=self.namespace)
            text = data.get("message") if isinstance(data, dict) else None
            if "session_id" in session and isinstance(text, str):
                await handle_message(sid, {"message": text, "session_id": session["session_id"]})

        return blueprint
