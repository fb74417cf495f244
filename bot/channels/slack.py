"""Rasa's Slack connector, hardened for a public Events API endpoint.

What changes from `rasa.core.channels.slack` (credentials.yml key `bot.channels.slack.SlackInput`;
the channel is still named "slack"):
- A bad or stale signature gets 401 (Rasa: 400) before anything else; oversized or malformed
  payloads get 4xx, never 5xx (Rasa answers 500 to interactive payloads it does not read).
- Slack redelivers an event it believes was lost (`X-Slack-Retry-Num`) and Rasa answers each copy
  unless the reason is `http_timeout`. Events are deduplicated by `event_id` whatever the reason,
  for an hour; the record is in Redis when REDIS_URL is set (nginx sends a retry to any replica),
  otherwise in this process (`bot.seen`).
- Messages are posted without the legacy `as_user` flag, which current Slack apps are refused for.
- The Web API base URL is configurable (SLACK_API_BASE: GovSlack, or a fake Web API in tests).
- A reply goes where the user wrote: in a direct message it stays in the conversation (threaded only
  if the user wrote in a thread); after a mention in a channel it goes in that message's thread.
  Pushed staff messages (`output_channel=latest`) go to the user's direct messages with the app,
  never to a shared channel: they answer personal questions.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from rasa.core.channels import slack
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import webhooks
from bot.channels.guard import guard_messages
from bot.seen import seen_ids
from bot.settings import get_settings

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
EVENT_MEMORY_SECONDS = 3600  # Slack retries for minutes


class SlackOutput(slack.SlackBot):
    """Rasa's output, talking to the configured Web API."""

    def __init__(self, token: str, api_base: str | None, slack_channel: str | None = None,
                 thread_id: str | None = None, proxy: str | None = None) -> None:
        super().__init__(token, slack_channel, thread_id, proxy)
        if api_base:
            self.client.base_url = api_base.rstrip("/") + "/"

    async def _post_message(self, channel: str, **kwargs: Any) -> None:
        """Rasa sends `as_user=True` with every message; Slack apps with granular bot scopes (all
        apps created today) are refused it (`invalid_arguments`)."""
        kwargs.pop("as_user", None)
        await super()._post_message(channel, **kwargs)


class SlackInput(slack.SlackInput):
    """Slack Events API webhook: 401 on bad signatures, no duplicate replies, configurable API."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        channel = super().from_credentials(credentials)
        channel.api_base = (credentials or {}).get("slack_api_base")
        return channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_base: str | None = None  # None: slack_sdk's default, https://slack.com/api/
        self._seen_events = seen_ids(get_settings(), "slack-events", EVENT_MEMORY_SECONDS)

    def get_output_channel(self, channel: str | None = None,
                           thread_id: str | None = None) -> SlackOutput:
        return SlackOutput(self.slack_token, self.api_base, channel or self.slack_channel,
                           thread_id, self.proxy)

    def get_metadata(self, request: Request) -> dict[str, Any]:
        """Rasa threads every reply under the user's message; not so in a plain direct message."""
        metadata = super().get_metadata(request)
        if request.headers.get("content-type") == JSON:
            event = request.json.get("event", {})
            if event.get("channel_type") == "im" and "thread_ts" not in event:
                metadata["thread_id"] = None
        return metadata

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return webhooks.guard(super().blueprint(guard_messages(on_new_message)), self._check_request)

    async def _check_request(self, request: Request) -> HTTPResponse | None:
        if webhooks.endpoint(request) != "webhook":
            return None
        if not self.is_request_from_slack_authentic(request):
            return webhooks.refuse(HTTPStatus.UNAUTHORIZED, "Bad or stale X-Slack-Signature.")
        if webhooks.too_large(request):
            return webhooks.refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Payload too large.")
        content_type = request.headers.get("content-type")
        if content_type == JSON:
            payload = request.json
            if not isinstance(payload, dict) or not isinstance(payload.get("event", {}), dict):
                return webhooks.refuse(HTTPStatus.BAD_REQUEST, "Not a Slack event.")
            if payload.get("type") == "url_verification":
                return response.json({"challenge": payload.get("challenge")})
            event_id = payload.get("event_id")
            if event_id and not await self._seen_events.first_time(str(event_id)):
                return response.text("Already handled.", headers={"X-Slack-No-Retry": "1"})
        elif content_type == FORM:
            payload = json.loads(request.form["payload"][0])
            if not (self._is_interactive_message(payload)
                    and self._get_interactive_response(payload["actions"][0]) is not None):
                return response.text("Ignored.")
        return None
