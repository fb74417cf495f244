"""Live queue updates: one poller per web process turns the store's change counter into events.

Tickets are written by the action server, another process, so in-process pub/sub cannot see them.
The store bumps a counter in the same transaction as every change; polling that single row every
half second is cheap, and one poller serves any number of open consoles.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


class ChangeFeed:
    def __init__(self, read_change_id: Callable[[], int], interval: float = 0.5):
        self.read_change_id = read_change_id
        self.interval = interval
        self.current: int | None = None
        self._changed = asyncio.Condition()
        self._listeners = 0
        self._task: asyncio.Task | None = None

    async def _poll(self) -> None:
        while self._listeners:
            try:
                value = await asyncio.to_thread(self.read_change_id)
            except Exception:  # the store being down must not end the feed; consoles keep waiting
                logger.warning("could not read the queue's change counter", exc_info=True)
            else:
                if value != self.current:
                    self.current = value
                    async with self._changed:
                        self._changed.notify_all()
            await asyncio.sleep(self.interval)
        self._task = None

    async def wait_for_change(self, seen: int | None, timeout: float) -> int | None:
        """The counter once it differs from `seen`, or None after `timeout` seconds without change."""
        self._listeners += 1
        try:
            if self._task is None:
                self._task = asyncio.create_task(self._poll())
            async with self._changed:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.current is not None and self.current != seen),
                    timeout)
            return self.current
        except asyncio.TimeoutError:
            return None
        finally:
            self._listeners -= 1
