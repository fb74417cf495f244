"""Which typed `/intent` payloads may skip NLU: exactly the ones the bot's own buttons send.

Rasa's RegexMessageHandler turns any text that starts with "/" (after stripping whitespace) into a
forced intent, after every NLU component, so "/fsgs_definition@1.0 my son can't breathe" would
bypass the red-flag layer, '/greet{"medication": ...}' would set slots, and "/restart" would end a
staff handoff (Rasa handles restart even while a conversation is paused). A message that is
exactly one of the domain's button payloads (or the widget's "Talk to a person" button) passes;
anything else loses every leading "/" and whitespace and goes through the full NLU pipeline like
any text. Rasa's own intents (restart,
session start, back, fallback) are never allowed, whatever a button says.

The buttons are read from the domain (the one definition); actions that send buttons reuse
payloads found there (tests/bot/channels/test_payloads.py checks it).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bot.intents import FALLBACK_INTENT, HUMAN_REQUEST_PAYLOAD
from bot.settings import PROJECT_ROOT

DOMAIN_DIR = PROJECT_ROOT / "domain"
NEVER_TYPED = frozenset({"restart", "session_start", "back", FALLBACK_INTENT})
_LEADING_SLASHES_AND_SPACE = re.compile(r"^[\s/]+")


def _button_payloads(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for button in node.get("buttons") or []:
            if isinstance(button, dict) and isinstance(button.get("payload"), str):
                yield button["payload"]
        for value in node.values():
            yield from _button_payloads(value)
    elif isinstance(node, list):
        for item in node:
            yield from _button_payloads(item)


def intent_of(payload: str) -> str:
    """The intent name a payload forces ("/affirm{...}" and "/affirm@0.9" force "affirm")."""
    return re.split(r"[{@]", payload.strip().lstrip("/"), maxsplit=1)[0].strip()


@functools.cache
def allowed_payloads(domain_dir: Path = DOMAIN_DIR) -> frozenset[str]:
    """Every button payload in the domain's responses and the widget's "Talk to a person" button,
    minus Rasa's own intents."""
    payloads: set[str] = {HUMAN_REQUEST_PAYLOAD}
    for path in sorted(domain_dir.rglob("*.yml")):
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        payloads.update(_button_payloads(content.get("responses") or {}))
    return frozenset(p for p in payloads if p.startswith("/") and intent_of(p) not in NEVER_TYPED)


def neutralise_injection(text: str) -> str:
    """`text` unchanged unless Rasa would read it as a forced intent; a button payload passes."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return text
    if stripped in allowed_payloads():
        return stripped
    return _LEADING_SLASHES_AND_SPACE.sub("", text).strip()
