"""In-process event bus: committed events fanned out to live subscribers.

Each subscriber has a bounded queue. A subscriber that falls behind is
dropped (its iterator ends with `SubscriberDropped`) rather than slowing the
publisher: ingest never waits for a reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Sequence

from ephemail.domain.events import Event
from ephemail.ports import SubscriberDropped

__all__ = ["InProcessEventBus", "SubscriberDropped"]


class _Subscription:
    def __init__(
        self, bus: InProcessEventBus, max_queue: int, mailboxes: frozenset[str] | None
    ) -> None:
        self._bus = bus
        self._max = max_queue
        self.mailboxes = mailboxes
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
    """Publish is synchronous and never blocks; subscribers read at their pace.

    Subscribers to given mailboxes are indexed by mailbox, so an event costs one offer per
    interested subscriber, not one per open IMAP session or stream of the whole process.
    """

    def __init__(self) -> None:
        self._everything: set[_Subscription] = set()
        self._by_mailbox: dict[str, set[_Subscription]] = {}
        self._listeners: list[Callable[[Sequence[Event]], None]] = []
        self.published = 0

    def add_listener(self, listener: Callable[[Sequence[Event]], None]) -> Callable[[], None]:
        """Call `listener` with every published batch (synchronously: it must be quick
        and never raise); returns the function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def publish(self, events: Sequence[Event]) -> None:
        self.published += len(events)
        if events:
            for listener in self._listeners:
                listener(events)
        everything = list(self._everything)
        by_mailbox = self._by_mailbox
        for event in events:
            for subscriber in everything:
                subscriber.offer(event)
            interested = by_mailbox.get(event.mailbox)
            if interested:
                for subscriber in list(interested):
                    subscriber.offer(event)

    def subscribe(
        self, max_queue: int = 1000, mailboxes: Collection[str] | None = None
    ) -> _Subscription:
        """Events of every mailbox, or only of `mailboxes` (normalised addresses)."""
        chosen = frozenset(mailboxes) if mailboxes is not None else None
        subscription = _Subscription(self, max_queue, chosen)
        if chosen is None:
            self._everything.add(subscription)
        else:
            for address in chosen:
                self._by_mailbox.setdefault(address, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: _Subscription) -> None:
        if subscription.mailboxes is None:
            self._everything.discard(subscription)
            return
        for address in subscription.mailboxes:
            interested = self._by_mailbox.get(address)
            if interested is not None:
                interested.discard(subscription)
                if not interested:
                    del self._by_mailbox[address]

    @property
    def subscriber_count(self) -> int:
        mailbox_only = {s for group in self._by_mailbox.values() for s in group}
        return len(self._everything) + len(mailbox_only)
