"""Every conversation starts with the short disclaimer (what the assistant is and is not)."""
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted
from rasa_sdk.executor import CollectingDispatcher

from bot.settings import Settings, get_settings

DISCLAIMER = (
    "Hi, I'm the FSGS information assistant. I share general, sourced information about FSGS. "
    "I am not a doctor and I can't advise on your own case: for that, I can pass your question to "
    "the care team. If someone is very unwell right now, call {emergency_number}.")


class ActionSessionStart(Action):
    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(text=DISCLAIMER.format(
            emergency_number=(self._settings or get_settings()).emergency_number))
        return [SessionStarted(), ActionExecuted("action_listen")]
