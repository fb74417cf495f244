"""Stores on both backends: a SQLite file per test, and a fresh PostgreSQL schema per test inside
a database created for this test session (so parallel runs and other engineers never collide)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from bot.handoff.store import HandoffStore
from tests.support.postgres import SERVER, admin, fresh_database


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    try:
        with fresh_database("fsgs_test") as name:
            yield name
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {SERVER} is needed for @pytest.mark.postgres tests: {exc}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> Iterator[str]:
    """An empty database, as a URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'handoff.db'}"
        return
    database = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin(f"CREATE SCHEMA {schema}", database)
    yield f"{SERVER}/{database}?options=-csearch_path%3D{schema}"
    admin(f"DROP SCHEMA {schema} CASCADE", database)


@pytest.fixture
def store(database_url) -> Iterator[HandoffStore]:
    store = HandoffStore.from_url(database_url)
    store.create_schema()
    yield store
    store.dispose()


@pytest.fixture
def dead_database_url() -> str:
    """A PostgreSQL URL where nothing listens: the database is down."""
    return "postgresql://postgres@127.0.0.1:1/test"
