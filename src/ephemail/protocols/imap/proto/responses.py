"""Server responses as wire bytes (RFC 3501 section 7), from typed values.

Every function returns complete bytes, CRLF included where it ends a response line. Strings
are written as atoms, quoted strings or literals as their content requires (`astring`,
`string`, `nstring`); mailbox names are encoded to modified UTF-7 (RFC 3501 section 5.1.3).
FETCH responses are assembled from item bytes: `fetch_response(7, [fetch_uid(12),
fetch_flags(flags), fetch_section(attribute, data)])`; ENVELOPE and BODYSTRUCTURE come
pre-serialised from the store and are passed through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Final, Literal

from ephemail.domain.imap import HIERARCHY_DELIMITER, INBOX, Section
from ephemail.protocols.imap.proto import utf7
from ephemail.protocols.imap.proto.commands import (
    BodySection,
    FetchItem,
    StatusItem,
)
from ephemail.protocols.imap.proto.grammar import ASTRING_CHARS, LIST_CHARS, MONTHS

__all__ = [
    "Status",
    "appenduid_code",
    "astring",
    "bad",
    "bye",
    "capability_code",
    "capability_response",
    "continuation",
    "copyuid_code",
    "enabled_response",
    "exists",
    "expunge",
    "fetch_body_structure",
    "fetch_envelope",
    "fetch_flags",
    "fetch_internaldate",
    "fetch_response",
    "fetch_section",
    "fetch_size",
    "fetch_uid",
    "flag_list",
    "flags_response",
    "format_datetime",
    "id_response",
    "list_response",
    "literal",
    "lsub_response",
    "mailbox_name",
    "namespace_response",
    "no",
    "nstring",
    "ok",
    "partial_data",
    "permanentflags_code",
    "quoted",
    "recent",
    "search_response",
    "section_name",
    "section_spec",
    "sequence_set_text",
    "status_response",
    "string",
    "tagged",
    "uidnext_code",
    "uidvalidity_code",
    "unseen_code",
    "untagged",
]

CRLF: Final = b"\r\n"
Status = Literal["OK", "NO", "BAD"]
_MAX_QUOTED: Final = 1024  # longer strings go out as literals

# ---------------------------------------------------------------------------------------
# Strings
# ---------------------------------------------------------------------------------------


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _quotable(data: bytes) -> bool:
    """Whether a quoted string can carry `data`: 7-bit, no NUL/CR/LF (RFC 3501 section 9)."""
    return len(data) <= _MAX_QUOTED and all(
        0 < byte < 0x80 and byte not in b"\r\n" for byte in data
    )


def quoted(value: str | bytes) -> bytes:
    """A quoted string; the caller makes sure the content is quotable."""
    data = _as_bytes(value)
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def literal(value: str | bytes, *, non_synchronising: bool = False) -> bytes:
    """A literal `{n}` CRLF data (`{n+}` for RFC 7888 when asked, for commands only)."""
    data = _as_bytes(value)
    marker = b"+}" if non_synchronising else b"}"
    return b"{" + str(len(data)).encode("ascii") + marker + CRLF + data


def string(value: str | bytes, *, non_synchronising: bool = False) -> bytes:
    """A quoted string when possible, otherwise a literal (8-bit, CR/LF, long)."""
    data = _as_bytes(value)
    if _quotable(data):
        return quoted(data)
    return literal(data, non_synchronising=non_synchronising)


def astring(value: str | bytes, *, non_synchronising: bool = False) -> bytes:
    """An atom when the value is one, otherwise `string`."""
    data = _as_bytes(value)
    if data and all(byte in ASTRING_CHARS for byte in data) and data.upper() != b"NIL":
        return data
    return string(data, non_synchronising=non_synchronising)


def nstring(value: str | bytes | None, *, non_synchronising: bool = False) -> bytes:
    """NIL for None, otherwise `string`."""
    if value is None:
        return b"NIL"
    return string(value, non_synchronising=non_synchronising)


def mailbox_name(name: str, *, non_synchronising: bool = False) -> bytes:
    """A mailbox name in modified UTF-7, as an astring (RFC 3501 section 5.1.3)."""
    return astring(utf7.encode(name), non_synchronising=non_synchronising)


def list_mailbox(pattern: str, *, non_synchronising: bool = False) -> bytes:
    """A LIST pattern (list-mailbox): an atom with % and * allowed, else a string."""
    data = utf7.encode(pattern).encode("ascii")
    if data and all(byte in LIST_CHARS for byte in data):
        return data
    return string(data, non_synchronising=non_synchronising)


def flag_list(flags: Iterable[str]) -> bytes:
    """`(flag flag ...)`."""
    return b"(" + " ".join(flags).encode("ascii") + b")"


def format_datetime(moment: datetime) -> str:
    """RFC 3501 date-time: `dd-Mon-yyyy hh:mm:ss +zzzz` (day padded with a space)."""
    offset = moment.utcoffset()
    minutes = 0 if offset is None else int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return (
        f"{moment.day:2d}-{MONTHS[moment.month - 1]}-{moment.year:04d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} "
        f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
    )


def sequence_set_text(numbers: Iterable[int]) -> str:
    """Numbers in compact sequence-set form, sorted: [1, 2, 3, 7] -> "1:3,7"."""
    ordered = sorted(set(numbers))
    parts: list[str] = []
    index = 0
    while index < len(ordered):
        start = end = ordered[index]
        while index + 1 < len(ordered) and ordered[index + 1] == end + 1:
            index += 1
            end = ordered[index]
        parts.append(str(start) if start == end else f"{start}:{end}")
        index += 1
    return ",".join(parts)


# ---------------------------------------------------------------------------------------
# Status responses and response codes (RFC 3501 section 7.1)
# ---------------------------------------------------------------------------------------


def _clean_text(text: str) -> bytes:
    """Response text is one line of 7-bit text: CR/LF and 8-bit are replaced."""
    cleaned = text.replace("\r", " ").replace("\n", " ")
    return cleaned.encode("ascii", "replace") or b"Done"


def _status_line(prefix: bytes, status: str, text: str, code: str | None) -> bytes:
    out = prefix + b" " + status.encode("ascii") + b" "
    if code:
        out += b"[" + _clean_text(code) + b"] "
    return out + _clean_text(text) + CRLF


def tagged(tag: str, status: Status, text: str, code: str | None = None) -> bytes:
    """`tag OK|NO|BAD [code] text`."""
    return _status_line(tag.encode("ascii"), status, text, code)


def ok(tag: str, text: str, code: str | None = None) -> bytes:
    """`tag OK [code] text`."""
    return tagged(tag, "OK", text, code)


def no(tag: str, text: str, code: str | None = None) -> bytes:
    """`tag NO [code] text`."""
    return tagged(tag, "NO", text, code)


def bad(tag: str | None, text: str, code: str | None = None) -> bytes:
    """`tag BAD [code] text`, or `* BAD text` when there is no usable tag."""
    return _status_line((tag or "*").encode("ascii"), "BAD", text, code)


def untagged(
    status: Literal["OK", "NO", "BAD", "PREAUTH", "BYE"], text: str, code: str | None = None
) -> bytes:
    """`* OK|NO|BAD|PREAUTH|BYE [code] text` (greeting, warnings, SELECT data)."""
    return _status_line(b"*", status, text, code)


def bye(text: str) -> bytes:
    """`* BYE text` (RFC 3501 section 7.1.5)."""
    return untagged("BYE", text)


def continuation(text: str = "Ready for literal data") -> bytes:
    """A continuation request `+ text` (RFC 3501 section 7.5); `+ ` when text is empty."""
    return b"+ " + text.replace("\r", " ").replace("\n", " ").encode("ascii", "replace") + CRLF


def uidnext_code(uidnext: int) -> str:
    """`UIDNEXT n`."""
    return f"UIDNEXT {uidnext}"


def uidvalidity_code(uidvalidity: int) -> str:
    """`UIDVALIDITY n`."""
    return f"UIDVALIDITY {uidvalidity}"


def unseen_code(sequence_number: int) -> str:
    """`UNSEEN n`: the first unseen message's sequence number."""
    return f"UNSEEN {sequence_number}"


