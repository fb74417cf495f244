"""`fsgs-bot handoff` and `fsgs-bot purge` run as real console scripts against a SQLite file.

Rasa is replaced by a small HTTP server speaking the two tracker endpoints the desk uses; the
database is real.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.handoff.outbox import Outbox
from bot.handoff.store import EscalationRequest, HandoffStore

FSGS_BOT = str(Path(sys.executable).parent / "fsgs-bot")
NURSE = "nurse@clinic.org"


class FakeRasa(ThreadingHTTPServer):
    """Answers GET /conversations/<id>/tracker and POST .../tracker/events like Rasa's HTTP API."""

    def __init__(self, channels: dict[str, str]):
        self.channels = channels
        self.posted: list[tuple[str, list]] = []
        super().__init__(("127.0.0.1", 0), _RasaHandler)


class _RasaHandler(BaseHTTPRequestHandler):
    def _answer(self, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        conversation = self.path.split("/")[2]
        self._answer({"sender_id": conversation, "events": [],
                      "latest_input_channel": self.server.channels.get(conversation, "rest")})

    def do_POST(self) -> None:
        events = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.posted.append((self.path.split("/")[2], events))
        self._answer({})

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def rasa():
    server = FakeRasa({"web-user": "socketio"})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def env(tmp_path, rasa) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "FSGS_VAR_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'handoff.db'}",
            "HANDOFF_OUTBOX_DIR": str(tmp_path / "outbox"), "FSGS_STAFF": NURSE,
            "RASA_URL": f"http://127.0.0.1:{rasa.server_address[1]}", "RASA_AUTH_TOKEN": "t"}


@pytest.fixture
def store(env):
    store = HandoffStore.from_url(env["DATABASE_URL"])
    store.create_schema()
    for conversation, reason, channel in [("rest-user", "personal_advice", "rest"),
                                          ("web-user", "emergency", "socketio")]:
        store.open_or_append(EscalationRequest(conversation, channel, conversation, reason,
                                               f"help from {conversation}"))
    yield store
    store.dispose()


def fsgs_bot(env, *args: str, code: int = 0) -> subprocess.CompletedProcess:
    done = subprocess.run([FSGS_BOT, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done


def test_list_shows_urgent_first_as_table_and_json(env, store):
    table = fsgs_bot(env, "handoff", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "PRIORITY", "STATUS"]
    assert [line.split()[0] for line in table[1:3]] == ["2", "1"]
    assert "2 open (1 urgent), 0 claimed, 0 resolved" in table[-1]
    listing = json.loads(fsgs_bot(env, "handoff", "list", "--json").stdout)
    assert [t["conversation_id"] for t in listing["tickets"]] == ["web-user", "rest-user"]
    assert listing["counts"]["urgent_open"] == 1


def test_show_note_and_errors(env, store):
    fsgs_bot(env, "handoff", "note", "1", "Booked a call-back.")
    shown = fsgs_bot(env, "handoff", "show", "1").stdout
    assert "Ticket #1  NORMAL  open  (personal_advice)" in shown
    assert "Booked a call-back." in shown and f"{NURSE}  note" in shown
    details = json.loads(fsgs_bot(env, "handoff", "show", "1", "--json").stdout)
    assert [e["kind"] for e in details["events"]] == ["opened", "note"]
    missing = fsgs_bot(env, "handoff", "show", "99", code=2)
    assert missing.stderr.strip() == "fsgs-bot: error: no ticket #99"
    too_long = fsgs_bot(env, "handoff", "note", "1", "x" * 5001, code=2)
    assert "limit is 5000" in too_long.stderr
    anonymous = fsgs_bot({**env, "FSGS_STAFF": ""}, "handoff", "note", "1", "hi", code=2)
    assert "--as EMAIL" in anonymous.stderr
    fsgs_bot({**env, "FSGS_STAFF": ""}, "handoff", "note", "1", "hi", "--as", "doc@clinic.org")
    assert len(store.history(1).notes) == 2


def test_claim_reply_and_resolve_go_through_rasa(env, store, rasa):
    claimed = json.loads(fsgs_bot(env, "handoff", "claim", "2", "--json").stdout)
    assert (claimed["status"], claimed["assigned_to"]) == ("claimed", NURSE)
    assert fsgs_bot(env, "handoff", "reply", "2", "Please call 999 now.").stdout.endswith(
        "delivered\n")
    fsgs_bot(env, "handoff", "resolve", "2")
    kinds = [[e["event"] for e in events] for conversation, events in rasa.posted]
    assert kinds == [["pause"], ["bot"], ["bot"], ["resume"], ["bot"]]
    assert "Please call 999 now." in json.dumps(rasa.posted[2][1])
    assert store.get(2).status == "resolved" and store.pending_messages("web-user") == []
    again = fsgs_bot(env, "handoff", "resolve", "2", code=2)
    assert "resolved" in again.stderr


def test_reply_to_a_rest_user_stays_pending_until_they_write(env, store):
    out = fsgs_bot(env, "handoff", "reply", "1", "We will call you today.").stdout
    assert "pending" in out
    assert [m.text for m in store.pending_messages("rest-user")][-1] == "We will call you today."


def test_unreachable_rasa_is_reported_without_losing_the_message(env, store):
    down = {**env, "RASA_URL": "http://127.0.0.1:1"}
    failed = fsgs_bot(down, "handoff", "claim", "2", code=1)
    assert "Rasa was not updated" in failed.stderr
    assert store.get(2).assigned_to == NURSE


def test_replay_moves_the_outbox_into_the_database(env, store):
    outbox = Outbox(Path(env["HANDOFF_OUTBOX_DIR"]))
    outbox.put(EscalationRequest("offline-user", "telegram", "offline-user", "request_human",
                                 "queued while down"))
    assert "replayed 1, rejected 0" in fsgs_bot(env, "handoff", "replay").stdout
    assert store.open_ticket_for("offline-user").message_count == 1
    assert json.loads(fsgs_bot(env, "handoff", "replay", "--json").stdout)["applied"] == 0


def test_purge_deletes_old_resolved_tickets(env, store):
    store.resolve(1, NURSE)
    assert "deleted 0 ticket(s)" in fsgs_bot(env, "purge", "--older-than", "90d").stdout
    assert json.loads(fsgs_bot(env, "purge", "--older-than", "0h", "--json").stdout)["purged"] == 1
    assert [t.id for t in store.list_tickets(("open", "claimed", "resolved"))] == [2]
    assert "90 days" in fsgs_bot(env, "purge", "--older-than", "90 days", code=2).stderr


def test_unreachable_database_exits_1(env, dead_database_url):
    failed = fsgs_bot({**env, "DATABASE_URL": dead_database_url}, "handoff", "list", code=1)
    assert "handoff database unavailable" in failed.stderr
