"""Response serialisers: exact wire bytes (RFC 3501 section 7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ephemail.domain.imap import Section, SectionText
from ephemail.protocols.imap.proto import responses as r
from ephemail.protocols.imap.proto.commands import BodySection, FetchItem, StatusItem


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("joe", b"joe"),
        ("a]b", b"a]b"),
        ("", b'""'),
        ("two words", b'"two words"'),
        ('say "hi" \\', b'"say \\"hi\\" \\\\"'),
        ("NIL", b'"NIL"'),
        ("été", b"{5}\r\n\xc3\xa9t\xc3\xa9"),
        ("a\r\nb", b"{4}\r\na\r\nb"),
        ("x " * 1000, b"{2000}\r\n" + b"x " * 1000),
        ("x" * 2000, b"x" * 2000),
        ("(x)", b'"(x)"'),
    ],
)
def test_astring(value: str, wire: bytes) -> None:
    assert r.astring(value) == wire


def test_string_nstring_literal() -> None:
    assert r.string("joe") == b'"joe"'
    assert r.nstring(None) == b"NIL"
    assert r.nstring(b"\x00") == b"{1}\r\n\x00"
    assert r.literal(b"abc", non_synchronising=True) == b"{3+}\r\nabc"


def test_mailbox_names_are_modified_utf7() -> None:
    assert r.mailbox_name("INBOX") == b"INBOX"
    assert r.mailbox_name("Entwürfe") == b"Entw&APw-rfe"
    assert r.mailbox_name("a b") == b'"a b"'
    assert r.mailbox_name("a%b") == b'"a%b"'


def test_tagged_and_untagged_status() -> None:
    assert (
        r.ok("a1", "SELECT completed", r.READ_WRITE) == b"a1 OK [READ-WRITE] SELECT completed\r\n"
    )
    assert r.no("a", "No such folder", r.TRYCREATE) == b"a NO [TRYCREATE] No such folder\r\n"
    assert r.bad(None, "Invalid tag") == b"* BAD Invalid tag\r\n"
    assert r.bad("x", "Literal too large", "TOOBIG") == b"x BAD [TOOBIG] Literal too large\r\n"
    assert r.untagged("OK", "Predicted next UID", r.uidnext_code(5)) == (
        b"* OK [UIDNEXT 5] Predicted next UID\r\n"
    )
    assert r.untagged("OK", "x", r.uidvalidity_code(7)) == b"* OK [UIDVALIDITY 7] x\r\n"
    assert r.untagged("OK", "x", r.unseen_code(3)) == b"* OK [UNSEEN 3] x\r\n"
    assert r.untagged("OK", "Flags", r.permanentflags_code(["\\Seen", "\\*"])) == (
        b"* OK [PERMANENTFLAGS (\\Seen \\*)] Flags\r\n"
    )
    assert r.ok("a", "Done", r.capability_code(["IMAP4rev1", "IDLE"])) == (
        b"a OK [CAPABILITY IMAP4rev1 IDLE] Done\r\n"
    )
    assert r.ok("a", "Done", r.copyuid_code(9, [4, 5, 6, 2], [10, 11, 12, 13])) == (
        b"a OK [COPYUID 9 4:6,2 10:13] Done\r\n"
    )
    assert r.ok("a", "Done", r.appenduid_code(9, 42)) == b"a OK [APPENDUID 9 42] Done\r\n"
    assert r.untagged("OK", "Previous mailbox closed", r.CLOSED) == (
        b"* OK [CLOSED] Previous mailbox closed\r\n"
    )
    assert r.bye("Logging out") == b"* BYE Logging out\r\n"
    assert r.continuation() == b"+ Ready for literal data\r\n"
    assert r.continuation("") == b"+ \r\n"
    assert r.ok("a", "line\r\nbreak") == b"a OK line  break\r\n"
    for code in (r.ALREADYEXISTS, r.NONEXISTENT, r.CANNOT, r.AUTHENTICATIONFAILED, r.TOOBIG):
        assert r.no("a", "x", code) == b"a NO [" + code.encode() + b"] x\r\n"
    assert r.READ_ONLY == "READ-ONLY"


def test_untagged_data() -> None:
    assert r.exists(3) == b"* 3 EXISTS\r\n"
    assert r.recent(0) == b"* 0 RECENT\r\n"
    assert r.expunge(2) == b"* 2 EXPUNGE\r\n"
    assert r.flags_response(["\\Seen", "$Junk"]) == b"* FLAGS (\\Seen $Junk)\r\n"
    assert r.list_response(["\\HasNoChildren"], "INBOX") == (
        b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
    )
    assert r.list_response([], "Entwürfe", None) == b"* LIST () NIL Entw&APw-rfe\r\n"
    assert r.lsub_response(["\\Sent"], "Sent Items") == b'* LSUB (\\Sent) "/" "Sent Items"\r\n'
    assert (
        r.status_response("INBOX", {StatusItem.MESSAGES: 3, StatusItem.UIDNEXT: 9})
        == b"* STATUS INBOX (MESSAGES 3 UIDNEXT 9)\r\n"
    )
    assert r.search_response([7, 2, 3]) == b"* SEARCH 2 3 7\r\n"
    assert r.search_response([]) == b"* SEARCH\r\n"
    assert r.capability_response(["IMAP4rev1", "AUTH=PLAIN"]) == (
        b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"
    )
    assert r.namespace_response([("", "/")]) == b'* NAMESPACE (("" "/")) NIL NIL\r\n'
    assert r.id_response({"name": "ephemail", "version": None}) == (
        b'* ID ("name" "ephemail" "version" NIL)\r\n'
    )
    assert r.id_response(None) == b"* ID NIL\r\n"
    assert r.enabled_response([]) == b"* ENABLED\r\n"
    assert r.enabled_response(["CONDSTORE"]) == b"* ENABLED CONDSTORE\r\n"


def test_datetime_format() -> None:
    moment = datetime(2026, 2, 7, 9, 5, 1, tzinfo=timezone(-timedelta(hours=1, minutes=30)))
    assert r.format_datetime(moment) == " 7-Feb-2026 09:05:01 -0130"
    assert r.format_datetime(datetime(2026, 12, 17, 23, 0, 0, tzinfo=UTC)) == (
        "17-Dec-2026 23:00:00 +0000"
    )


def test_sequence_set_text() -> None:
    assert r.sequence_set_text([5, 1, 2, 3, 9, 10]) == "1:3,5,9:10"
    assert r.sequence_set_text([]) == ""


@pytest.mark.parametrize(
    ("attribute", "name"),
    [
        (BodySection(), b"BODY[]"),
        (BodySection(peek=True), b"BODY[]"),
        (BodySection(partial=(0, 10)), b"BODY[]<0>"),
        (BodySection(Section((1, 2)), True, (100, 5)), b"BODY[1.2]<100>"),
        (
            BodySection(Section((1,), SectionText.HEADER_FIELDS, ("SUBJECT", "FROM"))),
            b"BODY[1.HEADER.FIELDS (SUBJECT FROM)]",
        ),
        (
            BodySection(Section((), SectionText.HEADER_FIELDS_NOT, ("X",))),
            b"BODY[HEADER.FIELDS.NOT (X)]",
        ),
        (BodySection(Section((3,), SectionText.MIME)), b"BODY[3.MIME]"),
        (BodySection(Section((), SectionText.TEXT)), b"BODY[TEXT]"),
        (FetchItem.RFC822, b"RFC822"),
        (FetchItem.RFC822_HEADER, b"RFC822.HEADER"),
        (FetchItem.RFC822_TEXT, b"RFC822.TEXT"),
    ],
)
def test_section_names(attribute: BodySection | FetchItem, name: bytes) -> None:
    assert r.section_name(attribute) == name


def test_fetch_response() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    partial = BodySection(Section(), True, (2, 3))
    items = [
        r.fetch_uid(12),
        r.fetch_flags(["\\Seen"]),
        r.fetch_internaldate(moment),
        r.fetch_size(1234),
        r.fetch_envelope(b'(NIL "s" NIL NIL NIL NIL NIL NIL NIL NIL)'),
        r.fetch_body_structure(b'("text" "plain" NIL NIL NIL "7bit" 3 1)', extensible=False),
        r.fetch_section(partial, r.partial_data(partial, b"abcdefgh")),
        r.fetch_section(BodySection(Section((9,))), None),
    ]
    assert r.fetch_response(7, items) == (
        b'* 7 FETCH (UID 12 FLAGS (\\Seen) INTERNALDATE " 2-Jan-2026 03:04:05 +0000" '
        b'RFC822.SIZE 1234 ENVELOPE (NIL "s" NIL NIL NIL NIL NIL NIL NIL NIL) '
        b'BODY ("text" "plain" NIL NIL NIL "7bit" 3 1) BODY[]<2> {3}\r\ncde BODY[9] NIL)\r\n'
    )
    assert r.fetch_body_structure(b"(x)", extensible=True) == b"BODYSTRUCTURE (x)"
    assert r.partial_data(BodySection(partial=(10, 5)), b"short") == b""
