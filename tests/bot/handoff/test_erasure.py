"""A user's tickets on request: listed for export, deleted for erasure (HandoffStore)."""
from __future__ import annotations

import pytest

from bot.handoff.store import EscalationRequest, TicketNotFound

NURSE = "nurse@clinic.org"


def escalate(store, conversation_id: str):
    return store.open_or_append(EscalationRequest(conversation_id, "rest", conversation_id,
                                                  "personal_advice", f"help {conversation_id}")).ticket


def test_tickets_for_lists_every_status_oldest_first(store):
    store.add_staff(NURSE, "$argon2id$hash")
    first = escalate(store, "pat")
    store.resolve(first.id, NURSE)
    second = escalate(store, "pat")
    escalate(store, "someone-else")
    assert [t.id for t in store.tickets_for("pat")] == [first.id, second.id]
    assert store.tickets_for("nobody") == []


def test_delete_conversation_removes_its_tickets_and_records_only(store):
    store.add_staff(NURSE, "$argon2id$hash")
    mine = escalate(store, "pat")
    store.add_note(mine.id, NURSE, "note")
    store.add_staff_message(mine.id, NURSE, "hello")
    other = escalate(store, "sam")
    assert store.delete_conversation("pat") == 1
    with pytest.raises(TicketNotFound):
        store.history(mine.id)
    assert store.pending_messages("pat") == []
    assert store.get(other.id).status == "open"
    assert store.delete_conversation("pat") == 0
