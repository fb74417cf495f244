"""The new-ticket cap (an urgent request always gets through, a capped one is never lost),
stored logouts and password-hash upgrades, on SQLite and PostgreSQL."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from bot.handoff.models import utcnow
from bot.handoff.outbox import Outbox, escalate
from bot.handoff.store import EscalationRequest, TicketCapReached

CAP = 2


def escalation(conversation: str, reason: str = "personal_advice",
               message: str = "Can I take ibuprofen?") -> EscalationRequest:
    return EscalationRequest(conversation_id=conversation, channel="rest", sender_id=conversation,
                             reason=reason, message=message)


@pytest.fixture
def outbox(tmp_path) -> Outbox:
    return Outbox(tmp_path / "outbox", new_tickets_per_minute=CAP)


def test_over_the_cap_a_new_non_urgent_ticket_is_refused_but_appends_and_urgent_ones_are_not(store):
    for n in range(CAP):
        store.open_or_append(escalation(f"c{n}"), CAP)
    with pytest.raises(TicketCapReached):
        store.open_or_append(escalation("late"), CAP)
    assert store.open_ticket_for("late") is None                      # nothing half-written
    assert store.open_or_append(escalation("c0", message="more"), CAP).created is False
    urgent = store.open_or_append(escalation("chest", "emergency", "crushing chest pain"), CAP)
    assert urgent.created and urgent.ticket.priority == "urgent"
    assert store.open_or_append(escalation("uncapped")).created     # cap 0: no cap


def test_parallel_escalations_never_drop_one_and_urgent_ones_all_get_tickets(store, outbox):
    requests = [escalation(f"p{n}") for n in range(12)] + \
        [escalation(f"u{n}", "emergency", "I can't breathe") for n in range(4)]
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda r: escalate(store, outbox, r), requests))
    held = [o for o in outcomes if o.held_back]
    opened = [o for o in outcomes if o.result and o.result.created]
    assert len(held) + len(opened) == len(requests)             # every request accounted for
    assert all(o.result and o.result.ticket.priority == "urgent" for o in outcomes[12:])
    assert len(outbox.pending()) == len(held) == 12 - CAP         # the cap is exact
    assert all(not o.queued_offline for o in held)


def test_held_requests_enter_the_queue_in_order_as_the_cap_allows(store, tmp_path):
    outbox = Outbox(tmp_path / "outbox", new_tickets_per_minute=1)
    first = escalate(store, outbox, escalation("first"))
    held = [escalate(store, outbox, escalation(name)) for name in ("second", "third")]
    assert first.result.created and all(o.held_back and o.result is None for o in held)
    urgent = escalate(store, outbox, escalation("bleeding", "emergency", "vomiting blood"))
    assert urgent.result.created and urgent.result.ticket.priority == "urgent"

    report = outbox.replay(store)             # the minute is not over: they keep waiting
    assert (report.applied, report.held, report.remaining) == (0, 2, 0)

    # An opened event from over a minute ago no longer counts: age the recorded ones.
    _age_opened_events(store, timedelta(minutes=2))
    report = outbox.replay(store)
    assert (report.applied, report.held) == (1, 1)
    second = store.open_ticket_for("second")
    assert second is not None and store.open_ticket_for("third") is None
    history = store.history(second.id)
    assert [e.kind for e in history.events] == ["opened", "held_back"]
    assert "too many new tickets" in history.events[-1].detail
    assert second.created_at < history.events[0].at   # its real waiting time is kept


def test_a_held_back_request_survives_a_database_outage_on_replay(store, tmp_path, dead_database_url):
    from bot.handoff.store import HandoffStore

    outbox = Outbox(tmp_path / "outbox", new_tickets_per_minute=1)
    escalate(store, outbox, escalation("first"))
    assert escalate(store, outbox, escalation("second")).held_back
    dead = HandoffStore.from_url(dead_database_url)
    assert outbox.replay(dead).remaining == 1
    dead.dispose()
    assert len(outbox.pending()) == 1


def _age_opened_events(store, age: timedelta) -> None:
    from sqlalchemy import update

    from bot.handoff.models import TicketEvent

    with store._engine.begin() as connection:
        connection.execute(update(TicketEvent).values(at=utcnow() - age))


def test_a_revoked_session_stays_revoked_until_its_cookie_would_expire_and_is_then_pruned(store):
    soon = utcnow() + timedelta(seconds=1)
    store.revoke_session("nonce-a", "nurse@example.org", utcnow() + timedelta(hours=12))
    store.revoke_session("nonce-b", "nurse@example.org", soon)
    store.revoke_session("nonce-a", "nurse@example.org", utcnow() + timedelta(hours=12))  # twice: fine
    assert store.session_revoked("nonce-a") and store.session_revoked("nonce-b")
    assert not store.session_revoked("never-revoked")
    deadline = time.monotonic() + 30
    while store.session_revoked("nonce-b") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not store.session_revoked("nonce-b")   # its cookie has expired anyway
    store.revoke_session("nonce-c", "nurse@example.org", utcnow() + timedelta(hours=1))
    from sqlalchemy import select

    from bot.handoff.models import RevokedSession
    with store._engine.connect() as connection:
        kept = set(connection.execute(select(RevokedSession.nonce)).scalars())
    assert kept == {"nonce-a", "nonce-c"}          # nonce-b pruned by the next logout


def test_password_hash_upgrade_is_compare_and_set(store):
    store.add_staff("nurse@example.org", "$argon2id$old", "staff")
    assert store.replace_password_hash("nurse@example.org", "$argon2id$old", "$argon2id$new")
    assert not store.replace_password_hash("nurse@example.org", "$argon2id$old", "$argon2id$other")
    assert store.get_staff("nurse@example.org").password_hash == "$argon2id$new"
