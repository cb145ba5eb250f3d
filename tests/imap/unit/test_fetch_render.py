"""FETCH responses rendered byte for byte (RFC 3501 sections 6.4.5, 7.4.2)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ephemail.domain.imap import ImapContent, ImapMessage, ImapStructure, Section, SectionText
from ephemail.mime.imap import imap_structure_of
from ephemail.protocols.imap.fetch_render import (
    FetchNeeds,
    fetch_needs,
    flags_list,
    internal_date_text,
    render_fetch,
)
from ephemail.protocols.imap.proto import ImapParser
from ephemail.protocols.imap.proto.commands import (
    BodySection,
    Fetch,
    FetchAttribute,
    FetchItem,
)
from ephemail.protocols.imap.proto.responses import format_datetime

CORPUS = Path(__file__).resolve().parents[2] / "corpus"

HEADER = (
    b'From: "Newsletter" <news@example.org>\r\n'
    b"To: reader@example.com\r\n"
    b"Subject: caf\xc3\xa9\r\n"
    b"Date: Wed, 3 Jan 2024 10:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="alt"\r\n'
    b"\r\n"
)
PART1_MIME = b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
PART1 = b"Hello plain w\xc3\xb6rld"
PART2_MIME = b"Content-Type: text/html; charset=utf-8\r\n\r\n"
PART2 = b"<p>Hello</p>"
TEXT = (
    b"--alt\r\n" + PART1_MIME + PART1 + b"\r\n--alt\r\n" + PART2_MIME + PART2 + b"\r\n--alt--\r\n"
)
RAW = HEADER + TEXT

WHEN = datetime(2026, 11, 1, 9, 5, 7, tzinfo=UTC)


def message(
    flags: frozenset[str] = frozenset(), uid: int = 42, size: int = len(RAW)
) -> ImapMessage:
    return ImapMessage(
        message_id="m-1",
        uid=uid,
        flags=flags,
        size=size,
        internal_date=WHEN,
        envelope_from="news@example.org",
    )


STRUCTURE = imap_structure_of(RAW)
CONTENT = ImapContent(message_id="m-1", structure=STRUCTURE, raw=RAW)
HAND_STRUCTURE = ImapStructure(
    envelope=b'(NIL "hi" NIL NIL NIL NIL NIL NIL NIL NIL)',
    body=b'("text" "plain" NIL NIL NIL "7bit" 2 1)',
    bodystructure=b'("text" "plain" NIL NIL NIL "7bit" 2 1 NIL NIL NIL NIL)',
    sections="[]",
)


def render(
    attrs: Sequence[FetchAttribute],
    *,
    msg: ImapMessage | None = None,
    content: ImapContent | None = CONTENT,
    recent: bool = False,
    include_uid: bool = False,
    include_flags: bool = False,
    seq: int = 7,
) -> bytes:
    return render_fetch(
        seq,
        msg or message(),
        attrs,
        content,
        recent=recent,
        include_uid=include_uid,
        include_flags=include_flags,
    )


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


# -- fetch_needs ----------------------------------------------------------------------------

NONE = FetchNeeds(structure=False, raw=False, sets_seen=False, sections=False)
STRUCT = FetchNeeds(structure=True, raw=False, sets_seen=False)
PEEK = FetchNeeds(structure=True, raw=True, sets_seen=False)
SEEN = FetchNeeds(structure=True, raw=True, sets_seen=True)
# Whole messages only: the raw bytes without the stored structure.
PEEK_WHOLE = FetchNeeds(structure=True, raw=True, sets_seen=False, sections=False)
SEEN_WHOLE = FetchNeeds(structure=True, raw=True, sets_seen=True, sections=False)


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ((FetchItem.FLAGS,), NONE),
        ((FetchItem.UID, FetchItem.INTERNALDATE, FetchItem.RFC822_SIZE), NONE),
        ((FetchItem.ENVELOPE,), STRUCT),
        ((FetchItem.BODY,), STRUCT),
        ((FetchItem.BODYSTRUCTURE, FetchItem.FLAGS), STRUCT),
        ((FetchItem.RFC822_HEADER,), PEEK),
        ((FetchItem.RFC822,), SEEN_WHOLE),
        ((FetchItem.RFC822, FetchItem.RFC822_SIZE, FetchItem.FLAGS), SEEN_WHOLE),
        ((FetchItem.RFC822, FetchItem.ENVELOPE), SEEN),
        ((FetchItem.RFC822_TEXT,), SEEN),
        ((BodySection(peek=True),), PEEK_WHOLE),
        ((BodySection(peek=True, partial=(0, 100)), FetchItem.UID), PEEK_WHOLE),
        ((BodySection(Section(text=SectionText.HEADER), peek=True, partial=(0, 5)),), PEEK),
        ((BodySection(),), SEEN_WHOLE),
        ((BodySection(Section((1,))), FetchItem.FLAGS), SEEN),
        ((BodySection(peek=True), BodySection(Section(text=SectionText.TEXT))), SEEN),
    ],
)
def test_fetch_needs(attrs: tuple[FetchAttribute, ...], expected: FetchNeeds) -> None:
    assert fetch_needs(attrs) == expected


# -- simple items ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "recent", "expected"),
    [
        (frozenset(), False, b"()"),
        (frozenset(), True, b"(\\Recent)"),
        (frozenset({"\\Seen"}), False, b"(\\Seen)"),
        (
            frozenset({"\\Draft", "\\Seen", "\\Deleted", "\\Flagged", "\\Answered"}),
            False,
            b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        ),
        (
            frozenset({"zeta", "$Label1", "\\Seen", "Junk"}),
            True,
            b"(\\Seen \\Recent $Label1 Junk zeta)",
        ),
    ],
)
def test_flags_item(flags: frozenset[str], recent: bool, expected: bytes) -> None:
    assert flags_list(flags, recent) == expected
    assert render((FetchItem.FLAGS,), msg=message(flags), recent=recent) == (
        b"* 7 FETCH (FLAGS " + expected + b")\r\n"
    )


def test_uid_rfc822_size_and_internaldate() -> None:
    attrs = (FetchItem.UID, FetchItem.RFC822_SIZE, FetchItem.INTERNALDATE)
    assert render(attrs, content=None) == (
        b'* 7 FETCH (UID 42 RFC822.SIZE %d INTERNALDATE " 1-Nov-2026 09:05:07 +0000")\r\n'
        % len(RAW)
    )


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), b'" 2-Jan-2026 03:04:05 +0000"'),
        # Other zones are reported in UTC (the date may change).
        (
            datetime(2026, 1, 1, 1, 30, 0, tzinfo=timezone(timedelta(hours=2))),
            b'"31-Dec-2025 23:30:00 +0000"',
        ),
        # A naive datetime is taken as UTC.
        (datetime(2024, 12, 31, 23, 59, 59), b'"31-Dec-2024 23:59:59 +0000"'),
    ],
)
def test_internal_date_text(when: datetime, expected: bytes) -> None:
    assert internal_date_text(when) == expected


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 2),
        max_value=datetime(2200, 1, 1),
        timezones=st.one_of(st.none(), st.timezones()),
    )
)
def test_internal_date_text_is_the_shared_date_time_form(when: datetime) -> None:
    utc = when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)
    assert internal_date_text(when) == b'"' + format_datetime(utc).encode("ascii") + b'"'


def test_include_uid_puts_uid_first_unless_requested() -> None:
    assert render((FetchItem.FLAGS,), include_uid=True, content=None) == (
        b"* 7 FETCH (UID 42 FLAGS ())\r\n"
    )
    assert render((FetchItem.FLAGS, FetchItem.UID), include_uid=True, content=None) == (
        b"* 7 FETCH (FLAGS () UID 42)\r\n"
    )
    assert render((FetchItem.UID,), include_uid=True, content=None) == (b"* 7 FETCH (UID 42)\r\n")


def test_include_flags_appends_flags_unless_requested() -> None:
    seen = message(frozenset({"\\Seen"}))
    assert render((BodySection(Section((2,))),), msg=seen, include_flags=True) == (
        b"* 7 FETCH (BODY[2] " + literal(PART2) + b" FLAGS (\\Seen))\r\n"
    )
    assert render(
        (FetchItem.FLAGS, FetchItem.RFC822_SIZE), msg=seen, include_flags=True, content=None
    ) == (b"* 7 FETCH (FLAGS (\\Seen) RFC822.SIZE %d)\r\n" % len(RAW))


def test_structure_items_are_sent_as_stored() -> None:
    content = ImapContent(message_id="m-1", structure=HAND_STRUCTURE, raw=None)
    attrs = (FetchItem.ENVELOPE, FetchItem.BODY, FetchItem.BODYSTRUCTURE)
    assert render(attrs, content=content) == (
        b'* 7 FETCH (ENVELOPE (NIL "hi" NIL NIL NIL NIL NIL NIL NIL NIL) '
        b'BODY ("text" "plain" NIL NIL NIL "7bit" 2 1) '
        b'BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7bit" 2 1 NIL NIL NIL NIL))\r\n'
    )


def test_items_keep_the_requested_order() -> None:
    attrs: tuple[FetchAttribute, ...] = (
        FetchItem.RFC822_SIZE,
        BodySection(Section((1,)), peek=True),
        FetchItem.FLAGS,
        FetchItem.UID,
    )
    assert render(attrs, recent=True) == (
        b"* 7 FETCH (RFC822.SIZE %d BODY[1] " % len(RAW)
        + literal(PART1)
        + b" FLAGS (\\Recent) UID 42)\r\n"
    )


# -- body sections --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        (BodySection(), b"BODY[] " + literal(RAW)),
        (BodySection(peek=True), b"BODY[] " + literal(RAW)),
        (BodySection(Section(text=SectionText.HEADER)), b"BODY[HEADER] " + literal(HEADER)),
        (BodySection(Section(text=SectionText.TEXT)), b"BODY[TEXT] " + literal(TEXT)),
        (BodySection(Section((1,))), b"BODY[1] " + literal(PART1)),
        (BodySection(Section((2,))), b"BODY[2] " + literal(PART2)),
        (
            BodySection(Section((1,), SectionText.MIME)),
            b"BODY[1.MIME] " + literal(PART1_MIME),
        ),
        (
            BodySection(Section(text=SectionText.HEADER_FIELDS, fields=("SUBJECT", "TO"))),
            b"BODY[HEADER.FIELDS (SUBJECT TO)] "
            + literal(b"To: reader@example.com\r\nSubject: caf\xc3\xa9\r\n\r\n"),
        ),
        (
            BodySection(
                Section(
                    text=SectionText.HEADER_FIELDS_NOT,
                    fields=("FROM", "DATE", "MIME-VERSION", "CONTENT-TYPE", "SUBJECT"),
                )
            ),
            b"BODY[HEADER.FIELDS.NOT (FROM DATE MIME-VERSION CONTENT-TYPE SUBJECT)] "
            + literal(b"To: reader@example.com\r\n\r\n"),
        ),
        # Field names are echoed as the parser gave them.
        (
            BodySection(Section(text=SectionText.HEADER_FIELDS, fields=("x-none",))),
            b"BODY[HEADER.FIELDS (x-none)] " + literal(b"\r\n"),
        ),
        # Partials: the response names the origin only (RFC 3501 section 7.4.2).
        (BodySection(partial=(0, 10)), b"BODY[]<0> " + literal(RAW[:10])),
        (BodySection(Section((1,)), partial=(6, 5)), b"BODY[1]<6> " + literal(b"plain")),
        (
            BodySection(Section((1,)), peek=True, partial=(6, 1000)),
            b"BODY[1]<6> " + literal(PART1[6:]),
        ),
        (BodySection(Section((1,)), partial=(1000, 10)), b"BODY[1]<1000> {0}\r\n"),
        (BodySection(Section((1,)), partial=(0, 0)), b"BODY[1]<0> {0}\r\n"),
        # Sections that do not exist are the empty string.
        (BodySection(Section((3,))), b'BODY[3] ""'),
        (BodySection(Section((1, 1))), b'BODY[1.1] ""'),
        (BodySection(Section((1,), SectionText.HEADER)), b'BODY[1.HEADER] ""'),
        (BodySection(Section((9,)), partial=(0, 5)), b'BODY[9]<0> ""'),
        # RFC822 items answer under their own names.
        (FetchItem.RFC822, b"RFC822 " + literal(RAW)),
        (FetchItem.RFC822_HEADER, b"RFC822.HEADER " + literal(HEADER)),
        (FetchItem.RFC822_TEXT, b"RFC822.TEXT " + literal(TEXT)),
    ],
)
def test_body_sections(attr: FetchAttribute, expected: bytes) -> None:
    assert render((attr,)) == b"* 7 FETCH (" + expected + b")\r\n"


def test_encapsulated_message_sections() -> None:
    raw = (CORPUS / "message_rfc822.eml").read_bytes()
    content = ImapContent(message_id="m-2", structure=imap_structure_of(raw), raw=raw)
    whole = render((BodySection(peek=True),), content=content, msg=message(size=len(raw)))
    assert whole == b"* 7 FETCH (BODY[] " + literal(raw) + b")\r\n"
    inner_header = render((BodySection(Section((2,), SectionText.HEADER)),), content=content)
    assert inner_header.startswith(b"* 7 FETCH (BODY[2.HEADER] {")
    body = inner_header.split(b"}\r\n", 1)[1][: -len(b")\r\n")]
    assert body.endswith(b"\r\n\r\n") or body.endswith(b"\n\n")
    assert body in raw


def test_whole_corpus_fetches_body_verbatim() -> None:
    for path in sorted(CORPUS.glob("*.eml")):
        raw = path.read_bytes()
        content = ImapContent(message_id=path.name, structure=imap_structure_of(raw), raw=raw)
        response = render(
            (FetchItem.UID, FetchItem.RFC822_SIZE, FetchItem.BODYSTRUCTURE, BodySection()),
            content=content,
            msg=message(size=len(raw)),
        )
        prefix = b"* 7 FETCH (UID 42 RFC822.SIZE %d BODYSTRUCTURE " % len(raw)
        assert response.startswith(prefix), path.name
        assert response.endswith(b" BODY[] " + literal(raw) + b")\r\n"), path.name


def test_missing_content_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="content"):
        render((FetchItem.ENVELOPE,), content=None)
    with pytest.raises(ValueError, match="raw"):
        render((BodySection(),), content=ImapContent(message_id="m", structure=STRUCTURE, raw=None))


def test_plan_cache_follows_the_attributes() -> None:
    first = (FetchItem.FLAGS,)
    second = (FetchItem.UID,)
    assert render(first, content=None) == b"* 7 FETCH (FLAGS ())\r\n"
    assert render(second, content=None) == b"* 7 FETCH (UID 42)\r\n"
    assert render([FetchItem.RFC822_SIZE], content=None) == (
        b"* 7 FETCH (RFC822.SIZE %d)\r\n" % len(RAW)
    )
    assert render(first, content=None, seq=8) == b"* 8 FETCH (FLAGS ())\r\n"


def test_ten_thousand_flag_lines_are_fast() -> None:
    messages = [
        message(frozenset({"\\Seen"}) if i % 3 else frozenset(), uid=i + 1) for i in range(10_000)
    ]
    attrs = (FetchItem.FLAGS,)
    started = time.perf_counter()
    lines = [
        render_fetch(i + 1, m, attrs, None, recent=False, include_uid=True)
        for i, m in enumerate(messages)
    ]
    elapsed = time.perf_counter() - started
    assert lines[1] == b"* 2 FETCH (UID 2 FLAGS (\\Seen))\r\n"
    # About 1 µs per line on a laptop; the bound leaves room for a loaded CI machine.
    assert elapsed < 0.5


def parsed_fetch(line: bytes) -> tuple[FetchAttribute, ...]:
    parser = ImapParser()
    parser.receive_data(line)
    command = parser.next_event()
    assert isinstance(command, Fetch), command
    return command.attributes


def test_parsed_commands_render_as_clients_expect() -> None:
    attrs = parsed_fetch(
        b"a UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From Subject)]<0.30> RFC822.HEADER)\r\n"
    )
    header_fields = b'From: "Newsletter" <news@example.org>\r\nSubject: caf\xc3\xa9\r\n\r\n'
    assert render(attrs, include_uid=True) == (
        b"* 7 FETCH (UID 42 BODY[HEADER.FIELDS (FROM SUBJECT)]<0> "
        + literal(header_fields[:30])
        + b" RFC822.HEADER "
        + literal(HEADER)
        + b")\r\n"
    )
    fast = parsed_fetch(b"b FETCH 7 FAST\r\n")
    assert render(fast, msg=message(frozenset({"\\Seen"})), recent=True, content=None) == (
        b'* 7 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE " 1-Nov-2026 09:05:07 +0000" '
        b"RFC822.SIZE %d)\r\n" % len(RAW)
    )
    full = parsed_fetch(b"c FETCH 7 FULL\r\n")
    assert fetch_needs(full) == STRUCT
    assert render(full, content=CONTENT).endswith(b" BODY " + STRUCTURE.body + b")\r\n")
