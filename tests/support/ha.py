"""The multi-replica setup (`fsgs-bot run-ha`) on free ports against the machine's PostgreSQL and
Redis, each run in its own fresh database and Redis key prefix, for e2e tests and bench/load.py."""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from bot.cli import ha
from bot.settings import load_settings
from tests.support.postgres import SERVER, fresh_database
from tests.support.stack import RunningStack, stack_variables

REDIS_URL = "redis://127.0.0.1:6379/1"


@contextlib.contextmanager
def fresh_postgres_database(prefix: str = "fsgs_ha") -> Iterator[str]:
    """A new empty database for one run, dropped afterwards; yields its URL."""
    with fresh_database(prefix) as name:
        yield f"{SERVER}/{name}"


def start_ha(var_dir: Path, database_url: str, *, replicas: int = 2, action_servers: int = 2,
             **overrides: str) -> RunningStack:
    """Start N replicas + M action servers + console behind nginx; `.settings.rasa_url` is nginx."""
    variables = stack_variables(var_dir, **{
        "DATABASE_URL": database_url, "TRACKER_STORE_URL": database_url, "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": f"fsgsha{uuid.uuid4().hex[:8]}", **overrides})
    settings = load_settings(variables)
    stack = ha.ha_stack(settings, variables, replicas=replicas, action_servers=action_servers,
                        log_dir=var_dir / "logs")
    stack.start(timeout=300)
    return RunningStack(settings, variables, stack)
