"""What an on-call alert says: the ticket's number, priority, reason, channel and a console link.

Built from a `TicketView` field by field, never from its message or contact fields, so no patient
words or contact details can end up in an e-mail inbox or a chat channel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.handoff.store import TicketView

HEADLINES = {
    "urgent_new": "New urgent ticket",
    "urgent_raised": "Ticket raised to urgent",
    "out_of_hours_new": "New ticket out of hours",
}


@dataclass(frozen=True)
class AlertContent:
    kind: str
    ticket_id: int
    priority: str
    reason: str
    channel: str
    opened_at: str
    link: str

    @property
    def subject(self) -> str:
        return (f"[FSGS care team] {HEADLINES[self.kind]} #{self.ticket_id}: "
                f"{self.reason.replace('_', ' ')} ({self.channel})")

    @property
    def text(self) -> str:
        return "\n".join([
            f"{HEADLINES[self.kind]} in the care-team queue.",
            "",
            f"Ticket:   #{self.ticket_id}",
            f"Priority: {self.priority}",
            f"Reason:   {self.reason.replace('_', ' ')}",
            f"Channel:  {self.channel}",
            f"Opened:   {self.opened_at}",
            "",
            f"Open it in the console: {self.link}",
            "",
            "This alert never contains the patient's words or contact details: read them in the console.",
        ])

    def as_json(self) -> dict[str, Any]:
        """The webhook body: `text` for Slack/Teams incoming webhooks, the fields for anything else."""
        return {"text": f"{self.subject}\n{self.link}", "kind": self.kind, "ticket": self.ticket_id,
                "priority": self.priority, "reason": self.reason, "channel": self.channel,
                "opened_at": self.opened_at, "url": self.link}


def alert_content(ticket: TicketView, kind: str, console_base_url: str) -> AlertContent:
    if kind not in HEADLINES:
        raise ValueError(f"unknown alert kind {kind!r}; one of {tuple(HEADLINES)}")
    return AlertContent(kind=kind, ticket_id=ticket.id, priority=ticket.priority, reason=ticket.reason,
                        channel=ticket.channel, opened_at=ticket.created_at.isoformat(timespec="seconds"),
                        link=f"{console_base_url}/console/tickets/{ticket.id}")
