"""An event bus that carries every committed event of a shared store, in id order.

Several nodes on one PostgreSQL each have their own in-process bus. `RelayedEventBus`
makes a node's bus carry the events other nodes wrote too, with the guarantee live
readers rely on (services/live.py): every committed event is published exactly once
on this node, in increasing id order.

It keeps a watermark: the highest event id published here. Every committed event at
or below it has been published (and no other event will commit below it: event ids
become visible in id order, docs/decisions/003). Then:

- a local publish whose events continue the watermark (the usual case: this node is
  the only writer at that moment) goes out at once, synchronously;
- a local publish that leaves a hole below it (another node, or a rolled-back
  transaction, took the ids in between) asks for a catch-up and waits for it;
- `catch_up()` reads the event table after the watermark and publishes, in order,
  whatever this node has not published: other nodes' events, the held local ones,
  and any event written without a publish (another process, a CLI command).

What triggers `catch_up()` (notifications from other nodes, a safety poll) is the
transport's business: adapters/sql/relay.py for PostgreSQL. docs/decisions/005.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from ephemail.adapters.events.memory import InProcessEventBus
from ephemail.domain.events import Event

__all__ = ["EventSource", "RelayedEventBus"]

log = logging.getLogger(__name__)


class EventSource(Protocol):
    """The part of the Store a relayed bus reads (see ports.Store)."""

    async def events_after(
        self, after_id: int, limit: int, *, mailboxes: Sequence[str] | None = None
    ) -> list[Event]: ...

    async def last_event_id(self) -> int: ...


class RelayedEventBus(InProcessEventBus):
    """The in-process bus, fed in id order from local publishes and the event table."""

    def __init__(self, source: EventSource, *, page_size: int = 500) -> None:
        super().__init__()
        self._source = source
        self._page_size = page_size
        self.watermark = 0
        # Set when the table holds (or may hold) events above the watermark.
        self.catch_up_wanted = asyncio.Event()
        self._catch_up_lock = asyncio.Lock()
        self._on_local: list[Callable[[int], None]] = []
        # Counters for tests and diagnostics.
        self.relayed = 0  # published by catch_up() (not straight from a local publish)
        self.held = 0  # local publishes that had to wait for a catch-up

    async def start(self) -> None:
        """Begin after the newest event already written: nobody listened before."""
        self.watermark = await self._source.last_event_id()

    def on_local_publish(self, callback: Callable[[int], None]) -> None:
        """Call `callback(highest id)` after each local publish of committed events."""
        self._on_local.append(callback)

    def publish(self, events: Sequence[Event]) -> None:
        """Publish events this node committed: at once when they continue the
        watermark, else after a catch-up from the table. Never twice."""
        committed = sorted(events, key=lambda e: e.id)
        if not committed:
            return
        ready: list[Event] = []
        for event in committed:
            if event.id <= self.watermark:
                continue  # a catch-up published it already
            if event.id != self.watermark + 1:
                break  # a hole: events of other writers may sit below it
            ready.append(event)
            self.watermark = event.id
        if ready:
            super().publish(ready)
        if committed[-1].id > self.watermark:
            self.held += 1
            self.catch_up_wanted.set()
        for callback in self._on_local:
            callback(committed[-1].id)

    async def catch_up(self) -> int:
        """Publish every event of the table above the watermark, in id order; return
        how many. Raises the store's errors (the caller retries)."""
        count = 0
        async with self._catch_up_lock:
            while True:
                page = await self._source.events_after(self.watermark, self._page_size)
                # A local publish may have moved the watermark during the read.
                fresh = [e for e in page if e.id > self.watermark]
                if fresh:
                    super().publish(fresh)
                    self.watermark = fresh[-1].id
                    self.relayed += len(fresh)
                    count += len(fresh)
                if len(page) < self._page_size:
                    return count
