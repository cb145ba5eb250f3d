"""Events: what changed, written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ephemail.domain.imap import INBOX


class EventType(StrEnum):
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_READ = "message.read"
    MESSAGE_DELETED = "message.deleted"
    # IMAP changes: flags other than \Seen, and a MOVE to another folder (same id).
    MESSAGE_FLAGS = "message.flags"
    MESSAGE_MOVED = "message.moved"
    MAILBOX_CREATED = "mailbox.created"
    MAILBOX_CLAIMED = "mailbox.claimed"
    MAILBOX_RELEASED = "mailbox.released"
    MAILBOX_DELETED = "mailbox.deleted"


class DeletionReason(StrEnum):
    USER = "user"
    RETENTION = "retention"
    QUOTA = "quota"
    MAILBOX_DELETED = "mailbox deleted"


@dataclass(frozen=True, slots=True)
class Event:
    """One committed change. `id` increases with every event written."""

    id: int
    type: EventType
    mailbox: str
    message_id: str | None
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def delivered_to_inbox(self) -> bool:
        """A `message.received` of the INBOX (mail that arrived), not an IMAP COPY or
        APPEND into another folder. Events written before folders existed carry no
        folder."""
        return self.type is EventType.MESSAGE_RECEIVED and self.data.get("folder", INBOX) == INBOX
