"""`fsgs-bot handoff ...` and `fsgs-bot purge`: the care team's queue from a terminal.

Tables for people, `--json` for scripts. Expected failures (unknown ticket, invalid transition,
bad input) print one line and exit 2; an unreachable database or Rasa exits 1. Staff identity
comes from `--as EMAIL` or `FSGS_STAFF`. Claim, reply and resolve go through `StaffDesk` so Rasa
pauses, receives the message and resumes exactly as it does from the web console.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from bot.conversations import TrackerStoreUnavailable, tracker_events
from bot.handoff.delivery import DeliveryError
from bot.handoff.desk import StaffDesk
from bot.handoff.models import ACTIVE_STATUSES, STATUSES, utcnow
from bot.handoff.outbox import Outbox
from bot.handoff.store import HandoffError, HandoffStore, StoreUnavailable
from bot.rasa_api import staff_desk
from bot.settings import get_settings

USAGE_ERROR, UNAVAILABLE = 2, 1
_DURATION = re.compile(r"(\d+)([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


class CliError(Exception):
    """A mistake in the command line itself (missing identity, bad duration)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON instead of a table")
    as_staff = argparse.ArgumentParser(add_help=False)
    as_staff.add_argument("--as", dest="staff", metavar="EMAIL",
                          help="staff member acting (default: $FSGS_STAFF)")
    ticket_id = argparse.ArgumentParser(add_help=False)
    ticket_id.add_argument("ticket_id", type=int, metavar="ID")

    handoff = subparsers.add_parser("handoff", help="the care team's queue of escalated chats")
    commands = handoff.add_subparsers(dest="handoff_command", required=True)

    listing = commands.add_parser("list", parents=[as_json],
                                  help="tickets, urgent first, then longest waiting")
    listing.add_argument("--status", action="append", choices=STATUSES + ("all",),
                         help="repeatable; default: open and claimed")
    listing.add_argument("--limit", type=int, default=200)
    listing.set_defaults(handler=_guarded(_list))

    commands.add_parser("show", parents=[ticket_id, as_json],
                        help="a ticket with its audit trail, notes and staff messages"
                        ).set_defaults(handler=_guarded(_show))
    commands.add_parser("claim", parents=[ticket_id, as_staff, as_json],
                        help="take a ticket; the bot goes quiet in that chat"
                        ).set_defaults(handler=_guarded(_claim))
    reply = commands.add_parser("reply", parents=[ticket_id, as_staff, as_json],
                                help="send a message to the user (claims the ticket if open)")
    reply.add_argument("text")
    reply.set_defaults(handler=_guarded(_reply))
    note = commands.add_parser("note", parents=[ticket_id, as_staff, as_json],
                               help="add an internal note (never shown to the user)")
    note.add_argument("text")
    note.set_defaults(handler=_guarded(_note))
    commands.add_parser("resolve", parents=[ticket_id, as_staff, as_json],
                        help="close a ticket; the bot answers that chat again"
                        ).set_defaults(handler=_guarded(_resolve))
    commands.add_parser("replay", parents=[as_json],
                        help="apply escalations queued offline while the database was down"
                        ).set_defaults(handler=_guarded(_replay))

    purge = subparsers.add_parser(
        "purge", parents=[as_json],
        help="delete resolved tickets, idle conversations and rejected outbox files older than a duration")
    purge.add_argument("--older-than", required=True, metavar="DURATION",
                       help="e.g. 90d, 12w or 48h (since the ticket was resolved, or since the "
                            "conversation's last event)")
    purge.set_defaults(handler=_guarded(_purge))


def _guarded(command: Callable[[argparse.Namespace, HandoffStore], int]):
    """Run `command` with a migrated store; expected failures become one line and an exit code."""

    def handler(args: argparse.Namespace) -> int:
        store = HandoffStore.from_url(get_settings().database_url)
        try:
            store.create_schema()
            return command(args, store)
        except (StoreUnavailable, TrackerStoreUnavailable) as exc:
            return _fail(str(exc), UNAVAILABLE)
        except (HandoffError, CliError) as exc:
            return _fail(str(exc), USAGE_ERROR)
        except DeliveryError as exc:
            return _fail(f"saved in the queue, but Rasa was not updated: {exc}", UNAVAILABLE)
        finally:
            store.dispose()

    return handler


def _fail(message: str, code: int) -> int:
    print(f"fsgs-bot: error: {message}", file=sys.stderr)
    return code


def _staff(args: argparse.Namespace) -> str:
    staff = args.staff or get_settings().staff_email
    if not staff:
        raise CliError("say who you are with --as EMAIL or the FSGS_STAFF environment variable")
    return staff


def _desk(store: HandoffStore) -> StaffDesk:
    return staff_desk(get_settings(), store)


