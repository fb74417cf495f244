"""Throwaway databases on the local PostgreSQL server (trust auth), so runs never collide."""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg2

SERVER = "postgresql://postgres@127.0.0.1:5432"


def admin(sql: str, database: str = "postgres") -> None:
    connection = psycopg2.connect(f"{SERVER}/{database}", connect_timeout=5)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new empty database, dropped afterwards; yields its name (its URL is f"{SERVER}/{name}")."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
