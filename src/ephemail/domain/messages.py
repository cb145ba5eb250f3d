"""Messages and mailboxes as the rest of the program sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ephemail.domain.imap import INBOX as INBOX
from ephemail.domain.imap import ImapStructure


class MailboxKind(StrEnum):
    PUBLIC = "public"
    CLAIMED = "claimed"
    OWNED = "owned"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment as listed at ingest (the bytes stay in the raw message)."""

    filename: str | None
    content_type: str
    size: int
    content_id: str | None = None
    disposition: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedSummary:
    """Everything derived from the raw bytes at ingest, best effort.

    Produced by `ephemail.mime.summary.parse_summary`; never raises.
    """

    subject: str
    from_: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: tuple[str, ...]
    date: datetime | None
    message_id: str | None
    text: str | None
    html: str | None
    attachments: tuple[Attachment, ...]
    headers: tuple[tuple[str, str], ...] = ()
    defects: tuple[str, ...] = ()
    # The readable text: the text/plain part, else the HTML part converted to text.
    # Feeds the search index, the dynip `body` and agents; None when there is no body.
    body_text: str | None = None
    # ENVELOPE, BODY, BODYSTRUCTURE and section offsets for IMAP (mime/imap.py).
    imap: ImapStructure | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """The SMTP envelope of one accepted transaction."""

    mail_from: str
    recipients: tuple[str, ...]
    client_ip: str | None = None
    helo: str | None = None


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """What a mailbox listing shows: never a body."""

    id: str
    mailbox: str
    folder: str
    uid: int
    subject: str
    from_: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    received_at: datetime
    size: int
    seen: bool
    has_attachments: bool
    envelope_from: str
    expires_at: datetime | None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageDetail:
    """One message with its parsed parts (the raw bytes are fetched separately)."""

    summary: MessageSummary
    reply_to: tuple[str, ...]
    message_id: str | None
    text: str | None
    html: str | None
    attachments: tuple[Attachment, ...]
    headers: tuple[tuple[str, str], ...]
    sha256: str
    queue_id: str


@dataclass(frozen=True, slots=True)
class Mailbox:
    id: int
    address: str
    kind: MailboxKind
    domain: str
    created_at: datetime
    # OWNED: the account it belongs to. CLAIMED mailboxes have no owner (the
    # password holder is anonymous); PUBLIC ones neither.
    owner_account_id: int | None = None
    # Per-mailbox message cap (None: the deployment default, settings.mailbox_max_messages).
    max_messages: int | None = None


@dataclass(frozen=True, slots=True)
class DomainRecord:
    """A registered domain. `name` is the normalised domain (no `*.`)."""

    id: int
    name: str
    active: bool
    shared: bool
    retention_hours: float | None
    created_at: datetime
    owner_account_id: int | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a cursor-paginated listing, newest first."""

    items: list[MessageSummary] = field(default_factory=list)
    next_cursor: str | None = None
    total: int = 0
    unread: int = 0
