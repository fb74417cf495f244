"""`action_escalate_to_human`: put the conversation in the care team's queue and say what happens next.

Reasons: the escalation intents themselves, or `repeated_fallback` when the user accepted the
offer of a person after two misunderstandings. An emergency has already been told to seek urgent
care by the rule that runs before this action; here it becomes an urgent ticket.
"""
import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions import queue
from bot.handoff.outbox import escalate
from bot.handoff.store import EscalationRequest
from bot.intents import ESCALATION_INTENTS, FALLBACK_INTENT, REPEATED_FALLBACK_REASON
from bot.settings import get_settings

logger = logging.getLogger(__name__)

CONTACT_FORM = "contact_form"
OPENING = {
    "personal_advice": "I can't advise on your own case, so I've passed your question to the care team.",
    "request_human": "I've asked the care team to get in touch with you.",
    "emergency": "I've also alerted the care team that this is urgent. Please don't wait for their reply.",
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


def escalation_reason(tracker: Tracker) -> Text:
    intent = queue.latest_intent(tracker)
    return intent if intent in ESCALATION_INTENTS else REPEATED_FALLBACK_REASON


def triggering_message(tracker: Tracker, reason: Text) -> Text:
    """What staff should read first: the user's words, or the misunderstood ones for a fallback."""
    if reason != REPEATED_FALLBACK_REASON:
        return tracker.latest_message.get("text") or ""
    misunderstood = [e.get("text") or "" for e in tracker.events
                     if e.get("event") == "user"
                     and (e.get("parse_data") or {}).get("intent", {}).get("name") == FALLBACK_INTENT]
    return "\n".join(misunderstood[-2:]) or (tracker.latest_message.get("text") or "")


def request_id(tracker: Tracker) -> Optional[Text]:
    """Rasa's id of the user message (a uuid), so a retried action (a replica died mid-message)
    cannot append the same message to the ticket twice; None lets the outbox make a random one."""
    return tracker.latest_message.get("message_id") or None


class ActionEscalateToHuman(Action):
    def name(self) -> Text:
        return "action_escalate_to_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        reason = escalation_reason(tracker)
        request = EscalationRequest(
            conversation_id=tracker.sender_id, channel=queue.channel_of(tracker),
            sender_id=tracker.sender_id, reason=reason, message=triggering_message(tracker, reason),
            request_id=request_id(tracker))
        try:
            outcome = escalate(queue.store(), queue.outbox(), request)
        except Exception:  # the one message a patient must never be left without
            logger.exception("Escalation failed for a %s request", reason)
            dispatcher.utter_message(text=FAILED.format(emergency=get_settings().emergency_number))
            return []

        if outcome.held_back:
            dispatcher.utter_message(
                text=f"{OPENING[reason]} {HELD_BACK.format(emergency=get_settings().emergency_number)}")
            return []
        if outcome.queued_offline:
            dispatcher.utter_message(text=f"{OPENING[reason]} {OFFLINE}")
            return []
        ticket = outcome.result.ticket
        if not outcome.result.created:
            dispatcher.utter_message(text=APPENDED)
            return []

        hours = queue.staffed_hours()
        if hours.is_staffed():
            dispatcher.utter_message(text=f"{OPENING[reason]} A member of the care team will join this "
                                          "chat here as soon as they can. Your earlier messages are "
                                          "shared with them.")
            return []
        when = f" (they are available {hours.describe()})" if hours.describe() else ""
        dispatcher.utter_message(text=f"{OPENING[reason]} The care team is not in right now{when}, "
                                      "so they will answer as soon as they are back.")
        if ticket.contact_details or tracker.active_loop.get("name") == CONTACT_FORM:
            return []
        return [FollowupAction(CONTACT_FORM)]
