"""`action_escalate_to_human`: put the conversation in the care team's queue and say what happens next.

Reasons: the escalation intents themselves, or `repeated_fallback` when the user accepted the
offer of a person after two misunderstandings. An emergency has already been told to seek urgent
care by the rule that runs before this action; here it becomes an urgent ticket, the on-call team
is alerted (bot.alerts), and the reply says exactly what happens: marked urgent, "alerted" only when
an alert was accepted, when a person will next read it, and to call the emergency number now. An
emergency never gets the contact form, and ends one that was waiting.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import queue
from actions.contact import FORM, is_exit_phrase, reset_contact_slots
from actions.queue import Handoff, UsesHandoff
from bot.handoff.store import EscalationRequest, HandoffError, TicketView
from bot.intents import (
    EMERGENCY_INTENT,
    ESCALATION_INTENTS,
    FALLBACK_INTENT,
    PERSONAL_ADVICE_INTENT,
    REPEATED_FALLBACK_REASON,
    REQUEST_HUMAN_INTENT,
)

logger = logging.getLogger(__name__)

OPENING = {
    PERSONAL_ADVICE_INTENT: "I can't advise on your own case, so I've passed your question to the care team.",
    REQUEST_HUMAN_INTENT: "I've asked the care team to get in touch with you.",
    REPEATED_FALLBACK_REASON: "I've passed your question to the care team.",
}
APPENDED = "I've added this to your open request, so the care team will see it too."
FAILED = ("Sorry, I couldn't pass your question to the care team automatically. Please contact your "
          "kidney care team directly. If someone is very unwell, call {emergency} now.")
HELD_BACK = ("Many people are asking for the care team right now, so your request is waiting its turn: "
             "it is saved and will reach them automatically, though it may take longer than usual. "
             "If this becomes urgent, call {emergency} now.")
OFFLINE = ("I couldn't reach the care team's queue just now, but your request is saved and will reach "
           "them automatically. The team will follow up.")
OFFLINE_URGENT = ("I couldn't reach the care team's queue just now. Your request is saved and will reach "
                  "them marked urgent, but please don't wait for a reply: call {emergency} now.")
CALL_NOW = "Please don't wait for a reply here: call {emergency} now."
ALERTED = " and alerted the on-call team"


def escalation_reason(tracker: Tracker) -> str:
    intent = queue.latest_intent(tracker)
    return intent if intent in ESCALATION_INTENTS else REPEATED_FALLBACK_REASON


def triggering_message(tracker: Tracker, reason: str) -> str:
    """What staff should read first: the user's words, or the misunderstood ones for a fallback."""
    if reason != REPEATED_FALLBACK_REASON:
        return tracker.latest_message.get("text") or ""
    misunderstood = [e.get("text") or "" for e in tracker.events
                     if e.get("event") == "user"
                     and (e.get("parse_data") or {}).get("intent", {}).get("name") == FALLBACK_INTENT]
    return "\n".join(misunderstood[-2:]) or (tracker.latest_message.get("text") or "")


def request_id(tracker: Tracker) -> str | None:
    """Rasa's id of the user message (a uuid), so a retried action (a replica died mid-message)
    cannot append the same message to the ticket twice; None lets the outbox make a random one."""
    return tracker.latest_message.get("message_id") or None


def clinic_time(moment: datetime) -> str:
    """E.g. "Monday 7 December at 08:00 (Europe/London time)"."""
    zone = getattr(moment.tzinfo, "key", None) or moment.tzname() or "clinic"
    return f"{moment:%A} {moment.day} {moment:%B} at {moment:%H:%M} ({zone} time)"


def when_someone_reads_it(handoff: Handoff) -> str:
    if handoff.is_staffed():
        return "A member of the care team will see it as soon as they can."
    upcoming = handoff.next_staffed_time()
    if upcoming is None:
        return "The care team is not in right now, and no staffed hours are set for this chat."
    return (f"The care team is not in right now; the next time a person will see it is "
            f"{clinic_time(upcoming)}.")


def alert_kind(reason: str, created: bool, priority_before: str | None, staffed: bool) -> str | None:
    """Which on-call alert this escalation calls for (None: none)."""
    if reason == EMERGENCY_INTENT:
        if created:
            return "urgent_new"
        return "urgent_raised" if priority_before != "urgent" else None
    return "out_of_hours_new" if created and not staffed else None


