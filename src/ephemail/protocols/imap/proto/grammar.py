"""The IMAP command grammar (RFC 3501 section 9 plus the extensions in SPEC.md).

`parse_command` turns the bytes of one whole command (its lines with CRLF and the literal
data after each `{n}` line) into a typed `Command`. It is called by `parser.ImapParser`
after every line: while the data ends right after a literal announcement, it raises
`IncompleteCommand` once everything before the literal has been checked, so a bad command
is refused before the client sends a synchronising literal (RFC 3501 section 7.5).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from ephemail.domain.imap import (
    ANSWERED,
    DELETED,
    DRAFT,
    FLAGGED,
    INBOX,
    RECENT,
    SEEN,
    FlagMode,
    Section,
    SectionText,
)
from ephemail.protocols.imap.proto import utf7
from ephemail.protocols.imap.proto.commands import (
    Append,
    Authenticate,
    BodySection,
    Capability,
    Check,
    Close,
    Command,
    Copy,
    Create,
    DateSearch,
    Delete,
    Enable,
    Examine,
    Expunge,
    Fetch,
    FetchAttribute,
    FetchItem,
    Id,
    Idle,
    List,
    Login,
    Logout,
    Lsub,
    Move,
    Namespace,
    Noop,
    Rename,
    Search,
    SearchAll,
    SearchAnd,
    SearchBody,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchLarger,
    SearchNot,
    SearchOr,
    SearchSequence,
    SearchSmaller,
    SearchText,
    SearchUid,
    Select,
    SequenceSet,
    StartTls,
    Status,
    StatusItem,
    Store,
    Subscribe,
    UidExpunge,
    Unselect,
    Unsubscribe,
)

__all__ = [
    "ASTRING_CHARS",
    "ATOM_CHARS",
    "MONTHS",
    "TAG_CHARS",
    "CommandSyntaxError",
    "GrammarLimits",
    "IncompleteCommand",
    "canonical_flag",
    "decode_base64",
    "parse_command",
    "parse_tag",
]

# RFC 3501 section 9: ATOM-CHAR is any 7-bit CHAR except atom-specials.
ATOM_CHARS = frozenset(range(0x21, 0x7F)) - frozenset(b'(){%*"\\]')
ASTRING_CHARS = ATOM_CHARS | frozenset(b"]")
TAG_CHARS = ASTRING_CHARS - frozenset(b"+")
LIST_CHARS = ATOM_CHARS | frozenset(b"%*]")
_DIGITS = frozenset(b"0123456789")
_FETCH_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.")
_SEQUENCE_CHARS = _DIGITS | frozenset(b"*:,")
_QUOTED = re.compile(rb'"((?:[^"\\\r\n\x00]|\\["\\])*)"')
_UNESCAPE = re.compile(rb'\\(["\\])')
_RUN_PATTERNS: dict[frozenset[int], re.Pattern[bytes]] = {}


def _run_pattern(allowed: frozenset[int]) -> re.Pattern[bytes]:
    pattern = _RUN_PATTERNS.get(allowed)
    if pattern is None:
        chars = b"".join(re.escape(bytes([byte])) for byte in sorted(allowed))
        pattern = _RUN_PATTERNS[allowed] = re.compile(b"[" + chars + b"]*")
    return pattern


_MAX_NUMBER = 4294967295  # number is a 32-bit unsigned integer (RFC 3501 section 9)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name.upper(): index + 1 for index, name in enumerate(MONTHS)}

_SYSTEM_FLAGS = {flag.upper(): flag for flag in (ANSWERED, FLAGGED, DELETED, SEEN, DRAFT, RECENT)}


def canonical_flag(flag: str) -> str:
    """System flags in their RFC spelling (`\\seen` -> `\\Seen`); others unchanged."""
    return _SYSTEM_FLAGS.get(flag.upper(), flag)


@dataclass(frozen=True, slots=True)
class GrammarLimits:
    """The limits the grammar enforces while it reads a command."""

    max_literal_size: int
    max_append_size: int
    max_nesting_depth: int
    max_items: int


class IncompleteCommand(Exception):
    """The data ends right after a valid literal announcement; `size` bytes are due."""

    def __init__(self, size: int, synchronising: bool, *, message: bool = False) -> None:
        super().__init__(size, synchronising)
        self.size = size
        self.synchronising = synchronising
        self.message = message  # the literal is APPEND's message


class CommandSyntaxError(Exception):
    """The command is not valid; `message` is the text for the BAD response and `code` an
    optional response code (e.g. "TOOBIG")."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def parse_tag(data: bytes) -> str | None:
    """The tag at the start of a command line, or None when there is no valid one."""
    end = 0
    while end < len(data) and data[end] in TAG_CHARS:
        end += 1
    if end == 0 or end >= len(data) or data[end] != 0x20:
        return None
    return data[:end].decode("ascii")


