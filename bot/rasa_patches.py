"""Fixes for Rasa 3.6 that no configuration reaches, applied once per Rasa process.

`MessageProcessor.handle_message` answers a message that nginx redelivered to this replica after
another one failed, but that was already handled and saved there, from the record instead of
handling it twice (`bot.redelivery.handle_message_once`).

`RemoteAction._validate_action_result` calls `jsonschema.validate(result, schema)` on every
action server response. `validate` first checks the (constant) schema against the JSON Schema
2020-12 meta-schema: about 90 ms of CPU per custom action on the loaded 2-core machine, on the
event loop every user shares, for each session start (the disclaimer is a custom action) and each
escalation. A validator built once for that schema gives the same verdict and the same
`ValidationError` in about 2 ms (docs/performance.md).

`apply()` is called by `bot.tracker_store.WindowedSQLTrackerStore`, the one project class every
Rasa process of this deployment constructs at start-up.
"""
from __future__ import annotations

import functools
from typing import Any

from rasa.core import processor
from rasa.core.actions import action
from rasa.shared.constants import DOCS_BASE_URL

from bot import redelivery


@functools.lru_cache(maxsize=1)
def _response_validator() -> Any:
    from jsonschema import validators

    schema = action.RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)  # once, as `jsonschema.validate` did on every call
    return cls(schema)


def _validate_action_result(self: action.RemoteAction, result: dict[str, Any]) -> bool:
    """Rasa's `RemoteAction._validate_action_result` with the validator built once."""
    from jsonschema import exceptions

    error = exceptions.best_match(_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        f". Failed to validate Action server response from API, make sure your response from the "
        f"Action endpoint is valid. For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions")
    raise error


def apply() -> None:
    """Install the fixes (idempotent)."""
    action.RemoteAction._validate_action_result = _validate_action_result
    if not getattr(processor.MessageProcessor.handle_message, "handles_repeats", False):
        processor.MessageProcessor.handle_message = redelivery.handle_message_once(
            processor.MessageProcessor.handle_message)