class ActionEscalateToHuman(UsesHandoff, Action):
    def name(self) -> str:
        return "action_escalate_to_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        reason = escalation_reason(tracker)
        in_form = tracker.active_loop.get("name") == FORM
        if reason != EMERGENCY_INTENT and is_exit_phrase(tracker.latest_message.get("text") or ""):
            # "stop", "cancel", "never mind" alone end something; they are never a question.
            dispatcher.utter_message(response="utter_anything_else")
            return []
        # An emergency ends a waiting contact form: nobody in trouble should be kept typing.
        closing = [ActiveLoop(None), SlotSet("requested_slot", None), *reset_contact_slots()] \
            if reason == EMERGENCY_INTENT and in_form else []
        return await self._escalate(dispatcher, tracker, reason, in_form) + closing

    async def _escalate(self, dispatcher: CollectingDispatcher, tracker: Tracker, reason: str,
                        in_form: bool) -> list[EventType]:
        handoff = self.handoff
        emergency_number = handoff.settings.emergency_number
        request = EscalationRequest(
            conversation_id=tracker.sender_id, channel=queue.channel_of(tracker),
            sender_id=tracker.sender_id, reason=reason, message=triggering_message(tracker, reason),
            request_id=request_id(tracker))
        try:
            priority_before = await self._priority_before(handoff, tracker, reason)
            outcome = await handoff.escalate(request)
        except Exception:  # the one message a patient must never be left without
            logger.exception("Escalation failed for a %s request", reason)
            dispatcher.utter_message(text=FAILED.format(emergency=emergency_number))
            return []

        if outcome.held_back:
            dispatcher.utter_message(text=f"{OPENING[reason]} {HELD_BACK.format(emergency=emergency_number)}")
            return []
        if outcome.queued_offline:
            text = OFFLINE_URGENT.format(emergency=emergency_number) if reason == EMERGENCY_INTENT \
                else f"{OPENING[reason]} {OFFLINE}"
            dispatcher.utter_message(text=text)
            return []
        assert outcome.result is not None  # not queued offline, so the store answered
        ticket, created = outcome.result.ticket, outcome.result.created
        staffed = handoff.is_staffed()
        kind = alert_kind(reason, created, priority_before, staffed)
        alerted = kind is not None and await self._alert(handoff, ticket, kind)

        if reason == EMERGENCY_INTENT:
            marked = "I've marked your request as urgent" if created else \
                "I've added this to your open request and marked it urgent"
            dispatcher.utter_message(text=f"{marked}{ALERTED if alerted else ''}. "
                                          f"{when_someone_reads_it(handoff)} "
                                          f"{CALL_NOW.format(emergency=emergency_number)}")
            return []
        if not created:
            dispatcher.utter_message(text=APPENDED)
            return []
        if staffed:
            dispatcher.utter_message(text=f"{OPENING[reason]} A member of the care team will join this "
                                          "chat here as soon as they can. Your earlier messages are "
                                          "shared with them.")
            return []
        on_call = " I've also let the on-call team know." if alerted else ""
        dispatcher.utter_message(text=f"{OPENING[reason]} {when_someone_reads_it(handoff)}{on_call} They "
                                      "will answer as soon as they can.")
        if ticket.contact_details or in_form:
            return []
        return [FollowupAction(FORM)]

    @staticmethod
    async def _priority_before(handoff: Handoff, tracker: Tracker, reason: str) -> str | None:
        """The open ticket's priority before an emergency, to tell a new one from a raised one."""
        if reason != EMERGENCY_INTENT:
            return None
        try:
            ticket = await handoff.open_ticket_for(tracker.sender_id)
        except HandoffError:
            return None  # the database is down: escalate() queues it offline, no alert to send
        return None if ticket is None else ticket.priority

    @staticmethod
    async def _alert(handoff: Handoff, ticket: TicketView, kind: str) -> bool:
        """True only when an alert destination accepted the alert."""
        try:
            return (await handoff.alert(ticket, kind)).accepted
        except Exception:
            logger.exception("On-call alert (%s) for ticket #%d failed", kind, ticket.id)
            return False
