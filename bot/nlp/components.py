"""Custom Rasa NLU components built on the project's spaCy pipeline.

`TermEntityExtractor` reports the entity ruler's matches with their canonical ids ("CsA" ->
"cyclosporine"), so the `medication` slot can drive conditional response variations.
`PersonalAdviceCue` sends unmistakable own-case questions (a personal lab value with a number,
"should I stop/switch/take...", "should we ask to switch him...", "how much ... should my son
take") to `personal_advice`, and `ContactRequestCue` sends "can someone from the clinic call me?"
to `request_human`, when the classifier would have answered them with an FAQ. `RedFlagOverride` is
the deterministic emergency layer: a red-flag phrase about something happening now forces the
`emergency` intent, whatever the classifier predicted. Real messages are long ("last year he had a
clot in his leg... now his protein is up, what does that mean?"), so both layers read sentence by
sentence: a red flag told as past history, or a decision someone else reported ("the doctor said we
should reduce it"), does not count on its own.
"""
from __future__ import annotations

import re
from typing import Any, ClassVar

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.utils.spacy_utils import SpacyNLP
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    INTENT,
    INTENT_NAME_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.intents import (
    EMERGENCY_INTENT,
    ESCALATION_INTENTS,
    PERSONAL_ADVICE_INTENT,
    REQUEST_HUMAN_INTENT,
)

RED_FLAG_LABEL = "red_flag"
INTENT_RANKING = "intent_ranking"
RED_FLAG_OVERRIDE_KEY = "red_flag_override"
PERSONAL_ADVICE_CUE_KEY = "personal_advice_cue"
CONTACT_REQUEST_CUE_KEY = "contact_request_cue"

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


# Own-case cues: deliberately narrow (a person + a decision verb, a possessive + a lab + a number),
# because every match takes the question away from the FAQ and gives it to a busy care team.
_SUBJECT = (r"(?:i|me|we|us|he|she|him|her|my\s+(?:\w+\s+)?(?:son|daughter|child|kid|boy|girl|baby|"
            r"husband|wife|partner|mum|mom|dad|mother|father))")
_OWNER = r"(?:my|his|her|our|(?:son|daughter|child|kid|husband|wife|partner|mum|mom|dad)'?s)"
_LAB = (r"(?:creatinine|creat|e?gfr|u?pcr|u?acr|albumin|potassium|protein|proteinuria|levels?|trough|"
        r"results?|bp|blood pressure|cholesterol|numbers?|kidney function|dipstick|sugar|glucose|"
        r"ha?emoglobin)")
_DECISION_VERB = (r"(?:take(?!\s+part)|stop|start|switch|skip|miss|increase|decrease|reduce|lower|"
                  r"raise|double|halve|give|change|come off|go off|restart|continue|keep taking)")
_DECISION_GERUND = (r"(?:taking(?!\s+part)|stopping|starting|switching|skipping|increasing|"
                    r"decreasing|reducing|lowering|raising|doubling|halving|giving|changing|"
                    r"coming off|going off|restarting|continuing)")
# "should we ask (the doctor) to switch him", "should we consider stopping": a decision to put to
# the team is still one's own case.
_ASK = (r"(?:ask|tell|push|request)(?:\s+(?:the|our|his|her|my))?"
        r"(?:\s+(?:doctor|doctors|nephrologist|consultant|team|nurse|them))?")
_DECISION = (rf"(?:{_DECISION_VERB}|{_ASK}\s+to\s+{_DECISION_VERB}"
             rf"|(?:{_ASK}\s+about|consider|try|think about)\s+{_DECISION_GERUND})")
_PERSONAL_ADVICE_CUES = {
    "own_result": re.compile(rf"\b{_OWNER}\s+(?:[\w']+\s+){{0,3}}{_LAB}\b[^.?!\n]{{0,30}}?\d",
                             re.IGNORECASE),
    "decision": re.compile(
        rf"(?<!how )\b(?:should|shall|can|could|may|must)\s+{_SUBJECT}\s+"
        rf"(?:still\s+|just\s+)?{_DECISION}\b"
        rf"|\bis it (?:ok|okay|safe|fine|alright)\s+(?:for\s+{_SUBJECT}\s+|if\s+{_SUBJECT}\s+)"
        rf"(?:to\s+)?{_DECISION_VERB}\b", re.IGNORECASE),
    "dose_amount": re.compile(
        rf"\bhow (?:much|many)\b[^.?!\n]{{0,40}}\b(?:should|do|does|can|must)\s+{_SUBJECT}\s+"
        r"(?:take|give|have|be on|get)\b", re.IGNORECASE),
}

