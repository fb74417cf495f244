"""HandoffStore against real SQLite and PostgreSQL databases (see conftest.py)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.handoff.models import Base, utcnow
from bot.handoff.store import (
    MAX_TEXT_CHARS,
    EscalationRequest,
    HandoffStore,
    InvalidInput,
    InvalidTransition,
    MessageNotFound,
    StaffNotFound,
    StoreUnavailable,
    TicketNotFound,
)

NURSE, DOCTOR = "nurse@clinic.org", "doctor@clinic.org"


def escalation(conversation="c1", reason="personal_advice", message="Can I take ibuprofen?",
               **extra) -> EscalationRequest:
    return EscalationRequest(conversation_id=conversation, channel="socketio",
                             sender_id=conversation, reason=reason, message=message, **extra)


def kinds(store: HandoffStore, ticket_id: int):
    return [(e.actor, e.kind) for e in store.history(ticket_id).events]


def test_migrations_match_the_models_and_rerun_cleanly(store):
    store.create_schema()
    with store._engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if d[0] != "remove_table" or
            d[1].name != "handoff_alembic_version"] == []


def test_first_escalation_opens_a_ticket(store):
    result = store.open_or_append(escalation(message="  Can I take ibuprofen?  "))
    t = result.ticket
    assert result.created and not result.duplicate
    assert (t.status, t.priority, t.reason, t.message_count) == ("open", "normal",
                                                                 "personal_advice", 1)
    assert t.first_message == t.last_user_message == "Can I take ibuprofen?"
    assert t.created_at.tzinfo is not None and t.assigned_to is None
    assert store.get(t.id) == t
    assert store.open_ticket_for("c1") == t
    assert store.open_ticket_for("other") is None
    assert kinds(store, t.id) == [("bot", "opened")]


def test_emergency_is_urgent(store):
    assert store.open_or_append(escalation(reason="emergency")).ticket.priority == "urgent"


def test_second_escalation_appends_and_emergency_raises_priority(store):
    first = store.open_or_append(escalation()).ticket
    second = store.open_or_append(escalation(reason="emergency", message="chest pain now"))
    t = second.ticket
    assert not second.created and t.id == first.id
    assert (t.message_count, t.first_message, t.last_user_message) == (
        2, "Can I take ibuprofen?", "chest pain now")
    assert (t.priority, t.reason) == ("urgent", "emergency")
    events = store.history(t.id).events
    assert [e.kind for e in events] == ["opened", "appended"]
    assert "priority raised to urgent" in events[1].detail


def test_raised_to_urgent_tells_raised_tickets_from_those_opened_urgent(store):
    raised = store.open_or_append(escalation(conversation="raised")).ticket
    store.open_or_append(escalation(conversation="raised", reason="emergency", message="chest pain"))
    opened_urgent = store.open_or_append(escalation(conversation="urgent", reason="emergency")).ticket
    normal = store.open_or_append(escalation(conversation="normal")).ticket
    assert store.raised_to_urgent([raised.id, opened_urgent.id, normal.id, 99_999]) == {raised.id}
    assert store.raised_to_urgent([]) == set()


def test_resolved_conversation_gets_a_new_ticket(store):
    first = store.open_or_append(escalation()).ticket
    store.resolve(first.id, NURSE)
    again = store.open_or_append(escalation(message="one more question"))
    assert again.created and again.ticket.id != first.id


def test_same_request_id_is_applied_once(store):
    first = store.open_or_append(escalation(request_id="req-1"))
    repeat = store.open_or_append(escalation(request_id="req-1", message="different"))
    assert repeat.duplicate and not repeat.created
    assert repeat.ticket == first.ticket
    assert store.get(first.ticket.id).message_count == 1


def test_escalation_input_is_checked(store):
    with pytest.raises(InvalidInput, match="reason"):
        store.open_or_append(escalation(reason="bored"))
    with pytest.raises(InvalidInput, match="conversation_id"):
        store.open_or_append(escalation(conversation=""))
    with pytest.raises(InvalidInput, match="contact details"):
        store.open_or_append(escalation(contact_details="", contact_consent=True))
    with pytest.raises(InvalidInput, match="channel"):
        store.open_or_append(EscalationRequest("c1", "x" * 65, "c1", "emergency", "help"))
    long = store.open_or_append(escalation(message="x" * (MAX_TEXT_CHARS + 10))).ticket
    assert len(long.first_message) == MAX_TEXT_CHARS       # a user's plea is never refused
    odd = store.open_or_append(escalation("c2", message="chest\x00 pain")).ticket
    assert odd.first_message == "chest pain"
    assert store.counts()["open"] == 2


def test_contact_given_with_the_escalation_is_kept_only_with_consent(store):
    kept = store.open_or_append(escalation("c1", contact_details="a@b.org", contact_consent=True))
    refused = store.open_or_append(escalation("c2", contact_details="a@b.org",
                                              contact_consent=False))
    assert (kept.ticket.contact_details, kept.ticket.contact_consent) == ("a@b.org", True)
    assert (refused.ticket.contact_details, refused.ticket.contact_consent) == (None, False)
    assert kinds(store, kept.ticket.id) == [("bot", "opened"), ("bot", "contact_saved")]


def test_50_concurrent_conversations_make_50_tickets(store):
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda i: store.open_or_append(escalation(f"conv-{i}")),
                                range(50)))
    assert all(r.created for r in results)
    assert len({r.ticket.id for r in results}) == 50
    assert store.counts() == {"open": 50, "claimed": 0, "urgent_open": 0, "resolved": 0}


def test_20_concurrent_escalations_of_one_conversation_make_one_ticket(store):
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(
            lambda i: store.open_or_append(escalation("same", message=f"message {i}")), range(20)))
    assert sum(r.created for r in results) == 1
    assert len({r.ticket.id for r in results}) == 1
    [ticket] = store.list_tickets()
    assert ticket.message_count == 20
    assert sorted(k for _, k in kinds(store, ticket.id)) == ["appended"] * 19 + ["opened"]


def test_claim_reassign_resolve_reopen_with_audit_trail(store):
    ticket = store.open_or_append(escalation()).ticket
    claimed = store.claim(ticket.id, "Nurse@Clinic.org")
    assert (claimed.status, claimed.assigned_to) == ("claimed", NURSE)
    assert claimed.claimed_at is not None
    assert store.claim(ticket.id, NURSE) == claimed            # claiming again changes nothing
    moved = store.reassign(ticket.id, NURSE, DOCTOR)
    assert (moved.status, moved.assigned_to) == ("claimed", DOCTOR)
    resolved = store.resolve(ticket.id, DOCTOR)
    assert resolved.status == "resolved" and resolved.resolved_at is not None
    reopened = store.reopen(ticket.id, NURSE)
    assert (reopened.status, reopened.assigned_to, reopened.resolved_at) == ("open", None, None)
    history = store.history(ticket.id)
    assert [(e.actor, e.kind) for e in history.events] == [
        ("bot", "opened"), (NURSE, "claimed"), (NURSE, "reassigned"), (DOCTOR, "resolved"),
        (NURSE, "reopened")]
    assert history.events[2].detail == f"{NURSE} -> {DOCTOR}"
    times = [e.at for e in history.events]
    assert times == sorted(times)


def test_invalid_transitions_and_unknown_ids_change_nothing(store):
    ticket = store.open_or_append(escalation()).ticket
    store.claim(ticket.id, NURSE)
    store.resolve(ticket.id, NURSE)
    before = (store.history(ticket.id), store.last_change_id())
    failures = [
        (InvalidTransition, "already resolved", lambda: store.resolve(ticket.id, NURSE)),
        (InvalidTransition, "resolved", lambda: store.add_staff_message(ticket.id, NURSE, "hi")),
        (InvalidTransition, "resolved", lambda: store.claim(ticket.id, NURSE)),
        (InvalidTransition, "resolved", lambda: store.reassign(ticket.id, NURSE, DOCTOR)),
        (InvalidInput, "limit is 5000", lambda: store.add_note(ticket.id, NURSE, "x" * 5001)),
        (InvalidInput, "empty", lambda: store.add_note(ticket.id, NURSE, "   ")),
        (InvalidInput, "email", lambda: store.add_note(ticket.id, "nurse", "hi")),
        (TicketNotFound, "#999", lambda: store.get(999)),
        (TicketNotFound, "#999", lambda: store.claim(999, NURSE)),
        (TicketNotFound, "#999", lambda: store.resolve(999, NURSE)),
        (TicketNotFound, "#999", lambda: store.add_note(999, NURSE, "hi")),
        (TicketNotFound, "#999", lambda: store.history(999)),
        (MessageNotFound, "#999", lambda: store.mark_delivered(999)),
        (StaffNotFound, "ghost", lambda: store.set_staff_password("ghost@clinic.org", "h")),
    ]
    for error, message, call in failures:
        with pytest.raises(error, match=message):
            call()
    assert (store.history(ticket.id), store.last_change_id()) == before


def test_claimed_ticket_cannot_be_claimed_by_someone_else(store):
    ticket = store.open_or_append(escalation()).ticket
    store.claim(ticket.id, NURSE)
    with pytest.raises(InvalidTransition, match=f"already claimed by {NURSE}"):
        store.claim(ticket.id, DOCTOR)


def test_reopen_refused_while_the_conversation_has_a_newer_ticket(store):
    old = store.open_or_append(escalation()).ticket
    store.resolve(old.id, NURSE)
    new = store.open_or_append(escalation()).ticket
    with pytest.raises(InvalidTransition, match=f"active ticket #{new.id}"):
        store.reopen(old.id, NURSE)
    with pytest.raises(InvalidTransition, match="not resolved"):
        store.reopen(new.id, NURSE)
    assert store.get(old.id).status == "resolved"


def test_queue_order_is_urgent_first_then_longest_waiting(store):
    now = utcnow()
    for name, reason, minutes_ago in [("recent", "personal_advice", 1),
                                      ("old", "request_human", 30),
                                      ("urgent-recent", "emergency", 2),
                                      ("urgent-old", "emergency", 20)]:
        store.open_or_append(escalation(name, reason,
                                        requested_at=now - timedelta(minutes=minutes_ago)))
    assert [t.conversation_id for t in store.list_tickets()] == [
        "urgent-old", "urgent-recent", "old", "recent"]
    assert len(store.list_tickets(limit=2)) == 2
    store.resolve(store.open_ticket_for("old").id, NURSE)
    assert [t.conversation_id for t in store.list_tickets(("resolved",))] == ["old"]
    with pytest.raises(InvalidInput, match="status"):
        store.list_tickets(("pending",))


def test_counts(store):
    for i, reason in enumerate(["emergency", "emergency", "personal_advice", "request_human"]):
        store.open_or_append(escalation(f"c{i}", reason))
    store.claim(1, NURSE)
    store.resolve(4, NURSE)
    assert store.counts() == {"open": 2, "claimed": 1, "urgent_open": 1, "resolved": 1}


def test_staff_messages_wait_for_delivery_oldest_first(store):
    ticket = store.open_or_append(escalation()).ticket
    first = store.add_staff_message(ticket.id, NURSE, "Hello, I'm the nurse.")
    second = store.add_staff_message(ticket.id, NURSE, "Please call us.")
    assert first.conversation_id == "c1" and first.delivered_at is None
    assert store.pending_messages("c1") == [first, second]
    delivered = store.mark_delivered(first.id)
    assert delivered.delivered_at is not None
    assert store.mark_delivered(first.id) == delivered           # idempotent
    assert store.pending_messages("c1") == [second]
    assert kinds(store, ticket.id)[-1] == ("system", "delivered")
    with pytest.raises(InvalidInput):
        store.add_staff_message(ticket.id, NURSE, "x" * (MAX_TEXT_CHARS + 1))


def test_notes_and_history(store):
    ticket = store.open_or_append(escalation()).ticket
    note = store.add_note(ticket.id, NURSE, "Called the nephrologist.")
    store.resolve(ticket.id, NURSE)
    late = store.add_note(ticket.id, DOCTOR, "Follow-up booked.")   # notes allowed when resolved
    history = store.history(ticket.id)
    assert history.notes == (note, late)
    assert [e.detail for e in history.events if e.kind == "note"] == [f"note #{note.id}",
                                                                      f"note #{late.id}"]


def test_save_contact_records_the_decision_either_way(store):
    ticket = store.open_or_append(escalation()).ticket
    assert store.save_contact(ticket.id, "+44 7700 900123", True).contact_details == \
        "+44 7700 900123"
    refused = store.save_contact(ticket.id, "+44 7700 900123", False)
    assert (refused.contact_details, refused.contact_consent) == (None, False)
    details = [e.detail for e in store.history(ticket.id).events if e.kind == "contact_saved"]
    assert details == ["consent given; contact details stored",
                       "consent refused; no contact details stored"]
    with pytest.raises(InvalidInput):
        store.save_contact(ticket.id, "x" * 501, True)


def test_last_change_id_grows_with_every_write_only(store):
    start = store.last_change_id()
    ticket = store.open_or_append(escalation()).ticket
    store.list_tickets(), store.counts(), store.history(ticket.id)
    assert store.last_change_id() == start + 1
    store.add_note(ticket.id, NURSE, "n")
    assert store.last_change_id() == start + 2


def test_purge_deletes_only_old_resolved_tickets_and_their_records(store):
    old = store.open_or_append(escalation("old")).ticket
    store.add_note(old.id, NURSE, "note")
    store.add_staff_message(old.id, NURSE, "message")
    store.resolve(old.id, NURSE)
    kept = store.open_or_append(escalation("open")).ticket
    assert store.purge_resolved(utcnow() - timedelta(days=1)) == 0
    assert store.purge_resolved(utcnow() + timedelta(seconds=1)) == 1
    with pytest.raises(TicketNotFound):
        store.history(old.id)
    assert store.pending_messages("old") == []
    assert store.get(kept.id).status == "open"


def test_staff_accounts(store):
    added = store.add_staff("Nurse@Clinic.org", "$argon2id$hash", "staff")
    assert (added.email, added.role, added.active) == (NURSE, "staff", True)
    store.add_staff(DOCTOR, "$argon2id$other", "admin")
    assert store.get_staff(NURSE).password_hash == "$argon2id$hash"
    assert store.get_staff("nobody@clinic.org") is None
    assert [s.email for s in store.list_staff()] == [DOCTOR, NURSE]
    assert store.set_staff_password(NURSE, "$argon2id$new").password_hash == "$argon2id$new"
    with pytest.raises(InvalidInput, match="already exists"):
        store.add_staff(NURSE, "h", "staff")
    with pytest.raises(InvalidInput, match="role"):
        store.add_staff("x@clinic.org", "h", "root")


def test_unreachable_database_raises_store_unavailable(dead_database_url):
    dead = HandoffStore.from_url(dead_database_url)
    with pytest.raises(StoreUnavailable, match="unavailable"):
        dead.open_or_append(escalation())
    with pytest.raises(StoreUnavailable):
        dead.create_schema()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from(
    ["personal_advice", "request_human", "emergency", "repeated_fallback"])), max_size=8))
def test_one_active_ticket_per_conversation_whatever_the_sequence(tmp_path_factory, escalations):
    store = HandoffStore.from_url(f"sqlite:///{tmp_path_factory.mktemp('h') / 'h.db'}")
    store.create_schema()
    for conversation, reason in escalations:
        store.open_or_append(escalation(conversation, reason))
    tickets = store.list_tickets()
    assert sorted(t.conversation_id for t in tickets) == sorted({c for c, _ in escalations})
    assert sum(t.message_count for t in tickets) == len(escalations)
    for t in tickets:
        urgent = any(c == t.conversation_id and r == "emergency" for c, r in escalations)
        assert t.priority == ("urgent" if urgent else "normal")
    store.dispose()


def test_messages_during_a_handoff_go_onto_the_ticket_once_and_count_as_unread(store):
    ticket = store.open_or_append(EscalationRequest(
        conversation_id="held", channel="socketio", sender_id="held", reason="request_human",
        message="a nurse please")).ticket
    assert store.append_during_handoff("nobody", "rest", "hello?", "m-0") is None   # no ticket
    store.claim(ticket.id, "nurse@example.org")
    assert store.unread_counts([ticket.id]) == {}
    first = store.append_during_handoff("held", "socketio", "are you still there?", "m-1")
    assert (first.message_count, first.last_user_message) == (2, "are you still there?")
    assert store.append_during_handoff("held", "socketio", "are you still there?", "m-1") is None
    store.append_during_handoff("held", "socketio", "hello??", "m-2")
    assert store.get(ticket.id).message_count == 3
    assert store.unread_counts([ticket.id]) == {ticket.id: 2}
    store.add_staff_message(ticket.id, "nurse@example.org", "Yes, I'm here.")
    assert store.unread_counts([ticket.id]) == {}
    assert store.history(ticket.id).events[-2].detail == "message 3 (during handoff)"
