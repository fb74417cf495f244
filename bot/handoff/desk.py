"""What a staff member does to a ticket, in the order that keeps the store and Rasa consistent.

The store is written first (it is the record); Rasa is told second. A staff message that Rasa
could not deliver stays pending in the store and goes out with the next delivery attempt, or, for
channels that cannot receive pushes, when the user next writes (`bot.channels.rest`).
"""
from __future__ import annotations

from typing import List, Optional

from bot.handoff.delivery import RasaClient, TranscriptLine
from bot.handoff.store import HandoffStore, InvalidTransition, TicketView
from bot.settings import Settings

JOINED_TEXT = ("A member of the care team has joined this chat and can see your earlier messages. "
               "The assistant will stay quiet until they are done.")
CLOSED_TEXT = ("The care team has finished here. You're back with the FSGS information assistant: "
               "ask me anything about FSGS, or say \"talk to a person\" to reach the team again.")


class StaffDesk:
    def __init__(self, store: HandoffStore, rasa: RasaClient):
        self.store = store
        self.rasa = rasa

    @classmethod
    def from_settings(cls, settings: Settings, store: Optional[HandoffStore] = None) -> "StaffDesk":
        return cls(store or HandoffStore.from_url(settings.database_url),
                   RasaClient(settings.rasa_url, settings.rasa_auth_token))

    async def claim(self, ticket_id: int, staff: str) -> TicketView:
        """Take the ticket and pause the bot so only staff answer from now on."""
        ticket = self.store.claim(ticket_id, staff)
        await self.rasa.pause(ticket.conversation_id)
        self.store.add_staff_message(ticket_id, staff, JOINED_TEXT)
        await self.deliver_pending(ticket_id)
        return self.store.get(ticket_id)

    async def reply(self, ticket_id: int, staff: str, text: str):
        """Record a staff message and send it on the user's channel (claiming first if needed)."""
        if self.store.get(ticket_id).status == "open":
            await self.claim(ticket_id, staff)
        message = self.store.add_staff_message(ticket_id, staff, text)
        await self.deliver_pending(ticket_id)
        return next((m for m in self.store.history(ticket_id).messages if m.id == message.id), message)

    async def resolve(self, ticket_id: int, staff: str) -> TicketView:
        """Say goodbye on the user's channel, close the ticket and let the bot answer again."""
        if self.store.get(ticket_id).status == "resolved":
            raise InvalidTransition(f"ticket {ticket_id} is already resolved")
        self.store.add_staff_message(ticket_id, staff, CLOSED_TEXT)
        ticket = self.store.resolve(ticket_id, staff)
        await self.rasa.resume(ticket.conversation_id)
        await self.deliver_pending(ticket_id)
        return ticket

    async def deliver_pending(self, ticket_id: int) -> int:
        """Push undelivered staff messages, oldest first; returns how many went out now."""
        ticket = self.store.get(ticket_id)
        sent = 0
        for message in self.store.pending_messages(ticket.conversation_id):
            if not await self.rasa.push(ticket.conversation_id, message.text, message.author):
                break  # the channel cannot take pushes: the user gets these when they next write
            self.store.mark_delivered(message.id)
            sent += 1
        return sent

    async def transcript(self, ticket_id: int) -> List[TranscriptLine]:
        """The whole conversation of a ticket, as the console shows it."""
        return await self.conversation(self.store.get(ticket_id).conversation_id)

    async def conversation(self, conversation_id: str) -> List[TranscriptLine]:
        """User and bot lines from Rasa merged with the staff messages of all the conversation's
        tickets from the store, oldest first. The console and the widget's history both read this:
        the store is the staff messages' record, undelivered ones included."""
        lines = await self.rasa.transcript(conversation_id)
        lines += [TranscriptLine("staff", m.text, m.created_at, m.author,
                                 m.delivered_at is not None)
                  for ticket in self.store.tickets_for(conversation_id)
                  for m in self.store.history(ticket.id).messages]
        return sorted(lines, key=lambda line: line.at)  # all UTC-aware (store and Rasa alike)
