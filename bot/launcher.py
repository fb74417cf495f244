"""Starts and stops the assistant's processes: action server, Rasa server and web pages.

One code path for `fsgs-bot run`, the end-to-end tests and the benchmarks, so what is tested is
what runs. Each process gets the environment from `bot.settings` (ports, stores, tokens).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bot.channels.credentials import write_effective_credentials
from bot.model_files import latest_model
from bot.settings import PROJECT_ROOT, Settings, private_dir

BIN = Path(sys.executable).parent


@dataclass
class Service:
    name: str
    argv: list[str]
    health_url: str
    process: subprocess.Popen | None = None
    # Per-service additions to the stack's environment (e.g. a replica's own port).
    env: dict[str, str] = field(default_factory=dict)
    log: IO[bytes] | None = field(default=None, repr=False)


def started(service: Service) -> subprocess.Popen:
    """The process of a service that has been spawned (an error before `Stack.start`)."""
    if service.process is None:
        raise RuntimeError(f"{service.name} has not been started")
    return service.process


def service_environment(settings: Settings, variables: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child processes' environment: ours, the `variables` the settings were loaded from
    (so children read the same settings), and what endpoints.yml interpolates."""
    env = {**os.environ, **dict(variables or {}), **settings.rasa_environment()}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["RASA_TELEMETRY_ENABLED"] = "false"  # no phoning home from a medical service
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    # Sanic closes idle keep-alive connections after 5 s, but Rasa's aiohttp client reuses them for
    # 15 s: a request written as the server closes fails ("Cannot write to closing transport"),
    # and Rasa then drops that custom action, escalations included, without retrying (measured
    # under load). Servers that keep connections longer than their clients avoid the race.
    env.setdefault("SANIC_KEEP_ALIVE_TIMEOUT", "75")
    return env


def action_server(settings: Settings) -> Service:
    """Host, port and token come from the settings (the child reads the same ones)."""
    return Service("actions", [str(BIN / "python"), "-m", "bot.action_server"],
                   f"{settings.action_server_url}/health",
                   env={"ACTION_PORT": str(settings.action_port), "ACTION_HOST": settings.action_host})


def private_files(settings: Settings) -> None:
    """Whatever this process and its children create is owner-only (tracker and handoff
    databases, outbox, logs, nginx files), and var/ itself is 0700."""
    os.umask(0o077)
    private_dir(settings.var_dir)


def prepare_databases(settings: Settings) -> None:
    """Create or migrate the handoff schema and Rasa's tracker-store tables once, before any
    replica or action server starts (replicas starting together race on `CREATE TABLE`)."""
    from bot.handoff.store import HandoffStore
    from bot.tracker_store import WindowedSQLTrackerStore

    private_files(settings)
    store = HandoffStore.from_url(settings.database_url)
    store.create_schema()
    store.dispose()
    env = settings.rasa_environment()
    tracker_store = WindowedSQLTrackerStore(dialect=env["FSGS_TRACKER_DIALECT"],
                                            host=env["FSGS_TRACKER_HOST"] or None,
                                            db=env["FSGS_TRACKER_DB"])
    tracker_store.engine.dispose()


def rasa_server(settings: Settings, credentials: Path, model: Path | None = None) -> Service:
    """No secret on the command line: bot.rasa_server reads the token from the settings."""
    return Service(
        "rasa",
        [str(BIN / "python"), "-m", "bot.rasa_server", "--interface", settings.host,
         "--port", str(settings.rasa_port), "--model", str(model or latest_model()),
         "--endpoints", "endpoints.yml",
         "--credentials", str(write_effective_credentials(settings, credentials))],
        f"{settings.rasa_url}/",
        # Sanic's body limit for Rasa alone (the action server receives whole trackers).
        env={"SANIC_REQUEST_MAX_SIZE": str(settings.rasa_max_request_bytes)},
    )


def web_server(settings: Settings) -> Service:
    return Service("web", [str(BIN / "python"), "-m", "bot.web"],
                   f"http://127.0.0.1:{settings.web_port}/healthz")


class Stack:
    """A set of services started together and stopped together."""

    def __init__(self, settings: Settings, services: list[Service], log_dir: Path | None = None,
                 env: dict[str, str] | None = None):
        self.settings = settings
        self.services = services
        self.log_dir = log_dir
        self.env = env or service_environment(settings)

    def start(self, timeout: float = 180.0) -> Stack:
        for service in self.services:
            self._spawn(service)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, service: Service) -> None:
        output = None
        if self.log_dir:
            self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if service.log is None or service.log.closed:
                service.log = open(self.log_dir / f"{service.name}.log", "ab")
            output = service.log
        service.process = subprocess.Popen(
            service.argv, cwd=PROJECT_ROOT, env={**self.env, **service.env}, stdout=output,
            stderr=subprocess.STDOUT if output else None, start_new_session=True, umask=0o077)

    def kill(self, name: str) -> None:
        """SIGKILL one service's process group (fault tests: a crashed replica)."""
        process = started(self.service(name))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self, name: str, timeout: float = 180.0) -> None:
        """Start a service that exited (or was killed) again, and wait until it answers."""
        service = self.service(name)
        if service.process and service.process.poll() is None:
            raise RuntimeError(f"{name} is still running")
        self._spawn(service)
        deadline = time.monotonic() + timeout
        while not _answers(service.health_url):
            if started(service).poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not come back{self._log_hint(service)}")
            time.sleep(0.5)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for service in self.services:
            while not _answers(service.health_url):
                if started(service).poll() is not None:
                    raise RuntimeError(f"{service.name} exited with code {started(service).returncode}"
                                       f" before it was ready{self._log_hint(service)}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{service.name} not ready after {timeout:.0f}s"
                                       f"{self._log_hint(service)}")
                time.sleep(0.5)

    def _log_hint(self, service: Service) -> str:
        return f" (see {self.log_dir / (service.name + '.log')})" if self.log_dir else ""

    def stop(self, grace: float = 15.0) -> None:
        for service in reversed(self.services):
            if service.process and service.process.poll() is None:
                os.killpg(service.process.pid, signal.SIGTERM)
        for service in reversed(self.services):
            if service.process:
                try:
                    service.process.wait(grace)
                except subprocess.TimeoutExpired:
                    os.killpg(service.process.pid, signal.SIGKILL)
                    service.process.wait()
            if service.log:
                service.log.close()

    def first_exited(self) -> Service | None:
        return next((s for s in self.services if s.process and s.process.poll() is not None), None)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False
