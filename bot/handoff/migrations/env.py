"""Alembic environment for the handoff queue, driven from `HandoffStore.create_schema()`.

The store passes its own connection in `config.attributes["connection"]`, so no alembic.ini and no
second engine configuration exist. On PostgreSQL an advisory lock keeps replicas that start
together from migrating twice.
"""
from alembic import context

from bot.handoff.models import Base

VERSION_TABLE = "handoff_alembic_version"
PG_MIGRATION_LOCK = 0x46534753  # "FSGS"

connection = context.config.attributes["connection"]
if connection.dialect.name == "postgresql":
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")
context.configure(connection=connection, target_metadata=Base.metadata,
                  version_table=VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