def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {key: _jsonable(item) for key, item in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value.isoformat() if isinstance(value, datetime) else value


def _print_json(value) -> int:
    print(json.dumps(_jsonable(value), indent=2))
    return 0


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Left-aligned columns; no header line when every header is empty."""
    cells = [["" if c is None else str(c) for c in r] for r in rows]
    if any(headers):
        cells.insert(0, list(headers))
    widths = [max(len(row[i]) for row in cells) if cells else 0 for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
                     for row in cells)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _waited(since: datetime) -> str:
    minutes = int((utcnow() - since).total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return f"{days}d{hours:02d}h" if days else f"{hours}h{minutes:02d}m"


def _one_line(text: str, width: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _list(args: argparse.Namespace, store: HandoffStore) -> int:
    statuses: list[str] = args.status or list(ACTIVE_STATUSES)
    tickets = store.list_tickets(STATUSES if "all" in statuses else statuses, limit=args.limit)
    if args.json:
        return _print_json({"tickets": tickets, "counts": store.counts()})
    print(_table(("ID", "PRIORITY", "STATUS", "WAITING", "REASON", "CHANNEL", "ASSIGNED", "MSGS",
                  "LAST MESSAGE"),
                 ((t.id, t.priority, t.status, _waited(t.created_at), t.reason, t.channel,
                   t.assigned_to or "-", t.message_count, _one_line(t.last_user_message))
                  for t in tickets)))
    counts = store.counts()
    print(f"\n{counts['open']} open ({counts['urgent_open']} urgent), {counts['claimed']} claimed, "
          f"{counts['resolved']} resolved")
    return 0


def _show(args: argparse.Namespace, store: HandoffStore) -> int:
    history = store.history(args.ticket_id)
    if args.json:
        return _print_json(history)
    t = history.ticket
    print(f"Ticket #{t.id}  {t.priority.upper()}  {t.status}  ({t.reason})")
    print(_table(("", ""), (
        ("conversation", f"{t.conversation_id} on {t.channel} (sender {t.sender_id})"),
        ("opened", f"{_when(t.created_at)} (waiting {_waited(t.created_at)})"),
        ("assigned to", t.assigned_to or "-"),
        ("contact", t.contact_details if t.contact_consent else
         "refused" if t.contact_consent is False else "-"),
        ("messages", t.message_count),
        ("first message", _one_line(t.first_message, 100)),
        ("last message", _one_line(t.last_user_message, 100)),
    )))
    for title, headers, rows in (
            ("Audit trail", ("AT", "ACTOR", "EVENT", "DETAIL"),
             [(_when(e.at), e.actor, e.kind, e.detail) for e in history.events]),
            ("Notes", ("AT", "AUTHOR", "NOTE"),
             [(_when(n.created_at), n.author, n.text) for n in history.notes]),
            ("Staff messages", ("AT", "AUTHOR", "DELIVERED", "TEXT"),
             [(_when(m.created_at), m.author, _when(m.delivered_at) if m.delivered_at else
               "pending", m.text) for m in history.messages])):
        if rows:
            print(f"\n{title}\n{_table(headers, rows)}")
    return 0


def _report_ticket(args: argparse.Namespace, ticket, summary: str) -> int:
    if args.json:
        return _print_json(ticket)
    print(summary)
    return 0


def _claim(args: argparse.Namespace, store: HandoffStore) -> int:
    ticket = asyncio.run(_desk(store).claim(args.ticket_id, _staff(args)))
    return _report_ticket(args, ticket, f"ticket #{ticket.id} claimed by {ticket.assigned_to}")


def _reply(args: argparse.Namespace, store: HandoffStore) -> int:
    message = asyncio.run(_desk(store).reply(args.ticket_id, _staff(args), args.text))
    state = "delivered" if message.delivered_at else \
        "pending: the user's channel takes no pushes, they get it when they next write"
    return _report_ticket(args, message, f"message #{message.id} on ticket #{message.ticket_id}: "
                                         f"{state}")


def _note(args: argparse.Namespace, store: HandoffStore) -> int:
    note = store.add_note(args.ticket_id, _staff(args), args.text)
    return _report_ticket(args, note, f"note #{note.id} added to ticket #{note.ticket_id}")


def _resolve(args: argparse.Namespace, store: HandoffStore) -> int:
    ticket = asyncio.run(_desk(store).resolve(args.ticket_id, _staff(args)))
    return _report_ticket(args, ticket, f"ticket #{ticket.id} resolved")


def _replay(args: argparse.Namespace, store: HandoffStore) -> int:
    outbox = Outbox(get_settings().outbox_dir)
    report = outbox.replay(store)
    if args.json:
        _print_json(report)
    else:
        print(f"replayed {report.applied}, rejected {report.rejected} (kept in "
              f"{outbox.rejected_dir}), still queued {report.remaining}, held back by the "
              f"new-ticket cap {report.held}")
    return UNAVAILABLE if report.remaining else 0


def parse_duration(text: str) -> timedelta:
    """`90d`, `12w`, `48h` as a timedelta."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise CliError(f"cannot read duration {text!r}; use e.g. 90d, 12w or 48h")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _purge(args: argparse.Namespace, store: HandoffStore) -> int:
    before = utcnow() - parse_duration(args.older_than)
    purged = store.purge_resolved(before)
    with tracker_events(get_settings().tracker_store_url) as conversations:
        idle = conversations.purge_idle(before)
    rejected = Outbox(get_settings().outbox_dir).purge_rejected(before)
    if args.json:
        return _print_json({"purged": purged, "resolved_before": before, "conversations": idle,
                            "outbox_rejected": rejected})
    print(f"deleted {purged} ticket(s) resolved before {_when(before)}, with their events, "
          f"notes and messages, {idle} conversation(s) idle since then, and {rejected} rejected "
          "outbox file(s)")
    return 0
