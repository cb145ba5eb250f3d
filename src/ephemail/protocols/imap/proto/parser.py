"""A sans-IO IMAP command parser in the style of h11: bytes in, events out, no I/O.

    parser = ImapParser(ParserLimits())
    parser.receive_data(chunk)
    while True:
        event = parser.next_event()
        if isinstance(event, NeedData): break            # read more from the socket
        if isinstance(event, ContinuationRequest): ...   # send b"+ Ready for literal\\r\\n"
        if isinstance(event, ParseError): ...            # "tag BAD msg"; close if fatal
        if isinstance(event, Command): ...               # run it

Framing follows RFC 3501 section 4.3 and 7.5: a command is its lines, each literal
announcement `{n}` (or `{n+}`, RFC 7888 LITERAL+) followed by n bytes of data. After every
line the whole command so far is checked against the grammar, so a bad command is refused
before its synchronising literal is requested, and the client never sends it. After a
non-fatal error the parser skips the rest of the command (the data of non-synchronising
literals included) and goes on with the next one.

Two modes serve commands that continue on later lines: `expect_raw_line()` makes the next
line a `RawLine` (AUTHENTICATE responses, RFC 3501 section 6.2.2) and `expect_idle_done()`
makes it an `IdleDone` or a `ParseError` (RFC 2177). Both apply to one line only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, auto
from typing import Final

from ephemail.protocols.imap.proto.commands import Command
from ephemail.protocols.imap.proto.grammar import (
    CommandSyntaxError,
    GrammarLimits,
    IncompleteCommand,
    parse_command,
    parse_tag,
)

__all__ = [
    "ContinuationRequest",
    "Event",
    "HttpRequestError",
    "IdleDone",
    "ImapParser",
    "NeedData",
    "ParseError",
    "ParserLimits",
    "RawLine",
]

MIB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ParserLimits:
    """What one connection may send (SPEC.md, IMAP robustness). Sizes in bytes.

    `max_line_length` counts one line without its CRLF and without literal data (RFC 7162
    section 4 asks servers to accept 8192). `max_append_size` bounds the message literal
    of APPEND, `max_literal_size` every other literal. `max_command_size` bounds a whole
    command: its lines plus literal data, APPEND's message not counted (it has its own
    limit). `max_literals` bounds the literals of one command: the command is checked
    again after each of them, so this keeps the work per command linear. `max_nesting_depth`
    bounds nested SEARCH keys and section part paths; `max_items` the entries of any one
    list (sequence-set ranges, FETCH attributes, flags, SEARCH keys, ...).
    """

    max_tag_length: int = 64
    max_line_length: int = 8192
    max_literal_size: int = 64 * 1024
    max_append_size: int = 50 * MIB
    max_command_size: int = MIB
    max_literals: int = 64
    max_nesting_depth: int = 32
    max_items: int = 2000


@dataclass(frozen=True, slots=True)
class NeedData:
    """Nothing more can be parsed until `receive_data` brings more bytes."""


@dataclass(frozen=True, slots=True)
class ContinuationRequest:
    """A synchronising literal `{size}` was announced and accepted so far: the server must
    send a continuation (`+ Ready for literal data`); the parser then reads the data."""

    tag: str
    size: int


@dataclass(frozen=True, slots=True)
class ParseError:
    """A command the server must refuse: `tag BAD [code] message`, or `* BAD message`
    when `tag` is None. When `fatal`, send it and close the connection."""

    tag: str | None
    message: str
    fatal: bool = False
    code: str | None = None


@dataclass(frozen=True, slots=True)
class HttpRequestError(ParseError):
    """The first line is an HTTP request: send `* BAD <message>` and close."""

    tag: str | None = None
    message: str = "This is an IMAP server, not HTTP"
    fatal: bool = True
    code: str | None = None


@dataclass(frozen=True, slots=True)
class RawLine:
    """One line read in raw-line mode, without its CRLF (e.g. a base64 SASL response)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class IdleDone:
    """The client ended IDLE with DONE (RFC 2177)."""


Event = Command | NeedData | ContinuationRequest | ParseError | RawLine | IdleDone


class _State(Enum):
    LINE = auto()  # reading a command line
    LITERAL = auto()  # copying literal data into the command
    SKIP_BYTES = auto()  # discarding the data of a refused non-synchronising literal
    SKIP_LINE = auto()  # discarding the rest of a refused command's line
    CLOSED = auto()  # after a fatal error


class _Mode(Enum):
    COMMAND = auto()
    RAW_LINE = auto()
    IDLE = auto()


# A line that ends with a literal announcement: {n} or {n+} (RFC 7888).
_LITERAL_AT_END = re.compile(rb"\{(\d{1,20})(\+?)\}\Z")
# An HTTP request line (RFC 9112 section 3): method SP target SP HTTP/x.y.
_HTTP_REQUEST = re.compile(rb"\A[A-Z]{3,10} \S+ HTTP/\d(\.\d)?\Z")
_SKIP_TAIL = 32  # bytes of a skipped line kept to spot a trailing {n+}