def parse_command(data: bytes, limits: GrammarLimits) -> Command:
    """Parse one whole command (ending in CRLF). Raises IncompleteCommand or
    CommandSyntaxError."""
    return _CommandReader(data, limits).command()


class _Reader:
    """Primitive tokens of RFC 3501 section 9 over the bytes of one command."""

    def __init__(self, data: bytes, limits: GrammarLimits) -> None:
        self.data = data
        self.pos = 0
        self.limits = limits
        self._charset = "UTF-8"  # how SEARCH strings are decoded
        self._search_keys = 0  # SEARCH keys read so far, for the item limit

    # -- low level -------------------------------------------------------------------

    def fail(self, message: str, code: str | None = None) -> CommandSyntaxError:
        return CommandSyntaxError(message, code)

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def at(self, text: bytes) -> bool:
        return self.data.startswith(text, self.pos)

    def at_end_of_line(self) -> bool:
        return self.at(b"\r\n")

    def take_while(self, allowed: frozenset[int]) -> bytes:
        """The longest run of `allowed` bytes at the cursor (a regex: C speed, since a
        command is parsed again after each of its literals)."""
        match = _run_pattern(allowed).match(self.data, self.pos)
        assert match is not None
        self.pos = match.end()
        return match.group()

    def expect(self, text: bytes, what: str) -> None:
        if not self.at(text):
            raise self.fail(f"Expected {what}")
        self.pos += len(text)

    def sp(self) -> None:
        if self.peek() != 0x20:
            raise self.fail("Expected a space" if not self.at_end_of_line() else "Missing argument")
        self.pos += 1

    def end(self) -> None:
        if not self.at_end_of_line():
            if self.peek() == 0x20:
                raise self.fail("Too many arguments")
            raise self.fail("Unexpected characters at end of command")
        self.pos += 2
        if self.pos != len(self.data):  # pragma: no cover - the framer splits commands
            raise self.fail("Unexpected data after command")

    def count(self, items: int) -> None:
        if items > self.limits.max_items:
            raise self.fail(f"Too many items (at most {self.limits.max_items})")

    # -- tokens ----------------------------------------------------------------------

    def atom(self, what: str = "an atom") -> bytes:
        value = self.take_while(ATOM_CHARS)
        if not value:
            raise self.fail(f"Expected {what}")
        return value

    def keyword(self, what: str) -> str:
        return self.atom(what).decode("ascii").upper()

    def quoted(self) -> bytes:
        """quoted = DQUOTE *QUOTED-CHAR DQUOTE, with `\\"` and `\\\\` escapes."""
        match = _QUOTED.match(self.data, self.pos)
        if match is not None:
            self.pos = match.end()
            return _UNESCAPE.sub(rb"\1", match.group(1))
        return self._quoted_error()

    def _quoted_error(self) -> bytes:
        """Walk an invalid quoted string to say what is wrong with it."""
        self.pos += 1
        out = bytearray()
        data = self.data
        while True:
            if self.pos >= len(data):
                raise self.fail("Unterminated quoted string")
            byte = data[self.pos]
            if byte == 0x22:
                self.pos += 1
                return bytes(out)
            if byte == 0x5C:
                following = data[self.pos + 1] if self.pos + 1 < len(data) else None
                if following not in (0x22, 0x5C):
                    raise self.fail("Invalid escape in quoted string")
                out.append(following)
                self.pos += 2
                continue
            if byte in (0x0D, 0x0A):
                raise self.fail("Unterminated quoted string")
            if byte == 0:
                raise self.fail("NUL in quoted string")
            out.append(byte)
            self.pos += 1

    def literal(self, limit: int, *, message: bool = False) -> bytes:
        """literal = "{" number ["+"] "}" CRLF *CHAR8 (RFC 3501, RFC 7888 for "+")."""
        self.pos += 1
        digits = self.take_while(_DIGITS)
        if not digits or len(digits) > 20:
            raise self.fail("Invalid literal size")
        synchronising = True
        if self.peek() == 0x2B:
            synchronising = False
            self.pos += 1
        self.expect(b"}", "'}' after literal size")
        if not self.at_end_of_line():
            raise self.fail("Expected CRLF after literal announcement")
        self.pos += 2
        size = int(digits)
        if size > limit:
            raise self.fail(f"Literal too large (at most {limit} bytes)", "TOOBIG")
        if self.pos == len(self.data):  # the data (and the rest of the command) is due
            raise IncompleteCommand(size, synchronising, message=message)
        if self.pos + size > len(self.data):  # pragma: no cover - the framer guarantees it
            raise self.fail("Truncated literal")
        value = self.data[self.pos : self.pos + size]
        if 0 in value:
            raise self.fail("NUL in literal")
        self.pos += size
        return value

    def string(self, limit: int | None = None) -> bytes:
        byte = self.peek()
        if byte == 0x22:
            return self.quoted()
        if byte == 0x7B:
            return self.literal(self.limits.max_literal_size if limit is None else limit)
        raise self.fail("Expected a string")

    def astring(self, what: str = "a string") -> bytes:
        byte = self.peek()
        if byte in (0x22, 0x7B):
            return self.string()
        value = self.take_while(ASTRING_CHARS)
        if not value:
            raise self.fail(f"Expected {what}")
        return value

    def nstring(self) -> bytes | None:
        if self.data[self.pos : self.pos + 3].upper() == b"NIL" and (
            self.pos + 3 >= len(self.data) or self.data[self.pos + 3] not in ASTRING_CHARS
        ):
            self.pos += 3
            return None
        return self.string()

    def text(self, value: bytes, what: str) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not valid UTF-8") from None

    def number(self, what: str = "a number", *, nonzero: bool = False) -> int:
        digits = self.take_while(_DIGITS)
        if not digits:
            raise self.fail(f"Expected {what}")
        if len(digits) > 10 or int(digits) > _MAX_NUMBER:
            raise self.fail(f"Number too large: {what}")
        value = int(digits)
        if nonzero and value == 0:
            raise self.fail(f"Zero is not allowed: {what}")
        return value

    def sequence_set(self) -> SequenceSet:
        """sequence-set (RFC 3501 section 9): ranges of nz-number or "*", comma separated."""
        raw = self.take_while(_SEQUENCE_CHARS)
        if not raw:
            raise self.fail("Expected a sequence set")
        ranges: list[tuple[int | None, int | None]] = []
        parts = raw.split(b",")
        self.count(len(parts))
        for part in parts:
            ends = part.split(b":")
            if len(ends) > 2:
                raise self.fail("Invalid sequence set")
            values = [self._sequence_number(end) for end in ends]
            ranges.append((values[0], values[-1]))
        return SequenceSet(tuple(ranges))

    def _sequence_number(self, raw: bytes) -> int | None:
        if raw == b"*":
            return None
        if not raw or not raw.isdigit():
            raise self.fail("Invalid sequence set")
        if len(raw) > 10 or int(raw) > _MAX_NUMBER:
            raise self.fail("Number too large in sequence set")
        value = int(raw)
        if value == 0:
            raise self.fail("Invalid sequence set: 0 is not a message number")
        return value

    def mailbox(self) -> str:
        """mailbox = "INBOX" / astring, decoded from modified UTF-7 (RFC 3501 5.1.3)."""
        return self._decode_mailbox(self.astring("a mailbox name"), normalise_inbox=True)

    def list_mailbox(self) -> str:
        """list-mailbox = 1*list-char / string: a LIST pattern with % and *."""
        if self.peek() in (0x22, 0x7B):
            raw = self.string()
        else:
            raw = self.take_while(LIST_CHARS)
            if not raw:
                raise self.fail("Expected a mailbox pattern")
        return self._decode_mailbox(raw, normalise_inbox=True)

    def _decode_mailbox(self, raw: bytes, *, normalise_inbox: bool) -> str:
        try:
            name = utf7.decode(raw.decode("ascii"))
        except UnicodeDecodeError:
            raise self.fail("Mailbox name must be 7-bit (modified UTF-7)") from None
        except utf7.Utf7Error as error:
            raise self.fail(f"Invalid mailbox name: {error}") from None
        if normalise_inbox and name.upper() == INBOX:
            return INBOX
        return name

    def flag(self) -> str:
        """flag = "\\" atom (system or extension flag) / flag-keyword (atom)."""
        if self.peek() == 0x5C:
            self.pos += 1
            name = self.atom("a flag name after '\\'")
            return canonical_flag("\\" + name.decode("ascii"))
        return self.atom("a flag").decode("ascii")

    def flag_list(self) -> tuple[str, ...]:
        """flag-list = "(" [flag *(SP flag)] ")"."""
        self.expect(b"(", "'(' to open the flag list")
        flags: list[str] = []
        if self.peek() != 0x29:
            while True:
                flags.append(self.flag())
                self.count(len(flags))
                if self.peek() != 0x20:
                    break
                self.pos += 1
        self.expect(b")", "')' to close the flag list")
        return tuple(dict.fromkeys(flags))

    def search_date(self) -> date:
        """date = date-text / DQUOTE date-text DQUOTE; date-text = d[d]-Mon-yyyy."""
        quoted = self.peek() == 0x22
        if quoted:
            self.pos += 1
        raw = self.take_while(ATOM_CHARS)
        if quoted:
            self.expect(b'"', "closing quote after the date")
        return self._date_text(raw)

    def _date_text(self, raw: bytes) -> date:
        parts = raw.split(b"-")
        if len(parts) != 3:
            raise self.fail("Invalid date (expected dd-Mon-yyyy)")
        day, month, year = parts
        month_number = _MONTH_NUMBERS.get(month.decode("ascii", "replace").upper())
        if (
            not (1 <= len(day) <= 2 and day.isdigit())
            or month_number is None
            or not (len(year) == 4 and year.isdigit())
        ):
            raise self.fail("Invalid date (expected dd-Mon-yyyy)")
        try:
            return date(int(year), month_number, int(day))
        except ValueError:
            raise self.fail("Invalid date (no such day)") from None

    def date_time(self) -> datetime:
        """date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone
        DQUOTE (RFC 3501 section 9)."""
        self.expect(b'"', "a quoted date-time")
        end = self.data.find(b'"', self.pos)
        if end < 0 or end - self.pos > 40:
            raise self.fail("Invalid date-time")
        raw = self.data[self.pos : end].lstrip(b" ")
        self.pos = end + 1
        pieces = raw.split(b" ")
        if len(pieces) != 3:
            raise self.fail('Invalid date-time (expected "dd-Mon-yyyy hh:mm:ss +zzzz")')
        day = self._date_text(pieces[0])
        clock, zone = pieces[1], pieces[2]
        clock_parts = clock.split(b":")
        if len(clock_parts) != 3 or not all(len(p) == 2 and p.isdigit() for p in clock_parts):
            raise self.fail("Invalid time in date-time")
        if len(zone) != 5 or zone[0] not in b"+-" or not zone[1:].isdigit():
            raise self.fail("Invalid zone in date-time")
        hours, minutes, seconds = (int(p) for p in clock_parts)
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[3:5])
        if zone_minutes > 59 or zone_hours > 23:
            raise self.fail("Invalid zone in date-time")
        offset = timedelta(hours=zone_hours, minutes=zone_minutes)
        if zone[0] == 0x2D:
            offset = -offset
        try:
            return datetime(
                day.year, day.month, day.day, hours, minutes, seconds, tzinfo=timezone(offset)
            )
        except ValueError:
            raise self.fail("Invalid time in date-time") from None


