"""`fsgs-bot user export|delete CONVERSATION_ID`: a user's data on request (access and erasure).

The conversation id is the user's sender id on their channel (REST sender, widget session id,
Telegram chat id, Slack user id). Export prints JSON: every tracker event plus every ticket with its
audit trail, internal notes and staff messages. Delete removes the same; run it when the
conversation is idle (docs/production.md explains why); it also deletes the user's escalations still
waiting in the outbox or set aside in outbox/rejected (they hold message text and contact details).
"""
from __future__ import annotations

import argparse

from bot.cli.handoff import _guarded, _print_json
from bot.conversations import tracker_events
from bot.handoff.outbox import Outbox
from bot.handoff.store import HandoffStore
from bot.settings import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    user = subparsers.add_parser("user", help="export or delete one user's data on request")
    commands = user.add_subparsers(dest="user_command", required=True)
    export = commands.add_parser("export", help="print the conversation and its tickets as JSON")
    export.add_argument("conversation_id", metavar="SENDER_ID")
    export.set_defaults(handler=_guarded(_export))
    delete = commands.add_parser("delete", help="delete the conversation and its tickets")
    delete.add_argument("conversation_id", metavar="SENDER_ID")
    delete.add_argument("--json", action="store_true", help="print JSON instead of a sentence")
    delete.set_defaults(handler=_guarded(_delete))


def _export(args: argparse.Namespace, store: HandoffStore) -> int:
    with tracker_events(get_settings().tracker_store_url) as conversations:
        events = conversations.events(args.conversation_id)
    tickets = [store.history(ticket.id) for ticket in store.tickets_for(args.conversation_id)]
    return _print_json({"conversation_id": args.conversation_id, "events": events, "tickets": tickets})


def _delete(args: argparse.Namespace, store: HandoffStore) -> int:
    with tracker_events(get_settings().tracker_store_url) as conversations:
        events = conversations.delete(args.conversation_id)
    tickets = store.delete_conversation(args.conversation_id)
    files = Outbox(get_settings().outbox_dir).forget_conversation(args.conversation_id)
    if args.json:
        return _print_json({"conversation_id": args.conversation_id, "events": events, "tickets": tickets,
                            "outbox_files": files})
    print(f"deleted {events} event(s) and {tickets} ticket(s) of conversation {args.conversation_id}, "
          f"and {files} outbox file(s)")
    return 0
