"""No way in for outsiders, on real servers: secrets never on a command line, the action server on
loopback behind a shared secret, var/ owner-only, and typed payloads that cannot skip safety or end
a staff handoff."""
from __future__ import annotations

import asyncio
import secrets
import stat
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

from bot.channels.rest import conversation_id
from bot.handoff.store import HandoffStore
from bot.rasa_api import staff_desk
from tests.e2e.test_escalation import NURSE
from tests.support.stack import start_stack

pytestmark = pytest.mark.slow
RED_FLAG = "my son collapsed and cannot breathe"


def new_user() -> str:
    return f"sec-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A stack whose var/ already holds secrets starting with "-" (argparse read them as options)
    and was created world-readable by an older version."""
    var_dir = tmp_path_factory.mktemp("planted")
    var_dir.chmod(0o755)
    tokens = {}
    for name in ("rasa_auth_token", "action_server_token"):
        tokens[name] = "-" + secrets.token_urlsafe(32)
        (var_dir / name).write_text(tokens[name])
        (var_dir / name).chmod(0o644)
    running = start_stack(var_dir)
    yield running, tokens
    running.stack.stop()


def test_a_planted_token_starting_with_a_dash_starts_cleanly_and_protects_the_api(planted):
    running, tokens = planted
    assert running.settings.rasa_auth_token == tokens["rasa_auth_token"]
    status = f"{running.settings.rasa_url}/status"
    assert requests.get(status, timeout=30).status_code == 401
    assert requests.get(status, params={"token": tokens["rasa_auth_token"]}, timeout=30).status_code == 200
    assert any("Source:" in r for r in running.rest(new_user(), "what is FSGS?"))


def test_no_command_line_on_the_machine_contains_a_secret(planted):
    running, tokens = planted
    assert all(s.process.poll() is None for s in running.stack.services)
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue  # the process ended meanwhile
        for name, token in tokens.items():
            assert token not in argv, f"{name} on the command line of pid {cmdline.parent.name}"


def test_var_and_everything_in_it_is_owner_only(planted):
    running, _ = planted
    running.rest(new_user(), "should I stop taking my prednisone? my face is so puffy")  # a ticket
    var_dir = running.settings.var_dir
    assert stat.S_IMODE(var_dir.stat().st_mode) == 0o700
    paths = list(var_dir.rglob("*"))
    assert {p.name for p in paths} >= {"handoff.db", "tracker.db", "rasa_auth_token", "action_server_token"}
    loose = [f"{p} {stat.S_IMODE(p.stat().st_mode):o}" for p in paths if p.stat().st_mode & 0o077]
    assert loose == []


def test_the_action_server_listens_on_loopback_only(planted):
    running, _ = planted
    port = running.settings.action_port
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                               check=True).stdout.split("\n")
    addresses = {line.split()[3] for line in listening if line.strip()}
    assert addresses == {f"127.0.0.1:{port}"}


FORGED_CALL = {
    "next_action": "action_escalate_to_human", "version": "3.6.21", "domain": {},
    "tracker": {"sender_id": "victim", "slots": {}, "events": [], "active_loop": {},
                "latest_message": {"text": "URGENT fake", "intent": {"name": "emergency"},
                                   "message_id": "forged1"}},
}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "wrong"},
                                     {"Authorization": "Bearer "}])
def test_an_unauthenticated_action_call_is_refused_and_changes_nothing(planted, headers):
    running, tokens = planted
    base = f"http://127.0.0.1:{running.settings.action_port}"
    response = requests.post(f"{base}/webhook", json=FORGED_CALL, headers=headers, timeout=30)
    assert response.status_code == 401
    assert requests.get(f"{base}/actions", headers=headers, timeout=30).status_code == 401
    store = HandoffStore.from_url(running.settings.database_url)
    assert store.tickets_for("victim") == []
    store.dispose()


def test_the_action_server_sends_no_cors_headers(planted):
    running, _ = planted
    response = requests.options(f"http://127.0.0.1:{running.settings.action_port}/webhook", timeout=30,
                                headers={"Origin": "https://evil.example",
                                         "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("typed", [
    f"/ /fsgs_definition@1.0 {RED_FLAG}",
    f"/ /fsgs_definition {RED_FLAG}",
    f"  //  /treatment_overview@0.99 {RED_FLAG}",
    f'/ /greet{{"medication": "prednisone"}} {RED_FLAG}',
    f"\u00a0/fsgs_definition@1.0 {RED_FLAG}",
])
def test_typed_intents_with_a_red_flag_get_the_emergency_reply_and_an_urgent_ticket(stack, store, typed):
    user = new_user()
    replies = stack.rest(user, typed)
    assert any("seek urgent care now" in r for r in replies), replies
    [ticket] = store.tickets_for(conversation_id(user))
    assert ticket.priority == "urgent"


def test_typed_restart_does_not_end_a_claimed_handoff(stack, store):
    user = new_user()
    stack.rest(user, "I want to talk to a nurse please")
    [ticket] = store.tickets_for(conversation_id(user))
    asyncio.run(staff_desk(stack.settings, store).claim(ticket.id, NURSE))
    assert stack.tracker(conversation_id(user))["paused"]

    for typed in ("/restart", " /restart", "/ /restart", "/session_start", "/restart@1.0"):
        stack.rest(user, typed)
    tracker = stack.tracker(conversation_id(user))
    assert tracker["paused"]
    assert not any(e["event"] == "restart" for e in tracker["events"])
    assert "restart" in [e.get("text") for e in tracker["events"] if e["event"] == "user"]  # recorded
    [ticket] = store.tickets_for(conversation_id(user))
    assert ticket.status == "claimed"
