"""Ingest: turn one accepted SMTP transaction into stored messages, durably.

The SMTP adapter calls `deliver` after DATA; it returns only once the messages,
their events and the raw bytes are committed (group commit shares the fsync),
then the events go onto the in-process bus. On any storage problem it raises
`IngestUnavailable`, which SMTP turns into `451 4.3.0` so the sender retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from ephemail.domain.address import domain_of
from ephemail.domain.ids import new_id
from ephemail.domain.messages import Envelope, ParsedSummary
from ephemail.ports import Clock, Delivery, EventBus, RecipientDelivery, Store
from ephemail.services.group_commit import GroupCommitter, WriterClosed

log = logging.getLogger(__name__)

# Messages larger than this are parsed in a worker thread so the loop stays responsive.
_PARSE_INLINE_MAX = 256 * 1024


class IngestUnavailable(Exception):
    """The message could not be stored now; the sender should try again later."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    queue_id: str
    message_ids: tuple[str, ...]


class IngestService:
    """Store received mail: once per recipient, raw bytes shared, events in the same commit."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        clock: Clock,
        *,
        parse: Callable[[bytes], ParsedSummary],
        retention_hours_for: Callable[[str], float | None],
        max_batch: int = 256,
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._parse = parse
        self._retention_hours_for = retention_hours_for
        self._committer: GroupCommitter[Delivery, None] = GroupCommitter(
            self._write, max_batch=max_batch, writers=store.max_writers
        )

    def start(self) -> None:
        self._committer.start()

    async def close(self) -> None:
        """Commit everything already handed to us, then stop."""
        await self._committer.close()

    @property
    def stats(self) -> dict[str, int]:
        return {
            "batches": self._committer.batches,
            "messages": self._committer.items,
            "pending": self._committer.pending,
        }

    async def deliver(self, envelope: Envelope, raw: bytes) -> IngestResult:
        """Store `raw` for every recipient of `envelope` (already normalised, unique)."""
        if not envelope.recipients:
            raise ValueError("a delivery needs at least one recipient")
        if len(raw) > _PARSE_INLINE_MAX:
            summary = await asyncio.to_thread(self._parse, raw)
        else:
            summary = self._parse(raw)
        now = self._clock.now()
        recipients = []
        for address in envelope.recipients:
            domain = domain_of(address)
            hours = self._retention_hours_for(domain)
            expires = now + timedelta(hours=hours) if hours else None
            recipients.append(RecipientDelivery(new_id(), address, domain, expires))
        delivery = Delivery(
            queue_id=new_id(),
            raw=raw,
            sha256=hashlib.sha256(raw).hexdigest(),
            summary=summary,
            envelope_from=envelope.mail_from,
            recipients=tuple(recipients),
            received_at=now,
            client_ip=envelope.client_ip,
        )
        try:
            await self._committer.submit(delivery)
        except WriterClosed as exc:
            raise IngestUnavailable("server is shutting down") from exc
        except Exception as exc:
            log.error("storing message failed: %s", type(exc).__name__, exc_info=exc)
            raise IngestUnavailable("storage unavailable") from exc
        return IngestResult(delivery.queue_id, tuple(r.message_id for r in recipients))

    async def _write(self, batch: Sequence[Delivery]) -> list[None]:
        events = await self._store.write_deliveries(batch)
        self._bus.publish(events)
        return [None] * len(batch)
