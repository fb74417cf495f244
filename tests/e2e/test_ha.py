"""The multi-replica setup under load and faults: 2 Rasa replicas + 2 action servers + console behind
nginx, PostgreSQL (a fresh database) and Redis (a fresh key prefix) on this machine.

Tests run in file order and share one stack; each fault is undone in a `finally`. The replica kill
comes last. Load is modest here (bench/load.py does 200 users x 20 messages).
"""
from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from bench.load import audit, run_load
from bot.channels.rest import conversation_id
from bot.cli.ha import rasa_api_url
from bot.handoff.outbox import Outbox
from bot.handoff.store import HandoffStore
from bot.rasa_actions import escalation_saved_text
from tests.e2e.test_escalation import SocketUser
from tests.support.ha import fresh_postgres_database, start_ha
from tests.support.tickets import wait_for_tickets

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
ESCALATION = "should I stop taking my prednisone? my face is so puffy"
REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
               "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
               "--logfile", "/var/log/redis/ci.log"]


@pytest.fixture(scope="module")
def ha(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("ha")
    with fresh_postgres_database() as database_url:
        running = start_ha(var_dir, database_url)
        try:
            yield running
        finally:
            running.stack.stop()


@pytest.fixture(scope="module")
def store(ha):
    store = HandoffStore.from_url(ha.settings.database_url)
    yield store
    store.dispose()


def post(ha, sender: str, text: str) -> requests.Response:
    return requests.post(f"{ha.settings.rasa_url}/webhooks/rest/webhook",
                         json={"sender": sender, "message": text}, timeout=120)


def texts(response: requests.Response):
    assert response.status_code == 200, response.text
    return [m.get("text") or "" for m in response.json()]


def upstreams(ha) -> set:
    log = (Path(ha.stack.log_dir) / "nginx-access.log").read_text()
    return {line.rsplit('"', 2)[-2] for line in log.splitlines() if "/webhooks/rest/" in line}


def test_load_through_both_replicas_loses_nothing(ha):
    result = asyncio.run(run_load(ha.settings.rasa_url, users=20, messages=5, socketio_share=0.2))
    assert not result.errors, result.report("ha")
    assert audit(ha.settings, result) == []
    assert len(upstreams(ha)) == 2  # both replicas served REST traffic


def test_staff_messages_reach_a_socket_whichever_replica_takes_the_push(ha):
    """Rasa's HTTP API request lands on either replica; Redis carries the emit to the socket."""
    from bot.rasa_api import RasaClient

    async def scenario():
        user = SocketUser(ha.settings.rasa_url)
        await user.connect()
        await user.say("hello")
        await user.drain(quiet_for=2)
        rasa = RasaClient(rasa_api_url(ha.stack), ha.settings.rasa_auth_token)
        for i in range(6):
            await rasa.push(user.session_id, f"staff message {i}", "Care team")
        received = [(await user.next_message(timeout=20))["text"] for _ in range(6)]
        await user.client.disconnect()
        return received

    assert asyncio.run(scenario()) == [f"staff message {i}" for i in range(6)]


def test_no_message_text_in_any_log_at_info(ha):
    marker = f"zebra-{uuid.uuid4().hex}"
    texts(post(ha, f"log-{uuid.uuid4().hex[:8]}", f"what is fsgs {marker}"))
    texts(post(ha, f"log-{uuid.uuid4().hex[:8]}", f"my doctor said {marker}, should I change my dose?"))
    time.sleep(1)
    for log in Path(ha.stack.log_dir).glob("*.log"):
        assert marker not in log.read_text(errors="replace"), log.name


def test_action_servers_down_an_escalation_is_saved_and_lands_once(ha, store):
    """nginx must pass the failure on: a made-up success would lose the escalation."""
    user, later = (f"actions-down-{uuid.uuid4().hex[:8]}" for _ in range(2))
    names = [s.name for s in ha.stack.services if s.name.startswith("actions-")]
    try:
        for name in names:
            ha.stack.kill(name)
        replies = texts(post(ha, user, ESCALATION))
        assert escalation_saved_text(ha.settings) in replies, replies
        [ticket] = wait_for_tickets(store, conversation_id(user))  # from the outbox, by Rasa itself
        assert ticket.reason == "personal_advice"
    finally:
        for name in names:
            ha.stack.restart(name)
    replies = texts(post(ha, later, ESCALATION))
    assert any("passed your question to the care team" in r for r in replies), replies
    [ticket] = store.tickets_for(conversation_id(user))
    assert ticket.message_count == 1


def restart_postgres() -> None:
    [version] = [p.name for p in Path("/etc/postgresql").iterdir()]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                   check=True, timeout=120)


def test_postgres_restart_during_load_loses_no_ticket(ha, store):
    async def scenario():
        load = asyncio.create_task(run_load(ha.settings.rasa_url, users=10, messages=5, seed=3))
        await asyncio.sleep(2)
        await asyncio.to_thread(restart_postgres)
        return await load

    result = asyncio.run(scenario())
    assert not any(kind.startswith("http 5") for kind in result.errors), result.report("pg")
    Outbox(ha.settings.outbox_dir).replay(store)  # what the next escalation or `handoff replay` does
    ids = {u.conversation_id for u in result.users}
    problems = [p for p in audit(ha.settings, result) if "escalations" in p]
    assert problems == []  # every recorded escalation has exactly one ticket
    per_conversation = [len(store.tickets_for(i)) for i in ids]
    assert max(per_conversation) <= 1


def test_redis_down_users_get_a_clear_apology_and_service_resumes(ha):
    user = f"redis-down-{uuid.uuid4().hex[:8]}"
    subprocess.run(["redis-cli", "shutdown", "nosave"], timeout=30)
    try:
        replies = texts(post(ha, user, "what is fsgs?"))
        assert any("something went wrong on my side" in r and "If this is an emergency" in r
                   for r in replies)
    finally:
        subprocess.run(REDIS_START, check=True, timeout=30)
        _wait_for_redis()
    assert not any("something went wrong" in r for r in texts(post(ha, user, "what is fsgs?")))


def _wait_for_redis(timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while subprocess.run(["redis-cli", "ping"], capture_output=True, text=True).stdout.strip() != "PONG":
        assert time.monotonic() < deadline, "Redis did not come back"
        time.sleep(0.2)


def test_killing_a_replica_during_load_conversations_continue_on_the_other(ha):
    async def scenario():
        load = asyncio.create_task(run_load(ha.settings.rasa_url, users=20, messages=5,
                                            socketio_share=0, seed=5))
        await asyncio.sleep(3)
        ha.stack.kill("rasa-1")
        return await load

    result = asyncio.run(scenario())
    assert not result.errors, result.report("kill")
    # Messages, replies and ticket entries exact: a message that the killed replica had handled
    # but not answered is answered from the record by the other (bot/redelivery.py).
    assert audit(ha.settings, result) == []
