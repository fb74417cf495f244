"""Reading console form fields, with errors worded for the person who filled the form in.

Forms that create something (replies, notes, accounts) carry a one-time `form_id`: a second submit
of the same form (double click, browser retry) is refused instead of sending the patient the same
message twice. Claim and resolve need no id: a repeated one is an invalid transition in the store.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping

from bot.seen import seen_ids
from bot.settings import Settings


class FormError(ValueError):
    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def text_field(form: Mapping, name: str, what: str, limit: int) -> str:
    value = ((form.get(name) if form else None) or "").strip()
    if not value:
        raise FormError(f"The {what} is empty.")
    if len(value) > limit:
        raise FormError(f"The {what} is {len(value):,} characters long; the limit is {limit:,}. "
                        f"Shorten it or split it into several parts.", status=413)
    return value


class SubmittedForms:
    """Form ids already accepted, for a day: in Redis when REDIS_URL is set (a double click may
    reach two console processes), else in this process (`bot.seen`)."""

    MEMORY_SECONDS = 24 * 3600

    def __init__(self, settings: Settings):
        self._seen = seen_ids(settings, "form-ids", self.MEMORY_SECONDS)

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(12)

    async def accept(self, form_id: str | None) -> None:
        if not form_id or len(form_id) > 64:
            raise FormError("The form is missing its id; reload the page and try again.", 400)
        if not await self._seen.first_time(form_id):
            raise FormError("This form was already submitted (sent twice?); it was not repeated.",
                            409)
