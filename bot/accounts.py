"""Staff account rules shared by `fsgs-bot staff` and the console's admin page.

Passwords are hashed with argon2id (argon2-cffi defaults: memory-hard, salted, self-describing),
so the store only ever sees hashes, and old hashes are upgraded when the parameters change.
"""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.emails import InvalidEmail, account_email
from bot.handoff.models import ROLES

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256
_hasher = PasswordHasher()
# Checked when the account does not exist, so an unknown email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password, only used to equalise timing")


class AccountError(ValueError):
    """A new account or password breaks a rule; the message is shown to the person as is."""


def normalise_email(email: str) -> str:
    try:
        return account_email(email)
    except InvalidEmail as exc:
        raise AccountError("Enter a valid email address.") from exc


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"Role must be one of: {', '.join(ROLES)}.")
    return role


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"The password needs at least {MIN_PASSWORD_CHARS} characters.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"The password can have at most {MAX_PASSWORD_CHARS} characters.")
    return _hasher.hash(password)


def needs_rehash(password_hash: str) -> bool:
    """True when `password_hash` was made with other argon2 parameters than today's: the login
    that just verified it stores a new one (`upgraded_hash`)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return False


def upgraded_hash(password: str) -> str:
    """A hash with today's parameters for a password that was just verified. No length rules:
    they were applied when it was set, and it is hashed exactly as `verify_password` checks it."""
    return _hasher.hash(password[:MAX_PASSWORD_CHARS])


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; always spends one argon2 verification, even without a hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password[:MAX_PASSWORD_CHARS]) \
            and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
