"""The periodic jobs of a running deployment, in one place, run by one process at a time.

The web process (`python -m bot.web`, started by `fsgs-bot run` and `run-ha`) runs them: it
already has the store and the Rasa client. Every job is idempotent and safe next to staff actions,
but running them once is what keeps the logs, Rasa and the database quiet, so a process runs them
only while it holds the leader lock: a Redis key when REDIS_URL is set (any number of web processes
on any machines), otherwise an flock on a file in var/ (every process of `run`/`run-ha` on this
machine shares it). A process that dies loses the lock (the flock with it, the Redis key after
`RedisLeaderLock.TTL_SECONDS`) and another takes over.

To add a job: append a `Job(name, interval, coroutine function)` in `standard_jobs` (or pass your
own list to `Runner`). Jobs run each in their own loop, so a slow or failing one never holds up the
others; a failure is logged and the job runs again after its interval.
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.alerts import retry_pending_alerts
from bot.conversations import TrackerEvents
from bot.handoff.delivery import DeliveryError
from bot.handoff.desk import StaffDesk
from bot.handoff.outbox import Outbox
from bot.handoff.store import HandoffStore
from bot.settings import Settings

logger = logging.getLogger(__name__)

OUTBOX_REPLAY_SECONDS = 5.0
PUSH_RETRY_SECONDS = 5.0
RECONCILE_SECONDS = 60.0
ALERT_RETRY_SECONDS = 10.0


@dataclass(frozen=True)
class Job:
    name: str
    interval: float  # seconds from the end of one run to the start of the next
    run: Callable[[], Awaitable[Any]]


class LeaderLock(Protocol):
    async def hold(self) -> bool:
        """Take the lock or keep holding it; False while another process holds it."""

    async def release(self) -> None:
        """Let another process take over at once."""


class FileLeaderLock:
    """An exclusive flock on `path`, held for as long as this process keeps the file open."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    async def hold(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


# Extend the key's life only if it is still ours (another process may hold it after an expiry).
_RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
          "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0")
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisLeaderLock:
    """`SET key token NX PX ttl`, renewed while held. While Redis is unreachable nobody leads
    (never two at once); the jobs resume when it is back."""

    TTL_SECONDS = 30

    def __init__(self, url: str, key: str):
        from redis import asyncio as aioredis

        self.redis = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.key = key
        self.token = uuid.uuid4().hex
        self._held = False

    async def hold(self) -> bool:
        from redis.exceptions import RedisError

        ttl_ms = str(self.TTL_SECONDS * 1000)
        try:
            if self._held and await self.redis.eval(_RENEW, 1, self.key, self.token, ttl_ms):
                return True
            self._held = bool(await self.redis.set(self.key, self.token, nx=True, px=int(ttl_ms)))
        except (RedisError, OSError) as exc:
            if self._held:
                logger.warning("Redis unreachable (%s): background jobs paused until it is back",
                               type(exc).__name__)
            self._held = False
        return self._held

    async def release(self) -> None:
        from redis.exceptions import RedisError

        with contextlib.suppress(RedisError, OSError):
            if self._held:
                await self.redis.eval(_RELEASE, 1, self.key, self.token)
        self._held = False
        with contextlib.suppress(RedisError, OSError):
            await self.redis.close()


def leader_lock(settings: Settings) -> LeaderLock:
    if settings.redis_url:
        return RedisLeaderLock(settings.redis_url, f"{settings.redis_key_prefix}:background:leader")
    return FileLeaderLock(settings.var_dir / "background.lock")


