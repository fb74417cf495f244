from tests.bot.handoff.conftest import (dead_database_url, database_url, pg_database,  # noqa: F401
                                        store)
