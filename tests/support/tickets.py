"""Waiting for a ticket in end-to-end tests."""
from __future__ import annotations

import time

from bot.handoff.store import HandoffStore, TicketView


def wait_for_tickets(store: HandoffStore, conversation_id: str, deadline_s: float = 60
                     ) -> list[TicketView]:
    """The conversation's tickets once there is one (an outbox replay lands a moment later)."""
    deadline = time.monotonic() + deadline_s
    while not (found := store.tickets_for(conversation_id)):
        assert time.monotonic() < deadline, f"no ticket for {conversation_id} after {deadline_s}s"
        time.sleep(0.5)
    return found
