"""What a staff member does to a ticket, in the order that keeps the store and the chat consistent.

- claim: the store first (the record), then pause the bot. If the pause fails the ticket is claimed
  and the bot still answers; claiming again retries the pause.
- reply: the store first, then delivery. A message the chat could not take stays pending and the
  background retry (`bot.background`) sends it; channels without pushes get it when the user next
  writes (`bot.channels.rest`).
- resolve: resume the bot first (idempotent), then close the ticket with its farewell message in
  one transaction. If the resume fails nothing changed and resolving again retries it; the order
  never leaves a conversation paused without a ticket, and `reconcile` repairs one that is (a crash
  between, an older version, a ticket deleted under a paused conversation).

Deliveries claim a conversation's pending messages in the store first (`claim_pending`), so a staff
action and the background retry never send the same message twice. Store calls run in a worker
thread: they may wait on a SQLite lock or a PostgreSQL connect timeout, and the callers are
event-loop servers.
"""
from __future__ import annotations

import logging
from asyncio import to_thread
from collections.abc import Iterable

from bot.handoff.delivery import Conversations, TranscriptLine
from bot.handoff.store import HandoffStore, InvalidTransition, StaffMessageView, TicketView

logger = logging.getLogger(__name__)

JOINED_TEXT = ("A member of the care team has joined this chat and can see your earlier messages. "
               "The assistant will stay quiet until they are done.")
CLOSED_TEXT = ("The care team has finished here. You're back with the FSGS information assistant: "
               "ask me anything about FSGS, or say \"talk to a person\" to reach the team again.")


class StaffDesk:
    def __init__(self, store: HandoffStore, chat: Conversations):
        self.store = store
        self.chat = chat

    async def claim(self, ticket_id: int, staff: str) -> TicketView:
        """Take the ticket and pause the bot so only staff answer from now on."""
        ticket = await to_thread(self.store.claim, ticket_id, staff)
        await self.chat.pause(ticket.conversation_id)
        await to_thread(self.store.add_staff_message, ticket_id, staff, JOINED_TEXT)
        await self.deliver(ticket.conversation_id)
        return await to_thread(self.store.get, ticket_id)

    async def reply(self, ticket_id: int, staff: str, text: str) -> StaffMessageView:
        """Record a staff message and send it on the user's channel (claiming first if needed)."""
        if (await to_thread(self.store.get, ticket_id)).status == "open":
            await self.claim(ticket_id, staff)
        message = await to_thread(self.store.add_staff_message, ticket_id, staff, text)
        await self.deliver(message.conversation_id)
        history = await to_thread(self.store.history, ticket_id)
        return next((m for m in history.messages if m.id == message.id), message)

    async def resolve(self, ticket_id: int, staff: str) -> TicketView:
        """Let the bot answer again, close the ticket with a goodbye, and send the goodbye."""
        ticket = await to_thread(self.store.get, ticket_id)
        if ticket.status == "resolved":
            raise InvalidTransition(f"ticket {ticket_id} is already resolved")
        await self.chat.resume(ticket.conversation_id)
        ticket = await to_thread(self.store.resolve, ticket_id, staff, CLOSED_TEXT)
        await self.deliver(ticket.conversation_id)
        return ticket

    async def deliver_pending(self, ticket_id: int) -> int:
        """Push the undelivered staff messages of a ticket's conversation (see `deliver`)."""
        return await self.deliver((await to_thread(self.store.get, ticket_id)).conversation_id)

    async def deliver(self, conversation_id: str) -> int:
        """Push a conversation's undelivered staff messages, oldest first; returns how many went
        out now. Raises DeliveryError when the chat is unreachable (the rest stay pending)."""
        channel = await self.chat.push_channel(conversation_id)
        if channel is None:
            return 0  # the channel takes no pushes: the user gets these when they next write
        claimed = await to_thread(self.store.claim_pending, conversation_id)
        sent = 0
        try:
            for message in claimed:
                await self.chat.push(conversation_id, message.text, message.author, channel)
                await to_thread(self.store.mark_delivered, message.id)
                sent += 1
        finally:
            await to_thread(self.store.release, [m.id for m in claimed[sent:]])
        return sent

    async def reconcile(self, paused_conversations: Iterable[str]) -> list[str]:
        """Resume paused conversations that have no claimed ticket; returns those resumed.

        A conversation is paused only while staff hold its ticket; one paused without would never
        hear the bot again, red-flag replies included. A claim that lands while this runs is
        re-paused: claims commit to the store before they pause, so the second look sees them."""
        resumed = []
        for conversation_id in paused_conversations:
            if await self._claimed(conversation_id):
                continue
            await self.chat.resume(conversation_id)
            if await self._claimed(conversation_id):
                await self.chat.pause(conversation_id)
                continue
            logger.warning("conversation was paused without a claimed ticket; resumed it")
            resumed.append(conversation_id)
        return resumed

    async def _claimed(self, conversation_id: str) -> bool:
        ticket = await to_thread(self.store.open_ticket_for, conversation_id)
        return ticket is not None and ticket.status == "claimed"

    async def transcript(self, ticket_id: int) -> list[TranscriptLine]:
        """The whole conversation of a ticket, as the console shows it."""
        return await self.conversation((await to_thread(self.store.get, ticket_id)).conversation_id)

    async def conversation(self, conversation_id: str) -> list[TranscriptLine]:
        """User and bot lines from the chat merged with the staff messages of all the
        conversation's tickets from the store, oldest first. The console and the widget's history
        both read this: the store is the staff messages' record, undelivered ones included."""
        lines = await self.chat.transcript(conversation_id)
        lines += await to_thread(self._staff_lines, conversation_id)
        return sorted(lines, key=lambda line: line.at)  # all UTC-aware (store and Rasa alike)

    def _staff_lines(self, conversation_id: str) -> list[TranscriptLine]:
        return [TranscriptLine("staff", m.text, m.created_at, m.author, m.delivered_at is not None)
                for ticket in self.store.tickets_for(conversation_id)
                for m in self.store.history(ticket.id).messages]
