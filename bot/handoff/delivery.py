"""What the staff desk needs from the conversation engine, without knowing which engine it is.

`Conversations` is the desk's view of the chat side: pause, resume, push and read a transcript.
The one implementation is `bot.rasa_api.RasaClient`; the handoff package never imports it, so the
queue, its rules and its tests stay free of Rasa. Staff messages in transcripts come from the
handoff store (the record, with delivery state); the engine's transcript holds user and bot lines.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

CARE_TEAM_LABEL = "Care team"


class DeliveryError(Exception):
    """The conversation engine could not be reached or refused the request; nothing is lost: the
    caller keeps the staff message pending (the background retry sends it later)."""


@dataclass(frozen=True)
class TranscriptLine:
    role: str  # "user", "bot" or "staff"
    text: str
    at: datetime
    author: str | None = None
    delivered: bool | None = None  # staff messages only
    buttons: tuple[tuple[str, str], ...] = ()  # bot messages: (title, payload), for the widget


class Conversations(Protocol):
    """The chat side of a handoff. Every method raises `DeliveryError` when it cannot do its job."""

    async def pause(self, conversation_id: str) -> None:
        """Stop the bot answering this conversation."""

    async def resume(self, conversation_id: str) -> None:
        """Let the bot answer again (idempotent)."""

    async def is_paused(self, conversation_id: str) -> bool:
        """Whether the bot is currently paused for this conversation."""

    async def push_channel(self, conversation_id: str) -> str | None:
        """The channel a push would use, or None if the user's channel takes no pushes (they get
        staff messages when they next write)."""

    async def push(self, conversation_id: str, text: str, staff: str,
                   channel: str | None = None) -> bool:
        """Send a staff message on the user's channel; False if that channel takes no pushes."""

    async def transcript(self, conversation_id: str) -> list[TranscriptLine]:
        """User and bot lines, oldest first (staff lines excluded: the store has them)."""
