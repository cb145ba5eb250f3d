"""Ports: the interfaces services depend on. Adapters implement them; app.py wires them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ephemail.domain.bans import Ban
from ephemail.domain.events import DeletionReason, Event
from ephemail.domain.messages import (
    DomainRecord,
    Mailbox,
    MessageDetail,
    Page,
    ParsedSummary,
)
from ephemail.domain.search import SearchQuery


class StoreError(Exception):
    """The store could not do what was asked (connection lost, disk full ...).

    Callers treat it as temporary: SMTP answers 451, HTTP 503.
    """


class ConflictError(Exception):
    """The thing to create exists already."""


class InvalidCursorError(ValueError):
    """A pagination cursor that no listing produced."""


@dataclass(frozen=True, slots=True)
class RecipientDelivery:
    """One accepted recipient of a transaction: becomes one stored message."""

    message_id: str
    address: str
    domain: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One SMTP transaction to store: the raw bytes once, a message per recipient."""

    queue_id: str
    raw: bytes
    sha256: str
    summary: ParsedSummary
    envelope_from: str
    recipients: tuple[RecipientDelivery, ...]
    received_at: datetime
    client_ip: str | None = None


class Store(Protocol):
    """Durable state of ephemail. Every method is one transaction."""

    @property
    def max_writers(self) -> int:
        """How many write transactions may run at once (1 for SQLite)."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreError when the store cannot answer."""
        ...

    # -- ingest ---------------------------------------------------------------
    async def write_deliveries(self, deliveries: Sequence[Delivery]) -> list[Event]:
        """Store every delivery, its events, in ONE transaction; return the events."""
        ...

    # -- policy data ----------------------------------------------------------
    async def list_domains(self) -> list[DomainRecord]: ...

    async def add_domain(
        self, name: str, *, active: bool, shared: bool, retention_hours: float | None
    ) -> DomainRecord: ...

    async def remove_domain(self, name: str) -> bool: ...

    async def list_bans(self) -> list[Ban]: ...

    async def add_ban(self, ban: Ban) -> Ban: ...

    async def remove_ban(self, ban_id: int) -> bool: ...

    async def policy_revision(self) -> int:
        """A number that changes whenever domains or bans change."""
        ...

    # -- reading --------------------------------------------------------------
    async def get_mailbox(self, address: str) -> Mailbox | None: ...

    async def list_messages(
        self, address: str, *, limit: int, cursor: str | None, folder: str = "INBOX"
    ) -> Page: ...

    async def get_message(self, message_id: str) -> MessageDetail | None: ...

    async def get_raw(self, message_id: str) -> bytes | None: ...

    async def search_messages(
        self, query: SearchQuery, *, address: str | None, limit: int, cursor: str | None
    ) -> Page:
        """Messages matching `query` in every folder of `address` (None: every mailbox),
        paged like `list_messages`; `total` and `unread` count every match.
        Raises InvalidCursorError for a cursor no listing produced."""
        ...

    async def mailbox_message_ids(self, address: str, *, limit: int) -> list[str]:
        """Ids of up to `limit` messages of a mailbox (every folder), oldest first."""
        ...

    # -- changes made by readers ---------------------------------------------
    async def create_mailbox(self, address: str) -> tuple[Mailbox, list[Event]]:
        """Create a public mailbox unless it exists; its `mailbox.created` event if new."""
        ...

    async def set_seen(self, message_ids: Sequence[str], seen: bool) -> list[Event]:
        """Set the read state; one `message.read` event per message that changed."""
        ...

    # -- lifecycle ------------------------------------------------------------
    async def delete_messages(
        self, message_ids: Sequence[str], reason: DeletionReason
    ) -> list[Event]: ...

    async def delete_expired(self, now: datetime, limit: int) -> list[Event]:
        """Delete up to `limit` messages whose expires_at has passed."""
        ...

    async def events_after(
        self, after_id: int, limit: int, *, mailboxes: Sequence[str] | None = None
    ) -> list[Event]:
        """Up to `limit` events with ids above `after_id`, in id order; only those of
        `mailboxes` when given (None: every mailbox)."""
        ...

    async def last_event_id(self) -> int:
        """The highest event id written so far (0 when there is none)."""
        ...

    async def count_messages(self) -> int: ...


class EventBus(Protocol):
    """Fan-out of committed events to live readers in this process."""

    def publish(self, events: Sequence[Event]) -> None: ...

    def subscribe(self, max_queue: int = 1000) -> EventSubscription: ...


class SubscriberDropped(Exception):
    """The subscriber's queue overflowed; it must resume from the event table."""


class EventSubscription(Protocol):
    """Events published after `subscribe`. Iteration raises SubscriberDropped once the
    subscriber fell behind; `dropped` turns true at that moment (events still queued
    then may follow a gap, so a careful reader stops as soon as it sees the flag)."""

    @property
    def dropped(self) -> bool: ...

    def __aiter__(self) -> AsyncIterator[Event]: ...

    def close(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class HttpProbe(Protocol):
    """Outbound HTTP used for pings (heartbeat); webhooks come later."""

    async def get(self, url: str, *, timeout: float) -> int:
        """GET `url`; return the status code; raise OSError-like errors on failure."""
        ...
