"""Every conversation starts with the short disclaimer (what the assistant is and is not)."""
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted
from rasa_sdk.executor import CollectingDispatcher

DISCLAIMER = (
    "Hi, I'm the FSGS information assistant. I share general, sourced information about FSGS. "
    "I am not a doctor and I can't advise on your own case: for that, I can pass your question to "
    "the care team. If someone is very unwell right now, call your local emergency number "
    "(911 in the US, 999 in the UK, 112 in the EU).")


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(text=DISCLAIMER)
        return [SessionStarted(), ActionExecuted("action_listen")]
