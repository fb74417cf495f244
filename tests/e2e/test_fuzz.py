"""Bad input at volume against every HTTP entry point of a real stack: the REST webhook, socket.io
events, the Telegram and Slack webhooks (fake Bot/Web APIs on loopback) and the console's forms.

Hypothesis generates malformed, oversized, wrongly typed and unicode-heavy inputs (a few thousand
in all). Whatever arrives: never a 5xx, never a crash, and the server still answers afterwards.
"""
from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import requests
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import accounts
from bot.channels.rest import SENDER_ID
from bot.handoff.store import HandoffStore
from tests.bot.web.conftest import Browser
from tests.fakes.api import (
    SLACK_TEST_TOKEN,
    TELEGRAM_BOT,
    TELEGRAM_TOKEN,
    fake_slack,
    fake_telegram,
    slack_signature_headers,
)
from tests.support.stack import start_stack

pytestmark = pytest.mark.slow
TELEGRAM_SECRET = "fuzz-webhook-secret_0123456789"
SLACK_SECRET = "0123456789abcdef0123456789abcdef"
STAFF, PASSWORD = "fuzz.nurse@example.org", "correct horse battery staple 42"
FUZZ = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))

# -- strategies ------------------------------------------------------------------------------------
weird_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(min_codepoint=0x300, max_codepoint=0x1FAFF), max_size=200),
    st.sampled_from(["", " ", "\x00", "/", "/emergency", '/greet{"x": 1}', "\u202e\u200b", "💩" * 5000,
                     "a" * 12_001, "what is fsgs " * 1000, "%s%n{}{0}", "<script>x</script>"]),
)
# What a browser or HTTP client can send in a form or query: no lone surrogates (not UTF-8 at all).
sendable_text = weird_text.filter(lambda t: t.isascii() or t.encode("utf-8", "ignore").decode() == t)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | weird_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(weird_text, inner, max_size=4),
    max_leaves=12,
)
raw_bodies = st.one_of(st.binary(max_size=2000), st.binary(min_size=300_000, max_size=300_001))


def shaped(fields):
    """Dicts with the expected keys, each value of any type (or the right type, weird content)."""
    return st.fixed_dictionaries({}, optional={name: st.one_of(json_values, weird_text) for name in fields})


# -- the stack -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with fake_telegram() as telegram, fake_slack() as slack:
        running = start_stack(
            tmp_path_factory.mktemp("fuzz"), web=True,
            TELEGRAM_TOKEN=TELEGRAM_TOKEN, TELEGRAM_BOT_USERNAME=TELEGRAM_BOT["username"],
            TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET, TELEGRAM_API_BASE=telegram.url,
            SLACK_TOKEN=SLACK_TEST_TOKEN, SLACK_SIGNING_SECRET=SLACK_SECRET,
            SLACK_API_BASE=f"{slack.url}/api/", RATE_LIMIT_PER_MINUTE="100000")
        try:
            yield running
        finally:
            running.stack.stop()


def still_answers(stack) -> None:
    assert stack.stack.first_exited() is None
    response = requests.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook",
                             json={"sender": f"after-{uuid.uuid4().hex[:8]}", "message": "hello"}, timeout=60)
    assert response.status_code == 200 and response.json()


def no_5xx(response: requests.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])


# -- REST ------------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=500)
@given(body=st.one_of(json_values.map(json.dumps), raw_bodies,
                      shaped(["sender", "message", "metadata"]).map(json.dumps)),
       content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                     "multipart/form-data; boundary=x", ""]))
def test_rest_webhook_bodies(stack, body, content_type):
    no_5xx(requests.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook", data=body,
                         headers={"Content-Type": content_type}, timeout=60))


@settings(FUZZ, max_examples=300)
@given(sender=weird_text.filter(lambda s: 0 < len(s.strip()) and len(s) <= 200), message=weird_text)
def test_rest_webhook_messages(stack, sender, message):
    response = requests.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook",
                             json={"sender": sender, "message": message}, timeout=60)
    no_5xx(response)
    if SENDER_ID.match(sender):
        assert response.status_code == 200 and isinstance(response.json(), list)
    else:  # not addressable in Rasa's HTTP API, where staff would need to reach it
        assert response.status_code == 400