# Asking to be contacted by a person ("can someone from the clinic call me back?", "please have a
# nurse ring us"): the classifier reads the rest of the message ("...rearrange the biopsy") as a topic.
_SOMEONE = (r"(?:someone|somebody|anyone|a\s+(?:real\s+)?(?:person|human|nurse|doctor)|"
            r"(?:the|your|my|our)\s+(?:clinic|team|care team|renal team|kidney team|nurses?|doctors?|"
            r"nephrologist|consultant|office|unit))")
_CONTACT = (r"(?:contact|call|ring|phone|e-?mail|text|message|reach|get in touch with|get back to|"
            r"speak to|talk to)")
_CONTACT_REQUEST = re.compile(
    rf"\b{_SOMEONE}(?:\s+(?:from|at|in)\s+(?:the\s+)?[\w-]+(?:\s+(?:team|clinic|unit))?)?\s+"
    rf"(?:please\s+)?{_CONTACT}\s+(?:me|us)\b"
    rf"|\b(?:have|get|ask)\s+{_SOMEONE}\s+(?:to\s+)?{_CONTACT}\s+(?:me|us)\b"
    rf"|\b(?:call|ring|phone)\s+(?:me|us)\s+back\b", re.IGNORECASE)


def contact_request_cues(text: str) -> list[str]:
    """["contact_request"] when the message asks for a person to get in touch, else []."""
    return ["contact_request"] if _CONTACT_REQUEST.search(text) else []


# A sentence ends at . ! ? ; or a line break (not at a decimal point: "1.8").
_SENTENCE_END = re.compile(r"[!?;]+|\.(?!\d)|\n+")
# "the doctor said we should reduce it": a decision someone else spoke of, not one asked for.
_REPORTED = re.compile(r"\b(?:said|says|told|tells|advised|wants?|wanted|asked|explained)\b"
                       r"(?:\s+(?:us|me|him|her|them))?(?:\s+that)?\s*$", re.IGNORECASE)
# History told in the past, with no sign that it is happening again now.
_PAST = re.compile(
    r"\b(?:last|previous)\s+(?:year|month|week|time|summer|winter|spring|autumn|relapse)\b"
    r"|\bago\b|\b(?:in|back in|since)\s+(?:19|20)\d\d\b|\bback then\b|\bpreviously\b"
    r"|\bhistory of\b|\bused to\b|\bonce had\b|\bwhen (?:he|she|i|we|they) (?:was|were)\b",
    re.IGNORECASE)
_NOW = re.compile(r"\b(?:now|today|tonight|currently|right now|this (?:morning|evening|afternoon)|"
                  r"at the moment|again|still|suddenly|since (?:this|last night|yesterday))\b",
                  re.IGNORECASE)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of a message."""
    spans, start = [], 0
    for end_mark in _SENTENCE_END.finditer(text):
        spans.append((start, end_mark.end()))
        start = end_mark.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans or [(0, len(text))]


def _is_past_history(sentence: str) -> bool:
    return bool(_PAST.search(sentence)) and not _NOW.search(sentence)


# "what foods should we give him": asks which option, not for a yes/no decision on a dose.
_WH_CHOICE = re.compile(r"\b(?:what|which)(?:\s+[\w']+){0,2}\s*$", re.IGNORECASE)
# A later question that points back at what was told ("My creatinine is 1.8. Is it bad?").
_REFERS_BACK = re.compile(r"\b(?:it|that|this|these|those|mine|my|his|her|our|their|them)\b",
                          re.IGNORECASE)


def _asks(sentences: list[str], index: int) -> bool:
    """True when sentence `index` asks something itself (a question, or the last sentence) or a
    later question refers back to it."""
    if "?" in sentences[index] or index == len(sentences) - 1:
        return True
    later = sentences[index + 1:]
    return any(("?" in sentence or sentence is later[-1]) and _REFERS_BACK.search(sentence)
               for sentence in later)


def personal_advice_cues(text: str) -> list[str]:
    """Names of the own-case cues found in the text (empty for a general question). In a long
    message only the sentences that ask (see `_asks`) count: "My husband's eGFR is now 12. What
    is the difference between PD and HD?" asks something general."""
    sentences = [text[start:end] for start, end in sentence_spans(text)]
    found = []
    for index, sentence in enumerate(sentences):
        if not _asks(sentences, index):
            continue
        for name, cue in _PERSONAL_ADVICE_CUES.items():
            if name not in found and any(
                    not _REPORTED.search(sentence[:match.start()])
                    and not _WH_CHOICE.search(sentence[:match.start()])
                    for match in cue.finditer(sentence)):
                found.append(name)
    return found


