"""Alert JSON to an incoming webhook (Slack, Teams or any HTTP receiver), with aiohttp."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp


class WebhookRejected(Exception):
    """The receiver answered, but not with 2xx."""


def webhook_target(url: str) -> str:
    """What staff may see of the URL: Slack and Teams keep the secret in the path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/…"


async def post_webhook(url: str, payload: dict[str, Any], timeout: float) -> None:
    """Returns once the receiver answered 2xx; raises otherwise."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async with session.post(url, json=payload, allow_redirects=False) as response:
            if not 200 <= response.status < 300:
                raise WebhookRejected(f"HTTP {response.status}")
