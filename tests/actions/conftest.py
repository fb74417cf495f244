"""Action tests in the rasa-demo style: `Tracker.from_dict`, a `CollectingDispatcher`, no server,
and a real SQLite handoff store in tmp_path behind an injected `Handoff`."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.queue import Handoff
from bot.settings import PROJECT_ROOT, load_settings

EMERGENCY_NUMBER = "the test emergency line 0100"
# A Saturday: outside "mon-fri" hours whatever the spec's times are.
SATURDAY_NOON = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The project's real domain, as the action server receives it."""
    from rasa.shared.core.domain import Domain

    return Domain.load(str(PROJECT_ROOT / "domain")).as_dict()


def make_handoff(tmp_path: Path, *, clock: datetime | None = None, schema: bool = True,
                 **env: str) -> Handoff:
    variables = {"FSGS_VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}",
                 "STAFFED_HOURS": "always", "EMERGENCY_NUMBER": EMERGENCY_NUMBER,
                 "RASA_AUTH_TOKEN": "t", "WEB_SECRET_KEY": "k", **env}
    handoff = Handoff.from_settings(load_settings(variables))
    if schema:
        handoff.store.create_schema()
    if clock is not None:
        handoff.clock = lambda: clock
    return handoff


def user_event(text: str, intent: str, *, message_id: str | None = None) -> dict[str, Any]:
    return {"event": "user", "text": text, "input_channel": "rest",
            "message_id": message_id or uuid.uuid4().hex,
            "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text}}


def tracker(text: str, intent: str, *, sender: str | None = None, slots: dict[str, Any] | None = None,
            active_loop: str | None = None, earlier: list[dict[str, Any]] | None = None,
            after: list[dict[str, Any]] | None = None) -> Tracker:
    """The tracker an action sees right after the user's message `text` (`after`: events between
    that message and the action, e.g. the form's own ActionExecuted)."""
    latest = user_event(text, intent)
    events = [*(earlier or []), {"event": "action", "name": "action_listen"}, latest, *(after or [])]
    return Tracker.from_dict({
        "sender_id": sender or f"user-{uuid.uuid4().hex[:8]}",
        "slots": slots or {}, "latest_message": {**latest["parse_data"], "message_id": latest["message_id"]},
        "events": events, "paused": False,
        "followup_action": None, "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action_name": "action_listen"})


def run(action, current: Tracker, domain: dict[str, Any]):
    """Runs the action; (events, texts, response names) it produced."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, current, domain))
    texts = [m.get("text") for m in dispatcher.messages if m.get("text")]
    responses = [m.get("response") for m in dispatcher.messages if m.get("response")]
    return events, texts, responses
