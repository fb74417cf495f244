"""Limits on the patient side, over real HTTP against a real Rasa + action server stack: per-address
message limits on REST (behind a trusted proxy, so each test chooses its client address), the
new-ticket cap with an urgent request getting through, and Rasa's own request-size limit."""
from __future__ import annotations

import asyncio
import uuid

import pytest
import requests
import socketio

from bot.channels.rest import conversation_id
from bot.handoff.outbox import Outbox
from bot.handoff.store import HandoffStore
from tests.support.stack import start_stack

pytestmark = pytest.mark.slow
PER_ADDRESS = 4


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("limits"), TRUSTED_PROXIES="127.0.0.1",
                          RATE_LIMIT_PER_ADDRESS_PER_MINUTE=str(PER_ADDRESS), NEW_TICKETS_PER_MINUTE="1")
    yield running
    running.stack.stop()


def user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def address() -> str:
    octets = uuid.uuid4().bytes
    return f"10.{octets[0]}.{octets[1]}.{octets[2]}"


def rest(stack, sender: str, text: str, client: str) -> list[str]:
    """One REST message as nginx would forward it from `client`."""
    response = requests.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook",
                             json={"sender": sender, "message": text},
                             headers={"X-Forwarded-For": client}, timeout=60)
    response.raise_for_status()
    return [m.get("text") or "" for m in response.json()]


def test_one_client_address_is_limited_across_senders_over_real_http(stack):
    client = address()
    replies = [rest(stack, user(), "what is FSGS?", client) for _ in range(PER_ADDRESS + 1)]
    assert all(not any("faster than I can answer" in r for r in answer) for answer in replies[:-1])
    [refusal] = replies[-1]
    assert "faster than I can answer" in refusal and "If this is an emergency, call" in refusal
    # Another client is answered as usual.
    assert not any("faster than I can answer" in r for r in rest(stack, user(), "what is FSGS?",
                                                                 address()))


def widget_reply(stack, client: str, text: str) -> str:
    """One message from a fresh widget session whose socket nginx forwarded from `client`."""
    async def scenario() -> str:
        sio = socketio.AsyncClient()
        confirmed, replies = asyncio.Queue(), asyncio.Queue()
        sio.on("session_confirm", confirmed.put_nowait)
        sio.on("bot_uttered", replies.put_nowait)
        await sio.connect(stack.settings.rasa_url, transports=["websocket"],
                          headers={"X-Forwarded-For": client})
        try:
            await sio.emit("session_request", {"session_id": uuid.uuid4().hex})
            session = await asyncio.wait_for(confirmed.get(), 30)
            await sio.emit("user_uttered", {"message": text, "session_id": session})
            return (await asyncio.wait_for(replies.get(), 60)).get("text") or ""
        finally:
            await sio.disconnect()

    return asyncio.run(scenario())


def test_one_client_address_is_limited_across_widget_sessions(stack):
    client = address()
    replies = [widget_reply(stack, client, "what is FSGS?") for _ in range(PER_ADDRESS + 1)]
    assert not any("faster than I can answer" in r for r in replies[:-1])
    assert "faster than I can answer" in replies[-1] and "If this is an emergency" in replies[-1]
    assert "faster than I can answer" not in widget_reply(stack, address(), "what is FSGS?")


def test_rest_and_widget_messages_from_one_address_count_together(stack):
    client = address()
    for _ in range(PER_ADDRESS // 2):
        assert not any("faster than" in r for r in rest(stack, user(), "what is FSGS?", client))
    for _ in range(PER_ADDRESS - PER_ADDRESS // 2):
        assert "faster than" not in widget_reply(stack, client, "what is FSGS?")
    assert "faster than I can answer" in widget_reply(stack, client, "what is FSGS?")


def test_over_the_ticket_cap_a_request_waits_honestly_and_an_urgent_one_gets_through(stack):
    store = HandoffStore.from_url(stack.settings.database_url)
    first, second, urgent = user(), user(), user()
    question = "should I stop taking my prednisone? my face is so puffy"
    assert any("care team" in r for r in rest(stack, first, question, address()))
    assert store.open_ticket_for(conversation_id(first)) is not None

    replies = rest(stack, second, question, address())
    assert any("waiting its turn" in r and "If this becomes urgent, call" in r for r in replies)
    assert store.open_ticket_for(conversation_id(second)) is None
    held = [p for p in Outbox(stack.settings.outbox_dir).pending() if p.name.endswith(".held.json")]
    assert len(held) == 1                                     # saved, not lost

    replies = rest(stack, urgent, "my son has chest pain and he can't breathe properly", address())
    assert any("seek urgent care now" in r for r in replies)
    ticket = store.open_ticket_for(conversation_id(urgent))
    assert ticket is not None and ticket.priority == "urgent"
    store.dispose()


def test_rasa_refuses_oversized_requests_itself(stack):
    body = b'{"sender": "big", "message": "' + b"x" * (stack.settings.rasa_max_request_bytes + 10) + b'"}'
    response = requests.post(f"{stack.settings.rasa_url}/webhooks/rest/webhook", data=body,
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 413


def test_behind_run_has_nginx_the_console_limits_each_real_client(tmp_path):
    """`fsgs-bot run-ha` makes the console trust its loopback nginx: guesses from one client lock
    that client out, not every staff member behind nginx. Only nginx and the console run here."""
    import dataclasses

    from bot import accounts
    from bot.cli import ha
    from bot.handoff.store import HandoffStore
    from bot.settings import load_settings
    from tests.bot.web.conftest import NURSE, PASSWORD, Browser
    from tests.support.stack import stack_variables

    variables = stack_variables(tmp_path, LOGIN_FAILURES_PER_ADDRESS="2")
    settings = load_settings(variables)
    stack = ha.ha_stack(settings, variables, replicas=1, action_servers=1, log_dir=tmp_path / "logs")
    console_url = f"http://127.0.0.1:{settings.web_port}"
    stack.services = [s if s.name != "nginx" else dataclasses.replace(s, health_url=f"{console_url}/healthz")
                      for s in stack.services if s.name in ("web", "nginx")]
    store = HandoffStore.from_url(settings.database_url)
    store.add_staff(NURSE, accounts.hash_password(PASSWORD), "staff")
    store.dispose()

    def login(client: str, password: str) -> int:
        browser = Browser(console_url)                       # through nginx
        browser.http.headers["X-Forwarded-For"] = client
        return browser.login(NURSE, password).status_code

    with stack:
        assert [login("203.0.113.5", f"wrong guess {n}") for n in range(3)] == [401, 401, 429]
        assert login("198.51.100.7", PASSWORD) == 303        # another client behind the same nginx
