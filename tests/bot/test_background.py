"""The background jobs: leadership across processes (flock) and replicas (real Redis), one job's
failure isolated from the others, and escalations queued while a real PostgreSQL was unreachable
replayed by a running web process on their own."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bot.background import FileLeaderLock, Job, RedisLeaderLock, Runner
from bot.handoff.outbox import Outbox, escalate
from bot.handoff.store import EscalationRequest, HandoffStore
from tests.bot.web.conftest import web_process
from tests.support.ha import REDIS_URL
from tests.support.postgres import fresh_database
from tests.support.tcp_proxy import TcpProxy


def wait_until(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"{what} not reached within {timeout:.0f} s"
        time.sleep(0.2)
    return result


async def async_wait_until(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout:.0f} s"
        await asyncio.sleep(0.05)


HOLD_FLOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def test_the_file_lock_is_held_by_one_process_and_taken_over_when_it_exits(tmp_path):
    path = tmp_path / "background.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_FLOCK, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = FileLeaderLock(path)
        assert asyncio.run(lock.hold()) is False
    finally:
        holder.communicate("", timeout=30)  # the holder exits: its flock goes with it
    assert asyncio.run(lock.hold()) is True
    assert asyncio.run(lock.hold()) is True  # keeping it is not taking it again
    asyncio.run(lock.release())


@pytest.mark.redis
def test_the_redis_lock_is_held_by_one_replica_and_expires_when_its_holder_dies():
    key = f"fsgstest{uuid.uuid4().hex[:8]}:background:leader"

    async def scenario():
        first, second = RedisLeaderLock(REDIS_URL, key), RedisLeaderLock(REDIS_URL, key)
        first.TTL_SECONDS = second.TTL_SECONDS = 1
        assert await first.hold() is True
        assert await second.hold() is False
        assert await first.hold() is True            # renewal keeps it
        deadline = time.monotonic() + 30
        while not await second.hold():               # the first stops renewing: it died
            assert time.monotonic() < deadline, "the lock never expired"
            await asyncio.sleep(0.2)
        assert await first.hold() is False           # and cannot take it back
        await second.release()
        assert await first.hold() is True            # a release hands over at once
        await first.release()

    asyncio.run(scenario())


@pytest.mark.redis
def test_while_redis_is_unreachable_nobody_leads():
    lock = RedisLeaderLock("redis://127.0.0.1:1/0", "x:background:leader")
    assert asyncio.run(lock.hold()) is False


def test_a_failing_job_does_not_stop_itself_or_the_others(tmp_path):
    runs = {"good": 0, "bad": 0}

    async def good():
        runs["good"] += 1

    async def bad():
        runs["bad"] += 1
        raise RuntimeError("boom")

    async def scenario():
        runner = Runner([Job("good", 0.01, good), Job("bad", 0.01, bad)],
                        FileLeaderLock(tmp_path / "lock"), check=0.05)
        runner.start()
        try:
            await async_wait_until(lambda: runs["good"] >= 5 and runs["bad"] >= 5, what="5 runs each")
        finally:
            await runner.stop()

    asyncio.run(scenario())


def test_two_runners_on_one_lock_take_turns_never_together(tmp_path):
    active, overlaps, runs = set(), [], {"a": 0, "b": 0}

    def job(name: str):
        async def run():
            if active - {name}:
                overlaps.append(name)
            active.add(name)
            runs[name] += 1
            try:
                await asyncio.sleep(0.01)
            finally:
                active.discard(name)
        return run

    async def scenario():
        lock_path = tmp_path / "lock"
        first = Runner([Job("a", 0.01, job("a"))], FileLeaderLock(lock_path), check=0.05)
        second = Runner([Job("b", 0.01, job("b"))], FileLeaderLock(lock_path), check=0.05)
        first.start()
        await async_wait_until(lambda: runs["a"] >= 3, what="the first runner leading")
        second.start()
        await async_wait_until(lambda: runs["a"] >= 20, what="the first runner going on")
        assert runs["b"] == 0 and not second.leading.is_set()
        await first.stop()
        await async_wait_until(lambda: runs["b"] >= 3, what="the second runner taking over")
        await second.stop()

    asyncio.run(scenario())
    assert overlaps == []


@pytest.mark.postgres
@pytest.mark.slow
def test_escalations_queued_while_postgres_was_unreachable_reach_the_queue_by_themselves(tmp_path):
    with fresh_database("fsgs_replay") as name:
        proxy = TcpProxy(("127.0.0.1", 5432)).up()
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/{name}"
        store = HandoffStore.from_url(url)
        store.create_schema()
        outbox = Outbox(tmp_path / "outbox")
        try:
            with web_process(tmp_path, DATABASE_URL=url, HANDOFF_OUTBOX_DIR=str(outbox.directory),
                             RASA_URL="http://127.0.0.1:1"):
                proxy.down()
                outcome = escalate(store, outbox, EscalationRequest(
                    "c-urgent", "socketio", "c-urgent", "emergency", "chest pain, can't breathe"))
                assert outcome.queued_offline and len(outbox.pending()) == 1
                proxy.up()
                ticket = wait_until(lambda: store.open_ticket_for("c-urgent"), what="the replay")
                assert (ticket.priority, ticket.first_message) == ("urgent", "chest pain, can't breathe")
                wait_until(lambda: outbox.pending() == [], what="the outbox emptied")
        finally:
            store.dispose()
            proxy.down()


def test_the_web_process_runs_the_jobs_only_when_asked(tmp_path):
    """FSGS_BACKGROUND_JOBS=0 (the console tests' queue stays as they left it) takes no lock."""
    with web_process(tmp_path, FSGS_BACKGROUND_JOBS="0", RASA_URL="http://127.0.0.1:1"):
        assert asyncio.run(FileLeaderLock(Path(tmp_path) / "background.lock").hold()) is True
