"""What the Rasa process does itself, so a stopped, slow or hung action server never silences the bot.

- Session start is Rasa's own action plus the disclaimer: a new conversation needs no action server.
- Every custom action call has a short deadline (`ACTION_TIMEOUT_SECONDS`; Rasa's own is 5 minutes,
  holding the conversation's lock meanwhile). When a call fails or times out the patient gets an
  honest reply that always repeats the emergency line, and once a call has failed in a turn the
  turn's other calls fail at once instead of each waiting again.
- An escalation whose call failed is written to the handoff outbox here, with the request id the
  action would have used (Rasa's message id), and replayed into the store at once in the
  background. If the action server runs the same call later (it was hung, not dead), the store
  sees that request id again and changes nothing: the escalation lands exactly once.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from rasa.core.actions.action import ActionExecutionRejection, ActionSessionStart, RemoteAction
from rasa.shared.core.events import BotUttered, ConversationPaused, Event, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa_sdk import Tracker

from actions import queue
from actions.escalation import escalation_reason, request_id, triggering_message
from bot.handoff.outbox import Outbox
from bot.handoff.store import EscalationRequest, HandoffStore
from bot.settings import Settings

logger = logging.getLogger(__name__)

ESCALATION_ACTION = "action_escalate_to_human"


def action_failed_text(settings: Settings) -> str:
    return ("Sorry, part of this service is not working right now, so I could not finish that step. "
            "If you asked for the care team, please send your request again in a few minutes. "
            f"If this is an emergency, call {settings.emergency_number} now.")


def escalation_saved_text(settings: Settings) -> str:
    return ("I couldn't reach the care team's queue just now, but your request is saved and will reach "
            "them automatically; the team will follow up. If this is an emergency, call "
            f"{settings.emergency_number} now.")


def escalation_failed_text(settings: Settings) -> str:
    return ("Sorry, I couldn't pass your question to the care team automatically. Please contact your "
            f"kidney care team directly. If someone is very unwell, call {settings.emergency_number} now.")


def _this_turn(tracker: DialogueStateTracker) -> list[Event]:
    events = list(tracker.events)
    starts = [i for i, event in enumerate(events) if isinstance(event, UserUttered)]
    return events[starts[-1] + 1:] if starts else events


def _failed_this_turn(tracker: DialogueStateTracker, settings: Settings) -> bool:
    fallbacks = {action_failed_text(settings), escalation_saved_text(settings),
                 escalation_failed_text(settings)}
    return any(isinstance(e, BotUttered) and e.text in fallbacks for e in _this_turn(tracker))


class Fallbacks:
    """The replies and the escalation spool used when a custom action call fails."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @functools.cached_property
    def _queue(self) -> tuple[HandoffStore, Outbox]:
        return HandoffStore.from_url(self.settings.database_url), Outbox(self.settings.outbox_dir)

    def events(self, action_name: str, tracker: DialogueStateTracker) -> list[Event]:
        if action_name == ESCALATION_ACTION:
            return [BotUttered(self.escalate_offline(tracker))]
        if _failed_this_turn(tracker, self.settings):
            return []                       # the patient already has this turn's apology
        return [BotUttered(action_failed_text(self.settings))]

    def escalate_offline(self, tracker: DialogueStateTracker) -> str:
        """Spool the escalation the action would have made; the text saying what happened."""
        try:
            store, outbox = self._queue
            outbox.put(escalation_request(tracker))
        except Exception:  # noqa: BLE001 - the reply below must go out whatever happened
            logger.exception("Could not save an escalation offline")
            return escalation_failed_text(self.settings)
        threading.Thread(target=self._replay, args=(store, outbox), daemon=True,
                         name="outbox-replay").start()
        return escalation_saved_text(self.settings)

    @staticmethod
    def _replay(store: HandoffStore, outbox: Outbox) -> None:
        try:
            report = outbox.replay(store)
            logger.info("Outbox replayed from the Rasa process: %s", report)
        except Exception:  # noqa: BLE001 - a later replay (next escalation, CLI) applies it
            logger.exception("Outbox replay failed; the requests stay in the outbox")


