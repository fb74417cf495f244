"""Outside staffed hours: ask how the care team may reach the user, with explicit consent to store it.

The contact form must never trap a patient. While it waits, every message is read for what it is
(`read_turn`): an emergency or a question makes the form step aside (Rasa's unhappy path: the rules
in stories/contact_form.yml answer, append to the ticket or handle the emergency, then the form asks
once more or ends); "no", "stop", "cancel", "never mind" leave it politely; anything else gets one
clear re-ask, and a second one ends the form. Contact details are checked with `phonenumbers`
(national numbers read in PHONE_DEFAULT_REGION) and `bot.emails` (email-validator, syntax only,
no DNS) and stored normalised: E.164 or the normalised address.
"""
from __future__ import annotations

import enum
import logging
from typing import Any

import phonenumbers
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import queue
from actions.queue import UsesHandoff
from bot.emails import InvalidEmail, normalised_email
from bot.handoff.store import EscalationRequest, HandoffError
from bot.intents import EMERGENCY_INTENT, ESCALATION_INTENTS, INFORMATIONAL_INTENTS, REQUEST_HUMAN_INTENT

logger = logging.getLogger(__name__)

FORM = "contact_form"
DECLINED = "none"
REASKS_SLOT = "contact_reasks"
# A message that is only one of these ends what is going on (the form, an offer); the NLU model
# learns them as `deny`, and this list keeps them from ever becoming a question for the care team.
EXIT_PHRASES = frozenset({
    "no", "nope", "nah", "no thanks", "no thank you", "stop", "stop it", "please stop", "cancel",
    "cancel that", "cancel it", "never mind", "nevermind", "forget it", "quit", "exit", "leave it",
    "not now", "skip", "skip it", "rather not", "i'd rather not", "id rather not", "no way",
})
# Intents the form steps aside for: its rules answer them (or add them to the ticket) and ask again.
QUESTION_INTENTS = frozenset(INFORMATIONAL_INTENTS) | frozenset(ESCALATION_INTENTS) | {"bot_challenge"}
LEAVING_INTENTS = frozenset({"deny", "goodbye"})
REASK_LIMIT = 1

NOT_A_CONTACT = "That doesn't look like a phone number or an email address."
NOT_AN_ANSWER = "Sorry, I need a yes or a no to that."
STOP_ASKING = "I'll stop asking for a contact detail now."


class Turn(enum.Enum):
    EMERGENCY = "emergency"
    CONTACT = "contact"
    EXIT = "exit"
    QUESTION = "question"
    OTHER = "other"


def is_exit_phrase(text: str) -> bool:
    """True when the whole message is a "no", "stop", "cancel", "never mind"..."""
    words = "".join(ch if ch.isalnum() or ch in " '" else " " for ch in text.lower().replace("’", "'"))
    return " ".join(words.split()) in EXIT_PHRASES


def usable_contact(text: str, region: str) -> str | None:
    """The first email address or valid phone number in `text`, normalised; None if there is none."""
    for word in text.split():
        if "@" in word:
            try:
                return normalised_email(word.strip(".,;:!?()<>[]\"'"))
            except InvalidEmail:
                continue
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


def read_turn(tracker: Tracker, region: str) -> Turn:
    """What the user's latest message means to a form that is waiting for an answer."""
    intent = queue.latest_intent(tracker)
    text = tracker.latest_message.get("text") or ""
    if intent == EMERGENCY_INTENT:
        return Turn.EMERGENCY
    if usable_contact(text, region):
        return Turn.CONTACT
    if intent in LEAVING_INTENTS or is_exit_phrase(text):
        return Turn.EXIT
    if intent in QUESTION_INTENTS and any(word.isalpha() and len(word) > 1 for word in text.split()):
        return Turn.QUESTION  # digits alone ("555 12") are a mistyped contact, whatever the classifier says
    return Turn.OTHER


def answers_the_form(tracker: Tracker) -> bool:
    """True when the form runs straight after the user's message, so the message is meant for it;
    not on activation (the message was the escalated question) nor on the way back from an
    unhappy path (the message was a question that has been handled)."""
    actions = []
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            break
        if event.get("event") == "action":
            actions.append(event.get("name"))
    return actions == [FORM] and tracker.active_loop.get("name") == FORM


def declined(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"contact_details": DECLINED, "contact_consent": False, **(extra or {})}


