"""Safe header handling: splitting a header block, unfolding, RFC 2047 encoded-words,
MIME parameters with RFC 2231 continuations, and address lists.

Everything here works on untrusted input, is linear in its size, and never raises.
"""

from __future__ import annotations

import binascii
import re
from urllib.parse import unquote_to_bytes

from ephemail.mime.charsets import decode_bytes, decode_fallback
from ephemail.mime.defects import DefectLog

# Limits on one header block. Values beyond MAX_RAW_VALUE bytes are cut before any decoding;
# decoded display values are cut at MAX_VALUE characters.
MAX_HEADERS = 1000
MAX_RAW_VALUE = 64 * 1024
MAX_VALUE = 16 * 1024
MAX_PARAMS = 64
MAX_ADDRESSES = 1000
MAX_FILENAME = 255

Header = tuple[str, str]

# RFC 5322 section 2.2: a field is a name of printable US-ASCII except ":" (obsolete syntax,
# section 4.5, allows white space before the colon), then the value up to the end of the line,
# then any continuation lines, which start with white space (section 2.2.3).
_FIELD_RE = re.compile(rb"([!-9;-~]+)[ \t]*:()[^\n]*(?:\n|\Z)")
# The end of a run of continuation lines: a newline not followed by white space.
_FIELD_END_RE = re.compile(rb"\n(?![ \t])")
# The same over decoded text, capturing the whole field so a gap can be detected.
_FIELD_STR_RE = re.compile(r"(([!-9;-~]+)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)(?:\n|\Z))")
# First blank line: the end of the header block (RFC 5322 section 2.1). Bare LF is accepted.
_BLANK_LINE_RE = re.compile(rb"\n\r?\n")
_CONTINUATION_RE = re.compile(rb"[ \t][^\n]*(?:\n|\Z)")
_LINE_RE = re.compile(rb"[^\n]*(?:\n|\Z)")


def split_header_block(
    raw: bytes, start: int, end: int, defects: DefectLog, *, unixfrom: bool = False
) -> tuple[list[Header], int, int]:
    """Split the header block of the entity at raw[start:end].

    Returns ``(headers, header_end, body_start)``: the unfolded fields in order as
    ``(name, value)`` with the value undecoded (no RFC 2047) but turned into text (UTF-8 per
    RFC 6532, else Latin-1), the offset just past the last header line, and the offset of the
    body. A line that is neither a field nor a continuation ends the block early, as
    mail readers do, and is kept as the start of the body.
    """
    if start >= end:
        return [], start, start
    if raw.startswith(b"\n", start, end):
        return [], start, start + 1
    if raw.startswith(b"\r\n", start, end):
        return [], start, start + 2
    m = _BLANK_LINE_RE.search(raw, start, end)
    if m is None:
        header_end = body_start = end
    else:
        header_end = m.start() + 1
        body_start = m.end()

    if header_end - start <= MAX_RAW_VALUE:
        fast = _split_fast(raw[start:header_end])
        if fast is not None:
            return fast, header_end, body_start

    headers: list[Header] = []
    pos = start
    match = _FIELD_RE.match
    if unixfrom and raw.startswith(b"From ", start, header_end):
        line = _LINE_RE.match(raw, start, header_end)
        if line is not None:  # mbox "From " separator line, not a header
            pos = line.end()
    while pos < header_end:
        field = match(raw, pos, header_end)
        if field is None:
            cont = _CONTINUATION_RE.match(raw, pos, header_end) if pos == start else None
            if cont is not None:
                defects.add("continuation line before first header")
                pos = cont.end()
                continue
            # Not a header line: the header block ends here and the body starts.
            defects.add("missing header/body separator")
            return headers, pos, pos
        if len(headers) >= MAX_HEADERS:
            # Stop looking: the rest of the block up to the blank line is skipped.
            defects.add("too many headers")
            return headers, header_end, body_start
        value_start = field.end(2)
        pos = field.end()
        if pos < header_end and raw[pos] in b" \t":
            # Continuation lines follow (RFC 5322 section 2.2.3); find where they stop.
            nxt = _FIELD_END_RE.search(raw, pos - 1, header_end)
            pos = header_end if nxt is None else nxt.end()
        value = raw[value_start : min(pos, value_start + MAX_RAW_VALUE + 1)]
        headers.append(_field(field.group(1), value, defects))
    return headers, header_end, body_start


