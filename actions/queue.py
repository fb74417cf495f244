"""The handoff queue as the action server sees it.

`Handoff` bundles the store, the outbox, the staffed hours and the on-call alerts. The action server
builds one per process from the settings (`default_handoff`); tests give an action their own
(`ActionEscalateToHuman(handoff=...)`). Every store and outbox call runs in a worker thread: a
SQLite writer may wait up to its busy timeout, the outbox fsyncs and PostgreSQL may take its connect
timeout, and none of that may stall the action server's event loop (every other conversation).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from rasa_sdk import Tracker

from bot.alerts import AlertOutcome, alert_for_ticket
from bot.handoff.outbox import EscalationOutcome, Outbox, escalate
from bot.handoff.store import EscalationRequest, HandoffStore, TicketView
from bot.settings import Settings, get_settings
from bot.staffing import StaffedHours, parse_staffed_hours


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Handoff:
    settings: Settings
    store: HandoffStore
    outbox: Outbox
    hours: StaffedHours
    clock: Callable[[], datetime] = utc_now

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Handoff:
        settings = settings or get_settings()
        return cls(settings=settings, store=HandoffStore.from_url(settings.database_url),
                   outbox=Outbox(settings.outbox_dir, settings.new_tickets_per_minute),
                   hours=parse_staffed_hours(settings.staffed_hours, settings.staffed_timezone))

    async def escalate(self, request: EscalationRequest) -> EscalationOutcome:
        """Open or append (the outbox if the database is down)."""
        return await asyncio.to_thread(escalate, self.store, self.outbox, request)

    async def open_ticket_for(self, conversation_id: str) -> TicketView | None:
        return await asyncio.to_thread(self.store.open_ticket_for, conversation_id)

    async def save_contact(self, ticket_id: int, contact: str) -> TicketView:
        return await asyncio.to_thread(self.store.save_contact, ticket_id, contact, True)

    async def alert(self, ticket: TicketView, kind: str) -> AlertOutcome:
        return await alert_for_ticket(ticket, kind, store=self.store, settings=self.settings)

    def is_staffed(self) -> bool:
        return self.hours.is_staffed(self.clock())

    def next_staffed_time(self) -> datetime | None:
        """When a person will next read the queue, in the clinic's time zone (None: never)."""
        upcoming = self.hours.next_staffed_time(self.clock())
        return None if upcoming is None else upcoming.astimezone(self.hours.timezone)


_default: Handoff | None = None


def default_handoff() -> Handoff:
    """The process-wide Handoff, built from the settings on first use."""
    global _default
    if _default is None:
        _default = Handoff.from_settings()
    return _default


class UsesHandoff:
    """Mixin for actions that reach the queue: the process default unless one is injected."""

    def __init__(self, handoff: Handoff | None = None) -> None:
        self._handoff = handoff

    @property
    def handoff(self) -> Handoff:
        return self._handoff or default_handoff()


def latest_intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def channel_of(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"
