"""The intent groups of `shared/intents.md`, defined once.

Plain constants with no imports, so the Rasa server's components, the action server, the console
and the benchmarks all read the same lists without pulling in Rasa.
"""
from __future__ import annotations

INFORMATIONAL_INTENTS = (
    "fsgs_definition", "fsgs_causes", "fsgs_symptoms", "fsgs_diagnosis", "fsgs_prognosis",
    "treatment_overview", "steroid_therapy", "steroid_resistance", "immunosuppressants",
    "side_effects", "kidney_protection", "diet_lifestyle", "complications", "dialysis_transplant",
    "proteinuria_nephrotic", "new_treatments",
)
CONVERSATION_INTENTS = ("greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "out_of_scope")
# The intents that hand a conversation to the care team.
ESCALATION_INTENTS = ("personal_advice", "request_human", "emergency")
PERSONAL_ADVICE_INTENT, REQUEST_HUMAN_INTENT, EMERGENCY_INTENT = ESCALATION_INTENTS
# What the chat widget's always-visible "Talk to a person" button sends: the one typed payload
# besides the domain's own buttons that may skip NLU (bot.channels.payloads).
HUMAN_REQUEST_PAYLOAD = f"/{REQUEST_HUMAN_INTENT}"
FALLBACK_INTENT = "nlu_fallback"
# Why a ticket was opened: an escalation intent, or two misunderstandings and an accepted offer.
REPEATED_FALLBACK_REASON = "repeated_fallback"
ESCALATION_REASONS = ESCALATION_INTENTS + (REPEATED_FALLBACK_REASON,)
