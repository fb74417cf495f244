"""Telegram end to end: real-format updates posted to Rasa's webhook, a fake Bot API on loopback."""
from __future__ import annotations

import json
import random

import pytest

from bot.cli import main as fsgs_bot
from bot.handoff.desk import JOINED_TEXT
from bot.settings import get_settings
from tests.bot.channels.conftest import TELEGRAM_SECRET, escalated_ticket, post, staff_reply, user_texts
from tests.fakes.api import TELEGRAM_TOKEN, fake_telegram, telegram_update

pytestmark = pytest.mark.slow
SECRET = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
DEFINITION = "FSGS stands for focal segmental glomerulosclerosis"


@pytest.fixture
def webhook(channels_stack) -> str:
    return f"{channels_stack.settings.rasa_url}/webhooks/telegram/webhook"


def new_chat() -> int:
    return random.randint(10**8, 10**9)


def texts_to(api, chat: int) -> list:
    return [c.params["text"] for c in api.sent("sendMessage", chat_id=chat)]


def test_question_gets_the_curated_answer_from_the_configured_bot_api(webhook, telegram_api):
    chat = new_chat()
    response = post(webhook, json=telegram_update(chat, "what is FSGS"), headers=SECRET)
    assert response.status_code == 200
    # The handler answers before it returns: the reply is already at the Bot API.
    assert any(DEFINITION in text for text in texts_to(telegram_api, chat))
    assert all(f"/bot{TELEGRAM_TOKEN}/" in c.path for c in telegram_api.calls)


def test_staff_reply_is_pushed_to_the_chat(channels_stack, webhook, telegram_api):
    chat = new_chat()
    post(webhook, json=telegram_update(chat, "I want to talk to a person"), headers=SECRET)
    ticket = escalated_ticket(channels_stack, str(chat))
    assert ticket.channel == "telegram"

    staff_reply(channels_stack, ticket, "Hello, this is Sam from the kidney clinic.")
    assert texts_to(telegram_api, chat)[-2:] == [
        f"Care team: {JOINED_TEXT}", "Care team: Hello, this is Sam from the kidney clinic."]


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                                     {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET[:-1]}])
def test_update_without_the_right_secret_is_refused_and_leaves_no_trace(
        channels_stack, webhook, telegram_api, headers):
    chat = new_chat()
    response = post(webhook, json=telegram_update(chat, "what is FSGS"), headers=headers)
    assert response.status_code == 401
    assert texts_to(telegram_api, chat) == []
    assert user_texts(channels_stack, str(chat)) == []


def test_rasas_open_set_webhook_route_is_closed(channels_stack, telegram_api):
    url = f"{channels_stack.settings.rasa_url}/webhooks/telegram/set_webhook"
    assert post(url).status_code == 404
    assert telegram_api.sent("setWebhook") == []


@pytest.mark.parametrize("body, status", [
    (b"x" * 300_000, 413),
    (b"{not json", 400),
    (b"[1, 2]", 400),
    (b'{"update_id": "7", "message": {}}', 400),
    (b'{"update_id": 7, "message": "hello"}', 400),
    (b'{"update_id": 7, "message": {"message_id": 1, "date": 0, "text": "no chat"}}', 400),
    # aiogram's date converter raised OSError (found by the fuzz test) and OverflowError on these.
    (b'{"update_id": 0, "message": {"date": 6.77680361916768e+16}}', 400),
    (b'{"update_id": 0, "edited_message": {"date": 1e300}}', 400),
    (b'{"update_id": 0, "callback_query": {"message": {"date": -1e20}}}', 400),
])
def test_oversized_or_malformed_updates_get_4xx(webhook, body, status):
    response = post(webhook, data=body, headers={**SECRET, "Content-Type": "application/json"})
    assert response.status_code == status


def test_update_kinds_rasa_does_not_read_are_acknowledged(channels_stack, webhook, telegram_api):
    chat = new_chat()
    update = {"update_id": 99, "my_chat_member": {"chat": {"id": chat, "type": "private"}}}
    assert post(webhook, json=update, headers=SECRET).status_code == 200
    sticker = telegram_update(chat, "", sticker={"file_id": "x"})
    del sticker["message"]["text"]
    assert post(webhook, json=sticker, headers=SECRET).status_code == 200
    assert texts_to(telegram_api, chat) == []


def test_set_webhook_command_registers_the_url_with_the_secret(monkeypatch):
    with fake_telegram() as api:
        for name, value in {"TELEGRAM_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_BASE": api.url,
                            "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
                            "TELEGRAM_BOT_USERNAME": "fsgs_test_bot",
                            "RASA_AUTH_TOKEN": "unused", "WEB_SECRET_KEY": "unused"}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            assert fsgs_bot(["telegram", "set-webhook", "--url",
                             "https://bot.example.org/webhooks/telegram/webhook"]) == 0
        finally:
            get_settings.cache_clear()
        [call] = api.sent("setWebhook")
    assert call.params["url"] == "https://bot.example.org/webhooks/telegram/webhook"
    assert call.params["secret_token"] == TELEGRAM_SECRET
    assert json.loads(call.params["allowed_updates"]) == ["message", "edited_message", "callback_query"]
