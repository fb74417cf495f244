"""The console while parts fail: escalations waiting offline are announced, and a store call that
waits (a held SQLite lock) does not stop the web process answering anything else."""
from __future__ import annotations

import sqlite3
import threading
import time

import requests

from bot.handoff.outbox import Outbox
from bot.handoff.store import EscalationRequest
from tests.bot.web.conftest import NURSE, Console


def new_conversation() -> str:
    return f"c-{time.monotonic_ns()}"


def test_the_queue_says_how_many_escalations_wait_offline(console: Console):
    outbox = Outbox(console.outbox_dir)
    for n in range(2):
        outbox.put(EscalationRequest(f"offline-{n}-{new_conversation()}", "socketio", "s",
                                     "emergency", "chest pain"))
    nurse = console.browser(NURSE)
    assert "2 escalations waiting offline" in nurse.get("/console").text
    assert "2 escalations waiting offline" in nurse.get("/console/queue.json").json()["html"]

    outbox.replay(console.store)                 # what the web process's replayer does
    assert "waiting offline" not in nurse.get("/console").text


def test_a_reply_waiting_for_the_database_lock_does_not_block_other_requests(console: Console):
    ticket = console.ticket(new_conversation())
    nurse = console.browser(NURSE)
    nurse.get(f"/console/tickets/{ticket.id}")
    blocker = sqlite3.connect(console.tracker_db.parent / "handoff.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")           # another process holds the write lock
    outcome = {}

    def reply() -> None:
        outcome["reply"] = nurse.post(f"/console/tickets/{ticket.id}/reply",
                                      {"text": "One moment please.", "form_id": nurse.form_id})

    sender = threading.Thread(target=reply)
    try:
        sender.start()
        time.sleep(2)  # head start, so the reply is waiting on the lock when the next one comes
        health = requests.get(f"{console.url}/healthz", timeout=60)
        assert health.status_code == 200
        assert sender.is_alive()                 # answered while the reply was still waiting
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        sender.join(60)
    assert outcome["reply"].status_code == 303
    assert [m.text for m in console.store.history(ticket.id).messages][-1] == "One moment please."