def permanentflags_code(flags: Iterable[str]) -> str:
    """`PERMANENTFLAGS (...)`; include `\\*` when clients may create keywords."""
    return "PERMANENTFLAGS (" + " ".join(flags) + ")"


def capability_code(capabilities: Iterable[str]) -> str:
    """`CAPABILITY IMAP4rev1 ...`."""
    return "CAPABILITY " + " ".join(capabilities)


def copyuid_code(
    uidvalidity: int, source_uids: Sequence[int], destination_uids: Sequence[int]
) -> str:
    """`COPYUID v source-set dest-set` (RFC 4315 section 3); both lists in the same order.

    Written as comma lists in order (not compressed) because the two sets are matched
    by position."""
    return (
        f"COPYUID {uidvalidity} "
        f"{_ordered_uid_set(source_uids)} {_ordered_uid_set(destination_uids)}"
    )


def _ordered_uid_set(uids: Sequence[int]) -> str:
    """Runs of consecutive UIDs compressed, order kept (RFC 4315 uid-set)."""
    parts: list[str] = []
    index = 0
    while index < len(uids):
        start = end = uids[index]
        while index + 1 < len(uids) and uids[index + 1] == end + 1:
            index += 1
            end = uids[index]
        parts.append(str(start) if start == end else f"{start}:{end}")
        index += 1
    return ",".join(parts)


