"""A deliberately small IMAP client over a plain socket, and a parser of server responses.

The differential test must send both servers the very same bytes, so no client library
sits in between: `RawImapClient.command` writes the command as given (waiting for the
`+` continuation before each synchronising literal, RFC 3501 section 7.5) and returns
every response line up to the tagged one, literals inlined.

`parse_values` turns the rest of a response line into plain Python values: `Atom`
(atoms and numbers, kept as text), `bytes` (quoted strings and literals alike: both are
the same string, RFC 3501 section 4.3), `None` (NIL) and tuples (parenthesised lists).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\r\n$")
_CLIENT_LITERAL = re.compile(rb"\{(\d+)(\+?)\}\r\n")


class ImapWireError(Exception):
    """The server closed the connection or sent something this client cannot read."""


@dataclass(frozen=True, slots=True)
class Atom:
    """An atom or number as sent (`\\Seen`, `FLAGS`, `BODY[1.MIME]<0>`, `42`)."""

    text: str


Value = Atom | bytes | None | tuple["Value", ...]


class RawImapClient:
    """One connection; `command` sends exact bytes and collects the responses."""

    def __init__(self, host: str, port: int, *, timeout: float = 15.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        # Commands go out in pieces (literals): do not let Nagle hold them back.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""
        self.greeting = self.read_response()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RawImapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ImapWireError(f"connection closed; unread: {self._buffer[:200]!r}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line + b"\r\n"

    def _read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ImapWireError("connection closed inside a literal")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def read_response(self) -> bytes:
        """One logical response: a line plus any literals it announces (inlined)."""
        response = self._read_line()
        while match := _LITERAL_AT_END.search(response):
            response += self._read_exact(int(match.group(1)))
            response += self._read_line()
        return response

    def command(self, tag: bytes, command: bytes) -> list[bytes]:
        """Send `tag SP command CRLF` and return every response up to the tagged one.

        A synchronising literal `{n}CRLF` inside `command` waits for the server's `+`
        (a tagged reply instead ends the command there); `{n+}` (LITERAL+) does not."""
        data = tag + b" " + command + b"\r\n"
        responses: list[bytes] = []
        position = 0
        while True:
            match = _CLIENT_LITERAL.search(data, position)
            if match is None:
                self._sock.sendall(data[position:])
                break
            self._sock.sendall(data[position : match.end()])
            position = match.end()
            literal_end = position + int(match.group(1))
            if match.group(2) != b"+":
                while True:
                    response = self.read_response()
                    if response.startswith(b"+"):
                        break
                    responses.append(response)
                    if response.startswith(tag + b" "):
                        return responses
            self._sock.sendall(data[position:literal_end])
            position = literal_end
        while True:
            response = self.read_response()
            responses.append(response)
            if response.startswith(tag + b" "):
                return responses


class _Reader:
    """Cursor over one response line (literals inlined)."""

    def __init__(self, data: bytes, position: int = 0) -> None:
        self.data = data
        self.position = position

    def peek(self) -> bytes:
        return self.data[self.position : self.position + 1]

    def at_end(self) -> bool:
        return self.data[self.position :] in (b"", b"\r\n")

    def skip_spaces(self) -> None:
        while self.peek() == b" ":
            self.position += 1

    def value(self) -> Value:
        char = self.peek()
        if char == b"(":
            self.position += 1
            items: list[Value] = []
            while True:
                self.skip_spaces()
                if self.peek() == b")":
                    self.position += 1
                    return tuple(items)
                if self.at_end():
                    raise ImapWireError(f"unclosed list in {self.data!r}")
                items.append(self.value())
        if char == b'"':
            return self.quoted()
        if char in (b"{", b"~") and (
            match := re.compile(rb"~?\{(\d+)\+?\}\r\n").match(self.data, self.position)
        ):
            size = int(match.group(1))
            start = match.end()
            self.position = start + size
            return self.data[start : start + size]
        return self.atom()

    def quoted(self) -> bytes:
        self.position += 1
        out = bytearray()
        while True:
            char = self.peek()
            if char == b"":
                raise ImapWireError(f"unterminated quoted string in {self.data!r}")
            self.position += 1
            if char == b"\\":
                out += self.peek()
                self.position += 1
            elif char == b'"':
                return bytes(out)
            else:
                out += char

    def atom(self) -> Value:
        """An atom; `[...]` inside it (BODY[HEADER.FIELDS (A B)]) is read whole."""
        start = self.position
        depth = 0
        while True:
            char = self.peek()
            if char in (b"", b"\r", b"\n"):
                break
            if depth == 0 and char in (b" ", b"(", b")"):
                break
            if char == b"[":
                depth += 1
            elif char == b"]":
                if depth == 0:
                    break
                depth -= 1
            self.position += 1
        text = self.data[start : self.position].decode("utf-8", "replace")
        if not text:
            raise ImapWireError(f"unexpected {self.peek()!r} at {start} in {self.data!r}")
        return None if text.upper() == "NIL" else Atom(text)


def parse_values(data: bytes, position: int = 0) -> list[Value]:
    """Every value from `position` to the end of the line."""
    reader = _Reader(data, position)
    values: list[Value] = []
    while True:
        reader.skip_spaces()
        if reader.at_end():
            return values
        values.append(reader.value())


def parse_response_code(data: bytes, position: int) -> tuple[str, list[Value]] | None:
    """`[CODE args]` at `position` (after `OK `/`NO `/`BAD `), or None when absent."""
    reader = _Reader(data, position)
    reader.skip_spaces()
    if reader.peek() != b"[":
        return None
    reader.position += 1
    name = reader.atom()
    assert isinstance(name, Atom)
    args: list[Value] = []
    while True:
        reader.skip_spaces()
        if reader.peek() in (b"]", b""):
            return name.text.upper(), args
        args.append(reader.value())