def _split_fast(block: bytes) -> list[Header] | None:
    """Split a small, well-formed UTF-8 header block in a few C calls; None if it is not."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields = _FIELD_STR_RE.findall(text)
    if len(fields) > MAX_HEADERS or sum(len(f[0]) for f in fields) != len(text):
        return None  # a gap: some line is not a field; let the careful path report it
    return [
        (
            name,
            (value.replace("\r\n", "").replace("\n", "") if "\n" in value else value).strip(
                " \t\r"
            ),
        )
        for _, name, value in fields
    ]


def _field(name_bytes: bytes, value: bytes, defects: DefectLog) -> Header:
    """Unfold and decode one field, cutting over-long values at a UTF-8 character boundary."""
    name = name_bytes.decode("ascii")
    if value.endswith(b"\n"):
        value = value[:-1]
    if len(value) > MAX_RAW_VALUE:
        defects.add(f"header too long: {name[:40]}")
        cut = MAX_RAW_VALUE
        while cut > MAX_RAW_VALUE - 4 and (value[cut] & 0xC0) == 0x80:
            cut -= 1
        value = value[:cut]
    if b"\n" in value:
        # RFC 5322 section 2.2.3: unfolding removes the CRLF before the white space.
        value = value.replace(b"\r\n", b"").replace(b"\n", b"")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = value.decode("latin-1")
        defects.add(f"8-bit header not utf-8: {name[:40]}")
    return name, text.strip(" \t\r")


# -- safety ---------------------------------------------------------------------------------

# C0 controls except TAB, DEL and C1 controls (these last appear when Latin-1 decodes junk).
_UNSAFE = dict.fromkeys([*range(0x00, 0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0)])
_UNSAFE_NO_TAB = {**_UNSAFE, 0x09: " "}


def make_safe(value: str, *, keep_tab: bool = True) -> str:
    """Remove control characters so a header value is safe to display and store."""
    if value.isprintable():
        return value
    return value.translate(_UNSAFE if keep_tab else _UNSAFE_NO_TAB)


def cap(value: str, limit: int = MAX_VALUE) -> str:
    """Cut a decoded value to `limit` characters."""
    return value if len(value) <= limit else value[:limit]


# -- RFC 2047 encoded-words -----------------------------------------------------------------

# RFC 2047 section 2: =?charset?encoding?encoded-text?=. Encoded text should not hold "?" or
# spaces; spaces are tolerated because broken mailers emit them.
_EW_RE = re.compile(r"=\?([^?\s]{1,64})\?([QqBb])\?([^?]*)\?=")


def _ew_bytes(encoding: str, text: str, defects: DefectLog) -> bytes | None:
    data = text.encode("utf-8", "replace")
    if encoding in "Bb":
        data = data.strip()
        data += b"=" * (-len(data) % 4)
        try:
            return binascii.a2b_base64(data)
        except binascii.Error:
            defects.add("invalid base64 in encoded-word")
            return None
    # RFC 2047 section 4.2: "_" is space, "=XX" a hex octet.
    return binascii.a2b_qp(data, header=True)


def decode_words(value: str, defects: DefectLog) -> str:
    """Decode RFC 2047 encoded-words in a header value.

    White space between adjacent encoded-words is dropped (RFC 2047 section 6.2), and
    adjacent words in the same charset are joined before decoding, so a multi-byte character
    split across two words comes out whole.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    pos = 0
    for m in _EW_RE.finditer(value):
        gap = value[pos : m.start()]
        if pending_charset is None or gap.strip(" \t\r\n"):
            if pending_charset is not None:
                out.append(decode_bytes(bytes(pending), pending_charset, defects))
                pending.clear()
                pending_charset = None
            out.append(gap)
        data = _ew_bytes(m.group(2), m.group(3), defects)
        if data is None:
            if pending_charset is not None:
                out.append(decode_bytes(bytes(pending), pending_charset, defects))
                pending.clear()
                pending_charset = None
            out.append(m.group(0))
        else:
            charset = m.group(1).split("*", 1)[0].lower()  # RFC 2231 section 5 language tag
            if charset != pending_charset and pending_charset is not None:
                out.append(decode_bytes(bytes(pending), pending_charset, defects))
                pending.clear()
            pending_charset = charset
            pending += data
        pos = m.end()
    if pending_charset is not None:
        out.append(decode_bytes(bytes(pending), pending_charset, defects))
    out.append(value[pos:])
    return "".join(out)


# -- MIME parameters (RFC 2045 section 5.1, RFC 2231) ---------------------------------------

