"""One real stack (Rasa + action server) with Telegram and Slack on, talking to fake APIs on loopback."""
from __future__ import annotations

import asyncio
import uuid

import pytest
import requests

from bot.handoff.store import HandoffStore, TicketView
from bot.rasa_api import staff_desk
from tests.fakes.api import SLACK_TEST_TOKEN, TELEGRAM_BOT, TELEGRAM_TOKEN, FakeApi, fake_slack, fake_telegram
from tests.support.stack import RunningStack, start_stack

TELEGRAM_SECRET = "test-webhook-secret_0123456789"
SLACK_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NURSE = "nurse@example.org"


@pytest.fixture(scope="session")
def telegram_api() -> FakeApi:
    with fake_telegram() as api:
        yield api


@pytest.fixture(scope="session")
def slack_api() -> FakeApi:
    with fake_slack() as api:
        yield api


@pytest.fixture(scope="session")
def channels_stack(tmp_path_factory, telegram_api, slack_api) -> RunningStack:
    running = start_stack(
        tmp_path_factory.mktemp("channels"),
        TELEGRAM_TOKEN=TELEGRAM_TOKEN, TELEGRAM_BOT_USERNAME=TELEGRAM_BOT["username"],
        TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET, TELEGRAM_API_BASE=telegram_api.url,
        SLACK_TOKEN=SLACK_TEST_TOKEN, SLACK_SIGNING_SECRET=SLACK_SIGNING_SECRET,
        SLACK_API_BASE=f"{slack_api.url}/api/")
    yield running
    running.stack.stop()


def new_id() -> str:
    return uuid.uuid4().hex[:10]


def user_texts(stack: RunningStack, conversation_id: str) -> list[str]:
    return [e.get("text") for e in stack.tracker(conversation_id)["events"] if e["event"] == "user"]


def escalated_ticket(stack: RunningStack, conversation_id: str) -> TicketView:
    store = HandoffStore.from_url(stack.settings.database_url)
    [ticket] = [t for t in store.list_tickets(statuses=("open", "claimed"))
                if t.conversation_id == conversation_id]
    return ticket


def staff_reply(stack: RunningStack, ticket: TicketView, text: str) -> None:
    """A nurse claims the ticket and answers, through the desk the console uses."""
    asyncio.run(staff_desk(stack.settings).reply(ticket.id, NURSE, text))


def post(url: str, **kwargs) -> requests.Response:
    return requests.post(url, timeout=60, **kwargs)