class Runner:
    """Runs `jobs` while this process holds `lock`, re-checking the lock every `check` seconds."""

    def __init__(self, jobs: list[Job], lock: LeaderLock, check: float = 5.0):
        self.jobs = jobs
        self.lock = lock
        self.check = check
        self.leading = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._lead(), name="background:leader")]
        self._tasks += [asyncio.create_task(self._loop(job), name=f"background:{job.name}")
                        for job in self.jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.lock.release()

    async def _lead(self) -> None:
        while True:
            try:
                held = await self.lock.hold()
            except Exception:  # noqa: BLE001 - a broken lock means not leading, never a dead loop
                logger.exception("background leader lock failed")
                held = False
            if held and not self.leading.is_set():
                logger.info("this process runs the background jobs")
                self.leading.set()
            elif not held and self.leading.is_set():
                logger.info("another process runs the background jobs now")
                self.leading.clear()
            await asyncio.sleep(self.check)

    async def _loop(self, job: Job) -> None:
        while True:
            await self.leading.wait()
            started = time.monotonic()
            try:
                await job.run()
            except Exception:  # noqa: BLE001 - one job's failure must not stop it or the others
                logger.exception("background job %s failed; it runs again in %.0f s",
                                 job.name, job.interval)
            logger.debug("background job %s took %.2f s", job.name, time.monotonic() - started)
            await asyncio.sleep(job.interval)


async def replay_outbox(store: HandoffStore, outbox: Outbox) -> None:
    """Escalations queued while the database was down reach the queue as soon as it is back."""
    if not await asyncio.to_thread(outbox.pending):
        return
    report = await asyncio.to_thread(outbox.replay, store)
    if report.applied or report.rejected:
        logger.info("outbox replay: %d applied, %d rejected, %d still waiting, %d held back by "
                    "the new-ticket cap", report.applied, report.rejected, report.remaining, report.held)


@dataclass
class PushRetry:
    """Sends staff messages a push could not deliver, per conversation with exponential back-off
    (from `first` to `longest` seconds) so a conversation whose channel is gone costs little."""

    desk: StaffDesk
    first: float = 5.0
    longest: float = 600.0
    _next: dict[str, float] = field(default_factory=dict)
    _delay: dict[str, float] = field(default_factory=dict)

    async def __call__(self) -> None:
        now = time.monotonic()
        waiting = await asyncio.to_thread(self.desk.store.conversations_with_pending)
        for conversation_id in set(self._next) - set(waiting):  # delivered meanwhile
            self._next.pop(conversation_id)
            self._delay.pop(conversation_id, None)
        for conversation_id in waiting:
            if self._next.get(conversation_id, 0.0) > now:
                continue
            try:
                delivered = await self.desk.deliver(conversation_id)
            except DeliveryError as exc:
                delivered = 0
                logger.info("push retry failed, will try again: %s", exc)
            if delivered:
                self._next.pop(conversation_id, None)
                self._delay.pop(conversation_id, None)
                logger.info("push retry delivered %d staff message(s)", delivered)
                continue
            delay = min(self.longest, self._delay.get(conversation_id, self.first / 2) * 2)
            self._delay[conversation_id] = delay
            self._next[conversation_id] = now + delay


async def reconcile_paused(desk: StaffDesk, conversations: TrackerEvents) -> None:
    """Resume conversations left paused without a claimed ticket (see `StaffDesk.reconcile`)."""
    paused = await asyncio.to_thread(conversations.paused)
    if paused:
        await desk.reconcile(paused)


def standard_jobs(settings: Settings, desk: StaffDesk) -> list[Job]:
    outbox = Outbox(settings.outbox_dir, settings.new_tickets_per_minute)
    tracker = TrackerEvents(settings.tracker_store_url)
    return [
        Job("outbox-replay", OUTBOX_REPLAY_SECONDS, lambda: replay_outbox(desk.store, outbox)),
        Job("push-retry", PUSH_RETRY_SECONDS, PushRetry(desk)),
        Job("reconcile-paused", RECONCILE_SECONDS, lambda: reconcile_paused(desk, tracker)),
        Job("alert-retry", ALERT_RETRY_SECONDS, lambda: retry_pending_alerts(desk.store, settings)),
    ]
