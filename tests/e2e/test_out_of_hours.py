"""Outside staffed hours the escalation collects a contact detail with explicit consent; when the
queue's database is down nothing is lost: the request waits in the outbox and is replayed."""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from bot.channels.rest import conversation_id
from bot.handoff.store import HandoffStore
from bot.launcher import BIN
from tests.support.stack import start_stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def closed_clinic(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("closed"), STAFFED_HOURS="never")
    yield running
    running.stack.stop()


def only_ticket(stack, user):
    return HandoffStore.from_url(stack.settings.database_url).open_ticket_for(conversation_id(user))


def test_contact_detail_is_stored_only_with_consent(closed_clinic):
    user = f"user-{uuid.uuid4().hex[:8]}"
    replies = closed_clinic.rest(user, "should I lower my tacrolimus dose, my levels were high")
    assert any("not in right now" in r for r in replies)
    assert any("How should the care team contact you?" in r for r in replies)

    replies = closed_clinic.rest(user, "555 12")
    assert any("doesn't look like a phone number" in r for r in replies)
    assert only_ticket(closed_clinic, user).contact_details is None

    replies = closed_clinic.rest(user, "+44 7911 123456")
    assert any("Do you agree that we store +447911123456" in r for r in replies)
    replies = closed_clinic.rest(user, "/affirm")
    assert any("will contact you at +447911123456" in r for r in replies)
    ticket = only_ticket(closed_clinic, user)
    assert (ticket.contact_details, ticket.contact_consent) == ("+447911123456", True)


def test_declining_to_share_a_contact_stores_nothing(closed_clinic):
    user = f"user-{uuid.uuid4().hex[:8]}"
    closed_clinic.rest(user, "I need to speak with a nurse")
    replies = closed_clinic.rest(user, "no")
    assert any("won't store any contact details" in r for r in replies)
    assert only_ticket(closed_clinic, user).contact_details is None


def test_an_emergency_during_the_contact_form_still_gets_urgent_care_and_an_urgent_ticket(closed_clinic):
    user = f"user-{uuid.uuid4().hex[:8]}"
    closed_clinic.rest(user, "can my daughter have her flu jab while on cyclosporine, is it safe for her")
    replies = closed_clinic.rest(user, "she is coughing up blood now")
    assert any("seek urgent care now" in r for r in replies)
    assert not any("How should the care team contact you?" in r for r in replies)
    assert only_ticket(closed_clinic, user).priority == "urgent"


def test_escalations_survive_a_dead_database_and_are_replayed(tmp_path):
    outbox = tmp_path / "outbox"
    stack = start_stack(tmp_path / "var", prepare=False, HANDOFF_OUTBOX_DIR=str(outbox),
                        DATABASE_URL="postgresql://postgres@127.0.0.1:1/test")
    user = f"user-{uuid.uuid4().hex[:8]}"
    try:
        replies = stack.rest(user, "is my creatinine of 1.9 bad for someone with fsgs")
    finally:
        stack.stack.stop()
    assert any("your request is saved" in r for r in replies)
    assert len(list(outbox.glob("*.json"))) == 1

    live = f"sqlite:///{tmp_path / 'live.db'}"
    env = {**os.environ, "DATABASE_URL": live, "HANDOFF_OUTBOX_DIR": str(outbox),
           "FSGS_VAR_DIR": str(tmp_path / "var")}
    for _ in range(2):  # replaying twice must not duplicate anything
        subprocess.run([str(BIN / "fsgs-bot"), "handoff", "replay"], env=env, check=True)
    store = HandoffStore.from_url(live)
    [ticket] = store.list_tickets()
    assert (ticket.conversation_id, ticket.reason) == (conversation_id(user), "personal_advice")
    assert "creatinine of 1.9" in ticket.first_message
    assert list(outbox.glob("*.json")) == []
