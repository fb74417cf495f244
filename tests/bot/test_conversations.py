"""Conversations in Rasa's SQL tracker store: export, erasure, purge of idle ones, and the
`fsgs-bot user` / `fsgs-bot purge` commands that use them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from bot.conversations import TrackerEvents
from bot.handoff.models import utcnow
from bot.handoff.store import EscalationRequest, HandoffStore
from tests.bot.web.conftest import user_event, write_tracker_events

FSGS_BOT = str(Path(sys.executable).parent / "fsgs-bot")
DAY = 24 * 3600


@pytest.fixture
def env(tmp_path):
    now = time.time()
    write_tracker_events(tmp_path / "tracker.db", [
        ("old-user", user_event("an old question", now - 100 * DAY)),
        ("old-user", user_event("another old one", now - 95 * DAY)),
        ("recent-user", user_event("from long ago", now - 200 * DAY)),
        ("recent-user", user_event("and yesterday", now - DAY)),
    ])
    store = HandoffStore.from_url(f"sqlite:///{tmp_path / 'handoff.db'}")
    store.create_schema()
    store.open_or_append(EscalationRequest("recent-user", "rest", "recent-user", "personal_advice", "help"))
    store.dispose()
    return {"PATH": "/usr/bin:/bin", "FSGS_VAR_DIR": str(tmp_path), "RASA_AUTH_TOKEN": "t",
            "WEB_SECRET_KEY": "k"}


def fsgs_bot(env, *args: str) -> str:
    done = subprocess.run([FSGS_BOT, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_purge_idle_deletes_conversations_whose_latest_event_is_older(tmp_path, env):
    events = TrackerEvents(f"sqlite:///{tmp_path / 'tracker.db'}")
    assert events.purge_idle(utcnow() - timedelta(days=90)) == 1
    assert events.events("old-user") == []
    assert [e["text"] for e in events.events("recent-user")] == ["from long ago", "and yesterday"]
    events.dispose()


def test_missing_tracker_table_means_no_conversations(tmp_path):
    events = TrackerEvents(f"sqlite:///{tmp_path / 'empty.db'}")
    assert (events.events("x"), events.delete("x"), events.purge_idle(utcnow())) == ([], 0, 0)
    events.dispose()


def test_purge_command_reports_tickets_and_conversations(env):
    assert json.loads(fsgs_bot(env, "purge", "--older-than", "90d", "--json"))["conversations"] == 1


def test_user_export_then_delete(env):
    exported = json.loads(fsgs_bot(env, "user", "export", "recent-user"))
    assert [e["text"] for e in exported["events"]] == ["from long ago", "and yesterday"]
    [ticket] = exported["tickets"]
    assert ticket["ticket"]["first_message"] == "help" and ticket["events"]
    assert "deleted 2 event(s) and 1 ticket(s)" in fsgs_bot(env, "user", "delete", "recent-user")
    exported = json.loads(fsgs_bot(env, "user", "export", "recent-user"))
    assert (exported["events"], exported["tickets"]) == ([], [])
    assert json.loads(fsgs_bot(env, "user", "export", "old-user"))["events"]


def _outbox_files(tmp_path: Path):
    """Pending, rejected and crash-leftover outbox files of two users, some written long ago."""
    from bot.handoff.outbox import Outbox

    outbox = Outbox(tmp_path / "outbox")
    mine = outbox.put(EscalationRequest("recent-user", "rest", "recent-user", "personal_advice",
                                        "my dose", contact_details="me@example.org", contact_consent=True))
    theirs = outbox.put(EscalationRequest("old-user", "rest", "old-user", "personal_advice", "theirs"))
    outbox.rejected_dir.mkdir()
    rejected_mine = outbox.rejected_dir / "20260101T000000000000-r1.json"
    rejected_mine.write_text(json.dumps({"conversation_id": "recent-user", "message": "my swelling"}))
    rejected_old = outbox.rejected_dir / "20250101T000000000000-r2.json"
    rejected_old.write_text("{not json, but someone's words")
    leftover = outbox.directory / ".20250101T000000000000-r3.json.tmp"
    leftover.write_text('{"conversation_id": "old-user", "message": "half')
    long_ago = time.time() - 100 * DAY
    for path in (rejected_old, leftover, theirs):
        os.utime(path, (long_ago, long_ago))
    return outbox, mine, theirs, rejected_mine, rejected_old, leftover


def test_user_delete_also_deletes_their_outbox_and_rejected_files(env, tmp_path):
    outbox, mine, theirs, rejected_mine, rejected_old, leftover = _outbox_files(tmp_path)
    assert "and 2 outbox file(s)" in fsgs_bot(env, "user", "delete", "recent-user")
    assert not mine.exists() and not rejected_mine.exists()
    assert theirs.exists() and rejected_old.exists() and leftover.exists()


def test_purge_deletes_old_rejected_outbox_files_but_keeps_pending_requests(env, tmp_path):
    outbox, mine, theirs, rejected_mine, rejected_old, leftover = _outbox_files(tmp_path)
    report = json.loads(fsgs_bot(env, "purge", "--older-than", "90d", "--json"))
    assert report["outbox_rejected"] == 2
    assert not rejected_old.exists() and not leftover.exists()
    assert mine.exists() and theirs.exists() and rejected_mine.exists()
