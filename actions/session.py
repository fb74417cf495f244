"""Every conversation starts with the short disclaimer (what the assistant is and is not).

A session that expires during a handoff (the user writes again after `session_expiration_time`
while staff still have the conversation) starts a new session still paused, without the
disclaimer: Rasa's `SessionStarted` resets the pause, and the bot would answer in the middle of
the care team's conversation.
"""
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, EventType, SessionStarted
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
        if tracker.is_paused():
            return [SessionStarted(), ConversationPaused(), ActionExecuted("action_listen")]
        dispatcher.utter_message(text=DISCLAIMER)
        return [SessionStarted(), ActionExecuted("action_listen")]
