"""Rasa's Telegram connector, made safe to expose on the internet and able to take staff messages.

What changes from `rasa.core.channels.telegram` (credentials.yml key
`bot.channels.telegram.TelegramInput`; the channel is still named "telegram"):
- Every webhook request must carry Telegram's `X-Telegram-Bot-Api-Secret-Token` header equal to
  TELEGRAM_WEBHOOK_SECRET (compared first, in constant time); otherwise 401 and nothing else happens.
  Rasa's unauthenticated `GET /set_webhook` route is closed: `fsgs-bot telegram set-webhook`
  registers the webhook with the secret instead.
- `get_output_channel()` returns one shared output and never calls `set_webhook`: Rasa's version
  runs `asyncio.run()` inside the server's loop, so pushed staff messages failed.
- The Bot API base URL is configurable (TELEGRAM_API_BASE: a self-hosted Bot API server, or a fake
  one in tests).
- Oversized or malformed updates get 4xx; update kinds Rasa does not handle get 200 (Telegram would
  redeliver them), and errors while answering are logged instead of becoming 500s (Telegram would
  redeliver the update and the user would be answered twice).
"""
from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiogram import types
from aiogram.bot.api import TelegramAPIServer
from rasa.core.channels import telegram
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.shared.exceptions import InvalidConfigException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import webhooks
from bot.channels.guard import guard_messages

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The update kinds Rasa's handler reads; `fsgs-bot telegram set-webhook` subscribes to just these.
HANDLED_UPDATES = ("message", "edited_message", "callback_query")


class TelegramOutput(telegram.TelegramOutput):
    """Rasa's output, talking to the configured Bot API server."""

    def __init__(self, access_token: str, api_base: str) -> None:
        super().__init__(access_token)
        self.server = TelegramAPIServer.from_base(api_base)
        self._me: types.User | None = None

    async def get_me(self) -> types.User:
        """Rasa's handler asks on every update; the answer does not change while we run."""
        if self._me is None:
            self._me = await super().get_me()
        return self._me


class TelegramInput(telegram.TelegramInput):
    """Telegram webhook with secret-header check, configurable Bot API server and pushes."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
            raise AssertionError("unreachable")  # the call above raises
        return cls(str(credentials.get("access_token") or ""), str(credentials.get("verify") or ""),
                   str(credentials.get("webhook_secret") or ""), str(credentials.get("api_base") or ""))

    def __init__(self, access_token: str, verify: str, webhook_secret: str, api_base: str) -> None:
        if not (access_token and verify and webhook_secret and api_base):
            raise InvalidConfigException(
                "Telegram needs access_token, verify (the bot's username), webhook_secret and "
                "api_base (TELEGRAM_TOKEN, TELEGRAM_BOT_USERNAME, TELEGRAM_WEBHOOK_SECRET, "
                "TELEGRAM_API_BASE).")
        super().__init__(access_token, verify, webhook_url=None, debug_mode=False)
        self.webhook_secret = webhook_secret.encode()
        self.api_base = api_base
        self._output: TelegramOutput | None = None

    def get_output_channel(self) -> TelegramOutput:
        if self._output is None:
            self._output = TelegramOutput(self.access_token, self.api_base)
        return self._output

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = webhooks.guard(super().blueprint(guard_messages(on_new_message)), self._check_update)

        @blueprint.listener("after_server_stop")
        async def close_bot_session(*_: Any) -> None:
            await self.get_output_channel().session.close()

        return blueprint

    def _has_secret(self, request: Request) -> bool:
        return hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), self.webhook_secret)

    async def _check_update(self, request: Request) -> HTTPResponse | None:
        endpoint = webhooks.endpoint(request)
        if endpoint == "set_webhook":
            return webhooks.refuse(HTTPStatus.NOT_FOUND, "Use `fsgs-bot telegram set-webhook`.")
        if endpoint != "webhook":
            return None
        if not self._has_secret(request):
            return webhooks.refuse(HTTPStatus.UNAUTHORIZED, "Missing or wrong secret token.")
        if request.method != "POST":
            return webhooks.refuse(HTTPStatus.METHOD_NOT_ALLOWED, "POST an update.")
        if webhooks.too_large(request):
            return webhooks.refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Update too large.")
        update = request.json
        if (not isinstance(update, dict) or not isinstance(update.get("update_id"), int)
                or any(not isinstance(update.get(kind, {}), dict) for kind in HANDLED_UPDATES)):
            return webhooks.refuse(HTTPStatus.BAD_REQUEST, "Not a Telegram update.")
        if not any(kind in update for kind in HANDLED_UPDATES):
            return response.text("Ignored.")
        if not _readable_by_aiogram(update):
            return webhooks.refuse(HTTPStatus.BAD_REQUEST, "Not a Telegram update.")
        return None


def _readable_by_aiogram(update: dict[str, Any]) -> bool:
    """Whether Rasa's handler can build its `types.Update` from this JSON.

    aiogram converts fields while building it, and its converters raise whatever the standard
    library does on out-of-range values (a `date` of 6.8e16 raised OSError from `fromtimestamp`),
    so any exception from this pure in-memory parse means the payload is not an update.
    """
    try:
        types.Update(**update)
    except Exception:  # noqa: BLE001 - see the docstring: no I/O happens here
        return False
    return True
