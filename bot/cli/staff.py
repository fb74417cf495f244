"""`fsgs-bot staff add|list|passwd`: manage console accounts from a terminal (the first admin too)."""
from __future__ import annotations

import argparse
import getpass
import sys

from bot import accounts
from bot.handoff.store import HandoffError, HandoffStore


def register(subparsers: argparse._SubParsersAction) -> None:
    staff = subparsers.add_parser("staff", help="manage staff console accounts")
    commands = staff.add_subparsers(dest="staff_command", required=True)
    add = commands.add_parser("add", help="create an account (asks for the password twice)")
    add.add_argument("email")
    add.add_argument("--role", choices=accounts.ROLES, default="staff")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of stdin (scripts, tests)")
    add.set_defaults(handler=_add)
    listing = commands.add_parser("list", help="list accounts")
    listing.set_defaults(handler=_list)
    passwd = commands.add_parser("passwd", help="set a new password for an account")
    passwd.add_argument("email")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(handler=_passwd)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise accounts.AccountError("The two passwords are not the same.")
    return first


def _store() -> HandoffStore:
    store = HandoffStore.from_url()
    store.create_schema()
    return store


def _add(args: argparse.Namespace) -> int:
    try:
        email = accounts.normalise_email(args.email)
        password_hash = accounts.hash_password(_password(args))
        _store().add_staff(email, password_hash, args.role)
    except (accounts.AccountError, HandoffError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Added {args.role} account {email}.")
    return 0


def _list(args: argparse.Namespace) -> int:
    try:
        staff = _store().list_staff()
    except HandoffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for member in staff:
        print(f"{member.email}\t{member.role}\t{'active' if member.active else 'inactive'}")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    try:
        email = accounts.normalise_email(args.email)
        _store().set_staff_password(email, accounts.hash_password(_password(args)))
    except (accounts.AccountError, HandoffError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Password changed for {email}; their open console sessions are signed out.")
    return 0
