"""Typed IMAP commands (RFC 3501 section 6 plus the extensions in SPEC.md), as the parser
produces them and `serialise.serialise_command` writes them back.

Every command is a frozen dataclass whose first field is the client's `tag`. Mailbox names
are already decoded from modified UTF-7 (RFC 3501 section 5.1.3) and INBOX is normalised.

Values:
    SequenceSet      -- sequence or UID set with `*` (RFC 3501 section 9, "sequence-set")
    StatusItem       -- STATUS data items
    FetchItem        -- FETCH data items without arguments (FLAGS, UID, ENVELOPE, ...)
    BodySection      -- BODY[section]<origin.length> and BODY.PEEK[...]
    FetchAttribute   -- FetchItem | BodySection
    SearchKey        -- the SEARCH key tree, one of:
        SearchAll, SearchFlag, SearchDate (+ DateSearch), SearchHeader, SearchBody,
        SearchText, SearchLarger, SearchSmaller, SearchUid, SearchSequence, SearchNot,
        SearchOr, SearchAnd

Commands (base class `Command`):
    Capability, Noop, Logout, StartTls, Authenticate, Login, Select, Examine, Create,
    Delete, Rename, Subscribe, Unsubscribe, List, Lsub, Status, Append, Check, Close,
    Unselect, Expunge, UidExpunge, Search, Fetch, Store, Copy, Move, Idle, Namespace, Id,
    Enable

The UID variants are the same classes with `uid=True` (FETCH, STORE, COPY, MOVE, SEARCH);
UID EXPUNGE (RFC 4315) is `UidExpunge`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from ephemail.domain.imap import FlagMode, Section

__all__ = [
    "Append",
    "Authenticate",
    "BodySection",
    "Capability",
    "Check",
    "Close",
    "Command",
    "Copy",
    "Create",
    "DateSearch",
    "Delete",
    "Enable",
    "Examine",
    "Expunge",
    "Fetch",
    "FetchAttribute",
    "FetchItem",
    "Id",
    "Idle",
    "List",
    "Login",
    "Logout",
    "Lsub",
    "Move",
    "Namespace",
    "Noop",
    "Rename",
    "Search",
    "SearchAll",
    "SearchAnd",
    "SearchBody",
    "SearchDate",
    "SearchFlag",
    "SearchHeader",
    "SearchKey",
    "SearchLarger",
    "SearchNot",
    "SearchOr",
    "SearchSequence",
    "SearchSmaller",
    "SearchText",
    "SearchUid",
    "Select",
    "SequenceSet",
    "StartTls",
    "Status",
    "StatusItem",
    "Store",
    "Subscribe",
    "UidExpunge",
    "Unselect",
    "Unsubscribe",
]

# ---------------------------------------------------------------------------------------
# Sequence sets
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """A sequence-set (RFC 3501 section 9): ranges whose ends are numbers or `*` (None).

    `ranges` keeps the client's order and form (`4:2` stays `(4, 2)`); a single number `n`
    is `(n, n)`. `*` means the largest number in use, given when resolving.
    """

    ranges: tuple[tuple[int | None, int | None], ...]

    def bounds(self, max_value: int) -> Iterator[tuple[int, int]]:
        """Each range as (low, high) with `*` replaced by `max_value`, unclipped."""
        for start, end in self.ranges:
            low = max_value if start is None else start
            high = max_value if end is None else end
            if low > high:
                low, high = high, low
            yield low, high

    def resolve(self, max_value: int) -> list[int]:
        """The numbers of the set within 1..max_value, sorted, without duplicates.

        For a UID set pass the highest UID in the folder, then keep only UIDs that exist;
        `*` always stands for `max_value`, so `UID FETCH 90:*` with max 50 gives 50
        (RFC 3501 section 6.4.8).
        """
        numbers: set[int] = set()
        for low, high in self.bounds(max_value):
            numbers.update(range(max(low, 1), min(high, max_value) + 1))
        return sorted(numbers)

    def contains(self, number: int, max_value: int) -> bool:
        """Whether `number` is in the set when `*` is `max_value` (no enumeration)."""
        return any(low <= number <= high for low, high in self.bounds(max_value))

    @property
    def uses_star(self) -> bool:
        """Whether any range end is `*`."""
        return any(start is None or end is None for start, end in self.ranges)

    def __str__(self) -> str:
        def end(value: int | None) -> str:
            return "*" if value is None else str(value)

        parts = [
            end(start) if start == stop else f"{end(start)}:{end(stop)}"
            for start, stop in self.ranges
        ]
        return ",".join(parts)


# ---------------------------------------------------------------------------------------
# FETCH attributes
# ---------------------------------------------------------------------------------------


class FetchItem(StrEnum):
    """FETCH data items without arguments (RFC 3501 section 6.4.5). Macros (ALL, FAST,
    FULL) are expanded by the parser into these."""

    FLAGS = "FLAGS"
    UID = "UID"
    INTERNALDATE = "INTERNALDATE"
    RFC822_SIZE = "RFC822.SIZE"
    ENVELOPE = "ENVELOPE"
    BODY = "BODY"  # the non-extensible BODYSTRUCTURE
    BODYSTRUCTURE = "BODYSTRUCTURE"
    RFC822 = "RFC822"  # same as BODY[], sets \Seen; answered as "RFC822"
    RFC822_HEADER = "RFC822.HEADER"  # same as BODY.PEEK[HEADER]
    RFC822_TEXT = "RFC822.TEXT"  # same as BODY[TEXT], sets \Seen


@dataclass(frozen=True, slots=True)
class BodySection:
    """`BODY[section]<origin.length>` or `BODY.PEEK[...]` (RFC 3501 section 6.4.5).

    `partial` is (origin, length) when the client asked for `<origin.length>`.
    """

    section: Section = field(default_factory=Section)
    peek: bool = False
    partial: tuple[int, int] | None = None


FetchAttribute = FetchItem | BodySection

# ---------------------------------------------------------------------------------------
# SEARCH keys (RFC 3501 section 6.4.4)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchAll:
    """ALL: every message."""


@dataclass(frozen=True, slots=True)
class SearchFlag:
    """A flag test: `present=True` for ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, RECENT and
    KEYWORD kw; `present=False` for the UN- forms, UNKEYWORD kw and OLD (not \\Recent).
    NEW is parsed as SearchAnd((SearchFlag(\\Recent, True), SearchFlag(\\Seen, False)))."""

    flag: str
    present: bool = True


class DateSearch(StrEnum):
    """Date keys: the first three compare the internal date, the SENT* ones the Date:
    header; all ignore time and timezone (RFC 3501 section 6.4.4)."""

    BEFORE = "BEFORE"
    ON = "ON"
    SINCE = "SINCE"
    SENTBEFORE = "SENTBEFORE"
    SENTON = "SENTON"
    SENTSINCE = "SENTSINCE"


@dataclass(frozen=True, slots=True)
class SearchDate:
    """BEFORE / ON / SINCE / SENTBEFORE / SENTON / SENTSINCE date."""

    kind: DateSearch
    date: date


@dataclass(frozen=True, slots=True)
class SearchHeader:
    """HEADER name value, and BCC / CC / FROM / SUBJECT / TO value (parsed as HEADER with
    the field name uppercased). An empty value matches every message with that field."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class SearchBody:
    """BODY value: the text appears in the body."""

    value: str


