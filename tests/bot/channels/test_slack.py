"""Slack end to end: signed Events API payloads posted to Rasa's webhook, a fake Web API on loopback.

Rasa answers Slack events in a background task, so these tests poll the fake Web API.
"""
from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from bot.handoff.desk import JOINED_TEXT
from tests.bot.channels.conftest import (
    SLACK_SIGNING_SECRET,
    escalated_ticket,
    new_id,
    post,
    staff_reply,
    user_texts,
)
from tests.fakes.api import SLACK_TEST_TOKEN, slack_message_event, slack_signature_headers

pytestmark = pytest.mark.slow
DEFINITION = "FSGS stands for focal segmental glomerulosclerosis"
THANKS = "You're welcome"


@pytest.fixture
def webhook(channels_stack) -> str:
    return f"{channels_stack.settings.rasa_url}/webhooks/slack/webhook"


def send(webhook: str, payload, *, secret: str = SLACK_SIGNING_SECRET, timestamp=None,
         content_type: str = "application/json", extra_headers=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {**slack_signature_headers(body, secret, timestamp), "Content-Type": content_type,
               **(extra_headers or {})}
    return post(webhook, data=body, headers=headers)


def wait_until(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)
    return result


def posts_containing(slack_api, text: str, channel: str) -> list:
    """Waits for the posts to `channel` that contain `text`: the welcome message goes out first,
    in a post of its own, so "some post arrived" does not yet mean the answer has."""
    return wait_until(lambda: [c for c in slack_api.sent("chat.postMessage", channel=channel)
                               if text in c.params["text"]])


def test_direct_message_gets_the_curated_answer_in_the_dm(webhook, slack_api):
    user, dm = f"U{new_id()}", f"D{new_id()}"
    assert send(webhook, slack_message_event(user, "what is FSGS", dm)).status_code == 200
    [reply] = posts_containing(slack_api, DEFINITION, dm)
    assert "thread_ts" not in reply.params  # a plain DM is answered in the DM, not in a thread
    assert reply.headers["Authorization"] == f"Bearer {SLACK_TEST_TOKEN}"
    assert "as_user" not in reply.params  # refused by current Slack apps


def test_mention_in_a_channel_is_answered_in_its_thread(webhook, slack_api):
    user, channel = f"U{new_id()}", f"C{new_id()}"
    event = slack_message_event(user, "<@U0BOT> what is FSGS", channel, channel_type="channel",
                                kind="app_mention")
    assert send(webhook, event).status_code == 200
    posts_containing(slack_api, DEFINITION, channel)
    replies = slack_api.sent("chat.postMessage", channel=channel)
    assert {c.params["thread_ts"] for c in replies} == {event["event"]["ts"]}


def test_slack_retries_do_not_produce_duplicate_replies(channels_stack, webhook, slack_api):
    user, dm = f"U{new_id()}", f"D{new_id()}"
    event = slack_message_event(user, "what is FSGS", dm)
    assert send(webhook, event).status_code == 200
    for number, reason in enumerate(["http_timeout", "http_error", "unknown_error"], start=1):
        retry = send(webhook, event, extra_headers={"X-Slack-Retry-Num": str(number),
                                                    "X-Slack-Retry-Reason": reason})
        assert retry.status_code < 300
    # A positive marker: a later message of the same user. Rasa handles one conversation's
    # messages in arrival order, so once its reply is out, any duplicate would be out too.
    assert send(webhook, slack_message_event(user, "thank you", dm)).status_code == 200
    posts_containing(slack_api, THANKS, dm)
    replies = [c.params["text"] for c in slack_api.sent("chat.postMessage", channel=dm)]
    assert sum(DEFINITION in text for text in replies) == 1
    assert user_texts(channels_stack, user) == ["what is FSGS", "thank you"]


def test_staff_reply_is_pushed_to_the_users_direct_messages(channels_stack, webhook, slack_api):
    user, dm = f"U{new_id()}", f"D{new_id()}"
    send(webhook, slack_message_event(user, "I want to talk to a person", dm))
    slack_api.wait_for("chat.postMessage", channel=dm)
    ticket = wait_until(lambda: _ticket_or_none(channels_stack, user))
    assert ticket.channel == "slack"

    staff_reply(channels_stack, ticket, "Hello, this is Sam from the kidney clinic.")
    pushed = slack_api.wait_for("chat.postMessage", count=2, channel=user)
    assert [c.params["text"] for c in pushed] == [
        f"Care team: {JOINED_TEXT}", "Care team: Hello, this is Sam from the kidney clinic."]


def _ticket_or_none(stack, conversation_id):
    try:
        return escalated_ticket(stack, conversation_id)
    except ValueError:
        return None


@pytest.mark.parametrize("secret, age", [("not-the-signing-secret", 0), (SLACK_SIGNING_SECRET, 600)],
                         ids=["bad-signature", "stale-timestamp"])
def test_bad_or_stale_signature_is_refused_and_leaves_no_trace(
        channels_stack, webhook, slack_api, secret, age):
    user, dm = f"U{new_id()}", f"D{new_id()}"
    response = send(webhook, slack_message_event(user, "what is FSGS", dm), secret=secret,
                    timestamp=int(time.time()) - age)
    assert response.status_code == 401
    # Positive marker: a correctly signed message of the same user is answered, and it is the
    # only message Rasa ever saw from that user.
    assert send(webhook, slack_message_event(user, "thank you", dm)).status_code == 200
    posts_containing(slack_api, THANKS, dm)
    assert not any(DEFINITION in c.params["text"] for c in slack_api.sent("chat.postMessage", channel=dm))
    assert user_texts(channels_stack, user) == ["thank you"]


def test_unsigned_request_is_refused(webhook):
    assert post(webhook, json=slack_message_event("U1", "hi", "D1")).status_code == 401


def test_url_verification_echoes_the_challenge(webhook):
    response = send(webhook, {"token": "x", "challenge": "3eZbrw1aB", "type": "url_verification"})
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aB"}


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("body, content_type, status", [
    (b"x" * 300_000, "application/json", 413),
    (b"{not json", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b'{"type": "event_callback", "event": []}', "application/json", 400),
    (b'{"type": "event_callback", "event": {"type": "message", "channel_type": "im", '
     b'"text": 5, "user": "U1", "channel": "D1"}}', "application/json", 400),
    (urlencode({"payload": "{oops"}).encode(), FORM, 400),
    (b"nopayload=1", FORM, 400),
    (urlencode({"payload": json.dumps({"type": "view_submission"})}).encode(), FORM, 200),
], ids=["oversized", "bad-json", "json-list", "event-list", "text-number", "form-bad-json",
        "form-no-payload", "form-unread-kind"])
def test_oversized_or_malformed_payloads_get_4xx_never_5xx(webhook, body, content_type, status):
    assert send(webhook, body, content_type=content_type).status_code == status
