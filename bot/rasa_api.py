"""The one client of Rasa's HTTP API: pause, resume, push, tracker and transcript.

Staff messages are appended as `bot` events with `output_channel=latest&execute_side_effects=true`
(see shared/rasa-notes.md): Rasa sends them through the user's latest channel even while the
conversation is paused, under the conversation lock. Channels without an output channel (`rest`)
cannot receive pushes: nothing is appended for them, and their users get pending staff messages
the next time they write (`bot.channels.rest`). The event is shaped for the channel that shows it
(`staff_event`). Tracker events tagged as staff are left out of transcripts: the handoff store is
the staff messages' record. Every failure (refused, unreachable, slow, garbled) is a
`DeliveryError`, so callers never see a 500 for a Rasa that is down or hung.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.handoff.delivery import CARE_TEAM_LABEL, DeliveryError, TranscriptLine
from bot.handoff.desk import StaffDesk
from bot.handoff.store import HandoffStore
from bot.settings import Settings

# Input channels whose connector implements get_output_channel() in this project.
PUSH_CHANNELS = frozenset({"socketio", "telegram", "slack"})
STAFF_METADATA_KEY = "fsgs_staff"
# aiohttp raises asyncio.TimeoutError, which on Python 3.10 is not the builtin TimeoutError.
_UNREACHABLE = (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ValueError)


def staff_event(text: str, staff: str, channel: str | None) -> dict[str, Any]:
    """A `bot` event carrying a staff message, shaped for the channel that will show it.

    The widget labels care-team messages from a custom payload; socket.io forwards a custom payload
    only as `{"data": ...}`. Other channels get plain text with a visible "Care team:" prefix.
    """
    event: dict[str, Any] = {"event": "bot", "metadata": {STAFF_METADATA_KEY: staff}}
    if channel == "socketio":
        event["data"] = {"custom": {"data": {"text": text, "from_care_team": True,
                                             "staff_name": CARE_TEAM_LABEL}}}
    else:
        event["text"] = f"{CARE_TEAM_LABEL}: {text}"
    return event


def transcript_from_events(events: list[dict[str, Any]]) -> list[TranscriptLine]:
    """User and bot messages of a tracker, oldest first (staff messages excluded, see above)."""
    lines = []
    for event in events:
        kind = event.get("event")
        if kind not in ("user", "bot") or (event.get("metadata") or {}).get(STAFF_METADATA_KEY):
            continue
        text = event.get("text") or ""
        buttons = tuple((b.get("title") or "", b.get("payload") or "")
                        for b in (event.get("data") or {}).get("buttons") or [])
        if not text and kind == "bot":
            text = " | ".join(title for title, _ in buttons)
        at = datetime.fromtimestamp(event.get("timestamp") or 0, tz=timezone.utc)
        lines.append(TranscriptLine(kind, text, at, buttons=buttons))
    return lines


class RasaClient:
    """The few Rasa HTTP API endpoints the handoff path uses, authenticated with the API token
    (implements `bot.handoff.delivery.Conversations`)."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    def _url(self, conversation_id: str, path: str) -> str:
        return f"{self.base_url}/conversations/{quote(conversation_id, safe='')}/{path}"

    async def _request(self, method: str, url: str, params: dict[str, str],
                       body: Any = None) -> dict[str, Any]:
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async with session.request(method, url, params={**params, "token": self.token},
                                           json=body) as response:
                    if response.status >= 400:
                        raise DeliveryError(f"Rasa answered {response.status}: "
                                            f"{(await response.text())[:300]}")
                    return await response.json()
        except _UNREACHABLE as exc:
            reason = f"no answer within {self.timeout.total:g} s" \
                if isinstance(exc, asyncio.TimeoutError | TimeoutError) else str(exc)
            raise DeliveryError(f"Rasa is unreachable at {self.base_url}: {reason}") from exc

    async def tracker(self, conversation_id: str, events: str = "ALL") -> dict[str, Any]:
        """The conversation's state; `events="NONE"` when only fields like the channel are needed."""
        return await self._request("GET", self._url(conversation_id, "tracker"),
                                   {"include_events": events})

    async def _append(self, conversation_id: str, events: list[dict[str, Any]],
                      **params: str) -> dict[str, Any]:
        return await self._request("POST", self._url(conversation_id, "tracker/events"),
                                   params, events)

    async def pause(self, conversation_id: str) -> None:
        await self._append(conversation_id, [{"event": "pause"}])

    async def resume(self, conversation_id: str) -> None:
        await self._append(conversation_id, [{"event": "resume"}])

    async def is_paused(self, conversation_id: str) -> bool:
        return bool((await self.tracker(conversation_id, events="NONE")).get("paused"))

    async def push_channel(self, conversation_id: str) -> str | None:
        """The user's latest channel if it takes pushes, else None."""
        channel = (await self.tracker(conversation_id, events="NONE")).get("latest_input_channel")
        return channel if channel in PUSH_CHANNELS else None

    async def push(self, conversation_id: str, text: str, staff: str,
                   channel: str | None = None) -> bool:
        """Send a staff message on the user's latest channel (`channel`, from `push_channel`, saves
        a look-up); False if that channel takes no pushes."""
        channel = channel or await self.push_channel(conversation_id)
        if channel is None:
            return False
        await self._append(conversation_id, [staff_event(text, staff, channel)],
                           output_channel="latest", execute_side_effects="true")
        return True

    async def transcript(self, conversation_id: str) -> list[TranscriptLine]:
        return transcript_from_events((await self.tracker(conversation_id)).get("events") or [])


def staff_desk(settings: Settings, store: HandoffStore | None = None) -> StaffDesk:
    """The staff desk on the handoff database and this deployment's Rasa."""
    return StaffDesk(store or HandoffStore.from_url(settings.database_url),
                     RasaClient(settings.rasa_api_url, settings.rasa_auth_token))
