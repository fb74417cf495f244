"""Bad input over the REST channel of a real Rasa server: a sensible reply or a clear 4xx, never a
5xx, never a crash, and no way around the emergency path by typing an `/intent` payload."""
from __future__ import annotations

import uuid

import pytest
import requests

pytestmark = pytest.mark.slow


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


ODD_MESSAGES = {
    "empty": "",
    "blank": "   ",
    "emoji-only": "😀😀🎉🙏",
    "spanish": "¿Qué es la glomeruloesclerosis focal y segmentaria?",
    "japanese": "腎臓病について教えてください",
    "10000-chars": ("what is fsgs " * 770)[:10_000],
    "html": "<script>alert(1)</script>",
    "bare-slash": "/",
    "unknown-intent-payload": "/unknown_intent",
}


@pytest.mark.parametrize("text", ODD_MESSAGES.values(), ids=ODD_MESSAGES.keys())
def test_odd_messages_get_a_reply_and_the_server_keeps_answering(stack, text):
    user = new_user()
    replies = stack.rest(user, text)
    assert any(r.strip() for r in replies), f"no reply to {text[:40]!r}"
    assert any("Source:" in r for r in stack.rest(user, "what is FSGS?"))


@pytest.mark.parametrize("injection", [
    "/fsgs_definition@1.0 my son is coughing up blood",
    '/greet{"medication": "prednisone"} I have chest pain right now',
    "/out_of_scope{} my husband fainted and cannot breathe",
])
def test_typed_intent_payloads_cannot_bypass_the_emergency_path(stack, injection):
    replies = stack.rest(new_user(), injection)
    assert any("seek urgent care now" in r for r in replies)


def test_button_payloads_still_work(stack):
    replies = stack.rest(new_user(), "/fsgs_definition")
    assert any("Source:" in r for r in replies)


@pytest.mark.parametrize("body", [
    b"not json at all",
    b"[1, 2, 3]",
    b'{"sender": 12, "message": "hi"}',
    b'{"sender": "x", "message": {"nested": true}}',
    b'{"message": "no sender"}',
    b'{"sender": "' + b"a" * 500 + b'", "message": "hi"}',
    b'{"sender": "/emergency", "message": "hi"}',  # not addressable in Rasa's HTTP API
    b'{"sender": "two words", "message": "hi"}',
])
def test_malformed_payloads_are_rejected_with_4xx(stack, body):
    response = requests.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook", data=body,
                             headers={"Content-Type": "application/json"}, timeout=30)
    assert 400 <= response.status_code < 500