@dataclass(frozen=True, slots=True)
class SearchText:
    """TEXT value: the text appears in the header or the body."""

    value: str


@dataclass(frozen=True, slots=True)
class SearchLarger:
    """LARGER n: RFC822.SIZE larger than n."""

    size: int


@dataclass(frozen=True, slots=True)
class SearchSmaller:
    """SMALLER n: RFC822.SIZE smaller than n."""

    size: int


@dataclass(frozen=True, slots=True)
class SearchUid:
    """UID sequence-set."""

    uids: SequenceSet


@dataclass(frozen=True, slots=True)
class SearchSequence:
    """A bare sequence-set: message sequence numbers."""

    sequence_set: SequenceSet


@dataclass(frozen=True, slots=True)
class SearchNot:
    """NOT key."""

    key: SearchKey


@dataclass(frozen=True, slots=True)
class SearchOr:
    """OR key1 key2."""

    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class SearchAnd:
    """Keys that must all match: a parenthesised list, or several keys in a row."""

    keys: tuple[SearchKey, ...]


SearchKey = (
    SearchAll
    | SearchFlag
    | SearchDate
    | SearchHeader
    | SearchBody
    | SearchText
    | SearchLarger
    | SearchSmaller
    | SearchUid
    | SearchSequence
    | SearchNot
    | SearchOr
    | SearchAnd
)

# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------


class StatusItem(StrEnum):
    """STATUS data items (RFC 3501 section 6.3.10)."""

    MESSAGES = "MESSAGES"
    RECENT = "RECENT"
    UIDNEXT = "UIDNEXT"
    UIDVALIDITY = "UIDVALIDITY"
    UNSEEN = "UNSEEN"


@dataclass(frozen=True, slots=True)
class Command:
    """Base of every command: the client's tag, echoed in the tagged response."""

    tag: str


@dataclass(frozen=True, slots=True)
class Capability(Command):
    """CAPABILITY (RFC 3501 section 6.1.1)."""


@dataclass(frozen=True, slots=True)
class Noop(Command):
    """NOOP (RFC 3501 section 6.1.2)."""


@dataclass(frozen=True, slots=True)
class Logout(Command):
    """LOGOUT (RFC 3501 section 6.1.3)."""


@dataclass(frozen=True, slots=True)
class StartTls(Command):
    """STARTTLS (RFC 3501 section 6.2.1)."""


@dataclass(frozen=True, slots=True)
class Authenticate(Command):
    """AUTHENTICATE mechanism [initial-response] (RFC 3501 section 6.2.2, RFC 4959).

    `mechanism` is uppercased. `initial_response` is the base64-decoded SASL-IR, `b""` for
    "=" and None when absent (the server then sends an empty continuation).
    """

    mechanism: str
    initial_response: bytes | None = None


