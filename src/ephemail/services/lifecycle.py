"""Background jobs: the age-based retention sweep and the heartbeat ping."""

from __future__ import annotations

import asyncio
import logging

from ephemail.ports import Clock, EventBus, HttpProbe, Store

log = logging.getLogger(__name__)


class RetentionSweeper:
    """Deletes expired messages in batches; each deletion emits `message.deleted`.

    `expires_at` is fixed at ingest from the retention in force then (the
    domain's override or the global default), so the sweep is one indexed scan.
    """

    def __init__(
        self, store: Store, bus: EventBus, clock: Clock, *, interval: float, batch: int = 500
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._interval = interval
        self._batch = batch
        self.deleted = 0

    async def sweep_once(self) -> int:
        """Delete everything expired now; return how many messages went."""
        total = 0
        while True:
            events = await self._store.delete_expired(self._clock.now(), self._batch)
            self._bus.publish(events)
            total += len(events)
            if len(events) < self._batch:
                break
        self.deleted += total
        if total:
            log.info("retention removed %d expired messages", total)
        return total

    async def run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("retention sweep failed: %s", exc)
            await asyncio.sleep(self._interval)


class Heartbeat:
    """GET `url` every `interval` seconds (SPEC: HEARTBEAT_URL, 60 s, 10 s timeout)."""

    def __init__(self, probe: HttpProbe, url: str, *, interval: float, timeout: float) -> None:
        self._probe = probe
        self._url = url
        self._interval = interval
        self._timeout = timeout
        self.sent = 0
        self.failed = 0

    async def ping_once(self) -> bool:
        try:
            status = await self._probe.get(self._url, timeout=self._timeout)
        except OSError as exc:
            self.failed += 1
            log.warning("heartbeat failed: %s", exc)
            return False
        self.sent += 1
        if status >= 400:
            self.failed += 1
            log.warning("heartbeat answered HTTP %d", status)
            return False
        return True

    async def run(self) -> None:
        while True:
            await self.ping_once()
            await asyncio.sleep(self._interval)
