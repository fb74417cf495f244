"""Outside staffed hours: ask how the care team may reach the user, with explicit consent to store it."""
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import queue
from bot.handoff.outbox import escalate
from bot.handoff.store import EscalationRequest, HandoffError

DECLINED = "none"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[a-z]{2,}$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[\d\s().-]{7,24}$")


def usable_contact(text: Text) -> Optional[Text]:
    """A phone number (at least 7 digits) or an email address, tidied; None if it is neither."""
    candidate = " ".join(text.split())
    if _EMAIL.match(candidate):
        return candidate
    if _PHONE.match(candidate) and sum(ch.isdigit() for ch in candidate) >= 7:
        return candidate
    return None


class ActionAskContactDetails(Action):
    def name(self) -> Text:
        return "action_ask_contact_details"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(text="How should the care team contact you? Please type a phone number "
                                      "or an email address, or say \"no\" if you'd rather not share one.")
        return []


class ActionAskContactConsent(Action):
    def name(self) -> Text:
        return "action_ask_contact_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(
            text="Do you agree that we store this contact detail so the care team can reach you? "
                 "It is only used for this request.",
            buttons=[{"title": "Yes, I agree", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}])
        return []


class ValidateContactForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_contact_form"

    def validate_contact_details(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict) -> Dict[Text, Any]:
        if queue.latest_intent(tracker) == "deny":
            return {"contact_details": DECLINED, "contact_consent": False}
        contact = usable_contact(str(value or ""))
        if contact is None:
            dispatcher.utter_message(text="That doesn't look like a phone number or an email address. "
                                          "Please type one, or say \"no\" if you'd rather not share it.")
        return {"contact_details": contact}


class ActionSaveContact(Action):
    def name(self) -> Text:
        return "action_save_contact"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        contact = tracker.get_slot("contact_details")
        consent = bool(tracker.get_slot("contact_consent")) and contact not in (None, DECLINED)
        if consent:
            _save(tracker, contact)
            dispatcher.utter_message(text=f"Thank you. The care team will contact you at {contact} "
                                          "about this request. You can keep asking me general questions.")
        else:
            dispatcher.utter_message(text="Okay, I won't store any contact details. The care team will "
                                          "answer here in this chat when they are back.")
        return [SlotSet("contact_details", None), SlotSet("contact_consent", None)]


def _save(tracker: Tracker, contact: Text) -> None:
    """Attach the contact to the open ticket, or queue it in the outbox with the request."""
    store = queue.store()
    try:
        ticket = store.open_ticket_for(tracker.sender_id)
        if ticket is not None:
            store.save_contact(ticket.id, contact, True)
            return
    except HandoffError:
        pass
    escalate(store, queue.outbox(), EscalationRequest(
        conversation_id=tracker.sender_id, channel=queue.channel_of(tracker),
        sender_id=tracker.sender_id, reason="request_human",
        message="(contact details left outside staffed hours)",
        contact_details=contact, contact_consent=True))
