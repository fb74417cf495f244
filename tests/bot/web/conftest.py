"""A real console process (`python -m bot.web`) on a free loopback port, with its own SQLite
handoff queue, a Rasa tracker-store file, and a recording fake of Rasa's HTTP API."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bot import accounts
from bot.handoff.store import EscalationRequest, HandoffStore, TicketView
from bot.settings import PROJECT_ROOT
from tests.fakes.api import Call, FakeApi
from tests.support.stack import free_port

PASSWORD = "correct horse battery staple"
ADMIN, NURSE, DOCTOR = "admin@example.org", "nurse@example.org", "doctor@example.org"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM_ID_INPUT = re.compile(r'name="form_id" value="([^"]+)"')



class FakeRasa(FakeApi):
    """Rasa's HTTP API as the desk uses it: trackers to read, events appended to conversations."""

    def __init__(self):
        self.trackers: dict[str, list[dict]] = {}
        super().__init__(self._answer)

    def _answer(self, call: Call) -> dict:
        conversation = call.path.split("/")[2]
        if call.method == "tracker":
            return {"sender_id": conversation, "latest_input_channel": "socketio",
                    "events": self.trackers.get(conversation, [])}
        return {"sender_id": conversation}

    def appended(self, conversation_id: str) -> list[dict]:
        """Events the desk appended to a conversation, in order."""
        return [event for call in self.sent("events")
                if call.path.split("/")[2] == conversation_id for event in call.params]


def user_event(text: str, at: float, intent: str = "ask_what_is_fsgs", confidence: float = 0.9,
               ranking: list[dict] | None = None) -> dict:
    return {"event": "user", "timestamp": at, "text": text, "input_channel": "socketio",
            "parse_data": {"text": text, "intent": {"name": intent, "confidence": confidence},
                           "entities": [], "intent_ranking": ranking or [
                               {"name": intent, "confidence": confidence}]}}


def create_tracker_store(path: Path) -> None:
    """The `events` table exactly as Rasa's SQLTrackerStore creates it (no hand-copied schema)."""
    from rasa.core.tracker_store import SQLTrackerStore

    SQLTrackerStore(dialect="sqlite", db=str(path)).engine.dispose()


def write_tracker_events(path: Path, rows: list[tuple]) -> None:
    """`rows` of (sender_id, event dict) stored the way SQLTrackerStore stores them."""
    if not path.exists():
        create_tracker_store(path)
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
            "VALUES (?, ?, ?, ?, NULL, ?)",
            [(sender, event["event"], event["timestamp"],
              event.get("parse_data", {}).get("intent", {}).get("name"), json.dumps(event))
             for sender, event in rows])


class Browser:
    """A signed-in (or not) person: a cookie jar plus the CSRF token from the last page."""

    def __init__(self, base_url: str):
        self.base = base_url
        self.http = requests.Session()
        self.csrf: str | None = None
        self.form_id: str | None = None

    def get(self, path: str, **kwargs) -> requests.Response:
        response = self.http.get(self.base + path, allow_redirects=False, timeout=30, **kwargs)
        if match := CSRF_INPUT.search(response.text):
            self.csrf = match.group(1)
        if match := FORM_ID_INPUT.search(response.text):
            self.form_id = match.group(1)
        return response

    def post(self, path: str, data: dict | None = None, csrf: str | None = "page",
             **kwargs) -> requests.Response:
        data = dict(data or {})
        if csrf == "page":
            data["csrf_token"] = self.csrf
        elif csrf is not None:
            data["csrf_token"] = csrf
        return self.http.post(self.base + path, data=data, allow_redirects=False, timeout=30,
                              **kwargs)

    def login(self, email: str, password: str = PASSWORD) -> requests.Response:
        self.get("/login")
        return self.post("/login", {"email": email, "password": password, "next": "/console"})


@dataclass
class Console:
    url: str
    store: HandoffStore
    rasa: FakeRasa
    tracker_db: Path
    log: Path

    @property
    def outbox_dir(self) -> Path:
        return self.tracker_db.parent / "outbox"  # the settings' default, under FSGS_VAR_DIR

    def browser(self, email: str | None = None) -> Browser:
        browser = Browser(self.url)
        if email:
            assert browser.login(email).status_code == 303, self.log.read_text()[-2000:]
        return browser

    def ticket(self, conversation_id: str, message: str = "Should I change my tacrolimus dose?",
               reason: str = "personal_advice", channel: str = "socketio") -> TicketView:
        return self.store.open_or_append(EscalationRequest(
            conversation_id, channel, conversation_id, reason, message)).ticket


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"console exited early:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"console not healthy after {timeout}s:\n{log.read_text()}")


@contextmanager
def web_process(var_dir: Path, **variables: str) -> Iterator[str]:
    """`python -m bot.web` on a free port with these settings until the block ends; yields its URL."""
    port = free_port()
    env = {**os.environ, "FSGS_VAR_DIR": str(var_dir), "WEB_PORT": str(port),
           "RASA_AUTH_TOKEN": "test-token", "LOG_LEVEL": "WARNING", **variables}
    log = var_dir / "web.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "bot.web"], cwd=PROJECT_ROOT, env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(15)


@pytest.fixture(scope="module")
def console(tmp_path_factory) -> Iterator[Console]:
    var_dir = tmp_path_factory.mktemp("web")
    tracker_db = var_dir / "tracker.db"
    write_tracker_events(tracker_db, [])
    store = HandoffStore.from_url(f"sqlite:///{var_dir / 'handoff.db'}")
    store.create_schema()
    for email, role in ((ADMIN, "admin"), (NURSE, "staff"), (DOCTOR, "staff")):
        store.add_staff(email, accounts.hash_password(PASSWORD), role)
    try:
        # No background jobs: these tests look at pending messages and Rasa calls as they left
        # them (tests/bot/test_background.py and tests/e2e cover the jobs).
        with FakeRasa() as rasa, web_process(var_dir, RASA_URL=rasa.url, FSGS_BACKGROUND_JOBS="0",
                                             TRACKER_STORE_URL=f"sqlite:///{tracker_db}") as url:
            yield Console(url, store, rasa, tracker_db, var_dir / "web.log")
    finally:
        store.dispose()