_Handler = Callable[["_CommandReader", str], Command]


class _CommandReader(_Reader):
    """The commands themselves, one method each."""

    def command(self) -> Command:
        tag = parse_tag(self.data)
        if tag is None:
            raise self.fail("Invalid or missing tag")
        self.pos = len(tag) + 1
        name = self.take_while(ATOM_CHARS).decode("ascii").upper()
        if not name:
            raise self.fail("Missing command")
        if name == "UID":
            self.sp()
            sub = self.take_while(ATOM_CHARS).decode("ascii").upper()
            handler = _UID_COMMANDS.get(sub)
            if handler is None:
                raise self.fail("Unknown UID command")
            result = handler(self, tag)
        else:
            handler = _COMMANDS.get(name)
            if handler is None:
                raise self.fail("Unknown command")
            result = handler(self, tag)
        self.end()
        return result

    # -- any state -------------------------------------------------------------------

    def capability(self, tag: str) -> Command:
        return Capability(tag)

    def noop(self, tag: str) -> Command:
        return Noop(tag)

    def logout(self, tag: str) -> Command:
        return Logout(tag)

    def starttls(self, tag: str) -> Command:
        return StartTls(tag)

    def authenticate(self, tag: str) -> Command:
        """AUTHENTICATE auth-type [SP (base64 / "=")] (RFC 3501, RFC 4959 SASL-IR)."""
        self.sp()
        mechanism = self.keyword("an authentication mechanism")
        initial: bytes | None = None
        if self.peek() == 0x20:
            self.pos += 1
            raw = self.take_while(ATOM_CHARS)
            if raw == b"=":
                initial = b""
            else:
                initial = decode_base64(raw)
                if initial is None:
                    raise self.fail("Invalid base64 in initial response")
        return Authenticate(tag, mechanism, initial)

    def login(self, tag: str) -> Command:
        self.sp()
        username = self.text(self.astring("a user name"), "User name")
        self.sp()
        password = self.text(self.astring("a password"), "Password")
        return Login(tag, username, password)

    def enable(self, tag: str) -> Command:
        names: list[str] = []
        while self.peek() == 0x20 or not names:
            self.sp()
            names.append(self.keyword("a capability name"))
            self.count(len(names))
        return Enable(tag, tuple(names))

    def id(self, tag: str) -> Command:
        """ID ("(" string SP nstring *(SP string SP nstring) ")" / NIL) (RFC 2971)."""
        self.sp()
        if self.peek() != 0x28:
            if self.atom("NIL or a parameter list").upper() != b"NIL":
                raise self.fail("Expected NIL or a parameter list")
            return Id(tag, None)
        self.pos += 1
        parameters: list[tuple[str, str | None]] = []
        if self.peek() != 0x29:
            while True:
                key = self.string().decode("utf-8", "replace")
                self.sp()
                value = self.nstring()
                parameters.append(
                    (key, None if value is None else value.decode("utf-8", "replace"))
                )
                self.count(len(parameters))
                if self.peek() != 0x20:
                    break
                self.pos += 1
        self.expect(b")", "')' to close the ID list")
        return Id(tag, tuple(parameters))

    def namespace(self, tag: str) -> Command:
        return Namespace(tag)

    # -- mailboxes -------------------------------------------------------------------

    def _one_mailbox(self) -> str:
        self.sp()
        return self.mailbox()

    def select(self, tag: str) -> Command:
        return Select(tag, self._one_mailbox())

    def examine(self, tag: str) -> Command:
        return Examine(tag, self._one_mailbox())

    def create(self, tag: str) -> Command:
        return Create(tag, self._one_mailbox())

    def delete(self, tag: str) -> Command:
        return Delete(tag, self._one_mailbox())

    def rename(self, tag: str) -> Command:
        old = self._one_mailbox()
        return Rename(tag, old, self._one_mailbox())

    def subscribe(self, tag: str) -> Command:
        return Subscribe(tag, self._one_mailbox())

    def unsubscribe(self, tag: str) -> Command:
        return Unsubscribe(tag, self._one_mailbox())

    def _option_list(self, what: str) -> tuple[str, ...]:
        """ "(" [option *(SP option)] ")" of plain atoms (RFC 5258 section 6)."""
        self.expect(b"(", f"'(' to open the {what}")
        options: list[str] = []
        if self.peek() != 0x29:
            while True:
                options.append(self.keyword("an option name"))
                self.count(len(options))
                if self.peek() != 0x20:
                    break
                self.pos += 1
        self.expect(b")", f"')' to close the {what}")
        return tuple(dict.fromkeys(options))

    def list(self, tag: str) -> Command:
        """LIST [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
        (RFC 3501 section 6.3.8, RFC 5258 section 3; one pattern only)."""
        self.sp()
        selection: tuple[str, ...] = ()
        extended = False
        if self.peek() == 0x28:
            selection = self._option_list("selection options")
            extended = True
            self.sp()
        reference = self.mailbox()
        self.sp()
        if self.peek() == 0x28:
            raise self.fail("Several LIST patterns are not supported")
        pattern = self.list_mailbox()
        return_options: tuple[str, ...] = ()
        if self.peek() == 0x20:
            self.pos += 1
            if self.keyword("RETURN") != "RETURN":
                raise self.fail("Expected RETURN")
            self.sp()
            return_options = self._option_list("return options")
            extended = True
        return List(tag, reference, pattern, selection, return_options, extended)

    def lsub(self, tag: str) -> Command:
        self.sp()
        reference = self.mailbox()
        self.sp()
        return Lsub(tag, reference, self.list_mailbox())

    def status(self, tag: str) -> Command:
        mailbox = self._one_mailbox()
        self.sp()
        self.expect(b"(", "'(' to open the status items")
        items: list[StatusItem] = []
        while True:
            name = self.keyword("a status item")
            try:
                items.append(StatusItem(name))
            except ValueError:
                raise self.fail("Unknown status item") from None
            self.count(len(items))
            if self.peek() != 0x20:
                break
            self.pos += 1
        self.expect(b")", "')' to close the status items")
        return Status(tag, mailbox, tuple(items))

    def append(self, tag: str) -> Command:
        """APPEND mailbox [SP flag-list] [SP date-time] SP literal (RFC 3501 6.3.11)."""
        mailbox = self._one_mailbox()
        self.sp()
        flags: tuple[str, ...] = ()
        if self.peek() == 0x28:
            flags = self.flag_list()
            self.sp()
        internal_date: datetime | None = None
        if self.peek() == 0x22:
            internal_date = self.date_time()
            self.sp()
        if self.peek() != 0x7B:
            raise self.fail("Expected the message as a literal")
        message = self.literal(self.limits.max_append_size, message=True)
        return Append(tag, mailbox, flags, internal_date, message)

    # -- selected state --------------------------------------------------------------

    def check(self, tag: str) -> Command:
        return Check(tag)

    def close(self, tag: str) -> Command:
        return Close(tag)

    def unselect(self, tag: str) -> Command:
        return Unselect(tag)

    def idle(self, tag: str) -> Command:
        return Idle(tag)

    def expunge(self, tag: str) -> Command:
        return Expunge(tag)

    def uid_expunge(self, tag: str) -> Command:
        self.sp()
        return UidExpunge(tag, self.sequence_set())

    def copy(self, tag: str, *, uid: bool = False) -> Command:
        self.sp()
        sequence_set = self.sequence_set()
        return Copy(tag, sequence_set, self._one_mailbox(), uid)

    def move(self, tag: str, *, uid: bool = False) -> Command:
        self.sp()
        sequence_set = self.sequence_set()
        return Move(tag, sequence_set, self._one_mailbox(), uid)

    def store(self, tag: str, *, uid: bool = False) -> Command:
        """STORE sequence-set SP ["+"/"-"] "FLAGS" [".SILENT"] SP (flag-list / flag *(SP
        flag)) (RFC 3501 section 6.4.6)."""
        self.sp()
        sequence_set = self.sequence_set()
        self.sp()
        mode = FlagMode.REPLACE
        if self.peek() == 0x2B:
            mode = FlagMode.ADD
            self.pos += 1
        elif self.peek() == 0x2D:
            mode = FlagMode.REMOVE
            self.pos += 1
        item = self.keyword("FLAGS or FLAGS.SILENT")
        if item not in ("FLAGS", "FLAGS.SILENT"):
            raise self.fail("Expected FLAGS or FLAGS.SILENT")
        self.sp()
        if self.peek() == 0x28:
            flags = self.flag_list()
        else:
            collected = [self.flag()]
            while self.peek() == 0x20:
                self.pos += 1
                collected.append(self.flag())
                self.count(len(collected))
            flags = tuple(dict.fromkeys(collected))
        return Store(tag, sequence_set, mode, item == "FLAGS.SILENT", flags, uid)

    def fetch(self, tag: str, *, uid: bool = False) -> Command:
        """FETCH sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att
        *(SP fetch-att) ")") (RFC 3501 section 6.4.5)."""
        self.sp()
        sequence_set = self.sequence_set()
        self.sp()
        attributes: list[FetchAttribute] = []
        if self.peek() == 0x28:
            self.pos += 1
            while True:
                attributes.append(self.fetch_attribute())
                self.count(len(attributes))
                if self.peek() != 0x20:
                    break
                self.pos += 1
            self.expect(b")", "')' to close the FETCH attributes")
        else:
            start = self.pos
            name = self.take_while(ATOM_CHARS).upper()
            macro = _FETCH_MACROS.get(name.decode("ascii")) if name.isalpha() else None
            if macro is not None:
                attributes.extend(macro)
            else:
                self.pos = start
                attributes.append(self.fetch_attribute())
        return Fetch(tag, sequence_set, tuple(dict.fromkeys(attributes)), uid)

    def fetch_attribute(self) -> FetchAttribute:
        name = self.take_while(_FETCH_NAME_CHARS).decode("ascii").upper()
        if not name:
            raise self.fail("Expected a FETCH attribute")
        if self.peek() == 0x5B:
            if name not in ("BODY", "BODY.PEEK"):
                raise self.fail("Unknown FETCH attribute")
            section = self.section()
            partial: tuple[int, int] | None = None
            if self.peek() == 0x3C:
                self.pos += 1
                origin = self.number("the partial origin")
                self.expect(b".", "'.' in the partial range")
                length = self.number("the partial length", nonzero=True)
                self.expect(b">", "'>' to close the partial range")
                partial = (origin, length)
            return BodySection(section, name == "BODY.PEEK", partial)
        try:
            return FetchItem(name)
        except ValueError:
            raise self.fail("Unknown FETCH attribute") from None

    def section(self) -> Section:
        """section = "[" [section-spec] "]" (RFC 3501 section 9)."""
        self.pos += 1
        part: list[int] = []
        needs_text = False
        while self.peek() in _DIGITS:
            part.append(self.number("a part number", nonzero=True))
            if len(part) > self.limits.max_nesting_depth:
                raise self.fail("Section part path too deep")
            needs_text = False
            if self.peek() != 0x2E:
                break
            self.pos += 1
            needs_text = True
        if (part and not needs_text) or (not part and self.peek() == 0x5D):
            self.expect(b"]", "']' to close the section")
            return Section(tuple(part))
        text: SectionText | None = None
        fields: tuple[str, ...] = ()
        word = self.take_while(_FETCH_NAME_CHARS).decode("ascii").upper()
        try:
            text = SectionText(word)
        except ValueError:
            raise self.fail("Invalid section text") from None
        if text is SectionText.MIME and not part:
            raise self.fail("MIME needs a part number")
        if text in (SectionText.HEADER_FIELDS, SectionText.HEADER_FIELDS_NOT):
            self.sp()
            fields = self.header_list()
        self.expect(b"]", "']' to close the section")
        return Section(tuple(part), text, fields)

    def header_list(self) -> tuple[str, ...]:
        """header-list = "(" header-fld-name *(SP header-fld-name) ")"."""
        self.expect(b"(", "'(' to open the header list")
        names: list[str] = []
        while True:
            raw = self.astring("a header field name")
            if not raw or any(byte <= 0x20 or byte >= 0x7F or byte == 0x3A for byte in raw):
                raise self.fail("Invalid header field name")
            names.append(raw.decode("ascii").upper())
            self.count(len(names))
            if self.peek() != 0x20:
                break
            self.pos += 1
        self.expect(b")", "')' to close the header list")
        return tuple(dict.fromkeys(names))

    # -- SEARCH ----------------------------------------------------------------------

    def search(self, tag: str, *, uid: bool = False) -> Command:
        """SEARCH [SP "CHARSET" SP astring] 1*(SP search-key) (RFC 3501 section 6.4.4)."""
        self.sp()
        charset: str | None = None
        start = self.pos
        if self.take_while(ATOM_CHARS).upper() == b"CHARSET":
            self.sp()
            charset = self.astring("a charset name").decode("ascii", "replace").upper()
            try:
                b"x".decode(charset)
            except (LookupError, ValueError):
                raise self.fail("Unsupported charset", "BADCHARSET (US-ASCII UTF-8)") from None
            self.sp()
        else:
            self.pos = start
        self._charset = charset or "UTF-8"
        self._search_keys = 0
        keys = [self.search_key(0)]
        while self.peek() == 0x20:
            self.pos += 1
            keys.append(self.search_key(0))
        key: SearchKey = keys[0] if len(keys) == 1 else SearchAnd(tuple(keys))
        return Search(tag, key, charset, uid)

    def search_string(self) -> str:
        raw = self.astring("a search string")
        try:
            return raw.decode(self._charset)
        except (UnicodeDecodeError, LookupError):
            raise self.fail(
                f"Search string is not valid {self._charset}", "BADCHARSET (US-ASCII UTF-8)"
            ) from None

    def search_key(self, depth: int) -> SearchKey:
        if depth > self.limits.max_nesting_depth:
            raise self.fail(
                f"Search keys nested too deeply (at most {self.limits.max_nesting_depth})"
            )
        self._search_keys += 1
        self.count(self._search_keys)
        byte = self.peek()
        if byte == 0x28:
            self.pos += 1
            keys = [self.search_key(depth + 1)]
            while self.peek() == 0x20:
                self.pos += 1
                keys.append(self.search_key(depth + 1))
            self.expect(b")", "')' to close the search keys")
            return SearchAnd(tuple(keys))
        if byte is not None and (byte in _DIGITS or byte == 0x2A):
            return SearchSequence(self.sequence_set())
        name = self.keyword("a search key")
        flag = _SEARCH_FLAGS.get(name)
        if flag is not None:
            return SearchFlag(*flag)
        if name == "ALL":
            return SearchAll()
        if name == "NEW":
            return SearchAnd((SearchFlag(RECENT, True), SearchFlag(SEEN, False)))
        if name in ("KEYWORD", "UNKEYWORD"):
            self.sp()
            keyword = self.atom("a keyword").decode("ascii")
            return SearchFlag(canonical_flag(keyword), name == "KEYWORD")
        if name not in _KEYS_WITH_ARGUMENTS:
            raise self.fail("Unknown search key")
        self.sp()
        if name in _HEADER_KEYS:
            return SearchHeader(name, self.search_string())
        if name == "HEADER":
            raw = self.astring("a header field name")
            if not raw or any(byte <= 0x20 or byte >= 0x7F or byte == 0x3A for byte in raw):
                raise self.fail("Invalid header field name")
            self.sp()
            return SearchHeader(raw.decode("ascii").upper(), self.search_string())
        if name == "BODY":
            return SearchBody(self.search_string())
        if name == "TEXT":
            return SearchText(self.search_string())
        if name in DateSearch.__members__:
            return SearchDate(DateSearch(name), self.search_date())
        if name == "LARGER":
            return SearchLarger(self.number("a size"))
        if name == "SMALLER":
            return SearchSmaller(self.number("a size"))
        if name == "UID":
            return SearchUid(self.sequence_set())
        if name == "NOT":
            return SearchNot(self.search_key(depth + 1))
        if name == "OR":
            left = self.search_key(depth + 1)
            self.sp()
            return SearchOr(left, self.search_key(depth + 1))
        raise self.fail("Unknown search key")


