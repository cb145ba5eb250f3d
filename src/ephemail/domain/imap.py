"""IMAP values shared by the MIME layer, the store and the protocol: folders, flags,
the per-message IMAP state, the structure derived at ingest and body section names.

Standard library only: `mime/` computes `ImapStructure`, the store keeps it, and
`protocols/imap/` serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

INBOX = "INBOX"
# RFC 3501 section 5.1: one hierarchy delimiter for every folder name.
HIERARCHY_DELIMITER = "/"

SEEN = "\\Seen"
ANSWERED = "\\Answered"
FLAGGED = "\\Flagged"
DELETED = "\\Deleted"
DRAFT = "\\Draft"
RECENT = "\\Recent"
# RFC 3501 section 2.3.2: the system flags a client may set (\Recent is server-only).
SYSTEM_FLAGS = frozenset({SEEN, ANSWERED, FLAGGED, DELETED, DRAFT})
MAX_KEYWORD_LENGTH = 100
MAX_FLAGS_PER_MESSAGE = 64


class SpecialUse(StrEnum):
    """RFC 6154 section 2: attributes that name a folder's purpose."""

    SENT = "\\Sent"
    DRAFTS = "\\Drafts"
    TRASH = "\\Trash"
    JUNK = "\\Junk"
    ARCHIVE = "\\Archive"
    ALL = "\\All"
    FLAGGED = "\\Flagged"


# Folder names that get a SPECIAL-USE attribute when a client creates them without
# asking for one (compared case-insensitively, top level only).
USUAL_SPECIAL_USE: dict[str, SpecialUse] = {
    "sent": SpecialUse.SENT,
    "sent items": SpecialUse.SENT,
    "sent messages": SpecialUse.SENT,
    "drafts": SpecialUse.DRAFTS,
    "trash": SpecialUse.TRASH,
    "deleted items": SpecialUse.TRASH,
    "deleted messages": SpecialUse.TRASH,
    "junk": SpecialUse.JUNK,
    "spam": SpecialUse.JUNK,
    "archive": SpecialUse.ARCHIVE,
}


class FlagMode(StrEnum):
    """STORE's three forms (RFC 3501 section 6.4.6)."""

    REPLACE = "replace"  # FLAGS
    ADD = "add"  # +FLAGS
    REMOVE = "remove"  # -FLAGS


@dataclass(frozen=True, slots=True)
class Folder:
    """One IMAP folder of a mailbox. INBOX exists for every mailbox; clients create more."""

    id: int
    mailbox: str  # the mailbox address
    name: str  # "INBOX", "Sent", "Archive/2026"; "/" separates levels
    uidvalidity: int
    uidnext: int
    subscribed: bool
    special_use: SpecialUse | None
    # Messages with a UID above this are \Recent for the next session that selects the
    # folder read-write (RFC 3501 section 2.3.2); SELECT moves it to uidnext - 1.
    recent_uid: int


@dataclass(frozen=True, slots=True)
class FolderCounts:
    """What STATUS reports besides UIDNEXT/UIDVALIDITY (RFC 3501 section 6.3.10)."""

    messages: int
    unseen: int
    recent: int


@dataclass(frozen=True, slots=True)
class ImapMessage:
    """The IMAP view of one stored message in a folder."""

    message_id: str
    uid: int
    flags: frozenset[str]  # \Seen included when seen; never \Recent
    size: int
    internal_date: datetime
    envelope_from: str  # for hiding mail of banned senders


@dataclass(frozen=True, slots=True)
class ImapStructure:
    """What FETCH serves without parsing the message again, computed once at ingest.

    `envelope`, `body` and `bodystructure` are the IMAP wire forms (RFC 3501 section
    7.4.2) of ENVELOPE, BODY and BODYSTRUCTURE, ready to be sent as they are. `sections`
    is an opaque JSON text that `mime.imap.cut_section` uses to cut any
    `BODY[section]` from the raw bytes without a parse.
    """

    envelope: bytes
    body: bytes
    bodystructure: bytes
    sections: str


# The structure of a content loaded for whole-message FETCH items only.
EMPTY_STRUCTURE = ImapStructure(envelope=b"", body=b"", bodystructure=b"", sections="")


@dataclass(frozen=True, slots=True)
class ImapContent:
    """Everything FETCH may need of one message; `raw` only when asked for."""

    message_id: str
    structure: ImapStructure
    raw: bytes | None


class SectionText(StrEnum):
    """The text part of a section specifier (RFC 3501 section 6.4.5)."""

    HEADER = "HEADER"
    HEADER_FIELDS = "HEADER.FIELDS"
    HEADER_FIELDS_NOT = "HEADER.FIELDS.NOT"
    TEXT = "TEXT"
    MIME = "MIME"


@dataclass(frozen=True, slots=True)
class Section:
    """`BODY[<part>.<text>]`: `part` is the part number path (empty for the whole
    message), `text` the optional text specifier, `fields` the header names of
    HEADER.FIELDS / HEADER.FIELDS.NOT (uppercased as sent back)."""

    part: tuple[int, ...] = ()
    text: SectionText | None = None
    fields: tuple[str, ...] = ()