# One ";"-separated segment: quoted strings (which may hold ";") or other characters.
_SEGMENT_RE = re.compile(r'(?:"(?:[^"\\]|\\[\s\S]?)*(?:"|\Z)|[^;"])+')
_COMMENT_RE = re.compile(r"\([^()]*\)")
_PATH_SEP_RE = re.compile(r"[/\\]")
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")


def _unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        value = value[1:-1] if len(value) > 1 and value.endswith('"') else value[1:]
        # Only the two escapes mailers really produce; Windows paths keep their backslashes.
        value = value.replace('\\"', '"').replace("\\\\", "\\")
    return value


def parse_params(segments: list[str], defects: DefectLog) -> dict[str, str]:
    """Parse `name=value` parameter segments into a dict with lowercase names.

    RFC 2231 extended (`name*=charset'lang'%XX`) and continued (`name*0*=`, `name*1=`)
    parameters are reassembled and decoded; they win over a plain `name=` of the same name.
    """
    params: dict[str, str] = {}
    extended: dict[str, list[tuple[int, bool, str]]] = {}
    for segment in segments[:MAX_PARAMS]:
        key, eq, value = segment.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            if segment.strip():
                defects.add("malformed parameter")
            continue
        if "*" not in key:
            params.setdefault(key, _unquote(value))
            continue
        encoded = key.endswith("*")
        if encoded:
            key = key[:-1]
        base, star, section = key.partition("*")
        if not star:
            number = 0
        elif section.isdecimal() and len(section) <= 3:
            number = int(section)
        else:
            defects.add("malformed parameter")
            continue
        extended.setdefault(base, []).append((number, encoded, _unquote(value)))
    if len(segments) > MAX_PARAMS:
        defects.add("too many parameters")
    for base, pieces in extended.items():
        params[base] = _join_rfc2231(pieces, defects)
    return params


def _join_rfc2231(pieces: list[tuple[int, bool, str]], defects: DefectLog) -> str:
    """Reassemble RFC 2231 section 3 continuations and decode section 4 charset values."""
    pieces.sort(key=lambda piece: piece[0])
    charset: str | None = None
    data = bytearray()
    seen: set[int] = set()
    for index, (number, encoded, value) in enumerate(pieces):
        if number in seen:
            continue
        seen.add(number)
        if encoded:
            if index == 0 and value.count("'") >= 2:
                charset, _lang, value = value.split("'", 2)
            data += unquote_to_bytes(value)
        else:
            data += value.encode("utf-8", "replace")
    if charset:
        return decode_bytes(bytes(data), charset, defects)
    return decode_fallback(bytes(data))


def split_segments(value: str) -> list[str]:
    """Split a structured header value on ";" outside quoted strings."""
    return _SEGMENT_RE.findall(value)


def parse_content_type(
    value: str, default: tuple[str, str], defects: DefectLog
) -> tuple[str, str, dict[str, str]]:
    """Parse a Content-Type value (RFC 2045 section 5.1) into type, subtype and params.

    An invalid type falls back to `default` (RFC 2045 section 5.2 says text/plain).
    """
    if '"' not in value and "(" not in value and "*" not in value:
        # Fast path for the common unquoted form, e.g. "text/plain; charset=utf-8".
        main, _, rest = value.partition(";")
        maintype, slash, subtype = main.strip().lower().partition("/")
        if slash and _TOKEN_RE.fullmatch(maintype) and _TOKEN_RE.fullmatch(subtype):
            params: dict[str, str] = {}
            if rest:
                for segment in rest.split(";", MAX_PARAMS):
                    key, eq, val = segment.partition("=")
                    key = key.strip().lower()
                    if eq and key:
                        params.setdefault(key, val.strip())
                    elif segment.strip():
                        defects.add("malformed parameter")
            return maintype, subtype, params
    segments = split_segments(value)
    if not segments or value.lstrip().startswith(";"):
        defects.add("invalid content-type")
        return default[0], default[1], parse_params(segments, defects)
    main = segments[0]
    if "(" in main:
        main = _COMMENT_RE.sub("", main)
    maintype, slash, subtype = main.strip().lower().partition("/")
    maintype = maintype.strip()
    subtype = subtype.strip()
    params = parse_params(segments[1:], defects)
    if not slash or not _TOKEN_RE.fullmatch(maintype) or not _TOKEN_RE.fullmatch(subtype):
        defects.add("invalid content-type")
        return default[0], default[1], params
    return maintype, subtype, params


def parse_disposition(value: str, defects: DefectLog) -> tuple[str, dict[str, str]]:
    """Parse a Content-Disposition value (RFC 2183) into its lowercase type and params."""
    segments = split_segments(value)
    if not segments:
        return "", {}
    if "=" in segments[0]:  # no type, only parameters
        return "", parse_params(segments, defects)
    return segments[0].strip().lower(), parse_params(segments[1:], defects)


