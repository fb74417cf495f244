"""Custom Rasa NLU components built on the project's spaCy pipeline.

`TermEntityExtractor` reports the entity ruler's matches with their canonical ids ("CsA" ->
"cyclosporine"), so the `medication` slot can drive conditional response variations.
`PersonalAdviceCue` sends unmistakable own-case questions (a personal lab value with a number,
"should I stop/switch/take/be taking...", "should we ask to switch him...", "how much ... should my
son take", "what would you do if it was your child?", "am I suitable to donate?", Hinglish "band
karke ... de sakte hain?") to `personal_advice`, and `ContactRequestCue` sends "can someone from the
clinic call me?" or "put me in touch with a nurse" to `request_human`, when the classifier would
have answered them with an FAQ. `RedFlagOverride` is the deterministic emergency layer: a red-flag
phrase (or a fever reading such as "temp 39.4") about something happening now forces the
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
            r"husband|wife|partner|mum|mom|dad|mother|father|year old|yr old|grandson|granddaughter|"
            r"grandchild|toddler|teenager|little one))")
_OWNER = r"(?:my|his|her|our|(?:son|daughter|child|kid|husband|wife|partner|mum|mom|dad)'?s)"
_LAB = (r"(?:creatinine|creat|e?gfr|u?pcr|u?acr|albumin|potassium|protein|proteinuria|levels?|trough|"
        r"results?|bp|blood pressure|cholesterol|numbers?|kidney function|dipstick|sugar|glucose|"
        r"ha?emoglobin)")
_DECISION_VERB = (r"(?:take(?!\s+part)|stop|start|switch|skip|miss|increase|decrease|reduce|lower|"
                  r"raise|double|halve|give|change|come off|go off|restart|continue|keep taking|"
                  r"go (?:up|down)|cut (?:down|back)|wean|taper|agree to|carry on|go ahead|hold off|"
                  r"leave out|"
                  r"be (?:taking|giving|on)(?!\s+(?:the\s+)?(?:lookout|safe side))|"
                  r"(?:put|keep) (?:him|her|me|them)\s+(?:back\s+)?(?:on|up|down))")
_DECISION_GERUND = (r"(?:taking(?!\s+part)|stopping|starting|switching|skipping|increasing|"
                    r"decreasing|reducing|lowering|raising|doubling|halving|giving|changing|"
                    r"coming off|going off|restarting|continuing|going (?:up|down)|"
                    r"cutting (?:down|back)|weaning|tapering)")
# Hinglish decisions, as parents write them: "band karke ... de sakte hain?" (can we stop it and
# give...), "dose kam karni chahiye?" (should the dose be lowered?).
_HINGLISH_DECISION = (r"\b(?:band|kam|zyada|jyada|badha|badhaa|shuru|chhod|chod|badal)\s*"
                      r"(?:kar|de|du|den)\w*\b(?:[^.?!\n]{0,40}?\b(?:sakt[eai]|chahiye)\b"
                      r"|\s*(?:de|den|dein|du|dena|lo|le|len)?\s*\?)")
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
        rf"(?:(?<!how )\b(?:should|shall|can|could|may|must)"
        # "do I put her back up...?" only where the question starts ("when do we stop..." asks when)
        rf"|(?:^\s*|[,;]\s*|\b(?:so|then|or|and)\s+)do)\s+{_SUBJECT}\s+"
        rf"(?:still\s+|just\s+)?{_DECISION}\b"
        rf"|\bis it (?:ok|okay|safe|fine|alright)\s+(?:for\s+{_SUBJECT}\s+|if\s+{_SUBJECT}\s+)"
        rf"(?:to\s+)?{_DECISION_VERB}\b", re.IGNORECASE),
    "dose_amount": re.compile(
        rf"\bhow (?:much|many)\b[^.?!\n]{{0,40}}\b(?:should|do|does|can|must)\s+{_SUBJECT}\s+"
        r"(?:take|give|have|be on|get)\b", re.IGNORECASE),
    # "what would you do if it was your child?": asks for the decision itself.
    "your_choice": re.compile(
        r"\bwhat would you (?:do|choose)\b|\bif (?:it was|it were|you were) (?:your|you|me)\b"
        r"|\bin (?:my|our) (?:place|shoes|position)\b", re.IGNORECASE),
    # "can she still go swimming on Friday?", "is he ok to travel?", "would it be a good idea for
    # me to donate?", "which would you go for in his case?": a judgement on this one person.
    "own_circumstances": re.compile(
        rf"\b(?:can|could|may|should)\s+{_SUBJECT}\s+still\b"
        r"(?![^.?!\n]*\bwith\s+(?:fsgs|nephrotic|kidney|ckd|this|it)\b)"
        r"|\bis\s+(?:he|she|my\s+\w+(?:\s+\w+)?)\s+(?:still\s+)?(?:ok|okay|safe|fine|alright|"
        r"fit|well enough)\s+to\b"
        rf"|\b(?:would|will|is)\s+it\s+(?:be\s+)?(?:a good idea|wise|sensible|better|best|right)\s+"
        rf"for\s+{_SUBJECT}\b"
        r"|\bin\s+(?:his|her|my|our|their)\s+(?:case|situation)\b"
        r"|\bwould\s+you\s+(?:recommend|suggest|advise|go for|choose|pick)\b[^.?!\n]{0,40}"
        r"\b(?:for|to)\s+(?:him|her|me|us|them|my|our)\b"
        rf"|\b(?:better|best|right|safer)\s+(?:choice|option)\s+for\s+(?:{_SUBJECT}|our\s+\w+)\b"
        r"|^\s*for\s+(?:our|my)\s+\w+,?\s+(?:would|should|is|which)\b", re.IGNORECASE),
    # "how long have I got before dialysis?", "what does it mean for me specifically?": this one
    # person's outlook ("what does that mean for him long term?" alone stays the topic).
    "own_outlook": re.compile(
        r"\bhow long (?:have|do) (?:i|we|he|she) (?:got|have)\b"
        r"|\bfor (?:me|him|her|us) (?:specifically|personally)\b", re.IGNORECASE),
    # Hinglish: "khud se 40 kar sakte hain?" (can we make it 40 ourselves?)
    "hinglish_own_dose": re.compile(
        r"\bkhud se\b|\b\d+\s*(?:mg\s*)?kar\s+(?:sakte|sakti|sakta|de|den|du|dein)\b", re.IGNORECASE),
    # Hinglish "kya usko ... lag sakta hai?" (can he have...?): a question about this one person.
    "hinglish_can_he": re.compile(
        r"\bkya\s+(?:usko|use|usse|unko|mujhe|hume|humein|isko|ise)\b[^?.!\n]{0,50}\bsakt[aei]\b",
        re.IGNORECASE),
    # Decisions put indirectly: "is it wise to move my son's prednisolone?", "is it fine for my
    # wife to just use it?", "would it hurt if we left out tonight's dose?", "if I just took half
    # the dose would it matter?", "thinking of asking to come off it", "would you put her forward?"
    "indirect_decision": re.compile(
        rf"\bis it (?:wise|safe|ok|okay|fine|alright|sensible|a good idea|a problem|bad)\s+"
        rf"(?:for\s+{_SUBJECT}\s+to\b|to\s+(?:{_DECISION_VERB}|move|split)\s+(?:{_OWNER})\b)"
        r"|\bwould it (?:hurt|matter|be (?:ok|okay|bad|a problem|dangerous|harmful))\s+if\s+"
        r"(?:i|we|he|she|my\s+\w+)\b"
        rf"|\bif\s+(?:i|we|he|she)\s+(?:just\s+)?(?:took|skipped|missed|stopped|gave|halved|doubled|"
        r"left out)\b[^.?!\n]{0,80}\b(?:would|will|does|is)\b"
        rf"|\b(?:i'm|i am|im|we're|we are|were|was)\s+(?:thinking of|planning to|planning on|going to)\s+"
        rf"(?:ask(?:ing)? to\s+)?(?:{_DECISION_GERUND}|{_DECISION_VERB})\b"
        r"|\bwould you\s+(?:put (?:him|her|me|them) forward|be worried|worry|go ahead|let (?:him|her))\b"
        r"|\bgood idea or\b"
        r"|\b(?:any|a)\s+(?:problem|harm)\s+(?:with\s+(?:that|this|it)\s+)?for\s+"
        r"(?:him|her|me|us|my\s+\w+)\b", re.IGNORECASE),
    # "what do his numbers mean?": reading someone's own results.
    "own_results_meaning": re.compile(
        rf"\bwhat\s+do(?:es)?\s+(?:{_OWNER}|these|those)\s+(?:\w+\s+)?(?:numbers|results?|levels?|"
        r"values|bloods?|readings|labs?|tests?)\s+(?:\w+\s+)?mean\b(?!\s+for\b)", re.IGNORECASE),
    # "am I suitable to donate?", "is she eligible for the trial?": only the team can judge.
    "eligibility": re.compile(
        r"\b(?:am i|are we|is (?:he|she|my\s+\w+))\s+(?:a\s+)?(?:suitable|eligible|"
        r"good candidate|fit enough)\b", re.IGNORECASE),
    # "how bad is his biopsy?": an interpretation of someone's own results.
    "own_severity": re.compile(
        rf"\bhow (?:bad|serious|severe|advanced|worrying) (?:is|are)\s+{_OWNER}\b", re.IGNORECASE),
    "hinglish_decision": re.compile(_HINGLISH_DECISION, re.IGNORECASE),
}

# Asking to be contacted by a person ("can someone from the clinic call me back?", "please have a
# nurse ring us"): the classifier reads the rest of the message ("...rearrange the biopsy") as a topic.
_SOMEONE = (r"(?:someone|somebody|anyone|a\s+(?:real\s+)?(?:person|human|nurse|doctor)|"
            r"a\s+(?:member of staff|staff member|member of the team)|"
            r"(?:the|a|my|our)\s+(?:dietitian|dietician|pharmacist|transplant coordinator|specialist nurse)|"
            r"(?:the|your|my|our)\s+(?:clinic|team|care team|renal team|kidney team|nurses?|doctors?|"
            r"nephrologist|consultant|office|unit))")
_CONTACT = (r"(?:contact|call|ring|phone|e-?mail|text|message|reach|get in touch with|get back to|"
            r"speak to|talk to)")
_CONTACT_REQUEST = re.compile(
    rf"\b{_SOMEONE}(?:\s+(?:from|at|in)\s+(?:the\s+)?[\w-]+(?:\s+(?:team|clinic|unit))?)?\s+"
    rf"(?:please\s+)?{_CONTACT}\s+(?:me|us)\b"
    rf"|\b(?:have|get|ask)\s+{_SOMEONE}\s+(?:to\s+)?{_CONTACT}\s+(?:me|us)\b"
    rf"|\b(?:call|ring|phone)\s+(?:me|us)\s+back\b"
    # "can you put me in touch with a staff member?", "I'd rather talk it through with someone"
    r"|\b(?:put|get)\s+(?:me|us)\s+(?:in\s+touch\s+with|through(?:\s+to)?)\b"
    # Hinglish: "doctor se baat karni hai" (I need to talk to the doctor)
    r"|\b(?:doctor|dr|nurse|kisi|insaan|team|staff)\s+se\s+baat\s+(?:karni|karna|karao|karwa|kar)\w*\b"
    r"|\bconnect\s+(?:me|us)\s+(?:with|to)\b"
    rf"|\b(?:can|could|may)\s+(?:i|we)\s+(?:talk|speak)\s+(?:to|with)\s+{_SOMEONE}"
    rf"|\b(?:rather|prefer to|want to|need to|like to)\s+(?:talk|speak)\s+(?:it\s+(?:through|over)\s+)?"
    rf"(?:to|with)\s+{_SOMEONE}", re.IGNORECASE)


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
    r"|\b(?:days?|weeks?|months?|years?)\s+ago\b|\b(?:in|back in|since)\s+(?:19|20)\d\d\b"
    r"|\bback then\b|\bpreviously\b"
    r"|\bhistory of\b|\bused to\b|\bonce had\b|\bwhen (?:he|she|i|we|they) (?:was|were)\b",
    re.IGNORECASE)
# Hinglish present: "abhi" (now), "aaj" (today), "raha/rahi/rahe" (-ing: "saans nahi aa rahi").
_NOW = re.compile(r"\b(?:now|today|tonight|currently|right now|this (?:morning|evening|afternoon)|"
                  r"at the moment|again|still|suddenly|since (?:this|last night|yesterday|morning)|"
                  r"abhi|aaj|rah[aei]|for the (?:last|past) (?:hour|few hours)|"
                  r"(?:since\s+)?(?:about\s+)?(?:an?|one|two|three|few|a few|\d+)\s+(?:hours?|minutes?|mins?)"
                  r"(?:\s+ago)?)\b", re.IGNORECASE)


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


# A yes/no question about one person in a message that gives that person's dose ("He's on
# prednisolone 20mg alternate days. Can my grandson have the nasal flu vaccine next week?").
_OWN_DOSE = re.compile(
    r"\b(?:i'm|i am|im|he's|he is|hes|she's|she is|shes|we're|is|are)\s+(?:on|taking|having)\s+"
    r"(?:[\w-]+\s+){0,2}\d+(?:\.\d+)?\s*mg\b", re.IGNORECASE)
_YES_NO_ABOUT_SOMEONE = re.compile(
    rf"\b(?:can|could|may|should)\s+(?:{_SUBJECT}|my\s+\w+)\s+(?:still\s+)?(?:have|get|go|do|eat|drink|"
    rf"travel|swim|play|use)\b", re.IGNORECASE)


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
    if _OWN_DOSE.search(text) and any(
            _asks(sentences, index) and _YES_NO_ABOUT_SOMEONE.search(sentence)
            for index, sentence in enumerate(sentences)):
        found.append("own_dose_question")
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


# A fever reading ("fever 39.4", "temp of 101", "bukhar 103"), which no phrase list can hold:
# 38 C / 100.4 F and above is red flag 5 for anyone on steroids or immunosuppressants.
_DEGREES = r"(?:3[89]|4[0-2])(?:[.,]\d)?(?!\d)|100[.,][4-9]|10[1-6](?:[.,]\d)?(?!\d)"
_FEVER_READING = re.compile(
    rf"\b(?:fever|temp|temperature|bukhar|bukhaar)\b[^.?!\n\d]{{0,15}}(?:{_DEGREES})"
    rf"|(?<![\d.,])(?:{_DEGREES})\s*(?:°\s*[cf]?|degrees?|deg)?\s*(?:[cf]\s+)?(?:ka\s+)?"
    r"(?:fever|temp|temperature|bukhar|bukhaar)\b", re.IGNORECASE)


# Sudden flank pain with blood in the urine (red flag 3): two findings that no one phrase holds.
_SIDE_PAIN_WITH_BLOOD = re.compile(
    r"\b(?:side|flank|loin|back)\b[^.?!\n]{0,60}\b(?:pee|urine|wee)\s+(?:is|looks|has gone|went|"
    r"turned)\s+(?:like\s+)?(?:red|bloody|pink|brown|dark|cola|coke|tea)\b"
    r"|\bblood\s+in\s+(?:my|his|her|the)?\s*(?:pee|urine|wee)\b[^.?!\n]{0,60}"
    r"\b(?:side|flank|loin|back)\s+pain\b", re.IGNORECASE)
# Red flags found by pattern rather than by phrase, under their terms.yml ids.
_PATTERN_RED_FLAGS = {"infection_on_immunosuppression": _FEVER_READING,
                      "kidney_clot": _SIDE_PAIN_WITH_BLOOD}


def red_flags(message: Message) -> list[str]:
    """Canonical ids of the red-flag phrases (and fever readings) found in a parsed message,
    leaving out those in a sentence that tells past history ("last year he had chest pain") with
    nothing about now."""
    text = message.get(TEXT) or ""
    history = [span for span in sentence_spans(text) if _is_past_history(text[span[0]:span[1]])]
    found = [(e[ENTITY_ATTRIBUTE_VALUE], e[ENTITY_ATTRIBUTE_START]) for e in message.get(ENTITIES, [])
             if e.get(ENTITY_ATTRIBUTE_TYPE) == RED_FLAG_LABEL
             and not _PATHOLOGY_TERM.match(text, e[ENTITY_ATTRIBUTE_START])]
    found += [(flag, match.start()) for flag, pattern in _PATTERN_RED_FLAGS.items()
              for match in pattern.finditer(text)]
    return list(dict.fromkeys(flag for flag, at in found
                              if not any(start <= at < end for start, end in history)))

