"""Which typed `/intent` payloads may skip NLU.

Rasa's RegexMessageHandler turns any text starting with "/" into a forced intent, after every NLU
component, so "/fsgs_definition@1.0 my son can't breathe" would bypass the red-flag layer and
'/greet{"medication": ...}' would set slots. Buttons only ever send a bare "/intent_name"; anything
else that starts with "/" loses its slashes and goes through the full NLU pipeline like any text.
"""
import re

_BUTTON_PAYLOAD = re.compile(r"^/[a-z_]{1,64}$")


def neutralise_injection(text: str) -> str:
    if not text.startswith("/") or _BUTTON_PAYLOAD.match(text):
        return text
    return text.lstrip("/").strip()
