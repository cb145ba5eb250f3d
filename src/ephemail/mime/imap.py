"""IMAP views of a raw message, computed once at ingest: ENVELOPE, BODY, BODYSTRUCTURE
(RFC 3501 section 7.4.2) as wire bytes, and the part offsets that let `cut_section` serve
any ``BODY[section]`` (RFC 3501 section 6.4.5) by slicing the raw bytes, without a parse.

Conventions (one rule, applied everywhere):

- Media type, subtype, parameter names, disposition type and transfer encoding are sent in
  lowercase (all case-insensitive by RFC 2045 section 5.1 / RFC 2183 section 2); parameter
  values and every other string are sent as they appear in the message. RFC 2231
  continuations are joined; an extended (charset-tagged) parameter keeps its ``*`` name
  and its still-encoded ``charset'lang'%XX`` value (RFC 2231 section 4), as Dovecot does,
  so the wire stays 7-bit for well-formed messages.
- ENVELOPE strings are the unfolded raw header values: RFC 2047 encoded-words are left for
  the client to decode. 8-bit values (RFC 6532 UTF-8, or Latin-1 read as such) are sent as
  UTF-8 literals.
- Sizes are octets of the body as it is in the raw bytes; line counts are the number of
  lines of that body (a last line without a line ending counts).
- A multipart whose boundary never appears is shown as one text/plain part holding the
  whole body (the web view shows it as text too), because RFC 3501 requires a multipart
  body to hold at least one part.
- An encoded message/rfc822 (forbidden by RFC 2046 section 5.2.1, left opaque by the
  splitter) is sent in the basic form, without envelope and inner structure.

Nothing here raises on any input.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote_from_bytes

from ephemail.domain.imap import ImapStructure, Section, SectionText
from ephemail.mime.defects import DefectLog
from ephemail.mime.headers import split_header_block, split_segments
from ephemail.mime.parts import MimePart, parse_message

NIL = b"NIL"
# Strings up to this many octets are quoted when they can be; longer ones are literals.
MAX_QUOTED = 1024

# Node kinds in the `sections` tree.
_LEAF = 0
_MULTIPART = 1
_MESSAGE = 2

# RFC 3501 section 9: a quoted string holds 7-bit characters other than NUL, CR and LF.
_LINE_BREAK_RE = re.compile(r"[\r\n]")
_ENVELOPE_FIELDS = ("to", "cc", "bcc")
_EMPTY_ENVELOPE = b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
_US_ASCII = b'("charset" "us-ascii")'
_ENTITY_HEADERS = ("content-id", "content-description")


# -- strings --------------------------------------------------------------------------------


def imap_string(value: str) -> bytes:
    """A string in IMAP wire form: quoted when possible, else a literal (RFC 3501 4.3).

    NUL cannot appear in either form and is dropped.
    """
    if "\x00" in value:
        value = value.replace("\x00", "")
    if value.isascii() and len(value) <= MAX_QUOTED and not _LINE_BREAK_RE.search(value):
        if "\\" in value or '"' in value:
            value = value.replace("\\", "\\\\").replace('"', '\\"')
        return b'"' + value.encode("ascii") + b'"'
    data = value.encode("utf-8", "replace")
    return b"{%d}\r\n" % len(data) + data


def _token(value: str) -> bytes:
    """`imap_string` for the short values that repeat (types, encodings, names): cached."""
    return _cached_string(value) if len(value) <= 64 else imap_string(value)


_cached_string = lru_cache(maxsize=1024)(imap_string)


def imap_nstring(value: str | None) -> bytes:
    """NIL for None, else `imap_string`."""
    return NIL if value is None else imap_string(value)


# -- ENVELOPE (RFC 3501 section 7.4.2) ------------------------------------------------------

_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\[\s\S])*)(?:"|\Z)')
_ATOM_RE = re.compile(r'[^ \t\r\n",:;()<>]+')
_ESCAPE_RE = re.compile(r"\\([\s\S])")

Address = tuple[str | None, str | None, str | None, str | None]


def _skip_comment(value: str, pos: int) -> int:
    """The offset just past the comment opened at `pos` (nested, with escapes)."""
    depth = 0
    n = len(value)
    while pos < n:
        c = value[pos]
        if c == "\\":
            pos += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    return n


def _split_addr_spec(spec: str) -> tuple[str, str]:
    """``local@domain`` into mailbox and host; an unquoted quoted local part."""
    local, at, domain = spec.rpartition("@")
    if not at:
        local, domain = spec, ""
    if len(local) >= 2 and local.startswith('"') and local.endswith('"'):
        local = _ESCAPE_RE.sub(r"\1", local[1:-1])
    return local, domain


def parse_envelope_addresses(value: str) -> list[Address]:
    """An RFC 5322 section 3.4 address list as IMAP addresses ``(name, adl, mailbox, host)``.

    Names stay as written (RFC 2047 words not decoded, quoted strings unquoted). A group
    ``team: a@x, b@y;`` becomes ``(None, None, "team", None)``, its members, then
    ``(None, None, None, None)`` (RFC 3501 section 7.4.2). A comment names an address that
    has no display name. Tolerant: junk yields best-effort entries, never an exception.
    """
    out: list[Address] = []
    words: list[str] = []  # the phrase, quoted strings unquoted
    spec: list[str] = []  # the same tokens as written, for a bare addr-spec
    comments: list[str] = []
    angle: str | None = None
    in_group = False

    def finish() -> None:
        nonlocal angle
        adl: str | None = None
        if angle is not None:
            route = angle.strip()
            if route.startswith("@") and ":" in route:  # obsolete source route (RFC 5322 4.4)
                adl, _, route = route.partition(":")
            mailbox, host = _split_addr_spec("".join(route.split()))
            name = " ".join(words) or " ".join(comments)
            keep = True
        else:
            mailbox, host = _split_addr_spec("".join(spec))
            name = " ".join(comments)
            keep = bool(spec)
        if keep and len(out) < 1000:
            out.append((name or None, adl, mailbox, host))
        words.clear()
        spec.clear()
        comments.clear()
        angle = None

    pos = 0
    n = len(value)
    while pos < n:
        c = value[pos]
        if c in " \t\r\n":
            pos += 1
        elif c == '"':
            m = _QUOTED_RE.match(value, pos)
            assert m is not None  # the pattern always matches at a quote
            words.append(_ESCAPE_RE.sub(r"\1", m.group(1)))
            spec.append(m.group(0))
            pos = m.end()
        elif c == "(":
            end = _skip_comment(value, pos)
            inner = value[pos + 1 : end - 1 if value[end - 1 : end] == ")" else end]
            comments.append(" ".join(inner.split()))
            pos = end
        elif c == "<":
            end = value.find(">", pos)
            end = n if end < 0 else end
            if angle is None:
                angle = value[pos + 1 : end]
            pos = end + 1
        elif c == ",":
            finish()
            pos += 1
        elif c == ":":
            if not in_group:
                out.append((None, None, " ".join(words), None))
                in_group = True
                words.clear()
                spec.clear()
                comments.clear()
            pos += 1
        elif c == ";":
            finish()
            if in_group:
                out.append((None, None, None, None))
                in_group = False
            pos += 1
        else:
            m = _ATOM_RE.match(value, pos)
            if m is None:  # a stray ")" or ">"
                pos += 1
                continue
            words.append(m.group(0))
            spec.append(m.group(0))
            pos = m.end()
    finish()
    if in_group:
        out.append((None, None, None, None))
    return out


def _address_list(value: str | None) -> bytes | None:
    """The wire form of an address list header, or None when absent or empty."""
    if not value:
        return None
    addresses = parse_envelope_addresses(value)
    if not addresses:
        return None
    return (
        b"("
        + b"".join(
            b"("
            + b" ".join((imap_nstring(name), imap_nstring(adl), imap_nstring(mb), imap_nstring(h)))
            + b")"
            for name, adl, mb, h in addresses
        )
        + b")"
    )


def envelope(part: MimePart) -> bytes:
    """The ENVELOPE of the message whose header block is `part`'s (RFC 3501 7.4.2).

    Sender and Reply-To default to From when absent or empty.
    """
    first = part.first_headers()
    from_ = _address_list(first.get("from"))
    sender = _address_list(first.get("sender")) or from_
    reply_to = _address_list(first.get("reply-to")) or from_
    fields = [
        imap_nstring(first.get("date")),
        imap_nstring(first.get("subject")),
        from_ or NIL,
        sender or NIL,
        reply_to or NIL,
    ]
    fields.extend(_address_list(first.get(name)) or NIL for name in _ENVELOPE_FIELDS)
    fields.append(imap_nstring(first.get("in-reply-to")))
    fields.append(imap_nstring(first.get("message-id")))
    return b"(" + b" ".join(fields) + b")"


# -- BODY / BODYSTRUCTURE (RFC 3501 section 7.4.2, RFC 2045, 2183, 2231, 3066, 2557) ----------

_UNQUOTE_RE = re.compile(r'\\(["\\])')
_PARAM_NAME_RE = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_MAX_PARAMS = 64


def _unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        value = value[1:-1] if len(value) > 1 and value.endswith('"') else value[1:]
        if "\\" in value:
            value = _UNQUOTE_RE.sub(r"\1", value)
    return value


def _wire_params(segments: list[str]) -> list[tuple[str, str]]:
    """Parameters as sent: names lowercase, values unquoted, RFC 2231 continuations joined.

    An extended parameter (``name*=`` or ``name*0*=``) comes out as ``name*`` with its value
    still encoded; unencoded pieces joined to it are percent-encoded (RFC 2231 section 4.1).
    """
    result: list[tuple[str, str]] = []
    seen: set[str] = set()
    continued: dict[str, list[tuple[int, bool, str]]] = {}
    for segment in segments[:_MAX_PARAMS]:
        key, eq, value = segment.partition("=")
        key = key.strip().lower()
        if not eq or not _PARAM_NAME_RE.fullmatch(key):
            continue
        value = _unquote(value)
        if "*" not in key:
            if key not in seen:
                seen.add(key)
                result.append((key, value))
            continue
        encoded = key.endswith("*")
        base, star, number = (key[:-1] if encoded else key).partition("*")
        if not base or (star and not (number.isdecimal() and len(number) <= 3)):
            continue
        pieces = continued.get(base)
        if pieces is None:
            pieces = continued[base] = []
            result.append((base, ""))  # placeholder keeps the parameter's position
        pieces.append((int(number) if star else 0, encoded, value))
    if not continued:
        return result
    joined: dict[str, tuple[str, str]] = {}
    for base, pieces in continued.items():
        pieces.sort(key=lambda piece: piece[0])
        unique = [p for i, p in enumerate(pieces) if i == 0 or p[0] != pieces[i - 1][0]]
        if any(encoded for _, encoded, _ in unique):
            parts = [
                v if encoded else quote_from_bytes(v.encode("utf-8", "replace"), safe="")
                for _, encoded, v in unique
            ]
            prefix = "" if unique[0][1] else "''"
            joined[base] = (base + "*", prefix + "".join(parts))
        else:
            joined[base] = (base, "".join(v for _, _, v in unique))
    out: list[tuple[str, str]] = []
    for name, value in result:
        if name in continued:
            replacement = joined.pop(name, None)
            if replacement is not None:
                out.append(replacement)
        else:
            out.append((name, value))
    return out


def _params_bytes(params: list[tuple[str, str]]) -> bytes:
    if not params:
        return NIL
    return b"(" + b" ".join(_token(k) + b" " + imap_string(v) for k, v in params) + b")"


def _content_type_params(part: MimePart, first: dict[str, str]) -> bytes:
    """body-fld-param of the Content-Type; text/plain; charset=us-ascii when there is
    no Content-Type at all (RFC 2045 section 5.2)."""
    value = first.get("content-type")
    if value is None:
        return _US_ASCII if part.maintype == "text" else NIL
    if ";" not in value:
        return NIL
    segments = split_segments(value)
    if not value.lstrip().startswith(";"):
        segments = segments[1:]
    return _params_bytes(_wire_params(segments))


def _disposition(first: dict[str, str]) -> bytes:
    """body-fld-dsp: ``("attachment" ("filename" "a.pdf"))`` or NIL (RFC 2183)."""
    value = first.get("content-disposition")
    if not value:
        return NIL
    segments = split_segments(value)
    if not segments or "=" in segments[0]:
        return NIL
    kind = segments[0].strip().lower()
    if not kind:
        return NIL
    return b"(" + _token(kind) + b" " + _params_bytes(_wire_params(segments[1:])) + b")"


def _language(first: dict[str, str]) -> bytes:
    """body-fld-lang: the Content-Language tags (RFC 3066) as a list, or NIL."""
    value = first.get("content-language")
    if not value:
        return NIL
    tags = [tag.strip() for tag in value.split(",")]
    tags = [tag for tag in tags if tag]
    if not tags:
        return NIL
    return b"(" + b" ".join(imap_string(tag) for tag in tags[:_MAX_PARAMS]) + b")"


def _extension(first: dict[str, str]) -> bytes:
    """body-fld-dsp, body-fld-lang and body-fld-loc (RFC 2183, RFC 3066, RFC 2557)."""
    return b" ".join(
        (_disposition(first), _language(first), imap_nstring(first.get("content-location")))
    )


def _lines(raw: bytes, start: int, end: int) -> int:
    if end <= start:
        return 0
    count = raw.count(b"\n", start, end)
    return count if raw[end - 1] == 0x0A else count + 1


# A sections node: [start, header_end, body_start, end, kind, children?] (JSON).
Node = list[Any]


def _synthetic_text(raw: bytes, start: int, end: int) -> tuple[bytes, bytes, Node]:
    """The text/plain part shown for a multipart without any found part."""
    fields = b'("text" "plain" %s NIL NIL "7bit" %d %d' % (
        _US_ASCII,
        end - start,
        _lines(raw, start, end),
    )
    return fields + b")", fields + b" NIL NIL NIL NIL)", [start, start, start, end, _LEAF]


def _structure(raw: bytes, part: MimePart) -> tuple[bytes, bytes, Node]:
    """BODY, BODYSTRUCTURE and the sections node of one entity."""
    first = part.first_headers()
    if part.maintype == "multipart":
        if part.children:
            built = [_structure(raw, child) for child in part.children]
        else:
            built = [_synthetic_text(raw, part.body_start, part.end)]
        subtype = _token(part.subtype)
        body = b"(" + b"".join(b for b, _, _ in built) + b" " + subtype + b")"
        structure = (
            b"("
            + b"".join(s for _, s, _ in built)
            + b" "
            + subtype
            + b" "
            + _content_type_params(part, first)
            + b" "
            + _extension(first)
            + b")"
        )
        node: Node = [
            part.start,
            part.header_end,
            part.body_start,
            part.end,
            _MULTIPART,
            [n for _, _, n in built],
        ]
        return body, structure, node

    common = b" ".join(
        (
            _token(part.maintype),
            _token(part.subtype),
            _content_type_params(part, first),
            imap_nstring(first.get("content-id")),
            imap_nstring(first.get("content-description")),
            _token(part.transfer_encoding),
            b"%d" % (part.end - part.body_start),
        )
    )
    node = [part.start, part.header_end, part.body_start, part.end, _LEAF]
    if part.maintype == "message" and part.children:
        inner = part.children[0]
        inner_body, inner_structure, inner_node = _structure(raw, inner)
        lines = b"%d" % _lines(raw, part.body_start, part.end)
        env = envelope(inner)
        body = b"(" + common + b" " + env + b" " + inner_body + b" " + lines + b")"
        structure = b"(" + common + b" " + env + b" " + inner_structure + b" " + lines
        node[4] = _MESSAGE
        node.append([inner_node])
    elif part.maintype == "text":
        lines = b"%d" % _lines(raw, part.body_start, part.end)
        body = b"(" + common + b" " + lines + b")"
        structure = b"(" + common + b" " + lines
    else:
        body = b"(" + common + b")"
        structure = b"(" + common
    structure += b" NIL " + _extension(first) + b")"
    return body, structure, node


def imap_structure(raw: bytes, root: MimePart) -> ImapStructure:
    """ENVELOPE, BODY, BODYSTRUCTURE and section offsets of `raw`, split as `root`.

    `root` must be `parse_message(raw)`. Never raises: on an internal error the message
    is described as one text/plain body.
    """
    try:
        body, structure, node = _structure(raw, root)
        return ImapStructure(
            envelope=envelope(root),
            body=body,
            bodystructure=structure,
            sections=json.dumps(node, separators=(",", ":")),
        )
    except Exception:  # a bug here must not lose a message at ingest
        return _fallback(raw)


def _fallback(raw: bytes) -> ImapStructure:
    body, structure, _ = _synthetic_text(raw, 0, len(raw))
    node = [0, 0, 0, len(raw), _LEAF]
    return ImapStructure(_EMPTY_ENVELOPE, body, structure, json.dumps(node))


def imap_structure_of(raw: bytes) -> ImapStructure:
    """`imap_structure` for a message not yet split."""
    try:
        root = parse_message(raw)
    except Exception:
        return _fallback(raw)
    return imap_structure(raw, root)


# -- BODY[section] (RFC 3501 section 6.4.5) -------------------------------------------------


def header_block(raw: bytes) -> bytes:
    """The header block of the whole message including the blank line that ends it
    (``RFC822.HEADER``, ``BODY[HEADER]``), as the splitter delimits it."""
    _, _, body_start = split_header_block(raw, 0, len(raw), DefectLog(), unixfrom=True)
    return raw[:body_start]


def _node(value: object) -> Node | None:
    if isinstance(value, list) and len(value) >= 5 and all(type(x) is int for x in value[:5]):
        return value
    return None


def _children(node: Node) -> list[Any]:
    if len(node) > 5 and isinstance(node[5], list):
        return node[5]
    return []


def _step_into_message(message: Node, number: int) -> Node | None:
    """Part `number` of a message entity: a child of its multipart body, or the single
    part 1 of a non-multipart message (its body)."""
    if message[4] == _MULTIPART:
        children = _children(message)
        return _node(children[number - 1]) if 0 < number <= len(children) else None
    return message if number == 1 else None


def _step(part: Node, number: int) -> Node | None:
    """Part `number` inside a body part: a multipart's child, or a part of the message a
    message/rfc822 part encapsulates."""
    if part[4] == _MULTIPART:
        return _step_into_message(part, number)
    if part[4] == _MESSAGE:
        inner = _inner(part)
        return None if inner is None else _step_into_message(inner, number)
    return None


def _inner(part: Node) -> Node | None:
    children = _children(part)
    return _node(children[0]) if part[4] == _MESSAGE and children else None


def _offsets(node: Node) -> tuple[int, int, int, int]:
    return node[0], node[1], node[2], node[3]


# One header field with its continuation lines (RFC 5322 section 2.2.3).
_FIELD_LINES_RE = re.compile(rb"[^\n]*(?:\n[ \t][^\n]*)*(?:\n|\Z)")


def _header_fields(
    raw: bytes, start: int, header_end: int, body_start: int, names: tuple[str, ...], keep: bool
) -> bytes:
    """HEADER.FIELDS (keep=True) or HEADER.FIELDS.NOT (keep=False) of one header block:
    the matching field lines as they are in the raw bytes, folding kept, then a blank line."""
    wanted = {name.strip().lower().encode("ascii", "replace") for name in names}
    eol = b"\n" if raw[header_end:body_start] == b"\n" else b"\r\n"
    out: list[bytes] = []
    for m in _FIELD_LINES_RE.finditer(raw, start, header_end):
        line = m.group(0)
        if not line:
            continue
        colon = line.find(b":")
        if colon <= 0:
            continue
        name = line[:colon].rstrip(b" \t")
        if not name or not all(0x21 <= c <= 0x7E for c in name):
            continue
        if (name.lower() in wanted) == keep:
            out.append(line if line.endswith(b"\n") else line + eol)
    out.append(eol)
    return b"".join(out)


def _message_text(raw: bytes, message: Node, section: Section) -> bytes | None:
    """HEADER, HEADER.FIELDS[.NOT], TEXT or the whole of a message entity."""
    start, header_end, body_start, end = _offsets(message)
    text = section.text
    if text is None:
        return raw[start:end]
    if text is SectionText.HEADER:
        return raw[start:body_start]
    if text is SectionText.TEXT:
        return raw[body_start:end]
    if text is SectionText.HEADER_FIELDS:
        return _header_fields(raw, start, header_end, body_start, section.fields, True)
    if text is SectionText.HEADER_FIELDS_NOT:
        return _header_fields(raw, start, header_end, body_start, section.fields, False)
    return None  # MIME needs a part number


def cut_section(raw: bytes, sections: str, section: Section) -> bytes | None:
    """The exact bytes of ``BODY[section]`` (RFC 3501 section 6.4.5), or None when the
    section does not exist (a part number out of range, HEADER/TEXT of a part that is not
    a message/rfc822, MIME without a part number). The server then answers with an empty
    string ``""`` (common practice; RFC 3501 does not say). ``<origin.count>`` is applied
    by the caller.

    `sections` is `ImapStructure.sections` of these `raw` bytes.
    """
    try:
        root = _node(json.loads(sections))
    except ValueError:
        return None
    if root is None:
        return None
    try:
        return _cut(raw, root, section)
    except (IndexError, TypeError, ValueError):
        return None


def _cut(raw: bytes, root: Node, section: Section) -> bytes | None:
    if not section.part:
        return _message_text(raw, root, section)
    if any(number < 1 for number in section.part):
        return None
    part = _step_into_message(root, section.part[0])
    for number in section.part[1:]:
        if part is None:
            return None
        part = _step(part, number)
    if part is None:
        return None
    start, _, body_start, end = _offsets(part)
    if section.text is None:
        return raw[body_start:end]
    if section.text is SectionText.MIME:
        return raw[start:body_start]
    inner = _inner(part)
    if inner is None:
        return None
    return _message_text(raw, inner, section)
