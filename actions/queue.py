"""The handoff queue as the action server sees it: one store and one outbox per process."""
import functools
from typing import Optional

from rasa_sdk import Tracker

from bot.handoff.outbox import Outbox
from bot.handoff.store import HandoffStore
from bot.settings import get_settings
from bot.staffing import StaffedHours, parse_staffed_hours



@functools.lru_cache(maxsize=1)
def store() -> HandoffStore:
    return HandoffStore.from_url(get_settings().database_url)


@functools.lru_cache(maxsize=1)
def outbox() -> Outbox:
    return Outbox(get_settings().outbox_dir)


@functools.lru_cache(maxsize=1)
def staffed_hours() -> StaffedHours:
    settings = get_settings()
    return parse_staffed_hours(settings.staffed_hours, settings.staffed_timezone)


def latest_intent(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message.get("intent") or {}).get("name")


def channel_of(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"
