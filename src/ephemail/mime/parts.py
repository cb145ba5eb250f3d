"""An offset-preserving MIME splitter: raw bytes to a tree of `MimePart`.

Each part records where its header block and body lie in the original bytes, so later
consumers (the ingest summary, IMAP BODYSTRUCTURE and BODY[section]) slice the raw message
instead of re-serialising it. The splitter follows RFC 2046 section 5.1.1 for multipart
bodies and RFC 2046 section 5.2.1 for message/rfc822, is linear in the input for each level
of nesting, caps depth and part count, and never raises.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from ephemail.mime.defects import DefectLog
from ephemail.mime.headers import Header, parse_content_type, split_header_block

MAX_DEPTH = 32
MAX_PARTS = 1000

TEXT_PLAIN = ("text", "plain")
MESSAGE_RFC822 = ("message", "rfc822")

# Encapsulated messages whose body is itself a message (RFC 2046 5.2.1, RFC 6532 3.7).
_MESSAGE_SUBTYPES = frozenset({"rfc822", "global"})
# Identity transfer encodings (RFC 2045 section 6.2).
_IDENTITY = frozenset({"", "7bit", "8bit", "binary"})


@dataclass(slots=True, eq=False)
class MimePart:
    """One MIME entity located in the raw bytes.

    ``raw[start:header_end]`` is the header block, ``raw[body_start:end]`` the body (for a
    multipart, preamble, children and epilogue). ``headers`` are unfolded but not RFC 2047
    decoded. ``children`` holds the parts of a multipart, or the one encapsulated message of
    a message/rfc822 part.
    """

    start: int
    header_end: int
    body_start: int
    end: int
    headers: list[Header]
    maintype: str
    subtype: str
    params: dict[str, str]
    depth: int
    children: list[MimePart] = field(default_factory=list)
    _index: dict[str, str] | None = field(default=None, repr=False)

    @property
    def content_type(self) -> str:
        """``type/subtype`` in lowercase."""
        return f"{self.maintype}/{self.subtype}"

    def first_headers(self) -> dict[str, str]:
        """The first value of each header, by lowercase name."""
        if self._index is None:
            self._index = {key.lower(): value for key, value in reversed(self.headers)}
        return self._index

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive), or None."""
        return self.first_headers().get(name.lower())

    @property
    def transfer_encoding(self) -> str:
        """The Content-Transfer-Encoding in lowercase ("7bit" when absent, RFC 2045 6.1)."""
        value = self.header("content-transfer-encoding")
        return value.strip().lower() if value else "7bit"

    @property
    def is_multipart(self) -> bool:
        """True for a multipart entity (whether or not its boundary was found)."""
        return self.maintype == "multipart"

    def body(self, raw: bytes) -> bytes:
        """The still-encoded body bytes of this part."""
        return raw[self.body_start : self.end]


class _Context:
    __slots__ = ("defects", "parts", "raw")

    def __init__(self, raw: bytes, defects: DefectLog) -> None:
        self.raw = raw
        self.defects = defects
        self.parts = 0


def parse_message(raw: bytes, defects: DefectLog | None = None) -> MimePart:
    """Split a whole message into its MIME tree; problems go to `defects`."""
    ctx = _Context(raw, defects if defects is not None else DefectLog())
    return _parse_entity(ctx, 0, len(raw), 0, TEXT_PLAIN)


def _parse_entity(
    ctx: _Context, start: int, end: int, depth: int, default: tuple[str, str]
) -> MimePart:
    raw = ctx.raw
    ctx.parts += 1
    headers, header_end, body_start = split_header_block(
        raw, start, end, ctx.defects, unixfrom=depth == 0
    )
    part = MimePart(start, header_end, body_start, end, headers, "text", "plain", {}, depth)
    content_type = part.header("content-type")
    params: dict[str, str]
    if content_type is None:
        maintype, subtype, params = default[0], default[1], {}
    else:
        maintype, subtype, params = parse_content_type(content_type, default, ctx.defects)
    part.maintype, part.subtype, part.params = maintype, subtype, params
    if maintype == "multipart":
        if depth >= MAX_DEPTH:
            ctx.defects.add("nesting too deep")
            return part
        _split_multipart(ctx, part)
    elif maintype == "message" and subtype in _MESSAGE_SUBTYPES:
        if part.transfer_encoding not in _IDENTITY:
            # RFC 2046 5.2.1 forbids encoding message/rfc822; leave it as an opaque leaf.
            ctx.defects.add("encoded message/rfc822")
        elif depth >= MAX_DEPTH:
            ctx.defects.add("nesting too deep")
        elif ctx.parts >= MAX_PARTS:
            ctx.defects.add("too many parts")
        else:
            part.children.append(_parse_entity(ctx, body_start, end, depth + 1, TEXT_PLAIN))
    return part


# A delimiter line may carry trailing white space ("transport padding", RFC 2046 5.1.1).
_PADDING_EOL_RE = re.compile(rb"[ \t\r]*(?:\n|\Z)")
# A line that looks like a delimiter, for guessing a missing boundary parameter.
_GUESS_WINDOW = 16 * 1024
_GUESS_RE = re.compile(rb"^--([!-~][ -~]{0,199}?)[ \t]*\r?$", re.MULTILINE)


