"""Conversations in Rasa's SQL tracker store: export, erasure, purge of idle ones, and the
`fsgs-bot user` / `fsgs-bot purge` commands that use them."""
from __future__ import annotations

import json
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
