"""The widget's conversation history over real HTTP: a `python -m bot.web` process, the real SQLite
queue, and the recording fake of Rasa's HTTP API (`tests/bot/web/conftest.py`); plus a second web
process whose Rasa is down."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from bot.rasa_api import STAFF_METADATA_KEY, staff_event
from tests.bot.web.conftest import NURSE, Console, user_event, web_process
from tests.support.stack import free_port

DELIVERED = "Hello, I'm Sam, a renal nurse."
PENDING = "Please don't change the dose before we talk."


def widget_session() -> str:
    """A session id as the widget gets it from the socket.io channel."""
    return uuid.uuid4().hex


def bot_event(text: str, at: float, buttons=()) -> dict:
    return {"event": "bot", "timestamp": at, "text": text, "data": {
        "buttons": [{"title": title, "payload": payload} for title, payload in buttons]}}


def history(base_url: str, session_id: str) -> requests.Response:
    return requests.get(f"{base_url}/widget/history/{session_id}", timeout=30)


def test_history_merges_rasa_lines_with_the_care_teams_messages_from_the_store(console: Console):
    session = widget_session()
    ticket = console.ticket(session)
    delivered = console.store.add_staff_message(ticket.id, NURSE, DELIVERED)
    console.store.mark_delivered(delivered.id)
    pushed = {**staff_event(DELIVERED, NURSE, "socketio"), "timestamp": 9e9}  # Rasa's copy
    console.rasa.trackers[session] = [
        {"event": "action", "name": "action_listen", "timestamp": 1},
        user_event("what is FSGS", 2),
        bot_event("FSGS is a pattern of kidney scarring.", 3, [("Treatments", "/ask_treatment")]),
        user_event("/request_human", 4),
        bot_event("I'll pass this to the care team.", 5),
        pushed,
    ]
    console.store.add_staff_message(ticket.id, NURSE, PENDING)  # Rasa never got this one

    answer = history(console.url, session)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"  # any site may embed the widget
    care_team = {"from": "staff", "from_care_team": True, "staff_name": "Care team"}
    assert answer.json()["messages"] == [
        {"from": "user", "text": "what is FSGS"},
        {"from": "bot", "text": "FSGS is a pattern of kidney scarring.",
         "quick_replies": [{"title": "Treatments", "payload": "/ask_treatment"}]},
        {"from": "user", "text": "/request_human"},
        {"from": "bot", "text": "I'll pass this to the care team.", "quick_replies": []},
        {**care_team, "text": DELIVERED, "delivered": True},  # once, from the store
        {**care_team, "text": PENDING, "delivered": False},
    ]
    assert NURSE not in answer.text and STAFF_METADATA_KEY not in answer.text


def test_history_keeps_the_last_200_lines(console: Console):
    session = widget_session()
    console.rasa.trackers[session] = [user_event(f"question {n}", n) for n in range(250)]
    messages = history(console.url, session).json()["messages"]
    assert len(messages) == 200
    assert messages[0]["text"] == "question 50" and messages[-1]["text"] == "question 249"


def test_unknown_conversation_has_an_empty_history(console: Console):
    assert history(console.url, widget_session()).json() == {"messages": []}


@pytest.mark.parametrize("session_id", [
    "123456789",                              # a Telegram chat
    "U0123ABCD",                              # a Slack user
    uuid.uuid4().hex.upper(),                 # not what the widget creates
    uuid.uuid4().hex + "0",
    uuid.uuid4().hex[:31],
    "%2E%2E%2Fconsole",
])
def test_ids_the_widget_cannot_have_are_not_looked_up(console: Console, session_id):
    before = len(console.rasa.calls)
    answer = history(console.url, session_id)
    assert answer.status_code == 404
    assert answer.json() == {"error": "There is no page at this address."}
    assert len(console.rasa.calls) == before


@pytest.fixture(scope="module")
def rasa_down(console: Console, tmp_path_factory) -> Iterator[str]:
    """Another web process on the same queue, whose RASA_URL has nothing listening."""
    var_dir = tmp_path_factory.mktemp("rasa-down")
    with web_process(var_dir, RASA_URL=f"http://127.0.0.1:{free_port()}",
                     DATABASE_URL=f"sqlite:///{console.tracker_db.parent / 'handoff.db'}") as url:
        yield url


def test_history_while_rasa_is_down_is_a_503_with_a_readable_error(rasa_down):
    answer = history(rasa_down, widget_session())
    assert answer.status_code == 503
    assert answer.json() == {"error": "The assistant cannot be reached. Try again in a minute."}


def test_demo_page_tells_the_widget_where_the_history_is(console: Console):
    page = requests.get(f"{console.url}/", timeout=30).text
    assert '"historyUrl": "/widget/history/"' in page
