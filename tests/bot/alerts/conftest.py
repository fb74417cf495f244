from tests.bot.handoff.conftest import (  # noqa: F401 - shared fixtures
    database_url,
    dead_database_url,
    pg_database,
    store,
)