class ImapParser:
    """Turns the bytes a client sends into IMAP events; see the module docstring.

    `next_event` never raises: every problem is a `ParseError` event.
    """

    def __init__(self, limits: ParserLimits | None = None) -> None:
        self.limits = limits or ParserLimits()
        self._grammar = GrammarLimits(
            max_literal_size=self.limits.max_literal_size,
            max_append_size=self.limits.max_append_size,
            max_nesting_depth=self.limits.max_nesting_depth,
            max_items=self.limits.max_items,
        )
        self._buffer = bytearray()  # received, not yet consumed
        self._command = bytearray()  # the command being assembled (lines + literal data)
        self._state = _State.LINE
        self._mode = _Mode.COMMAND
        self._remaining = 0  # bytes left in LITERAL / SKIP_BYTES
        self._skip_tail = bytearray()
        self._seen_command = False
        self._literals = 0  # literals announced in the current command
        self._message_size = 0  # bytes of APPEND's message in the current command

    # -- public API ------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the connection."""
        if self._state is not _State.CLOSED:
            self._buffer += data

    def next_event(self) -> Event:
        """The next event; `NeedData` when the received bytes are used up."""
        try:
            return self._next_event()
        except Exception:
            self._state = _State.CLOSED
            self._buffer.clear()
            return ParseError(None, "Internal error while parsing the command", fatal=True)

    def expect_raw_line(self) -> None:
        """Make the next line a `RawLine` event (AUTHENTICATE continuation responses)."""
        self._mode = _Mode.RAW_LINE

    def expect_idle_done(self) -> None:
        """Make the next line an `IdleDone` event, or a ParseError when it is not DONE."""
        self._mode = _Mode.IDLE

    @property
    def buffered(self) -> int:
        """Bytes received but not consumed. After STARTTLS this must be 0, or the client
        pipelined plaintext after the command (refuse it; RFC 3501 section 6.2.1)."""
        return len(self._buffer)

    def discard_buffered(self) -> None:
        """Drop every byte received and not yet parsed (e.g. at STARTTLS)."""
        self._buffer.clear()

    @property
    def closed(self) -> bool:
        """True after a fatal error: the connection must be closed."""
        return self._state is _State.CLOSED

    # -- framing ---------------------------------------------------------------------

    def _next_event(self) -> Event:
        while True:
            state = self._state
            if state is _State.CLOSED:
                return NeedData()
            if state is _State.LITERAL:
                if not self._copy_literal():
                    return NeedData()
                continue
            if state is _State.SKIP_BYTES:
                if not self._skip_bytes():
                    return NeedData()
                continue
            if state is _State.SKIP_LINE:
                if not self._skip_line():
                    return NeedData()
                continue
            line = self._take_line()
            if line is None:
                if len(self._buffer) > self.limits.max_line_length:
                    return self._line_too_long()
                return NeedData()
            event = self._handle_line(line)
            if event is not None:
                return event

    def _take_line(self) -> bytes | None:
        """The next line without its line end (CRLF, or a bare LF from lax clients)."""
        end = self._buffer.find(b"\n")
        if end < 0:
            return None
        line = bytes(self._buffer[: end - 1 if end and self._buffer[end - 1] == 0x0D else end])
        del self._buffer[: end + 1]
        return line

    def _line_too_long(self) -> ParseError:
        """The line grows past the limit: refuse it and skip to its end."""
        source = self._command if self._command else self._buffer
        tag = parse_tag(bytes(source[: self.limits.max_tag_length + 1]))
        self._reset_command()
        self._skip_tail = self._buffer[-_SKIP_TAIL:]
        self._buffer.clear()
        self._state = _State.SKIP_LINE
        mode, self._mode = self._mode, _Mode.COMMAND
        if mode is not _Mode.COMMAND:
            tag = None
        return ParseError(tag, f"Line too long (at most {self.limits.max_line_length} bytes)")

    def _handle_line(self, line: bytes) -> Event | None:
        if len(line) > self.limits.max_line_length:
            self._skip_tail = bytearray(line[-_SKIP_TAIL:])
            self._buffer[:0] = b"\n"  # let SKIP_LINE see the end of this line
            return self._line_too_long_complete(line)
        if self._mode is _Mode.RAW_LINE:
            self._mode = _Mode.COMMAND
            return RawLine(line)
        if self._mode is _Mode.IDLE:
            self._mode = _Mode.COMMAND
            if line.strip().upper() == b"DONE":
                return IdleDone()
            return ParseError(None, "Expected DONE to end IDLE")
        if not self._command:
            if not line:
                return None  # empty lines between commands are ignored
            if not self._seen_command:
                self._seen_command = True
                if _HTTP_REQUEST.match(line):
                    self._close()
                    return HttpRequestError()
            tag = parse_tag(line)
            if tag is None:
                announced = _LITERAL_AT_END.search(line)
                self._skip_announced_literal(announced)
                if line[:1] in (b" ", b""):
                    return ParseError(None, "Missing tag")
                return ParseError(None, "Invalid tag")
            if len(tag) > self.limits.max_tag_length:
                self._skip_announced_literal(_LITERAL_AT_END.search(line))
                return ParseError(None, f"Tag too long (at most {self.limits.max_tag_length})")
        self._command += line
        self._command += b"\r\n"
        announced = _LITERAL_AT_END.search(line)
        if len(self._command) - self._message_size > self.limits.max_command_size:
            return self._refuse(announced, self._too_large(), "TOOBIG")
        return self._check_command(announced)

    def _too_large(self) -> str:
        return f"Command too large (at most {self.limits.max_command_size} bytes)"

    def _refuse(
        self, announced: re.Match[bytes] | None, message: str, code: str | None = None
    ) -> ParseError:
        """Refuse the command being assembled and skip what the client still sends of it."""
        tag = parse_tag(bytes(self._command[: self.limits.max_tag_length + 1]))
        self._reset_command()
        self._skip_announced_literal(announced)
        return ParseError(tag, message, code=code)

    def _line_too_long_complete(self, line: bytes) -> ParseError:
        """A whole line arrived at once and is over the limit."""
        source = self._command if self._command else line
        tag = parse_tag(bytes(source[: self.limits.max_tag_length + 1]))
        self._reset_command()
        self._state = _State.SKIP_LINE
        mode, self._mode = self._mode, _Mode.COMMAND
        if mode is not _Mode.COMMAND:
            tag = None
        return ParseError(tag, f"Line too long (at most {self.limits.max_line_length} bytes)")

    def _check_command(self, announced: re.Match[bytes] | None) -> Event | None:
        """Run the grammar over the command so far (see the module docstring)."""
        data = bytes(self._command)
        tag = parse_tag(data)
        try:
            command = parse_command(data, self._grammar)
        except IncompleteCommand as incomplete:
            if announced is None:  # pragma: no cover - the grammar only stops at a literal
                return self._refuse(None, "Invalid literal")
            self._literals += 1
            if self._literals > self.limits.max_literals:
                return self._refuse(
                    announced, f"Too many literals (at most {self.limits.max_literals})"
                )
            if incomplete.message:
                self._message_size = incomplete.size
            else:
                size = len(self._command) - self._message_size + incomplete.size
                if size > self.limits.max_command_size:
                    return self._refuse(announced, self._too_large(), "TOOBIG")
            self._remaining = incomplete.size
            self._state = _State.LITERAL
            if incomplete.synchronising:
                return ContinuationRequest(tag or "*", incomplete.size)
            return None
        except CommandSyntaxError as error:
            return self._refuse(announced, error.message, error.code)
        except RecursionError:  # pragma: no cover - max_nesting_depth comes first
            return self._refuse(announced, "Command nested too deeply")
        self._reset_command()
        return command

    def _skip_announced_literal(self, announced: re.Match[bytes] | None) -> None:
        """After refusing a command whose line announced a literal: a synchronising one will
        not be sent (RFC 3501 section 7.5), a non-synchronising one is on its way and its
        data and the rest of the command must be skipped."""
        if announced is not None and announced.group(2) == b"+":
            self._remaining = int(announced.group(1))
            self._state = _State.SKIP_BYTES
        else:
            self._state = _State.LINE

    def _copy_literal(self) -> bool:
        if not self._buffer and self._remaining:
            return False
        chunk = min(self._remaining, len(self._buffer))
        self._command += self._buffer[:chunk]
        del self._buffer[:chunk]
        self._remaining -= chunk
        if self._remaining:
            return False
        self._state = _State.LINE
        return True

    def _skip_bytes(self) -> bool:
        if not self._buffer and self._remaining:
            return False
        chunk = min(self._remaining, len(self._buffer))
        del self._buffer[:chunk]
        self._remaining -= chunk
        if self._remaining:
            return False
        self._state = _State.SKIP_LINE
        self._skip_tail.clear()
        return True

    def _skip_line(self) -> bool:
        end = self._buffer.find(b"\n")
        if end < 0:
            self._skip_tail = (self._skip_tail + self._buffer)[-_SKIP_TAIL:]
            self._buffer.clear()
            return False
        tail = (self._skip_tail + self._buffer[:end]).rstrip(b"\r")
        del self._buffer[: end + 1]
        self._skip_tail.clear()
        announced = _LITERAL_AT_END.search(bytes(tail[-_SKIP_TAIL:]))
        self._skip_announced_literal(announced)
        return True

    def _reset_command(self) -> None:
        self._command.clear()
        self._literals = 0
        self._message_size = 0
        self._state = _State.LINE

    def _close(self) -> None:
        self._state = _State.CLOSED
        self._buffer.clear()
        self._command.clear()
