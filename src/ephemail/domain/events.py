"""Events: what changed, written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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