def _boundary_bytes(ctx: _Context, part: MimePart) -> bytes | None:
    boundary = part.params.get("boundary", "")
    if boundary:
        return boundary.encode("utf-8", "replace")
    ctx.defects.add("missing boundary")
    m = _GUESS_RE.search(ctx.raw, part.body_start, min(part.end, part.body_start + _GUESS_WINDOW))
    if m is None:
        return None
    guessed = m.group(1)
    return guessed[:-2] if guessed.endswith(b"--") and len(guessed) > 2 else guessed


# After this many lines that start like a delimiter but are not one, the search switches from
# bytes.find plus a Python check per hit to one compiled regular expression (costly to build,
# cheap per hit), so hostile bodies full of near-delimiters stay fast.
_FALSE_HITS_BEFORE_REGEX = 256


def _delimiters(
    raw: bytes, delimiter: bytes, start: int, end: int
) -> Iterator[tuple[int, int, bool]]:
    """Yield ``(line_start, next_line_start, is_close)`` for each delimiter line.

    RFC 2046 5.1.1: a delimiter is "--" boundary at the start of a line, then "--" for the
    close delimiter, then optional white space up to the end of the line.
    """
    pos = start
    false_hits = 0
    while false_hits < _FALSE_HITS_BEFORE_REGEX:
        i = raw.find(delimiter, pos, end)
        if i < 0:
            return
        j = i + len(delimiter)
        if i != start and raw[i - 1] != 0x0A:
            false_hits += 1
            pos = j
            continue
        is_close = raw.startswith(b"--", j, end)
        if is_close:
            j += 2
        eol = _PADDING_EOL_RE.match(raw, j, end)
        if eol is None:
            false_hits += 1
            pos = j
            continue
        yield i, eol.end(), is_close
        if is_close:
            return
        pos = eol.end()
    pattern = re.compile(rb"\n(" + re.escape(delimiter) + rb")(--)?[ \t\r]*(?:\n|\Z)")
    for m in pattern.finditer(raw, pos - 1, end):
        is_close = m.group(2) is not None
        yield m.start(1), m.end(), is_close
        if is_close:
            return


def _split_multipart(ctx: _Context, part: MimePart) -> None:
    """Find the delimiter lines of a multipart body and parse each body part."""
    boundary = _boundary_bytes(ctx, part)
    if boundary is None:
        return
    raw = ctx.raw
    body_start = part.body_start
    child_default = MESSAGE_RFC822 if part.subtype == "digest" else TEXT_PLAIN
    current: int | None = None
    closed = False
    found = False
    for line_start, next_start, is_close in _delimiters(
        raw, b"--" + boundary, body_start, part.end
    ):
        found = True
        # The CRLF before the delimiter belongs to the delimiter, not to the part.
        content_end = line_start
        if content_end > body_start and raw[content_end - 1] == 0x0A:
            content_end -= 1
            if content_end > body_start and raw[content_end - 1] == 0x0D:
                content_end -= 1
        if current is not None:
            child_end = max(current, content_end)
            part.children.append(
                _parse_entity(ctx, current, child_end, part.depth + 1, child_default)
            )
        if is_close:
            closed = True
            break
        if ctx.parts >= MAX_PARTS:
            ctx.defects.add("too many parts")
            return
        current = next_start
    if not found:
        ctx.defects.add("boundary not found")
    elif not closed:
        ctx.defects.add("missing closing boundary")
        if current is not None:
            part.children.append(
                _parse_entity(ctx, current, part.end, part.depth + 1, child_default)
            )


# -- Content-Transfer-Encoding (RFC 2045 section 6) -----------------------------------------

_B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_B64_IGNORED = _B64_CHARS + b" \t\r\n"
_NOT_B64_RE = re.compile(rb"[^A-Za-z0-9+/]+")


def _a2b_base64_lenient(data: bytes, defects: DefectLog) -> bytes:
    cleaned = _NOT_B64_RE.sub(b"", data)
    remainder = len(cleaned) % 4
    if remainder:
        defects.add("truncated base64")
        if remainder == 1:
            cleaned = cleaned[:-1]
        cleaned += b"=" * (-len(cleaned) % 4)
    try:
        return binascii.a2b_base64(cleaned)
    except binascii.Error:
        return b""


def decode_base64(data: bytes, defects: DefectLog) -> bytes:
    """Decode base64 (RFC 2045 6.8), tolerating garbage, bad padding and truncation."""
    if data.translate(None, _B64_IGNORED):
        defects.add("invalid base64 characters")
    head = data.rstrip(b" \t\r\n=")
    if b"=" in head:
        # Padding inside the data: some mailers concatenate separately encoded chunks.
        defects.add("base64 padding inside data")
        return b"".join(_a2b_base64_lenient(line, defects) for line in data.split(b"\n"))
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return _a2b_base64_lenient(data, defects)


def decode_transfer(data: bytes, encoding: str, defects: DefectLog) -> bytes:
    """Undo a Content-Transfer-Encoding; unknown encodings pass the bytes through."""
    if encoding in _IDENTITY:
        return data
    if encoding == "base64":
        return decode_base64(data, defects)
    if encoding == "quoted-printable":
        # RFC 2045 6.7: a2b_qp handles "=XX", soft line breaks "=\r\n" and bare "=\n".
        return binascii.a2b_qp(data)
    defects.add(f"unknown transfer encoding {encoding[:40]}")
    return data