def appenduid_code(uidvalidity: int, uid: int) -> str:
    """`APPENDUID v uid` (RFC 4315 section 3)."""
    return f"APPENDUID {uidvalidity} {uid}"


# Response codes without arguments (RFC 3501 7.1, RFC 5530, RFC 4315, RFC 7162).
TRYCREATE: Final = "TRYCREATE"
ALREADYEXISTS: Final = "ALREADYEXISTS"
NONEXISTENT: Final = "NONEXISTENT"
CANNOT: Final = "CANNOT"
AUTHENTICATIONFAILED: Final = "AUTHENTICATIONFAILED"
TOOBIG: Final = "TOOBIG"
READ_ONLY: Final = "READ-ONLY"
READ_WRITE: Final = "READ-WRITE"
CLOSED: Final = "CLOSED"
ALERT: Final = "ALERT"
PARSE: Final = "PARSE"
LIMIT: Final = "LIMIT"
NOPERM: Final = "NOPERM"
PRIVACYREQUIRED: Final = "PRIVACYREQUIRED"
SERVERBUG: Final = "SERVERBUG"
UNAVAILABLE: Final = "UNAVAILABLE"
OVERQUOTA: Final = "OVERQUOTA"

# ---------------------------------------------------------------------------------------
# Untagged data (RFC 3501 section 7.2 - 7.4)
# ---------------------------------------------------------------------------------------


def exists(count: int) -> bytes:
    """`* n EXISTS`."""
    return b"* %d EXISTS\r\n" % count


def recent(count: int) -> bytes:
    """`* n RECENT`."""
    return b"* %d RECENT\r\n" % count


def expunge(sequence_number: int) -> bytes:
    """`* n EXPUNGE`."""
    return b"* %d EXPUNGE\r\n" % sequence_number


def flags_response(flags: Iterable[str]) -> bytes:
    """`* FLAGS (...)`."""
    return b"* FLAGS " + flag_list(flags) + CRLF


def capability_response(capabilities: Iterable[str]) -> bytes:
    """`* CAPABILITY ...`."""
    return b"* CAPABILITY " + " ".join(capabilities).encode("ascii") + CRLF


def enabled_response(capabilities: Iterable[str]) -> bytes:
    """`* ENABLED ...` (RFC 5161); names may be none."""
    names = " ".join(capabilities)
    return b"* ENABLED" + (b" " + names.encode("ascii") if names else b"") + CRLF


def _list_like(kind: bytes, attributes: Iterable[str], name: str, delimiter: str | None) -> bytes:
    delimiter_bytes = b"NIL" if delimiter is None else quoted(delimiter)
    encoded = b"INBOX" if name == INBOX else mailbox_name(name)
    return (
        b"* " + kind + b" " + flag_list(attributes) + b" " + delimiter_bytes + b" " + encoded + CRLF
    )


def list_response(
    attributes: Iterable[str], name: str, delimiter: str | None = HIERARCHY_DELIMITER
) -> bytes:
    """`* LIST (\\HasNoChildren) "/" name` (RFC 3501 section 7.2.2)."""
    return _list_like(b"LIST", attributes, name, delimiter)


def lsub_response(
    attributes: Iterable[str], name: str, delimiter: str | None = HIERARCHY_DELIMITER
) -> bytes:
    """`* LSUB (...) "/" name` (RFC 3501 section 7.2.3)."""
    return _list_like(b"LSUB", attributes, name, delimiter)


def status_response(name: str, values: Mapping[StatusItem, int]) -> bytes:
    """`* STATUS name (MESSAGES 3 UIDNEXT 9)` in the order of `values`."""
    items = " ".join(f"{item.value} {value}" for item, value in values.items())
    return b"* STATUS " + mailbox_name(name) + b" (" + items.encode("ascii") + b")" + CRLF


def search_response(numbers: Iterable[int]) -> bytes:
    """`* SEARCH 2 3 7` (sorted; `* SEARCH` when nothing matched)."""
    text = " ".join(str(number) for number in sorted(numbers))
    return b"* SEARCH" + (b" " + text.encode("ascii") if text else b"") + CRLF