class ActionAskContactDetails(Action):
    def name(self) -> str:
        return "action_ask_contact_details"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(text="How should the care team contact you? Please type a phone number "
                                      "or an email address, or say \"no\" if you'd rather not share one.")
        return []


class ActionAskContactConsent(Action):
    def name(self) -> str:
        return "action_ask_contact_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(
            text=f"Do you agree that we store {tracker.get_slot('contact_details')} so the care team can "
                 "reach you? It is only used for this request.",
            buttons=[{"title": "Yes, I agree", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}])
        return []


class ValidateContactForm(UsesHandoff, FormValidationAction):
    """Reads each answer (`read_turn`); extracting nothing for a question or an emergency makes
    Rasa reject the form, so the unhappy-path rules take the turn."""

    def name(self) -> str:
        return "validate_contact_form"

    def _candidate(self, slot: str, tracker: Tracker) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != slot or not answers_the_form(tracker):
            return {}
        if read_turn(tracker, self.handoff.settings.phone_default_region) in (Turn.EMERGENCY,
                                                                                Turn.QUESTION):
            return {}
        return {slot: tracker.latest_message.get("text") or ""}

    async def extract_contact_details(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> dict[str, Any]:
        return self._candidate("contact_details", tracker)

    async def extract_contact_consent(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: DomainDict) -> dict[str, Any]:
        return self._candidate("contact_consent", tracker)

    def validate_contact_details(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict) -> dict[str, Any]:
        region = self.handoff.settings.phone_default_region
        turn = read_turn(tracker, region)
        if turn is Turn.CONTACT:
            return {"contact_details": usable_contact(str(value or ""), region)}
        if turn is Turn.EXIT:
            return declined()
        return self._reask(NOT_A_CONTACT, "contact_details", dispatcher, tracker)

    def validate_contact_consent(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict) -> dict[str, Any]:
        region = self.handoff.settings.phone_default_region
        turn = read_turn(tracker, region)
        if queue.latest_intent(tracker) == "affirm" and turn is not Turn.EXIT:
            return {"contact_consent": True}
        if turn is Turn.EXIT:
            return {"contact_consent": False}
        if turn is Turn.CONTACT:  # a corrected detail: ask for consent to that one
            return {"contact_details": usable_contact(str(value or ""), region), "contact_consent": None}
        return self._reask(NOT_AN_ANSWER, "contact_consent", dispatcher, tracker)

    @staticmethod
    def _reask(text: str, slot: str, dispatcher: CollectingDispatcher,
               tracker: Tracker) -> dict[str, Any]:
        """One clear re-ask; the next unusable answer ends the form instead of asking forever."""
        reasks = int(tracker.get_slot(REASKS_SLOT) or 0)
        if reasks >= REASK_LIMIT:
            dispatcher.utter_message(text=STOP_ASKING)
            return declined()
        dispatcher.utter_message(text=text)
        return {slot: None, REASKS_SLOT: float(reasks + 1)}


class ActionSaveContact(UsesHandoff, Action):
    def name(self) -> str:
        return "action_save_contact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        contact = tracker.get_slot("contact_details")
        consent = bool(tracker.get_slot("contact_consent")) and contact not in (None, DECLINED)
        if consent:
            await self._save(tracker, contact)
            dispatcher.utter_message(text=f"Thank you. The care team will contact you at {contact} "
                                          "about this request. You can keep asking me general questions.")
        else:
            dispatcher.utter_message(text="Okay, I won't store any contact details. The care team will "
                                          "answer here in this chat when they are back. You can keep "
                                          "asking me general questions.")
        return reset_contact_slots()

    async def _save(self, tracker: Tracker, contact: str) -> None:
        """Attach the contact to the open ticket, or queue it in the outbox with the request."""
        handoff = self.handoff
        try:
            ticket = await handoff.open_ticket_for(tracker.sender_id)
            if ticket is not None:
                await handoff.save_contact(ticket.id, contact)
                return
        except HandoffError as exc:
            logger.warning("contact not saved on the ticket directly (%s); queueing it", exc)
        await handoff.escalate(EscalationRequest(
            conversation_id=tracker.sender_id, channel=queue.channel_of(tracker),
            sender_id=tracker.sender_id, reason=REQUEST_HUMAN_INTENT,
            message="(contact details left outside staffed hours)",
            contact_details=contact, contact_consent=True))


def reset_contact_slots() -> list[EventType]:
    return [SlotSet("contact_details", None), SlotSet("contact_consent", None), SlotSet(REASKS_SLOT, None)]
