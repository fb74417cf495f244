"""Claiming staff messages for delivery, on real SQLite and PostgreSQL: one sender at a time, and a
message is pending until it went out."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from bot.handoff.store import EscalationRequest, HandoffStore

NURSE = "nurse@clinic.org"


def ticket_with_messages(store: HandoffStore, conversation: str, *texts: str):
    ticket = store.open_or_append(EscalationRequest(conversation, "rest", conversation,
                                                    "request_human", "a person please")).ticket
    return ticket, [store.add_staff_message(ticket.id, NURSE, text) for text in texts]


def test_a_claim_takes_every_pending_message_oldest_first_and_blocks_other_claims(store):
    _, messages = ticket_with_messages(store, "c1", "one", "two")
    claimed = store.claim_pending("c1")
    assert [m.id for m in claimed] == [m.id for m in messages]
    assert store.claim_pending("c1") == []                      # someone is delivering them
    assert store.conversations_with_pending() == []
    assert [m.id for m in store.pending_messages("c1")] == [m.id for m in messages]  # not sent yet


def test_delivered_messages_leave_and_released_ones_come_back(store):
    _, (one, two) = ticket_with_messages(store, "c1", "one", "two")
    store.claim_pending("c1")
    store.mark_delivered(one.id)
    store.release([one.id, two.id])                             # a delivered one stays delivered
    assert [m.id for m in store.pending_messages("c1")] == [two.id]
    assert store.conversations_with_pending() == ["c1"]
    assert [m.id for m in store.claim_pending("c1")] == [two.id]


def test_a_claim_whose_holder_died_lapses_after_the_lease(store):
    _, (one,) = ticket_with_messages(store, "c1", "one")
    store.claim_pending("c1")
    assert store.claim_pending("c1", lease=timedelta(minutes=5)) == []
    assert store.conversations_with_pending(lease=timedelta(0)) == ["c1"]
    assert [m.id for m in store.claim_pending("c1", lease=timedelta(0))] == [one.id]


def test_nothing_pending_claims_nothing_and_writes_nothing(store):
    ticket_with_messages(store, "c1")
    before = store.last_change_id()
    assert store.claim_pending("c1") == [] and store.claim_pending("unknown") == []
    assert store.last_change_id() == before


def test_concurrent_claims_hand_each_message_to_exactly_one_sender(store):
    for round_ in range(10):
        conversation = f"race-{round_}"
        _, messages = ticket_with_messages(store, conversation, "a", "b", "c")
        start = threading.Barrier(4)

        def claim(_, start=start, conversation=conversation):
            start.wait()
            return store.claim_pending(conversation)

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(claim, range(4)))
        winners = [r for r in results if r]
        assert len(winners) == 1, results
        assert [m.id for m in winners[0]] == [m.id for m in messages]


def test_resolve_says_goodbye_in_the_same_transaction(store):
    ticket, _ = ticket_with_messages(store, "c1")
    store.claim(ticket.id, NURSE)
    resolved = store.resolve(ticket.id, NURSE, farewell="Goodbye")
    assert resolved.status == "resolved"
    assert [m.text for m in store.history(ticket.id).messages] == ["Goodbye"]
    assert [e.kind for e in store.history(ticket.id).events][-2:] == ["staff_message", "resolved"]