def decode_base64(raw: bytes) -> bytes | None:
    """Strict base64 (RFC 4648 with padding), None when invalid."""
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None


_SEARCH_FLAGS: dict[str, tuple[str, bool]] = {
    "ANSWERED": (ANSWERED, True),
    "DELETED": (DELETED, True),
    "DRAFT": (DRAFT, True),
    "FLAGGED": (FLAGGED, True),
    "SEEN": (SEEN, True),
    "RECENT": (RECENT, True),
    "UNANSWERED": (ANSWERED, False),
    "UNDELETED": (DELETED, False),
    "UNDRAFT": (DRAFT, False),
    "UNFLAGGED": (FLAGGED, False),
    "UNSEEN": (SEEN, False),
    "OLD": (RECENT, False),
}
_HEADER_KEYS = frozenset({"BCC", "CC", "FROM", "SUBJECT", "TO"})
_KEYS_WITH_ARGUMENTS = (
    _HEADER_KEYS
    | frozenset(DateSearch.__members__)
    | frozenset({"HEADER", "BODY", "TEXT", "LARGER", "SMALLER", "UID", "NOT", "OR"})
)

_FETCH_MACROS: dict[str, tuple[FetchItem, ...]] = {
    "ALL": (FetchItem.FLAGS, FetchItem.INTERNALDATE, FetchItem.RFC822_SIZE, FetchItem.ENVELOPE),
    "FAST": (FetchItem.FLAGS, FetchItem.INTERNALDATE, FetchItem.RFC822_SIZE),
    "FULL": (
        FetchItem.FLAGS,
        FetchItem.INTERNALDATE,
        FetchItem.RFC822_SIZE,
        FetchItem.ENVELOPE,
        FetchItem.BODY,
    ),
}

