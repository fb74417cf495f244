"""Domain responses that name the emergency number take it from the one setting (EMERGENCY_NUMBER).

Configured in endpoints.yml (`nlg: type: bot.nlg.EmergencyNumberNLG`): Rasa 3.6 builds a custom
generator from that module path with `(endpoint_config=..., domain=...)` and, because this is a
`TemplatedNaturalLanguageGenerator`, hands it the model's responses when a model is loaded. It adds
`{emergency_number}` to the values a response is filled with, so `utter_emergency` (answered by the
Rasa server itself, before any custom action) never hard-codes a number.
"""
from __future__ import annotations

from typing import Any

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.settings import get_settings


class EmergencyNumberNLG(TemplatedNaturalLanguageGenerator):
    def __init__(self, endpoint_config: EndpointConfig | None = None,
                 domain: Domain | None = None, emergency_number: str | None = None) -> None:
        super().__init__(domain.responses if domain else {})
        self.emergency_number = emergency_number or get_settings().emergency_number

    async def generate(self, utter_action: str, tracker: DialogueStateTracker, output_channel: str,
                       **kwargs: Any) -> dict[str, Any] | None:
        kwargs.setdefault("emergency_number", self.emergency_number)
        return await super().generate(utter_action, tracker, output_channel, **kwargs)