@dataclass(frozen=True, slots=True)
class Login(Command):
    """LOGIN userid password (RFC 3501 section 6.2.3)."""

    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Select(Command):
    """SELECT mailbox (RFC 3501 section 6.3.1)."""

    mailbox: str


@dataclass(frozen=True, slots=True)
class Examine(Command):
    """EXAMINE mailbox (RFC 3501 section 6.3.2): SELECT read-only."""

    mailbox: str


@dataclass(frozen=True, slots=True)
class Create(Command):
    """CREATE mailbox (RFC 3501 section 6.3.3); a trailing "/" is kept as sent."""

    mailbox: str


@dataclass(frozen=True, slots=True)
class Delete(Command):
    """DELETE mailbox (RFC 3501 section 6.3.4)."""

    mailbox: str


@dataclass(frozen=True, slots=True)
class Rename(Command):
    """RENAME existing new (RFC 3501 section 6.3.5)."""

    mailbox: str
    new_name: str


@dataclass(frozen=True, slots=True)
class Subscribe(Command):
    """SUBSCRIBE mailbox (RFC 3501 section 6.3.6)."""

    mailbox: str


@dataclass(frozen=True, slots=True)
class Unsubscribe(Command):
    """UNSUBSCRIBE mailbox (RFC 3501 section 6.3.7)."""

    mailbox: str


@dataclass(frozen=True, slots=True)
class List(Command):
    """LIST reference pattern (RFC 3501 section 6.3.8), with the RFC 5258 options.

    `selection` holds the uppercased selection options (e.g. "SUBSCRIBED", "SPECIAL-USE",
    "RECURSIVEMATCH") and `return_options` the RETURN options (e.g. "SUBSCRIBED",
    "CHILDREN", "SPECIAL-USE"); both empty for a basic LIST. `extended` is True when the
    client used either part of the extended syntax (RFC 5258 section 3), even empty.
    """

    reference: str
    pattern: str
    selection: tuple[str, ...] = ()
    return_options: tuple[str, ...] = ()
    extended: bool = False


@dataclass(frozen=True, slots=True)
class Lsub(Command):
    """LSUB reference pattern (RFC 3501 section 6.3.9)."""

    reference: str
    pattern: str


@dataclass(frozen=True, slots=True)
class Status(Command):
    """STATUS mailbox (items) (RFC 3501 section 6.3.10)."""

    mailbox: str
    items: tuple[StatusItem, ...]


@dataclass(frozen=True, slots=True)
class Append(Command):
    """APPEND mailbox [(flags)] [date-time] literal (RFC 3501 section 6.3.11)."""

    mailbox: str
    flags: tuple[str, ...]
    internal_date: datetime | None
    message: bytes


@dataclass(frozen=True, slots=True)
class Check(Command):
    """CHECK (RFC 3501 section 6.4.1)."""


@dataclass(frozen=True, slots=True)
class Close(Command):
    """CLOSE (RFC 3501 section 6.4.2)."""


@dataclass(frozen=True, slots=True)
class Unselect(Command):
    """UNSELECT (RFC 3691)."""


@dataclass(frozen=True, slots=True)
class Expunge(Command):
    """EXPUNGE (RFC 3501 section 6.4.3)."""


@dataclass(frozen=True, slots=True)
class UidExpunge(Command):
    """UID EXPUNGE uid-set (RFC 4315 section 2.1)."""

    uids: SequenceSet


@dataclass(frozen=True, slots=True)
class Search(Command):
    """[UID] SEARCH [CHARSET name] keys (RFC 3501 section 6.4.4).

    `charset` is uppercased or None; the strings in `key` are already decoded with it.
    Several top-level keys are one SearchAnd.
    """

    key: SearchKey
    charset: str | None = None
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Fetch(Command):
    """[UID] FETCH sequence-set attributes (RFC 3501 section 6.4.5). Macros are expanded;
    attributes keep the client's order without duplicates."""

    sequence_set: SequenceSet
    attributes: tuple[FetchAttribute, ...]
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Store(Command):
    """[UID] STORE sequence-set [+|-]FLAGS[.SILENT] (flags) (RFC 3501 section 6.4.6)."""

    sequence_set: SequenceSet
    mode: FlagMode
    silent: bool
    flags: tuple[str, ...]
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Copy(Command):
    """[UID] COPY sequence-set mailbox (RFC 3501 section 6.4.7)."""

    sequence_set: SequenceSet
    mailbox: str
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Move(Command):
    """[UID] MOVE sequence-set mailbox (RFC 6851)."""

    sequence_set: SequenceSet
    mailbox: str
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Idle(Command):
    """IDLE (RFC 2177): the server sends "+ idling" then waits for DONE."""


@dataclass(frozen=True, slots=True)
class Namespace(Command):
    """NAMESPACE (RFC 2342)."""


@dataclass(frozen=True, slots=True)
class Id(Command):
    """ID NIL | ID (key value ...) (RFC 2971); values may be NIL (None)."""

    parameters: tuple[tuple[str, str | None], ...] | None


@dataclass(frozen=True, slots=True)
class Enable(Command):
    """ENABLE capability... (RFC 5161); names uppercased."""

    capabilities: tuple[str, ...]
