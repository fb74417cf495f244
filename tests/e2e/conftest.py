"""One real stack (action server + Rasa + web pages, embedded defaults, staffed hours "always") shared by the
end-to-end tests of a session; tests that need other settings start their own with start_stack."""
import pytest

from bot.handoff.store import HandoffStore
from tests.support.stack import start_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("stack"), web=True)
    yield running
    running.stack.stop()


@pytest.fixture(scope="session")
def store(stack) -> HandoffStore:
    return HandoffStore.from_url(stack.settings.database_url)