_Namespace = Sequence[tuple[str, str | None]] | None


def namespace_response(
    personal: _Namespace, other_users: _Namespace = None, shared: _Namespace = None
) -> bytes:
    """`* NAMESPACE (("" "/")) NIL NIL` (RFC 2342 section 5)."""

    def one(namespaces: _Namespace) -> bytes:
        if not namespaces:
            return b"NIL"
        inner = b"".join(
            b"(" + string(prefix) + b" " + (b"NIL" if delim is None else quoted(delim)) + b")"
            for prefix, delim in namespaces
        )
        return b"(" + inner + b")"

    return b"* NAMESPACE " + one(personal) + b" " + one(other_users) + b" " + one(shared) + CRLF


def id_response(parameters: Mapping[str, str | None] | None) -> bytes:
    """`* ID ("name" "ephemail" ...)` or `* ID NIL` (RFC 2971 section 3.2)."""
    if not parameters:
        return b"* ID NIL\r\n"
    inner = b" ".join(string(key) + b" " + nstring(value) for key, value in parameters.items())
    return b"* ID (" + inner + b")" + CRLF


# ---------------------------------------------------------------------------------------
# FETCH (RFC 3501 section 7.4.2)
# ---------------------------------------------------------------------------------------


def fetch_response(sequence_number: int, items: Iterable[bytes]) -> bytes:
    """`* n FETCH (item item ...)` from already serialised items."""
    return b"* %d FETCH (" % sequence_number + b" ".join(items) + b")" + CRLF


def fetch_flags(flags: Iterable[str]) -> bytes:
    """`FLAGS (...)`."""
    return b"FLAGS " + flag_list(flags)


def fetch_uid(uid: int) -> bytes:
    """`UID n`."""
    return b"UID %d" % uid


def fetch_internaldate(moment: datetime) -> bytes:
    """`INTERNALDATE "dd-Mon-yyyy hh:mm:ss +zzzz"`."""
    return b'INTERNALDATE "' + format_datetime(moment).encode("ascii") + b'"'


def fetch_size(size: int) -> bytes:
    """`RFC822.SIZE n`."""
    return b"RFC822.SIZE %d" % size


def fetch_envelope(envelope: bytes) -> bytes:
    """`ENVELOPE (...)` from the stored wire form."""
    return b"ENVELOPE " + envelope


def fetch_body_structure(structure: bytes, *, extensible: bool) -> bytes:
    """`BODYSTRUCTURE (...)` when extensible, else `BODY (...)`, from the stored form."""
    return (b"BODYSTRUCTURE " if extensible else b"BODY ") + structure


def section_spec(section: Section) -> bytes:
    """The inside of `BODY[...]`: `1.2.HEADER.FIELDS (SUBJECT FROM)`, `TEXT`, `` (empty)."""
    parts = [b".".join(b"%d" % number for number in section.part)] if section.part else []
    if section.text is not None:
        text = section.text.value
        if section.fields:
            names = b" ".join(astring(name) for name in section.fields)
            parts.append(text.encode("ascii") + b" (" + names + b")")
        else:
            parts.append(text.encode("ascii"))
    return b".".join(parts)


def section_name(attribute: BodySection | FetchItem) -> bytes:
    """The name a FETCH response gives a body item: `BODY[1.HEADER.FIELDS (SUBJECT)]<0>`
    for BODY[...] and BODY.PEEK[...] (peek is not echoed; `<origin>` only for a partial
    request), and `RFC822`, `RFC822.HEADER`, `RFC822.TEXT` for those items."""
    if isinstance(attribute, FetchItem):
        return attribute.value.encode("ascii")
    name = b"BODY[" + section_spec(attribute.section) + b"]"
    if attribute.partial is not None:
        name += b"<%d>" % attribute.partial[0]
    return name


def partial_data(attribute: BodySection, data: bytes) -> bytes:
    """The bytes of a section the client asked for, after its `<origin.length>`."""
    if attribute.partial is None:
        return data
    origin, length = attribute.partial
    return data[origin : origin + length]


def fetch_section(attribute: BodySection | FetchItem, data: bytes | None) -> bytes:
    """`BODY[...]<origin> {n}` CRLF data, or `... NIL` for a missing section. `data` is
    the section already cut by `partial_data`. Body data is always sent as a literal."""
    return section_name(attribute) + b" " + (b"NIL" if data is None else literal(data))
