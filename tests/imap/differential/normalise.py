"""Turn one command's responses into comparable text lines, erasing only what the RFCs
leave to the server. Each rule names its reason:

1. Human-readable text after `OK`/`NO`/`BAD`/`BYE` is dropped; the status and the
   response code stay (RFC 3501 section 7.1: the text is for humans; clients act on the
   status and the code). Untagged `OK` lines without a code carry only text, so they go.
2. UIDVALIDITY values (in `[UIDVALIDITY]`, `[APPENDUID]`, `[COPYUID]` and STATUS) become
   `<v>`: each server picks its own (RFC 3501 section 2.3.1.1 only asks that it change
   when UIDs are reused).
3. CAPABILITY lists (untagged, or as a response code) are dropped: each server advertises
   what it implements (RFC 3501 section 7.2.1); the scripts only use the common ones.
   So are the codes of extensions only one server has: MAILBOXID (OBJECTID, RFC 8474,
   pymap only), HIGHESTMODSEQ/NOMODSEQ (CONDSTORE) and CLOSED (QRESYNC, RFC 7162
   section 3.2.11: sent by servers with QRESYNC when SELECT closes a mailbox).
4. Untagged responses are compared as a sorted multiset, except EXPUNGE whose order is
   meaning (each renumbers the next, RFC 3501 section 7.4.1): servers may send untagged
   data in any order and at any time (RFC 3501 sections 5.2 and 7).
5. FETCH: several FETCH responses for one message are merged (RFC 3501 section 7.4.2:
   a server may split or repeat them, and send FLAGS unsolicited), each item is a
   line of its own (`* 2 FETCH FLAGS (...)`) so their order does not matter, FLAGS
   and PERMANENTFLAGS are sets (a flag list has no order), SEARCH results are sorted
   (RFC 3501 section 7.2.5 gives no order).
6. Quoted strings and literals are the same string (RFC 3501 section 4.3): both parse
   to bytes.
7. In BODY/BODYSTRUCTURE the MIME type, subtype, transfer encoding, parameter names,
   disposition type and the `charset` value are lowercased: they are case-insensitive
   (RFC 2045 sections 5.1 and 6.1, RFC 2183 section 2, RFC 2046 section 4.1.2) and IMAP
   passes them on as strings (RFC 3501 section 7.4.2).
8. INTERNALDATE is compared as an instant (converted to UTC): both servers got the same
   date-time in APPEND, and a zone is a presentation of the instant.
9. Sequence and UID sets in response codes (COPYUID) are expanded to explicit lists:
   `1:3` and `1,2,3` are the same set (RFC 4315 section 3).
10. Flags, item names and code names are uppercased: RFC 3501 section 9, "Except as
    noted otherwise, all alphabetic characters are case-insensitive" (RFC 9051 section
    2.3.2 says it of keywords explicitly).
11. Keywords are the server's to list: the untagged FLAGS response shows only the
    system flags but \\Recent, which no client may set (RFC 3501 section 7.2.6: "at a
    minimum, the system-defined flags ... Flags other than the system flags can also
    exist, depending on server implementation"), PERMANENTFLAGS only the system
    flags (whether keywords may be created, `\\*`, is the server's choice, RFC 3501
    section 7.1), and FLAGS outside
    SELECT/EXAMINE, sent when a server's set of keywords grows, is dropped. Whether
    a new keyword sticks is still compared, in the FETCH FLAGS after STORE.
12. The header list of a `BODY[HEADER.FIELDS (...)]` answer is compared as a sorted
    set: RFC 3501 section 7.4.2 does not fix the order in which it is echoed.
13. INBOX is case-insensitive (RFC 3501 section 5.1): it is shown as "INBOX" whether
    sent as an atom or a quoted string, in any case.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.imap.differential.wire import Atom, Value, parse_response_code, parse_values

_STATUS_WORDS = {"OK", "NO", "BAD", "BYE", "PREAUTH"}
_UIDVALIDITY = "<v>"
# Rule 11: `\*` and `\Recent` are listed by some servers and not by others.
_NOT_LISTED = {"\\*", "\\RECENT"}
_DROPPED_CODES = {"CAPABILITY", "MAILBOXID", "HIGHESTMODSEQ", "NOMODSEQ", "CLOSED"}


def render(value: Value) -> str:
    """One canonical text form for a parsed value."""
    if value is None:
        return "NIL"
    if isinstance(value, Atom):
        return value.text
    if isinstance(value, bytes):
        text = value.decode("utf-8", "backslashreplace")
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r")
        return '"' + escaped.replace("\n", "\\n") + '"'
    return "(" + " ".join(render(item) for item in value) + ")"


def _upper_atom(value: Value) -> Value:
    return Atom(value.text.upper()) if isinstance(value, Atom) else value


def _flag_set(value: Value, *, system_only: bool = False) -> str:
    flags = value if isinstance(value, tuple) else (value,)
    shown = [render(_upper_atom(flag)) for flag in flags]
    if system_only:
        shown = [flag for flag in shown if flag.startswith("\\") and flag not in _NOT_LISTED]
    return "(" + " ".join(sorted(shown)) + ")"


def _expand_set(text: str) -> str:
    """`1:3,7` → `1,2,3,7` (`a:b` in either order covers the same numbers)."""
    numbers: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        if not high:
            numbers.append(int(low))
            continue
        first, last = int(low), int(high)
        step = 1 if last >= first else -1
        numbers.extend(range(first, last + step, step))
    return ",".join(str(number) for number in numbers)


def _lower(value: Value) -> Value:
    if isinstance(value, bytes):
        return value.lower()
    return value


def _params(value: Value) -> Value:
    """Body parameter list: names lowercased, the charset value too (rule 7)."""
    if not isinstance(value, tuple):
        return value
    out: list[Value] = []
    for index in range(0, len(value) - 1, 2):
        name, param = _lower(value[index]), value[index + 1]
        if name == b"charset":
            param = _lower(param)
        out.extend((name, param))
    return tuple(out)


def _disposition(value: Value) -> Value:
    if isinstance(value, tuple) and len(value) == 2:
        return (_lower(value[0]), _params(value[1]))
    return value


def normalise_body(value: Value) -> Value:
    """BODY / BODYSTRUCTURE with rule 7 applied at every level."""
    if not isinstance(value, tuple) or not value:
        return value
    if isinstance(value[0], tuple):  # multipart: parts..., subtype, [params, disp, ...]
        count = 0
        while count < len(value) and isinstance(value[count], tuple):
            count += 1
        parts = [normalise_body(part) for part in value[:count]]
        rest = list(value[count:])
        if rest:
            rest[0] = _lower(rest[0])
        if len(rest) > 1:
            rest[1] = _params(rest[1])
        if len(rest) > 2:
            rest[2] = _disposition(rest[2])
        return tuple(parts + rest)
    fields = list(value)
    media_type = _lower(fields[0])
    fields[0] = media_type
    if len(fields) > 1:
        fields[1] = _lower(fields[1])
    if len(fields) > 2:
        fields[2] = _params(fields[2])
    if len(fields) > 5:
        fields[5] = _lower(fields[5])
    extension_at = 7
    if media_type == b"text":
        extension_at = 8
    elif media_type == b"message" and fields[1] == b"rfc822" and len(fields) > 9:
        fields[8] = normalise_body(fields[8])
        extension_at = 10
    if len(fields) > extension_at + 1:
        fields[extension_at + 1] = _disposition(fields[extension_at + 1])
    return tuple(fields)


def _internal_date(value: Value) -> str:
    if not isinstance(value, bytes):
        return render(value)
    moment = datetime.strptime(value.decode().strip(), "%d-%b-%Y %H:%M:%S %z")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fetch_item(name: str, value: Value) -> str:
    if name == "FLAGS":
        return _flag_set(value)
    if name in ("BODY", "BODYSTRUCTURE"):
        return render(normalise_body(value))
    if name == "INTERNALDATE":
        return _internal_date(value)
    return render(value)


def _item_key(name: str) -> str:
    """`BODY[HEADER.FIELDS (SUBJECT FROM)]` → `BODY[HEADER.FIELDS (FROM SUBJECT)]` (rule 12)."""
    match = re.fullmatch(r"(.*HEADER\.FIELDS(?:\.NOT)? \()([^)]*)(\).*)", name)
    if match is None:
        return name
    return match.group(1) + " ".join(sorted(match.group(2).split())) + match.group(3)


def _code(code: tuple[str, list[Value]] | None) -> str:
    if code is None:
        return ""
    name, args = code
    if name in _DROPPED_CODES:
        return ""
    shown: list[str]
    if name == "UIDVALIDITY":
        shown = [_UIDVALIDITY]
    elif name == "APPENDUID" and args:
        shown = [_UIDVALIDITY, *(render(arg) for arg in args[1:])]
    elif name == "COPYUID" and len(args) == 3:
        shown = [_UIDVALIDITY, *(_expand_set(render(arg)) for arg in args[1:])]
    elif name == "PERMANENTFLAGS" and args:
        shown = [_flag_set(args[0], system_only=True)]
    else:
        shown = [render(arg) for arg in args]
    return " [" + " ".join([name, *shown]) + "]"


def _status_items(value: Value) -> str:
    if not isinstance(value, tuple):
        return render(value)
    pairs = []
    for index in range(0, len(value) - 1, 2):
        name = render(_upper_atom(value[index]))
        item = _UIDVALIDITY if name == "UIDVALIDITY" else render(value[index + 1])
        pairs.append(f"{name} {item}")
    return "(" + " ".join(sorted(pairs)) + ")"


def _mailbox_name(value: Value) -> str:
    """INBOX is case-insensitive (RFC 3501 section 5.1); other names are exact."""
    text = render(value if not isinstance(value, Atom) else value.text.encode())
    return '"INBOX"' if text.upper() == '"INBOX"' else text


def normalise(responses: list[bytes], tag: bytes, command: bytes = b"") -> list[str]:
    """The comparable lines of one command's responses (see the module rules)."""
    selecting = command.upper().startswith((b"SELECT ", b"EXAMINE "))
    ordered: list[str] = []
    expunges: list[str] = []
    fetches: dict[int, dict[str, str]] = {}
    tagged: list[str] = []
    for response in responses:
        if response.startswith(tag + b" "):
            tagged.append(_status_line(tag.decode(), response, len(tag) + 1))
            continue
        if response.startswith(b"+"):
            ordered.append("+")
            continue
        if not response.startswith(b"* "):
            ordered.append("?? " + render(response))
            continue
        head = re.match(rb"\* (\S+)(?: (\S+))?", response)
        assert head is not None
        first = head.group(1).decode(errors="replace").upper()
        second = (head.group(2) or b"").decode(errors="replace").upper()
        if first in _STATUS_WORDS:
            line = _status_line("*", response, 2)
            if first != "OK" or "[" in line:
                ordered.append(line)
            continue
        if first == "CAPABILITY" or (first == "FLAGS" and not selecting):
            continue
        if first.isdigit() and second == "FETCH":
            values = parse_values(response, head.end())
            items = values[0] if values and isinstance(values[0], tuple) else ()
            merged = fetches.setdefault(int(first), {})
            for index in range(0, len(items) - 1, 2):
                name_value = items[index]
                name = name_value.text.upper() if isinstance(name_value, Atom) else "?"
                merged[_item_key(name)] = _fetch_item(name, items[index + 1])
            continue
        if first.isdigit() and second == "EXPUNGE":
            expunges.append(f"* {first} EXPUNGE")
            continue
        if first.isdigit():
            ordered.append(f"* {first} {second}")
            continue
        values = parse_values(response, 2 + len(head.group(1)))
        ordered.append(_untagged(first, values))
    for number, shown_items in fetches.items():
        ordered.extend(f"* {number} FETCH {name} {text}" for name, text in shown_items.items())
    return sorted(ordered) + expunges + tagged


def _status_line(prefix: str, response: bytes, position: int) -> str:
    status_end = response.find(b" ", position)
    if status_end == -1:
        status_end = len(response.rstrip(b"\r\n"))
    status = response[position:status_end].decode(errors="replace").upper()
    code = parse_response_code(response, status_end) if status_end < len(response) else None
    return f"{prefix} {status}{_code(code)}"


def _untagged(name: str, values: list[Value]) -> str:
    if name == "FLAGS" and values:
        return "* FLAGS " + _flag_set(values[0], system_only=True)
    if name == "SEARCH":
        numbers = sorted(int(value.text) for value in values if isinstance(value, Atom))
        return "* SEARCH" + "".join(f" {number}" for number in numbers)
    if name in ("LIST", "LSUB") and len(values) == 3:
        attributes, delimiter, mailbox = values
        return f"* {name} {_flag_set(attributes)} {render(delimiter)} {_mailbox_name(mailbox)}"
    if name == "STATUS" and len(values) == 2:
        return f"* STATUS {_mailbox_name(values[0])} {_status_items(values[1])}"
    return f"* {name} " + " ".join(render(value) for value in values)