def escalation_request(tracker: DialogueStateTracker) -> EscalationRequest:
    """The request `action_escalate_to_human` makes, built by its own helpers from the tracker
    state the action server would have received (same reason, message and request id)."""
    state = Tracker.from_dict(tracker.current_state(EventVerbosity.ALL))
    reason = escalation_reason(state)
    return EscalationRequest(
        conversation_id=state.sender_id, channel=queue.channel_of(state), sender_id=state.sender_id,
        reason=reason, message=triggering_message(state, reason), request_id=request_id(state))


def with_deadline(run: Callable[..., Any], settings: Settings, fallbacks: Fallbacks) -> Callable[..., Any]:
    """`RemoteAction.run` bounded by the settings' timeout, a fallback reply instead of silence."""

    @functools.wraps(run)
    async def bounded(self: RemoteAction, output_channel: Any, nlg: Any, tracker: DialogueStateTracker,
                      domain: Any) -> list[Event]:
        if _failed_this_turn(tracker, settings):
            logger.warning("Custom action %s skipped: the action server already failed this turn",
                           self.name())
            return fallbacks.events(self.name(), tracker)
        try:
            return await asyncio.wait_for(run(self, output_channel, nlg, tracker, domain),
                                          settings.action_timeout_seconds)
        except ActionExecutionRejection:
            raise                           # the action declined (e.g. a form slot): Rasa's business
        except Exception as exc:  # noqa: BLE001 - timeout, refused connection, 4xx/5xx alike
            logger.warning("Custom action %s failed (%s); the patient gets a fallback reply",
                           self.name(), _reason(exc))
            return fallbacks.events(self.name(), tracker)

    return bounded


def _reason(exc: BaseException) -> str:
    """Exception types and HTTP status, never their text (a 500 body quotes the conversation)."""
    chain = [exc, *([exc.__cause__] if exc.__cause__ else [])]
    return " from ".join(f"{type(e).__name__}{f' {e.status}' if hasattr(e, 'status') else ''}"
                         for e in chain)


def with_disclaimer(run: Callable[..., Any], disclaimer: Callable[[], str]) -> Callable[..., Any]:
    """Rasa's own session start, preceded by the disclaimer. A session that expires during a
    handoff (the user writes after `session_expiration_time` while staff hold the chat) starts
    paused and silent: `SessionStarted` resets the pause, and the bot would answer mid-handoff."""

    @functools.wraps(run)
    async def session_start(self: ActionSessionStart, output_channel: Any, nlg: Any,
                            tracker: DialogueStateTracker, *args: Any, **kwargs: Any) -> list[Event]:
        events = await run(self, output_channel, nlg, tracker, *args, **kwargs)
        if tracker.is_paused():
            return [event for started in events
                    for event in ((started, ConversationPaused()) if isinstance(started, SessionStarted)
                                  else (started,))]
        return [BotUttered(disclaimer()), *events]

    return session_start


# What the assistant is and is not, first in every conversation (session start).
DISCLAIMER = (
    "Hi, I'm the FSGS information assistant. I share general, sourced information about FSGS. "
    "I am not a doctor and I can't advise on your own case: for that, I can pass your question to "
    "the care team. If someone is very unwell right now, call {emergency_number}.")


def disclaimer_text(settings: Settings) -> str:
    return DISCLAIMER.format(emergency_number=settings.emergency_number)


_installed: Settings | None = None


def install(settings: Settings) -> None:
    """Apply the behaviours above to this Rasa process (once; the entry point calls it)."""
    global _installed
    if _installed is not None:
        return
    RemoteAction.run = with_deadline(RemoteAction.run, settings, Fallbacks(settings))
    ActionSessionStart.run = with_disclaimer(ActionSessionStart.run,
                                             functools.partial(disclaimer_text, settings))
    _installed = settings
