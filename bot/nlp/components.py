"""Custom Rasa NLU components built on the project's spaCy pipeline.

`TermEntityExtractor` reports the entity ruler's matches with their canonical ids ("CsA" ->
"cyclosporine"), so the `medication` slot can drive conditional response variations.
`RedFlagOverride` is the deterministic emergency layer: a red-flag phrase about something happening
now forces the `emergency` intent, whatever the classifier predicted.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.utils.spacy_utils import SpacyNLP
from rasa.shared.nlu.constants import (
    ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START, ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE, INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT,
)
from rasa.shared.nlu.training_data.message import Message

RED_FLAG_LABEL = "red_flag"
EMERGENCY_INTENT = "emergency"
INTENT_RANKING = "intent_ranking"
RED_FLAG_OVERRIDE_KEY = "red_flag_override"

# A red flag inside a general question ("can FSGS cause chest pain?") is education, not an
# emergency, unless the message also speaks of someone in particular or of right now.
_GENERAL_QUESTION = re.compile(
    r"^\s*(what|what's|whats|how|why|which|when|where|can|could|does|do|is|are|will|would|"
    r"should you|tell me|explain|define|list)\b", re.IGNORECASE)
_PERSONAL_OR_NOW = re.compile(
    r"\b(i|i'm|im|i've|ive|me|my|mine|we|we're|our|us|he|he's|hes|she|she's|shes|his|her|him|they|"
    r"their|son|daughter|child|kid|baby|boy|girl|husband|wife|partner|mum|mom|dad|father|mother|"
    r"brother|sister|grandma|grandpa|friend|now|today|tonight|currently|right now|this morning|"
    r"since)\b", re.IGNORECASE)


def is_general_question(text: Text) -> bool:
    """True when the text asks about a topic rather than reporting what is happening to someone."""
    return bool(_GENERAL_QUESTION.search(text)) and not _PERSONAL_OR_NOW.search(text)


class _StatelessComponent(GraphComponent):
    """Shared plumbing for components with no training and only a config."""

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._config = config

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> GraphComponent:
        return cls({**cls.get_default_config(), **config})


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class TermEntityExtractor(_StatelessComponent, EntityExtractorMixin):
    """Entities from the terms.yml entity ruler, valued by canonical id."""

    @classmethod
    def required_components(cls) -> List[type]:
        return [SpacyNLP]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is None:
                continue
            found = [
                {ENTITY_ATTRIBUTE_TYPE: ent.label_, ENTITY_ATTRIBUTE_VALUE: ent.ent_id_ or ent.text,
                 ENTITY_ATTRIBUTE_START: ent.start_char, ENTITY_ATTRIBUTE_END: ent.end_char,
                 "text": ent.text}
                for ent in doc.ents
            ]
            if found:
                message.set(ENTITIES, message.get(ENTITIES, []) + self.add_extractor_name(found),
                            add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class RedFlagOverride(_StatelessComponent):
    """Forces `emergency` when a red-flag phrase describes something happening now.

    Runs after the classifier and the FallbackClassifier so that neither a wrong intent nor a low
    confidence can keep an emergency from the urgent-care answer.
    """

    @classmethod
    def required_components(cls) -> List[type]:
        return [TermEntityExtractor]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"intent": EMERGENCY_INTENT}

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            flags = red_flags(message)
            if flags and not is_general_question(message.get(TEXT) or ""):
                self._force_emergency(message, flags)
        return messages

    def _force_emergency(self, message: Message, flags: List[Text]) -> None:
        forced = {INTENT_NAME_KEY: self._config["intent"], PREDICTED_CONFIDENCE_KEY: 1.0}
        ranking = [r for r in message.get(INTENT_RANKING, [])
                   if r.get(INTENT_NAME_KEY) != forced[INTENT_NAME_KEY]]
        message.set(INTENT, forced, add_to_output=True)
        message.set(INTENT_RANKING, [forced, *ranking], add_to_output=True)
        message.set(RED_FLAG_OVERRIDE_KEY, flags, add_to_output=True)


def red_flags(message: Message) -> List[Text]:
    """Canonical ids of the red-flag phrases found in a parsed message."""
    return [e[ENTITY_ATTRIBUTE_VALUE] for e in message.get(ENTITIES, [])
            if e.get(ENTITY_ATTRIBUTE_TYPE) == RED_FLAG_LABEL]

