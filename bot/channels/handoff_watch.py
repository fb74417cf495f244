"""Red flags never go quiet during a handoff.

While staff hold a chat, Rasa is paused: it still runs NLU and logs each `UserUttered` with its
parse data, but predicts nothing, so the emergency rule cannot fire and no action adds the message
to the ticket. This wrapper around a channel's `on_new_message` (`bot.channels.guard` applies it
to every channel) looks at a message only when Rasa sent no reply to it, which is always the case
while paused (and nearly never otherwise), so ordinary messages cost nothing beyond counting
replies. For such a message it reads the tracker from the agent in this process: if the
conversation is paused, the message goes onto the conversation's ticket; if the red-flag layer or
the classifier marked it as an emergency, Rasa's own `utter_emergency` (whatever NLG the domain
uses) is sent at once on the patient's channel and logged in the conversation, the ticket is
raised to urgent (or opened, through the outbox when the database is down) and the on-call alert
goes out in the background. The bot stays paused for everything else.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.shared.core.events import UserUttered
from sanic import Sanic

from bot.alerts import alert_for_ticket
from bot.handoff.outbox import Outbox, escalate
from bot.handoff.store import EscalationRequest, HandoffError, HandoffStore, TicketView
from bot.intents import EMERGENCY_INTENT
from bot.nlp.components import RED_FLAG_OVERRIDE_KEY
from bot.settings import get_settings

logger = logging.getLogger(__name__)
URGENT_REPLY_ACTION = "utter_emergency"
Handler = Callable[[UserMessage], Awaitable[Any]]
_alerts_in_flight: set[asyncio.Task] = set()
_agent_missing_logged = False


@functools.lru_cache(maxsize=1)
def _store() -> HandoffStore:
    return HandoffStore.from_url(get_settings().database_url)


@functools.lru_cache(maxsize=1)
def _outbox() -> Outbox:
    return Outbox(get_settings().outbox_dir)


def _agent() -> Any:
    """The Rasa agent serving this process (`app.ctx.agent` of its only Sanic app)."""
    global _agent_missing_logged
    try:
        return Sanic.get_app().ctx.agent
    except Exception as exc:  # noqa: BLE001 - no app, several apps, or no agent yet
        if not _agent_missing_logged:
            _agent_missing_logged = True
            logger.error("Handoff watch cannot reach the Rasa agent (%s): emergencies written "
                         "during a handoff will not be answered", exc)
        return None


def is_emergency(parse_data: dict) -> bool:
    return (parse_data.get("intent") or {}).get("name") == EMERGENCY_INTENT or \
        bool(parse_data.get(RED_FLAG_OVERRIDE_KEY))


def _count_replies(output_channel: OutputChannel) -> Callable[[], int]:
    """Counts what Rasa sends through this message's output channel (it sends every bot
    message with `send_response`)."""
    sent = 0
    original = output_channel.send_response

    async def counting(recipient_id: str, message: dict) -> None:
        nonlocal sent
        sent += 1
        await original(recipient_id, message)

    try:
        output_channel.send_response = counting
    except (AttributeError, TypeError):  # a channel that cannot be instrumented: always look
        return lambda: 0
    return lambda: sent


def watch_handoff(on_new_message: Handler) -> Handler:
    async def watched(message: UserMessage) -> Any:
        replies = _count_replies(message.output_channel)
        result = await on_new_message(message)
        if replies() == 0:
            try:
                await after_unanswered(message)
            except Exception:  # noqa: BLE001 - never turn a handled message into a failure
                logger.exception("Handoff watch failed for a %s message", message.input_channel)
        return result

    return watched


async def after_unanswered(message: UserMessage, agent: Any = None) -> None:
    """Handle a message Rasa did not answer: on the ticket if paused; urgent reply if a red flag."""
    agent = agent or _agent()
    if agent is None:
        return
    tracker = await agent.tracker_store.retrieve(message.sender_id)
    if tracker is None or not tracker.is_paused():
        return
    uttered = next((e for e in reversed(tracker.events) if isinstance(e, UserUttered)
                    and e.message_id == message.message_id), None)
    if uttered is None:
        return
    if is_emergency(uttered.parse_data):
        await _urgent_reply(agent, message)
        await _raise_ticket(message, uttered.text or "")
    else:
        await asyncio.to_thread(_store().append_during_handoff, message.sender_id,
                                message.input_channel or "unknown", uttered.text or "",
                                message.message_id)


async def _urgent_reply(agent: Any, message: UserMessage) -> None:
    """Rasa's `utter_emergency`, run like the HTTP API's `execute` does (under the conversation
    lock), so the reply is logged in the conversation and the pause stays."""
    async with agent.lock_store.lock(message.sender_id):
        await agent.execute_action(message.sender_id, URGENT_REPLY_ACTION, message.output_channel,
                                   policy=None, confidence=1.0)
    logger.info("Emergency during a handoff: urgent-care reply sent (%s)", message.input_channel)


async def _raise_ticket(message: UserMessage, text: str) -> None:
    store = _store()
    request = EscalationRequest(conversation_id=message.sender_id,
                                channel=message.input_channel or "unknown",
                                sender_id=message.sender_id, reason=EMERGENCY_INTENT, message=text,
                                request_id=message.message_id)

    def write() -> tuple[TicketView | None, str | None]:
        try:
            before = store.open_ticket_for(message.sender_id)
        except HandoffError:
            before = None
        outcome = escalate(store, _outbox(), request)
        if outcome.result is None or outcome.result.duplicate:
            return None, None                       # queued offline, or already applied
        ticket = outcome.result.ticket
        if outcome.result.created:
            return ticket, "urgent_new"
        return ticket, "urgent_raised" if before is not None and before.priority != "urgent" else None

    ticket, kind = await asyncio.to_thread(write)
    if ticket is not None and kind is not None:
        task = asyncio.create_task(alert_for_ticket(ticket, kind, store=store))
        _alerts_in_flight.add(task)
        task.add_done_callback(_alerts_in_flight.discard)
