"""Simulated patients for end-to-end tests."""
from __future__ import annotations

import asyncio
import uuid

import socketio


class SocketUser:
    """A patient on the website widget's channel: python-socketio with session persistence."""

    def __init__(self, url: str):
        self.url = url
        self.session_id = uuid.uuid4().hex
        self.client = socketio.AsyncClient()
        self.received: asyncio.Queue = asyncio.Queue()
        self.client.on("bot_uttered", self.received.put_nowait)

    async def connect(self) -> None:
        confirmed = asyncio.Event()
        self.client.on("session_confirm", lambda *_: confirmed.set())
        await self.client.connect(self.url, transports=["websocket"])
        await self.client.emit("session_request", {"session_id": self.session_id})
        await asyncio.wait_for(confirmed.wait(), 10)

    async def say(self, text: str) -> None:
        await self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})

    async def next_message(self, timeout: float = 30) -> dict:
        return await asyncio.wait_for(self.received.get(), timeout)

    async def drain(self, quiet_for: float = 3.0) -> list:
        """Everything that arrives until nothing has come for `quiet_for` seconds."""
        messages = []
        while True:
            try:
                messages.append(await asyncio.wait_for(self.received.get(), quiet_for))
            except asyncio.TimeoutError:
                return messages
