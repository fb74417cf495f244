"""Session-wide fixtures shared across the test suite."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.model_files import newest_model


@pytest.fixture(scope="session")
def trained_agent():
    """The newest trained model in models/, loaded once per session (loading takes seconds)."""
    from rasa.core.agent import Agent

    model = newest_model()
    if model is None:
        pytest.fail("no trained model in models/: run `make train` first")
    return Agent.load(str(model))


@pytest.fixture(scope="session")
def parse(trained_agent) -> Callable[[str], dict[str, Any]]:
    """Parses one text with the trained model, synchronously, on one session-long event loop."""
    loop = asyncio.new_event_loop()
    yield lambda text: loop.run_until_complete(trained_agent.parse_message(text))
    loop.close()
