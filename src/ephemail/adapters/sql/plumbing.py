"""The transaction plumbing SqlStore provides to its mixins (ImapSqlStore,
AccountSqlStore): declared once here so each mixin type-checks on its own."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Row

from ephemail.domain.events import DeletionReason, Event, EventType
from ephemail.domain.messages import MailboxKind
from ephemail.ports import Delivery

T = TypeVar("T")


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def utc(value: datetime | None) -> datetime | None:
    """`aware` for a column that may be NULL."""
    return None if value is None else aware(value)


def event_from_row(row: Row[Any]) -> Event:
    """An `events` row as an Event."""
    return Event(
        id=row.id,
        type=EventType(row.type),
        mailbox=row.mailbox,
        message_id=row.message_id,
        created_at=utc(row.created_at) or datetime.now(UTC),
        data=json.loads(row.data),
    )


class SqlPlumbing:
    """Abstract stand-ins; SqlStore (first in the MRO) defines the real ones."""

    _pg: bool

    async def _read(self, tx: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def _write(self, tx: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def _add_events(
        self,
        conn: Connection,
        pending: list[dict[str, Any]],
        *,
        owners: Mapping[str, int] | None = None,
    ) -> list[Event]:
        raise NotImplementedError

    def _delete(self, conn: Connection, ids: list[str], reason: DeletionReason) -> list[Event]:
        raise NotImplementedError

    def _drop_mailbox_webhooks(self, conn: Connection, address: str) -> None:
        raise NotImplementedError

    def _disable_mailbox_webhooks(
        self, conn: Connection, address: str, reason: str, *, keep_account: int | None = None
    ) -> None:
        raise NotImplementedError

    def _insert_contents(self, conn: Connection, deliveries: Sequence[Delivery]) -> None:
        raise NotImplementedError

    def _create_mailboxes(
        self,
        conn: Connection,
        addresses: Sequence[str],
        now: datetime,
        *,
        next_uid: dict[str, int] | None = None,
        kind: MailboxKind = MailboxKind.PUBLIC,
        owner_account_id: int | None = None,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        raise NotImplementedError
