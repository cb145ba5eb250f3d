"""In-process event bus: committed events fanned out to live subscribers.

Each subscriber has a bounded queue. A subscriber that falls behind is
dropped (its iterator ends with `SubscriberDropped`) rather than slowing the
publisher: ingest never waits for a reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from ephemail.domain.events import Event
from ephemail.ports import SubscriberDropped

__all__ = ["InProcessEventBus", "SubscriberDropped"]


class _Subscription:
    def __init__(self, bus: InProcessEventBus, max_queue: int) -> None:
        self._bus = bus
        self._max = max_queue
        # One slot beyond `max_queue` is kept for the end marker, so ending a
        # subscription never discards an event it was already given.
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=max_queue + 1)
        self.dropped = False
        self.closed = False

    def offer(self, event: Event) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= self._max:
            self.dropped = True
            self._finish()
            return
        self._queue.put_nowait(event)

    def _finish(self) -> None:
        self.closed = True
        self._bus.unsubscribe(self)
        self._queue.put_nowait(None)  # wakes a waiting reader; its slot is reserved

    def close(self) -> None:
        if not self.closed:
            self._finish()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            if event is None:
                if self.dropped:
                    raise SubscriberDropped("subscriber fell behind and was dropped")
                return
            yield event


class InProcessEventBus:
    """Publish is synchronous and never blocks; subscribers read at their pace."""

    def __init__(self) -> None:
        self._subscribers: set[_Subscription] = set()
        self.published = 0

    def publish(self, events: Sequence[Event]) -> None:
        self.published += len(events)
        for subscriber in list(self._subscribers):
            for event in events:
                subscriber.offer(event)

    def subscribe(self, max_queue: int = 1000) -> _Subscription:
        subscription = _Subscription(self, max_queue)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: _Subscription) -> None:
        self._subscribers.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
