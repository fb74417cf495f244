"""Stores on both backends: a SQLite file per test, and a fresh PostgreSQL schema per test inside
a database created for this test session (so parallel runs and other engineers never collide)."""
from __future__ import annotations

import uuid
from typing import Iterator

import psycopg2
import pytest

from bot.handoff.store import HandoffStore

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def _admin(sql: str, database: str = "test") -> None:
    connection = psycopg2.connect(f"{PG_SERVER}/{database}", connect_timeout=5)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    name = f"fsgs_test_{uuid.uuid4().hex[:12]}"
    try:
        _admin(f"CREATE DATABASE {name}")
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_SERVER} is needed for @pytest.mark.postgres tests: {exc}")
    yield name
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> Iterator[str]:
    """An empty database, as a URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'handoff.db'}"
        return
    database = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE SCHEMA {schema}", database)
    yield f"{PG_SERVER}/{database}?options=-csearch_path%3D{schema}"
    _admin(f"DROP SCHEMA {schema} CASCADE", database)


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
