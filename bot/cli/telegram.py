"""`fsgs-bot telegram set-webhook`: tell Telegram where to send updates, and with which secret.

Telegram then sends TELEGRAM_WEBHOOK_SECRET in the `X-Telegram-Bot-Api-Secret-Token` header of
every update, which `bot.channels.telegram` requires. Run it once per deployment (and again when
the public URL or the secret changes); Rasa no longer sets the webhook at startup.
"""
from __future__ import annotations

import argparse
import asyncio
import json

from bot.settings import Settings, get_settings

WEBHOOK_PATH = "/webhooks/telegram/webhook"


def register(subparsers: argparse._SubParsersAction) -> None:
    telegram = subparsers.add_parser("telegram", help="manage the Telegram bot")
    commands = telegram.add_subparsers(dest="telegram_command", required=True)
    set_webhook = commands.add_parser(
        "set-webhook", help="register this deployment's webhook URL and secret with Telegram")
    set_webhook.add_argument(
        "--url", help=f"public HTTPS URL of the webhook, ending in {WEBHOOK_PATH} "
                      "(default: TELEGRAM_WEBHOOK_URL)")
    set_webhook.add_argument("--drop-pending-updates", action="store_true",
                             help="discard updates Telegram queued while no webhook was reachable")
    set_webhook.set_defaults(handler=_set_webhook)


def _set_webhook(args: argparse.Namespace) -> int:
    settings = get_settings()
    url = args.url or settings.telegram_webhook_url
    missing = [name for name, value in (("TELEGRAM_TOKEN", settings.telegram_token),
                                        ("TELEGRAM_WEBHOOK_SECRET", settings.telegram_webhook_secret),
                                        ("TELEGRAM_WEBHOOK_URL or --url", url)) if not value]
    if missing:
        print(f"Set {', '.join(missing)} first (see docs/channels.md).")
        return 2
    from aiogram.utils.exceptions import TelegramAPIError

    assert url  # checked with the others above
    try:
        info = asyncio.run(register_webhook(settings, url, args.drop_pending_updates))
    except TelegramAPIError as exc:
        print(f"Telegram refused: {exc}")
        return 1
    print(f"Telegram will send updates for @{info['username']} to {info['url']} "
          f"(pending: {info['pending_update_count']}).")
    if info["username"] != settings.telegram_bot_username:
        print(f"Warning: TELEGRAM_BOT_USERNAME is {settings.telegram_bot_username!r}; "
              f"set it to {info['username']!r} or Rasa will ignore every update.")
    return 0


async def register_webhook(settings: Settings, url: str, drop_pending_updates: bool = False) -> dict:
    """setWebhook with the secret (aiogram 2.15 predates `secret_token`, so the raw method is used),
    then what Telegram reports back."""
    from aiogram import Bot
    from aiogram.bot.api import TelegramAPIServer

    from bot.channels.telegram import HANDLED_UPDATES

    bot = Bot(settings.telegram_token, server=TelegramAPIServer.from_base(settings.telegram_api_base))
    try:
        await bot.request("setWebhook", {
            "url": url, "secret_token": settings.telegram_webhook_secret,
            "allowed_updates": json.dumps(HANDLED_UPDATES),
            "drop_pending_updates": json.dumps(drop_pending_updates)})
        webhook = await bot.request("getWebhookInfo")
        me = await bot.get_me()
        return {**webhook, "username": me.username}
    finally:
        await bot.session.close()
