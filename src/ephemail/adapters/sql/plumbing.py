"""The transaction plumbing SqlStore provides to its mixins (ImapSqlStore,
AccountSqlStore): declared once here so each mixin type-checks on its own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from ephemail.domain.events import DeletionReason, Event
from ephemail.domain.messages import MailboxKind
from ephemail.ports import Delivery

T = TypeVar("T")


class SqlPlumbing:
    """Abstract stand-ins; SqlStore (first in the MRO) defines the real ones."""

    _pg: bool

    async def _read(self, tx: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def _write(self, tx: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def _add_events(self, conn: Connection, pending: list[dict[str, Any]]) -> list[Event]:
        raise NotImplementedError

    def _delete(self, conn: Connection, ids: list[str], reason: DeletionReason) -> list[Event]:
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