def is_general_question(text: str) -> bool:
    """True when the text asks about a topic rather than reporting what is happening to someone."""
    return bool(_GENERAL_QUESTION.search(text)) and not _PERSONAL_OR_NOW.search(text)


class _StatelessComponent(GraphComponent):
    """Shared plumbing for components with no training and only a config."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> GraphComponent:
        return cls({**cls.get_default_config(), **config})


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class TermEntityExtractor(_StatelessComponent, EntityExtractorMixin):
    """Entities from the terms.yml entity ruler, valued by canonical id."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [SpacyNLP]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    def process(self, messages: list[Message]) -> list[Message]:
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


def _force_intent(message: Message, intent: str, marker_key: str, marker: Any) -> None:
    """Sets `intent` with full confidence on top of the ranking and records why."""
    forced = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
    ranking = [r for r in message.get(INTENT_RANKING, []) if r.get(INTENT_NAME_KEY) != intent]
    message.set(INTENT, forced, add_to_output=True)
    message.set(INTENT_RANKING, [forced, *ranking], add_to_output=True)
    message.set(marker_key, marker, add_to_output=True)


class _EscalationCue(_StatelessComponent):
    """Forces `intent` when `cues` finds something in the text. Runs after the FallbackClassifier,
    so a cue also rescues a low-confidence message; it never changes an escalation intent the
    classifier (or an earlier cue) already chose."""

    MARKER_KEY: ClassVar[str]
    INTENT: ClassVar[str]

    @staticmethod
    def cues(text: str) -> list[str]:
        raise NotImplementedError

    @classmethod
    def required_components(cls) -> list[type]:
        return []

    @classmethod
    def get_default_config(cls) -> dict[str, Any]:
        return {"intent": cls.INTENT}

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            predicted = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            cues = self.cues(message.get(TEXT) or "")
            if cues and predicted not in ESCALATION_INTENTS:
                _force_intent(message, self._config["intent"], self.MARKER_KEY, cues)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class PersonalAdviceCue(_EscalationCue):
    """Sends own-case questions the classifier missed to `personal_advice`."""

    MARKER_KEY = PERSONAL_ADVICE_CUE_KEY
    INTENT = PERSONAL_ADVICE_INTENT
    cues = staticmethod(personal_advice_cues)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class ContactRequestCue(_EscalationCue):
    """Sends requests to be contacted by a person that the classifier missed to `request_human`."""

    MARKER_KEY = CONTACT_REQUEST_CUE_KEY
    INTENT = REQUEST_HUMAN_INTENT
    cues = staticmethod(contact_request_cues)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class RedFlagOverride(_StatelessComponent):
    """Forces `emergency` when a red-flag phrase describes something happening now.

    Runs after the classifier and the FallbackClassifier so that neither a wrong intent nor a low
    confidence can keep an emergency from the urgent-care answer.
    """

    @classmethod
    def required_components(cls) -> list[type]:
        return [TermEntityExtractor]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"intent": EMERGENCY_INTENT}

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            flags = red_flags(message)
            if flags and not is_general_question(message.get(TEXT) or ""):
                _force_intent(message, self._config["intent"], RED_FLAG_OVERRIDE_KEY, flags)
        return messages


# Pathology words that share a red flag's lemma: "collapsing variant" is a type of FSGS, not fainting.
_PATHOLOGY_TERM = re.compile(
    r"collaps\w*\s+(?:variant|fsgs|type|form|glomerulopathy|lesion|pattern)\b", re.IGNORECASE)


def red_flags(message: Message) -> list[str]:
    """Canonical ids of the red-flag phrases found in a parsed message, leaving out those in a
    sentence that tells past history ("last year he had chest pain") with nothing about now."""
    text = message.get(TEXT) or ""
    history = [span for span in sentence_spans(text) if _is_past_history(text[span[0]:span[1]])]
    return [e[ENTITY_ATTRIBUTE_VALUE] for e in message.get(ENTITIES, [])
            if e.get(ENTITY_ATTRIBUTE_TYPE) == RED_FLAG_LABEL
            and not any(start <= e[ENTITY_ATTRIBUTE_START] < end for start, end in history)
            and not _PATHOLOGY_TERM.match(text, e[ENTITY_ATTRIBUTE_START])]