_COMMANDS: dict[str, _Handler] = {
    "CAPABILITY": _CommandReader.capability,
    "NOOP": _CommandReader.noop,
    "LOGOUT": _CommandReader.logout,
    "STARTTLS": _CommandReader.starttls,
    "AUTHENTICATE": _CommandReader.authenticate,
    "LOGIN": _CommandReader.login,
    "ENABLE": _CommandReader.enable,
    "ID": _CommandReader.id,
    "NAMESPACE": _CommandReader.namespace,
    "SELECT": _CommandReader.select,
    "EXAMINE": _CommandReader.examine,
    "CREATE": _CommandReader.create,
    "DELETE": _CommandReader.delete,
    "RENAME": _CommandReader.rename,
    "SUBSCRIBE": _CommandReader.subscribe,
    "UNSUBSCRIBE": _CommandReader.unsubscribe,
    "LIST": _CommandReader.list,
    "LSUB": _CommandReader.lsub,
    "STATUS": _CommandReader.status,
    "APPEND": _CommandReader.append,
    "CHECK": _CommandReader.check,
    "CLOSE": _CommandReader.close,
    "UNSELECT": _CommandReader.unselect,
    "IDLE": _CommandReader.idle,
    "EXPUNGE": _CommandReader.expunge,
    "COPY": _CommandReader.copy,
    "MOVE": _CommandReader.move,
    "STORE": _CommandReader.store,
    "FETCH": _CommandReader.fetch,
    "SEARCH": _CommandReader.search,
}

_UID_COMMANDS: dict[str, _Handler] = {
    "COPY": lambda reader, tag: reader.copy(tag, uid=True),
    "MOVE": lambda reader, tag: reader.move(tag, uid=True),
    "STORE": lambda reader, tag: reader.store(tag, uid=True),
    "FETCH": lambda reader, tag: reader.fetch(tag, uid=True),
    "SEARCH": lambda reader, tag: reader.search(tag, uid=True),
    "EXPUNGE": _CommandReader.uid_expunge,
}