# -- socket.io -------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=300)
@given(events=st.lists(st.tuples(st.sampled_from(["session_request", "user_uttered", "connect",
                                                  "disconnect", "bot_uttered", "nonsense"]),
                                 st.one_of(json_values, shaped(["session_id", "message", "metadata"]))),
                       min_size=1, max_size=5))
def test_socketio_events(stack, events):
    async def scenario():
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(stack.settings.rasa_url, transports=["websocket"])
        marker, confirmed = uuid.uuid4().hex, asyncio.Event()
        client.on("session_confirm", lambda session_id: session_id == marker and confirmed.set())
        for name, data in events:
            await client.emit(name, data)
        # Positive marker: after whatever came before, the server still serves this connection.
        await client.emit("session_request", {"session_id": marker})
        try:
            await asyncio.wait_for(confirmed.wait(), 30)
        finally:
            await client.disconnect()

    asyncio.run(scenario())


# -- Telegram and Slack webhooks ---------------------------------------------------------------------
def telegram_url(stack) -> str:
    return f"{stack.settings.rasa_url}/webhooks/telegram/webhook"


@settings(FUZZ, max_examples=400)
@given(update=st.one_of(json_values, shaped(["update_id", "message", "edited_message", "callback_query"]),
                        st.fixed_dictionaries({"update_id": st.integers(), "message": shaped(
                            ["message_id", "from", "chat", "date", "text"])})),
       secret=st.sampled_from([TELEGRAM_SECRET, "", "wrong"]))
def test_telegram_webhook(stack, update, secret):
    no_5xx(requests.post(telegram_url(stack), data=json.dumps(update), timeout=60,
                         headers={"Content-Type": "application/json",
                                  "X-Telegram-Bot-Api-Secret-Token": secret}))


@settings(FUZZ, max_examples=400)
@given(payload=st.one_of(json_values, shaped(["type", "event", "challenge", "event_id", "token"]),
                         st.fixed_dictionaries({"type": st.just("event_callback"), "event": shaped(
                             ["type", "user", "text", "channel", "ts", "channel_type", "thread_ts"])})),
       raw=raw_bodies, use_raw=st.booleans(), signed=st.booleans())
def test_slack_webhook(stack, payload, raw, use_raw, signed):
    body = raw if use_raw else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signed:
        headers.update(slack_signature_headers(body, SLACK_SECRET))
    no_5xx(requests.post(f"{stack.settings.rasa_url}/webhooks/slack/webhook", data=body,
                         headers=headers, timeout=60))


# -- the console's forms ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nurse(stack) -> Browser:
    store = HandoffStore.from_url(stack.settings.database_url)
    store.add_staff(STAFF, accounts.hash_password(PASSWORD), "admin")
    store.dispose()
    browser = Browser(f"http://127.0.0.1:{stack.settings.web_port}")
    assert browser.login(STAFF, PASSWORD).status_code == 303
    browser.get("/console")
    return browser


form_data = st.dictionaries(st.sampled_from(["email", "password", "next", "text", "csrf_token", "to_staff",
                                             "role", "form_id", "x"]),
                            sendable_text, max_size=5)
console_paths = st.sampled_from(["/login", "/logout", "/console/staff", "/console/tickets/1/claim",
                                 "/console/tickets/1/reply", "/console/tickets/1/notes",
                                 "/console/tickets/1/resolve", "/console/tickets/1/reassign",
                                 "/console/tickets/1/reopen", "/console/tickets/%00/claim",
                                 "/console/tickets/99999999999999999999/reply"])


@settings(FUZZ, max_examples=300)
@given(path=console_paths, data=form_data, with_page_csrf=st.booleans())
def test_console_forms(stack, nurse, path, data, with_page_csrf):
    if path == "/logout":
        path = "/login"  # keep the session: logging out is not bad input
    csrf = "page" if with_page_csrf else data.get("csrf_token")
    no_5xx(nurse.post(path, data, csrf=csrf))


@settings(FUZZ, max_examples=200)
@given(path=console_paths, query=st.dictionaries(sendable_text, sendable_text, max_size=3))
def test_console_pages_with_odd_queries(stack, nurse, path, query):
    no_5xx(nurse.http.get(nurse.base + path.replace("/claim", ""), params=query, timeout=30,
                          allow_redirects=False))


# -- afterwards ------------------------------------------------------------------------------------
def test_everything_still_answers_after_the_fuzzing(stack):
    still_answers(stack)
    assert requests.get(f"http://127.0.0.1:{stack.settings.web_port}/healthz", timeout=10).status_code == 200