def clean_filename(value: str, defects: DefectLog) -> str | None:
    """Decode a filename (RFC 2047 words tolerated) and reduce it to a safe base name."""
    name = decode_words(value, defects)
    name = make_safe(name, keep_tab=False)
    if "/" in name or "\\" in name:
        name = _PATH_SEP_RE.split(name)[-1]
    name = name.strip()
    if name in (".", ".."):
        return None
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) < 16:
            name = stem[: MAX_FILENAME - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_FILENAME]
    return name or None


# -- addresses (RFC 5322 section 3.4) -------------------------------------------------------

# Tokens of an address list: quoted strings, comments (one level; deeper ones degrade to
# text), angle addresses, the separators , : ; and runs of other text.
_ADDR_TOKEN_RE = re.compile(
    r'"(?:[^"\\]|\\[\s\S]?)*(?:"|\Z)'
    r"|\((?:[^()\\]|\\[\s\S]?)*(?:\)|\Z)"
    r"|<[^<>]*(?:>|\Z)"
    r"|[,:;]"
    r'|[^",:;(<]+'
    r"|[\s\S]"
)
_NAME_SPECIALS_RE = re.compile(r'[,;:<>@()"\\]')


def _format_address(name: str, addr: str) -> str:
    if not addr:
        return name
    if not name:
        return addr
    if _NAME_SPECIALS_RE.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{addr}>"


# Characters that need the full tokenizer; without them "," always separates addresses.
_ADDR_COMPLEX_RE = re.compile(r'[":;()\\]')


def _parse_simple_addresses(value: str, defects: DefectLog) -> list[str]:
    """Fast path of `parse_addresses` for lists without quotes, comments or groups."""
    results: list[str] = []
    for piece in value.split(",", MAX_ADDRESSES):
        name, lt, rest = piece.partition("<")
        if lt:
            addr = "".join(rest.partition(">")[0].split())
            name = " ".join(name.split())
            if "=?" in name:
                name = " ".join(decode_words(name, defects).split())
        else:
            addr = "".join(name.split())
            name = ""
        if addr or name:
            results.append(make_safe(_format_address(name, addr), keep_tab=False))
    if len(results) > MAX_ADDRESSES:
        defects.add("too many addresses")
        del results[MAX_ADDRESSES:]
    return results


def parse_addresses(value: str, defects: DefectLog) -> list[str]:
    """Split an address-list header into one display string per address.

    Each result is ``Name <addr>`` (name decoded from RFC 2047 and quoted when it holds
    specials) or the bare address. Commas inside quoted strings, comments and angle
    brackets do not split; group names (``team: a@x, b@y;``) are dropped (RFC 5322 3.4).
    """
    if not _ADDR_COMPLEX_RE.search(value):
        return _parse_simple_addresses(value, defects)
    results: list[str] = []
    phrase: list[str] = []
    comments: list[str] = []
    angle: str | None = None

    def finish() -> None:
        nonlocal angle
        text = "".join(phrase)
        if angle is not None:
            addr = angle
            if ":" in addr:  # obsolete source route (RFC 5322 section 4.4)
                addr = addr.rsplit(":", 1)[1]
            name = text
        else:
            addr = text
            name = ""
        addr = "".join(addr.split())
        name = " ".join(name.split())
        if not name and comments:
            name = " ".join(" ".join(comments).split())
        if "=?" in name:
            name = " ".join(decode_words(name, defects).split())
        if (addr or name) and len(results) < MAX_ADDRESSES:
            results.append(make_safe(_format_address(name, addr), keep_tab=False))
        phrase.clear()
        comments.clear()
        angle = None

    for token in _ADDR_TOKEN_RE.findall(value):
        first = token[0]
        if first in ",;":
            finish()
        elif first == ":":
            if angle is None:
                phrase.clear()  # a group's display name
                comments.clear()
            else:
                phrase.append(token)
        elif first == '"':
            phrase.append(_unquote(token))
        elif first == "(":
            inner = token[1:-1] if token.endswith(")") else token[1:]
            comments.append(inner)
            phrase.append(" ")
        elif first == "<":
            inner = token[1:-1] if token.endswith(">") else token[1:]
            if angle is None:
                angle = inner.strip()
        else:
            phrase.append(token)
    finish()
    if len(results) >= MAX_ADDRESSES:
        defects.add("too many addresses")
    return results
