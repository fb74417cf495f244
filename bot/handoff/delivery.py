"""Client for the Rasa HTTP API calls that human handoff needs: pause, resume, push, transcript.

Staff messages are appended as `bot` events with `output_channel=latest&execute_side_effects=true`
(see shared/rasa-notes.md): Rasa sends them through the user's latest channel even while the
conversation is paused, under the conversation lock. Channels without an output channel (`rest`)
cannot receive pushes: nothing is appended for them, and their users get pending staff messages
the next time they write (`bot.channels.rest`). Staff messages in transcripts come from the handoff
store (the record, with delivery state), so tracker events tagged as staff are skipped here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote

import aiohttp

# Input channels whose connector implements get_output_channel() in this project.
PUSH_CHANNELS = frozenset({"socketio", "telegram", "slack"})
STAFF_METADATA_KEY = "fsgs_staff"
CARE_TEAM_LABEL = "Care team"


class DeliveryError(Exception):
    """Rasa could not be reached or refused the request; the caller keeps the message pending."""


@dataclass(frozen=True)
class TranscriptLine:
    role: str  # "user", "bot" or "staff"
    text: str
    at: datetime
    author: Optional[str] = None
    delivered: Optional[bool] = None  # staff messages only
    buttons: Tuple[Tuple[str, str], ...] = ()  # bot messages: (title, payload), for the widget


def staff_event(text: str, staff: str, channel: Optional[str]) -> Dict[str, Any]:
    """A `bot` event carrying a staff message, shaped for the channel that will show it.

    The widget labels care-team messages from a custom payload; socket.io forwards a custom payload
    only as `{"data": ...}`. Other channels get plain text with a visible "Care team:" prefix.
    """
    event: Dict[str, Any] = {"event": "bot", "metadata": {STAFF_METADATA_KEY: staff}}
    if channel == "socketio":
        event["data"] = {"custom": {"data": {"text": text, "from_care_team": True,
                                             "staff_name": CARE_TEAM_LABEL}}}
    else:
        event["text"] = f"{CARE_TEAM_LABEL}: {text}"
    return event


def transcript_from_events(events: List[Dict[str, Any]]) -> List[TranscriptLine]:
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
    """The few Rasa HTTP API endpoints the handoff path uses, authenticated with the API token."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    def _url(self, conversation_id: str, path: str) -> str:
        return f"{self.base_url}/conversations/{quote(conversation_id, safe='')}/{path}"

    async def _request(self, method: str, url: str, params: Dict[str, str],
                       body: Any = None) -> Dict[str, Any]:
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async with session.request(method, url, params={**params, "token": self.token},
                                           json=body) as response:
                    if response.status >= 400:
                        raise DeliveryError(f"Rasa answered {response.status}: "
                                            f"{(await response.text())[:300]}")
                    return await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"Rasa is unreachable at {self.base_url}: {exc}") from exc

    async def tracker(self, conversation_id: str, events: str = "ALL") -> Dict[str, Any]:
        """The conversation's state; `events="NONE"` when only fields like the channel are needed."""
        return await self._request("GET", self._url(conversation_id, "tracker"),
                                   {"include_events": events})

    async def _append(self, conversation_id: str, events: List[Dict[str, Any]],
                      **params: str) -> Dict[str, Any]:
        return await self._request("POST", self._url(conversation_id, "tracker/events"),
                                   params, events)

    async def pause(self, conversation_id: str) -> None:
        await self._append(conversation_id, [{"event": "pause"}])

    async def resume(self, conversation_id: str) -> None:
        await self._append(conversation_id, [{"event": "resume"}])

    async def push(self, conversation_id: str, text: str, staff: str) -> bool:
        """Send a staff message on the user's latest channel; False if that channel takes no pushes."""
        channel = (await self.tracker(conversation_id, events="NONE")).get("latest_input_channel")
        if channel not in PUSH_CHANNELS:
            return False
        await self._append(conversation_id, [staff_event(text, staff, channel)],
                           output_channel="latest", execute_side_effects="true")
        return True

    async def transcript(self, conversation_id: str) -> List[TranscriptLine]:
        return transcript_from_events((await self.tracker(conversation_id)).get("events") or [])
