"""What every public webhook of ours does before Rasa's connector code sees a request.

Telegram and Slack redeliver what they think failed, and a 5xx tells them it did: so a payload that
Rasa's connector cannot parse gets a 400 (logged), never a 500.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

# Far above any real Telegram update or Slack event (both are a few kilobytes).
MAX_BODY_BYTES = 256 * 1024
# What Rasa's connectors raise while reading a payload of the wrong shape.
MALFORMED_PAYLOAD_ERRORS = (AttributeError, KeyError, TypeError, ValueError)

Check = Callable[[Request], Awaitable[HTTPResponse | None]]


def refuse(status: HTTPStatus, reason: str) -> HTTPResponse:
    return response.text(reason, status=status)


def too_large(request: Request) -> bool:
    return len(request.body or b"") > MAX_BODY_BYTES


def endpoint(request: Request) -> str:
    """The last path segment: "webhook", "set_webhook", or "" for the health route."""
    return request.path.rstrip("/").rsplit("/", 1)[-1]


async def _malformed(request: Request, exception: Exception) -> HTTPResponse:
    logger.warning("Malformed payload on %s: %r", request.path, exception, exc_info=exception)
    return refuse(HTTPStatus.BAD_REQUEST, "Malformed payload.")


def guard(blueprint: Blueprint, check: Check) -> Blueprint:
    """Run `check` before each of the blueprint's routes (a response from it ends the request) and
    turn payload-shape errors in the routes into 400s."""
    blueprint.middleware("request")(check)
    blueprint.exception(*MALFORMED_PAYLOAD_ERRORS)(_malformed)
    return blueprint
