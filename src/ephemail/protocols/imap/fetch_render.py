"""FETCH responses (RFC 3501 sections 6.4.5 and 7.4.2): what a FETCH needs from the store,
and one complete untagged ``* seq FETCH (...)`` line per message.

Pure: no I/O and no store access. The session asks `fetch_needs` what to load, applies
the implicit ``\\Seen`` of a non-PEEK body fetch itself (read-write folders only), and
then calls `render_fetch` once per message.

Wire conventions:

- Items come back in the order the client asked for them. UID FETCH always answers UID
  (RFC 3501 section 6.4.8): when the client did not ask for it, it comes first.
- FLAGS lists the system flags in a fixed order, then ``\\Recent``, then the keywords
  sorted, so the same state always gives the same bytes.
- INTERNALDATE is sent in UTC: ``" 1-Nov-2026 19:20:57 +0000"`` (the day padded with a
  space, as `proto.responses.format_datetime` writes every date-time).
- ENVELOPE, BODY and BODYSTRUCTURE are the wire forms stored at ingest, sent as they are.
- Body sections are cut from the raw bytes by `mime.imap.cut_section` and always sent as
  a literal ``{n}\\r\\n`` (8-bit safe). A section that does not exist (a part number out
  of range, HEADER of a part that is not a message/rfc822) is sent as the empty quoted
  string ``""``, as Dovecot and Cyrus do (`proto.responses.fetch_section` would send NIL;
  it is not used because it copies the body twice). With ``<origin.count>`` the response names
  ``BODY[section]<origin>`` (RFC 3501 section 7.4.2) and holds at most `count` octets
  from `origin`; an origin beyond the end gives an empty literal ``{0}``.
- RFC822, RFC822.HEADER and RFC822.TEXT are answered under those names.

Cost: the plan for an attribute list is computed once (the session passes the same
tuple for every message) and the FLAGS text of each distinct flag set is cached, so a
``FETCH 1:* (FLAGS)`` line costs about a microsecond. `render_fetch` returns `bytes`:
the whole message (BODY[], RFC822, and their partials, taken as memoryviews) is copied
exactly once, into that response; a sub-section is one slice made by `cut_section` plus
that copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ephemail.domain.imap import (
    ANSWERED,
    DELETED,
    DRAFT,
    EMPTY_STRUCTURE,
    FLAGGED,
    RECENT,
    SEEN,
    ImapContent,
    ImapMessage,
    Section,
    SectionText,
)
from ephemail.mime.imap import cut_section
from ephemail.protocols.imap.proto.commands import BodySection, FetchAttribute, FetchItem
from ephemail.protocols.imap.proto.grammar import MONTHS
from ephemail.protocols.imap.proto.responses import section_name

__all__ = [
    "FetchNeeds",
    "fetch_needs",
    "flags_list",
    "internal_date_text",
    "render_fetch",
]


@dataclass(frozen=True, slots=True)
class FetchNeeds:
    """What the store must provide for a FETCH.

    `structure`: ENVELOPE, BODY, BODYSTRUCTURE or any body section was asked for, so the
    session must load `ImapContent` (service `fetch`). `raw`: a body section or RFC822*
    was asked for, so the content must include the raw bytes (`fetch(..., raw=True)`).
    `sets_seen`: BODY[...] without PEEK, RFC822 or RFC822.TEXT was asked for, which sets
    ``\\Seen`` (RFC 3501 section 6.4.5) unless the folder is read-only.
    `sections`: the stored structure is read (ENVELOPE, BODY, BODYSTRUCTURE, or a section
    other than the whole message); when False, `BODY[]`/`RFC822` are cut from the raw
    bytes alone and the store need not read the structure columns.
    """

    structure: bool
    raw: bool
    sets_seen: bool
    sections: bool = True


_STRUCTURE_ITEMS = frozenset({FetchItem.ENVELOPE, FetchItem.BODY, FetchItem.BODYSTRUCTURE})
_RAW_ITEMS = frozenset({FetchItem.RFC822, FetchItem.RFC822_HEADER, FetchItem.RFC822_TEXT})
_SEEN_ITEMS = frozenset({FetchItem.RFC822, FetchItem.RFC822_TEXT})


def fetch_needs(attrs: Sequence[FetchAttribute]) -> FetchNeeds:
    """What the store must load for these FETCH attributes (see `FetchNeeds`)."""
    structure = raw = sets_seen = sections = False
    for attr in attrs:
        if isinstance(attr, BodySection):
            structure = raw = True
            sets_seen = sets_seen or not attr.peek
            sections = sections or attr.section != _WHOLE
        elif attr in _RAW_ITEMS:
            structure = raw = True
            sets_seen = sets_seen or attr in _SEEN_ITEMS
            sections = sections or attr is not FetchItem.RFC822
        elif attr in _STRUCTURE_ITEMS:
            structure = sections = True
    return FetchNeeds(structure=structure, raw=raw, sets_seen=sets_seen, sections=sections)


# -- FLAGS ----------------------------------------------------------------------------------

_SYSTEM_ORDER = (ANSWERED, FLAGGED, DELETED, SEEN, DRAFT)
_FLAGS_CACHE: dict[tuple[frozenset[str], bool], bytes] = {}
_FLAGS_CACHE_MAX = 4096


def _flags_text(flags: frozenset[str], recent: bool) -> bytes:
    ordered = [flag for flag in _SYSTEM_ORDER if flag in flags]
    if recent:
        ordered.append(RECENT)
    ordered.extend(sorted(flag for flag in flags if flag not in _SYSTEM_ORDER and flag != RECENT))
    return b"(" + " ".join(ordered).encode("utf-8", "replace") + b")"


def flags_list(flags: frozenset[str], recent: bool) -> bytes:
    """The parenthesised flag list of FLAGS (RFC 3501 section 7.4.2), ``\\Recent`` added
    when `recent`: ``(\\Flagged \\Seen \\Recent $Label)``. Cached per distinct flag set."""
    key = (flags, recent)
    text = _FLAGS_CACHE.get(key)
    if text is None:
        if len(_FLAGS_CACHE) >= _FLAGS_CACHE_MAX:
            _FLAGS_CACHE.clear()
        text = _FLAGS_CACHE[key] = _flags_text(flags, recent)
    return text


# -- INTERNALDATE ---------------------------------------------------------------------------


_MONTHS = tuple(month.encode("ascii") for month in MONTHS)


def internal_date_text(value: datetime) -> bytes:
    """The quoted date-time of INTERNALDATE (RFC 3501 section 9), in UTC:
    ``" 1-Nov-2026 09:05:00 +0000"``. A naive datetime is taken as UTC.

    The same text as ``proto.responses.format_datetime`` of the UTC time (a test holds
    them equal), written directly because it is three times faster, which matters for
    ``FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE)`` over a large folder."""
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return b'"%2d-%s-%04d %02d:%02d:%02d +0000"' % (
        value.day,
        _MONTHS[value.month - 1],
        value.year,
        value.hour,
        value.minute,
        value.second,
    )


# -- the plan of one attribute list ---------------------------------------------------------

# Item kinds of a compiled plan.
_UID = 0
_FLAGS = 1
_INTERNALDATE = 2
_SIZE = 3
_ENVELOPE = 4
_BODY = 5
_BODYSTRUCTURE = 6
_SECTION = 7

_WHOLE = Section()
_HEADER = Section(text=SectionText.HEADER)
_TEXT = Section(text=SectionText.TEXT)

_SIMPLE_KINDS: dict[FetchItem, int] = {
    FetchItem.UID: _UID,
    FetchItem.FLAGS: _FLAGS,
    FetchItem.INTERNALDATE: _INTERNALDATE,
    FetchItem.RFC822_SIZE: _SIZE,
    FetchItem.ENVELOPE: _ENVELOPE,
    FetchItem.BODY: _BODY,
    FetchItem.BODYSTRUCTURE: _BODYSTRUCTURE,
}
_RFC822_SECTIONS: dict[FetchItem, Section] = {
    FetchItem.RFC822: _WHOLE,
    FetchItem.RFC822_HEADER: _HEADER,
    FetchItem.RFC822_TEXT: _TEXT,
}


@dataclass(frozen=True, slots=True)
class _Step:
    """One response item: its kind, the bytes that name it (``b"BODY[1]<0> "``), and for
    body sections the section and the partial."""

    kind: int
    label: bytes
    section: Section = _WHOLE
    partial: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    steps: tuple[_Step, ...]
    needs: FetchNeeds
    has_uid: bool
    has_flags: bool


def _compile(attrs: Sequence[FetchAttribute]) -> _Plan:
    steps: list[_Step] = []
    for attr in attrs:
        if isinstance(attr, BodySection):
            label = section_name(attr) + b" "
            steps.append(_Step(_SECTION, label, attr.section, attr.partial))
        elif attr in _RFC822_SECTIONS:
            steps.append(_Step(_SECTION, section_name(attr) + b" ", _RFC822_SECTIONS[attr]))
        else:
            steps.append(_Step(_SIMPLE_KINDS[attr], attr.value.encode("ascii") + b" "))
    kinds = {step.kind for step in steps}
    return _Plan(tuple(steps), fetch_needs(attrs), _UID in kinds, _FLAGS in kinds)


_last_attrs: object = None
_last_plan: _Plan | None = None


def _plan_of(attrs: Sequence[FetchAttribute]) -> _Plan:
    """The compiled plan, reused while the caller passes the same attribute object."""
    global _last_attrs, _last_plan
    if attrs is _last_attrs and _last_plan is not None:
        return _last_plan
    plan = _compile(attrs)
    if isinstance(attrs, tuple):  # immutable: safe to recognise by identity
        _last_attrs, _last_plan = attrs, plan
    return plan


# -- rendering ------------------------------------------------------------------------------

_EMPTY_STRING = b'""'
_NO_STRUCTURE = EMPTY_STRUCTURE
_SP = b" "
_END = b")\r\n"


def _section_bytes(
    raw: bytes, sections: str, section: Section, partial: tuple[int, int] | None
) -> list[bytes | memoryview]:
    """The literal (or ``""`` when the section does not exist) of one body section."""
    # BODY[] and RFC822 are the whole message: no lookup needed.
    data = raw if section == _WHOLE else cut_section(raw, sections, section)
    if data is None:
        return [_EMPTY_STRING]
    view: bytes | memoryview = data
    if partial is not None:
        origin, count = partial
        view = memoryview(data)[origin : origin + count]
    return [b"{%d}\r\n" % len(view), view]


def render_fetch(
    seq: int,
    message: ImapMessage,
    attrs: Sequence[FetchAttribute],
    content: ImapContent | None,
    *,
    recent: bool,
    include_uid: bool,
    include_flags: bool = False,
) -> bytes:
    """One complete untagged FETCH response, ``* seq FETCH (...)\\r\\n``.

    `message` carries the flags to report (the session applies an implicit ``\\Seen``
    before calling); `recent` adds ``\\Recent`` to FLAGS. `include_uid` puts UID first
    unless the client asked for it (UID FETCH, RFC 3501 section 6.4.8). `include_flags`
    appends FLAGS unless asked for: the session sets it when this FETCH set ``\\Seen``
    (RFC 3501 section 6.4.5, "SHOULD be included").

    `content` must be given when ``fetch_needs(attrs).structure``, with `raw` when
    ``fetch_needs(attrs).raw``; otherwise ValueError (a caller bug, not a client error:
    skip messages the store no longer has instead).
    """
    plan = _plan_of(attrs)
    out: list[bytes | memoryview] = [b"* %d FETCH (" % seq]
    if include_uid and not plan.has_uid:
        out.append(b"UID %d" % message.uid)
        out.append(_SP)
    structure = _NO_STRUCTURE
    raw = b""
    if plan.needs.structure:
        if content is None:
            raise ValueError("FETCH of ENVELOPE/BODY/sections needs the message content")
        structure = content.structure
        if plan.needs.raw:
            if content.raw is None:
                raise ValueError("FETCH of body sections needs the raw message")
            raw = content.raw
    for step in plan.steps:
        kind = step.kind
        out.append(step.label)
        if kind == _FLAGS:
            out.append(flags_list(message.flags, recent))
        elif kind == _UID:
            out.append(b"%d" % message.uid)
        elif kind == _SIZE:
            out.append(b"%d" % message.size)
        elif kind == _INTERNALDATE:
            out.append(internal_date_text(message.internal_date))
        elif kind == _SECTION:
            out.extend(_section_bytes(raw, structure.sections, step.section, step.partial))
        else:
            if kind == _ENVELOPE:
                out.append(structure.envelope)
            elif kind == _BODY:
                out.append(structure.body)
            else:
                out.append(structure.bodystructure)
        out.append(_SP)
    if include_flags and not plan.has_flags:
        out.append(b"FLAGS ")
        out.append(flags_list(message.flags, recent))
        out.append(_SP)
    if len(out) > 1:  # every item ends with a separator: replace the last one
        out[-1] = _END
    else:
        out.append(_END)
    return b"".join(out)
