"""The one rule for what counts as an email address (staff accounts, users' contact details).

Syntax only, through `email-validator` (no DNS lookups: the bot must work offline and answer fast).
`.test` domains are accepted so examples and test clinics need no real domain.
"""
from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class InvalidEmail(ValueError):
    """`value` is not an email address; the message says why."""


def normalised_email(value: str) -> str:
    """`value` stripped and validated, its domain lowercased (the local part keeps its case)."""
    try:
        return validate_email((value or "").strip(), check_deliverability=False,
                              test_environment=True).normalized
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from exc


def account_email(value: str) -> str:
    """A staff account's email: normalised and wholly lowercased, so one person is one account."""
    return normalised_email(value).lower()
