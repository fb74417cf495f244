"""Rasa-side deadlines and fallbacks for custom action calls (bot/rasa_actions.py), against a real
HTTP peer on loopback that hangs or fails, with Rasa's own RemoteAction and tracker."""
from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from aiohttp import web
from rasa.core.actions.action import ActionSessionStart, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    SessionStarted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import rasa_actions
from bot.handoff.store import HandoffStore
from bot.settings import load_settings
from tests.support.stack import free_port

OWN_CASE = "should I stop my prednisone?"


@pytest.fixture
def settings(tmp_path):
    settings = load_settings({"FSGS_VAR_DIR": str(tmp_path), "RASA_AUTH_TOKEN": "t", "WEB_SECRET_KEY": "k"})
    return dataclasses.replace(settings, action_timeout_seconds=1)


async def serve(handler) -> tuple:
    app = web.Application()
    app.router.add_post("/webhook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, EndpointConfig(url=f"http://127.0.0.1:{port}/webhook")


async def hang(request: web.Request) -> web.Response:
    await asyncio.sleep(60)
    return web.json_response({"events": [], "responses": []})


async def fail(request: web.Request) -> web.Response:
    return web.json_response({"error": "boom", "request_body": await request.json()}, status=500)


def turn(text: str, message_id: str = "m1") -> DialogueStateTracker:
    return DialogueStateTracker.from_events("patient-1", [UserUttered(
        text, intent={"name": "personal_advice", "confidence": 1.0}, input_channel="rest",
        message_id=message_id)])


async def call(settings, handler, name: str, tracker: DialogueStateTracker):
    runner, endpoint = await serve(handler)
    try:
        bounded = rasa_actions.with_deadline(RemoteAction.run, settings, rasa_actions.Fallbacks(settings))
        started = time.monotonic()
        events = await bounded(RemoteAction(name, endpoint), CollectingOutputChannel(),
                               TemplatedNaturalLanguageGenerator({}), tracker, Domain.empty())
        return events, time.monotonic() - started
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("handler", [hang, fail])
def test_a_failed_or_hung_action_gets_an_honest_reply_with_the_emergency_line(settings, handler):
    events, elapsed = asyncio.run(call(settings, handler, "action_save_contact", turn("me@x.org")))
    assert [e.text for e in events] == [rasa_actions.action_failed_text(settings)]
    assert settings.emergency_number in events[0].text
    assert elapsed < 30  # the deadline (1 s here), not Rasa's 5 minutes


def test_later_calls_in_the_same_turn_fail_at_once_without_a_second_apology(settings):
    tracker = turn("me@x.org")
    tracker.update(BotUttered(rasa_actions.action_failed_text(settings)))
    calls = []

    async def counting(request):
        calls.append(request)
        return web.json_response({"events": [], "responses": []})

    events, _ = asyncio.run(call(settings, counting, "action_ask_contact_consent", tracker))
    assert (events, calls) == ([], [])


@pytest.mark.parametrize("handler", [hang, fail])
def test_an_escalation_whose_call_failed_still_reaches_the_queue_once(settings, handler):
    store = HandoffStore.from_url(settings.database_url)
    store.create_schema()
    tracker = turn(OWN_CASE, "abc123")
    events, _ = asyncio.run(call(settings, handler, "action_escalate_to_human", tracker))
    assert [e.text for e in events] == [rasa_actions.escalation_saved_text(settings)]
    deadline = time.monotonic() + 60
    while not store.list_tickets(statuses=("open",)):
        assert time.monotonic() < deadline, "the spooled escalation never reached the queue"
        time.sleep(0.2)
    [ticket] = store.list_tickets(statuses=("open",))
    assert (ticket.conversation_id, ticket.first_message, ticket.reason) == ("patient-1", OWN_CASE,
                                                                             "personal_advice")
    # The action server running the same call late (same message id) changes nothing.
    assert store.open_or_append(rasa_actions.escalation_request(tracker)).duplicate
    assert store.get(ticket.id).message_count == 1


def test_session_start_sends_the_disclaimer_without_any_action_server(settings):
    start = rasa_actions.with_disclaimer(ActionSessionStart.run,
                                         lambda: rasa_actions.disclaimer_text(settings))
    events = asyncio.run(start(ActionSessionStart(), CollectingOutputChannel(),
                               TemplatedNaturalLanguageGenerator({}),
                               DialogueStateTracker.from_events("p", []), Domain.empty()))
    assert isinstance(events[0], BotUttered) and "FSGS information assistant" in events[0].text
    assert settings.emergency_number in events[0].text
    assert any(isinstance(e, SessionStarted) for e in events)


def test_a_session_expiring_during_a_handoff_starts_paused_and_silent(settings):
    start = rasa_actions.with_disclaimer(ActionSessionStart.run,
                                         lambda: rasa_actions.disclaimer_text(settings))
    held = DialogueStateTracker.from_events("p", [ActionExecuted("action_listen"), ConversationPaused()])
    events = asyncio.run(start(ActionSessionStart(), CollectingOutputChannel(),
                               TemplatedNaturalLanguageGenerator({}), held, Domain.empty()))
    assert not any(isinstance(e, BotUttered) for e in events)
    replayed = DialogueStateTracker.from_events("p", [*held.events, *events])
    assert replayed.is_paused()
