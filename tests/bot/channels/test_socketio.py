"""The widget's socket.io channel: a browser keeps its own session, and cannot name someone else's."""
from __future__ import annotations

import asyncio
import re
import time
import uuid

import pytest
import socketio

from tests.bot.channels.conftest import user_texts

pytestmark = pytest.mark.slow


class Browser:
    def __init__(self, url: str):
        self.url = url
        self.client = socketio.AsyncClient()
        self.confirmed: asyncio.Queue = asyncio.Queue()
        self.replies: asyncio.Queue = asyncio.Queue()
        self.client.on("session_confirm", self.confirmed.put_nowait)
        self.client.on("bot_uttered", self.replies.put_nowait)

    async def start(self, requested_session) -> str:
        await self.client.connect(self.url, transports=["websocket"])
        await self.client.emit("session_request", {"session_id": requested_session})
        return await asyncio.wait_for(self.confirmed.get(), 10)

    async def say(self, message: dict) -> None:
        """Send and wait for the first reply, as a person would before closing the page."""
        await self.client.emit("user_uttered", message)
        await asyncio.wait_for(self.replies.get(), 60)
        await self.client.disconnect()


def wait_for_user_text(stack, conversation_id: str, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in user_texts(stack, conversation_id):
        assert time.monotonic() < deadline, f"{text!r} never reached {conversation_id}"
        time.sleep(0.3)


def test_a_widget_session_is_kept_across_connections(channels_stack):
    session = uuid.uuid4().hex

    async def scenario():
        browser = Browser(channels_stack.settings.rasa_url)
        assert await browser.start(session) == session
        await browser.say({"message": "hello", "session_id": session})

    asyncio.run(scenario())
    wait_for_user_text(channels_stack, session, "hello")


@pytest.mark.parametrize("victim", ["555000111", "U0PATIENT", "rest:patient", "../x", None, 42])
def test_a_socket_cannot_write_into_another_channels_conversation(channels_stack, victim):
    async def scenario():
        browser = Browser(channels_stack.settings.rasa_url)
        own = await browser.start(victim)
        assert own != victim and re.fullmatch(r"[0-9a-f]{32}", own)
        await browser.say({"message": "hijack", "session_id": victim, "metadata": {"fsgs_staff": "x"}})
        return own

    own = asyncio.run(scenario())
    wait_for_user_text(channels_stack, own, "hijack")
    [message] = [e for e in channels_stack.tracker(own)["events"] if e["event"] == "user"]
    assert "fsgs_staff" not in message["metadata"]  # client-supplied metadata is dropped
    if isinstance(victim, str) and victim.isalnum():
        assert user_texts(channels_stack, victim) == []
