"""The offline outbox: nothing is lost while the database is down, nothing doubles on replay."""
from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from bot.handoff.models import utcnow
from bot.handoff.outbox import Outbox, escalate
from bot.handoff.store import EscalationRequest, HandoffStore
from bot.settings import get_settings


def escalation(conversation="c1", message="Can I take ibuprofen?", reason="personal_advice",
               **extra) -> EscalationRequest:
    return EscalationRequest(conversation_id=conversation, channel="telegram",
                             sender_id=conversation, reason=reason, message=message, **extra)


@pytest.fixture
def outbox(tmp_path) -> Outbox:
    return Outbox(tmp_path / "outbox")


@pytest.fixture
def dead_store(monkeypatch, dead_database_url):
    """The default store, configured (like production) by DATABASE_URL, on a dead server."""
    monkeypatch.setenv("DATABASE_URL", dead_database_url)
    get_settings.cache_clear()
    store = HandoffStore.from_url()
    yield store
    store.dispose()
    get_settings.cache_clear()


def test_put_writes_one_complete_file_per_request(outbox):
    path = outbox.put(escalation(contact_details="a@b.org", contact_consent=True))
    assert outbox.pending() == [path]
    assert [p.name for p in outbox.directory.iterdir()] == [path.name]   # no temporary left
    request = outbox.load(path)
    assert request.request_id and request.queued_offline and request.requested_at.tzinfo
    assert (request.message, request.contact_details) == ("Can I take ibuprofen?", "a@b.org")
    assert json.loads(path.read_text())["reason"] == "personal_advice"
    assert path.stat().st_mode & 0o777 == 0o600


def test_escalations_go_to_the_outbox_while_the_database_is_down(dead_store, outbox):
    outcomes = [escalate(dead_store, outbox, escalation(f"c{i % 3}", f"message {i}"))
                for i in range(9)]
    assert all(o.queued_offline and o.result is None for o in outcomes)
    queued = [outbox.load(p) for p in outbox.pending()]
    assert [r.message for r in queued] == [f"message {i}" for i in range(9)]
    assert len({r.request_id for r in queued}) == 9


def test_replay_applies_everything_once_keeping_the_waiting_time(store, outbox):
    asked = utcnow() - timedelta(minutes=30)
    for i in range(6):
        outbox.put(escalation(f"c{i % 2}", f"message {i}", requested_at=asked + timedelta(seconds=i)))
    report = outbox.replay(store)
    assert (report.applied, report.rejected, report.remaining) == (6, 0, 0)
    assert outbox.pending() == []
    tickets = store.list_tickets()
    assert [(t.conversation_id, t.message_count, t.last_user_message) for t in tickets] == [
        ("c0", 3, "message 4"), ("c1", 3, "message 5")]
    assert tickets[0].created_at == asked
    assert [e.kind for e in store.history(tickets[0].id).events][:2] == ["opened", "replayed"]
    assert outbox.replay(store).applied == 0
    assert [t.message_count for t in store.list_tickets()] == [3, 3]


def test_crash_between_commit_and_delete_does_not_double_append(store, outbox, tmp_path):
    path = outbox.put(escalation())
    survivor = tmp_path / "survivor.json"
    shutil.copy(path, survivor)
    outbox.replay(store)                    # committed and deleted...
    shutil.copy(survivor, path)             # ...but the crash kept the file
    before = store.history(1)
    report = outbox.replay(store)
    assert report.applied == 1 and outbox.pending() == []
    assert store.history(1) == before
    assert store.get(1).message_count == 1


def test_concurrent_replays_apply_each_request_once(store, outbox):
    for i in range(20):
        outbox.put(escalation("c1", f"message {i}"))
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda _: outbox.replay(store), range(3)))
    assert outbox.pending() == []
    assert store.get(1).message_count == 20


def test_unreadable_files_are_set_aside_not_lost(store, outbox):
    outbox.put(escalation())
    outbox.directory.joinpath("20000101T000000000000-broken.json").write_text("{not json")
    report = outbox.replay(store)
    assert (report.applied, report.rejected) == (1, 1)
    assert [p.name for p in outbox.rejected_dir.iterdir()] == ["20000101T000000000000-broken.json"]


def test_replay_stops_and_keeps_files_while_the_database_is_down(dead_store, outbox):
    for i in range(3):
        outbox.put(escalation(message=f"message {i}"))
    assert outbox.replay(dead_store).remaining == 3
    assert len(outbox.pending()) == 3


def test_escalate_replays_older_requests_first_once_the_database_is_back(
        dead_store, store, outbox):
    escalate(dead_store, outbox, escalation(message="first, while down"))
    escalate(dead_store, outbox, escalation("c2", message="other chat, while down"))
    outcome = escalate(store, outbox, escalation(message="second, database back"))
    assert not outcome.queued_offline and outcome.replay.applied == 2
    assert not outcome.result.created
    ticket = outcome.result.ticket
    assert (ticket.message_count, ticket.first_message, ticket.last_user_message) == (
        2, "first, while down", "second, database back")
    assert outbox.pending() == [] and store.counts()["open"] == 2


@pytest.mark.parametrize("request_id", ["../../etc/passwd", "a/b", "x" * 65, "caf\u00e9", "a b", ".hidden\n"])
def test_request_ids_that_are_not_plain_names_are_refused_before_any_file_is_written(outbox, request_id):
    from bot.handoff.store import InvalidInput

    with pytest.raises(InvalidInput, match="request_id"):
        outbox.put(escalation(request_id=request_id))
    assert not outbox.directory.exists() or not any(outbox.directory.rglob("*"))


def test_the_store_refuses_the_same_request_ids(store):
    from bot.handoff.store import InvalidInput

    with pytest.raises(InvalidInput, match="request_id"):
        store.open_or_append(escalation(request_id="../x"))
    assert store.open_or_append(escalation(request_id="0f" * 16 + "_-A")).created
