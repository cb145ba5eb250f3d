"""Events written by other processes on one SQLite store, found by polling.

A process beside `ephemail serve` on the same SQLite file (`ephemail mcp` over stdio)
has its own in-process bus, which sees only its own publishes: mail that the server
accepts over SMTP never reaches it. `PollingEventRelay` reads the event table after
its watermark every `interval` seconds and publishes what it finds, through the same
exactly-once, id-order bus as the PostgreSQL relay (adapters/events/relayed.py), so
the live services (a wait for an email) work unchanged. SQLite has no LISTEN/NOTIFY;
a poll of an indexed `id > watermark` is one cheap query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ephemail.adapters.events.relayed import EventSource, RelayedEventBus

__all__ = ["PollingEventRelay"]

log = logging.getLogger(__name__)

# The longest pause after repeated read failures (the store is locked or gone).
_MAX_BACKOFF = 5.0


class PollingEventRelay:
    """Feeds `bus` with every event committed to the store, whoever wrote it, at
    most `interval` seconds after its commit (at once after a local publish that
    left a hole below it)."""

    def __init__(self, source: EventSource, *, interval: float = 0.2) -> None:
        self.bus = RelayedEventBus(source)
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.polls = 0  # for tests and diagnostics

    async def start(self) -> None:
        """Take the watermark (the newest event now: nobody listened before) and poll."""
        await self.bus.start()
        self._task = asyncio.create_task(self._poll_forever(), name="event-poller")

    async def close(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _poll_forever(self) -> None:
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self.bus.catch_up_wanted.wait()
            self.bus.catch_up_wanted.clear()
            self.polls += 1
            try:
                await self.bus.catch_up()
                failures = 0
            except Exception as exc:  # locked or unreachable: try again, slower
                failures += 1
                delay = min(self._interval * 2**failures, _MAX_BACKOFF)
                log.warning(
                    "event poller: cannot read new events (%s); retrying in %.1f s",
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                self.bus.catch_up_wanted.set()
