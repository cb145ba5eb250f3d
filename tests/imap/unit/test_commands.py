"""Table tests: one valid and several invalid forms of every command the parser knows."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from ephemail.domain.imap import FlagMode, Section, SectionText
from ephemail.protocols.imap.proto.commands import (
    Append,
    Authenticate,
    BodySection,
    Capability,
    Check,
    Close,
    Command,
    Copy,
    Create,
    DateSearch,
    Delete,
    Enable,
    Examine,
    Expunge,
    Fetch,
    FetchItem,
    Id,
    Idle,
    List,
    Login,
    Logout,
    Lsub,
    Move,
    Namespace,
    Noop,
    Rename,
    Search,
    SearchAll,
    SearchAnd,
    SearchBody,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchLarger,
    SearchNot,
    SearchOr,
    SearchSequence,
    SearchSmaller,
    SearchText,
    SearchUid,
    Select,
    SequenceSet,
    StartTls,
    Status,
    StatusItem,
    Store,
    Subscribe,
    UidExpunge,
    Unselect,
    Unsubscribe,
)
from ephemail.protocols.imap.proto.parser import ContinuationRequest, ParseError

from .support import events

ONE = SequenceSet(((1, 1),))
ALL_SET = SequenceSet(((1, None),))

VALID: list[tuple[bytes, Command]] = [
    (b"a CAPABILITY", Capability("a")),
    (b"a capability", Capability("a")),
    (b"a NOOP", Noop("a")),
    (b"a LOGOUT", Logout("a")),
    (b"a STARTTLS", StartTls("a")),
    (b"a AUTHENTICATE PLAIN", Authenticate("a", "PLAIN")),
    (b"a authenticate plain =", Authenticate("a", "PLAIN", b"")),
    (b"a AUTHENTICATE PLAIN AHVzZXIAcHc=", Authenticate("a", "PLAIN", b"\0user\0pw")),
    (b"a LOGIN joe secret", Login("a", "joe", "secret")),
    (b'a LOGIN "j o\\"e" "p\\\\w"', Login("a", 'j o"e', "p\\w")),
    (b'a LOGIN "" ""', Login("a", "", "")),
    (b"a LOGIN user@x.org pass]word", Login("a", "user@x.org", "pass]word")),
    (b"A001 SELECT INBOX", Select("A001", "INBOX")),
    (b"a SELECT inbox", Select("a", "INBOX")),
    (b'a SELECT "InBoX"', Select("a", "INBOX")),
    (b"a SELECT inbox/sub", Select("a", "inbox/sub")),
    (b"a EXAMINE Sent", Examine("a", "Sent")),
    (b"a CREATE Archive/2026", Create("a", "Archive/2026")),
    (b"a CREATE &ZeVnLIqe-", Create("a", "日本語")),
    (b"a CREATE A&-B", Create("a", "A&B")),
    (b"a DELETE Trash", Delete("a", "Trash")),
    (b"a RENAME old new", Rename("a", "old", "new")),
    (b"a SUBSCRIBE Sent", Subscribe("a", "Sent")),
    (b"a UNSUBSCRIBE Sent", Unsubscribe("a", "Sent")),
    (b'a LIST "" *', List("a", "", "*")),
    (b'a LIST "" %/%', List("a", "", "%/%")),
    (b"a LIST ~/Mail/ foo*]", List("a", "~/Mail/", "foo*]")),
    (
        b'a LIST (SUBSCRIBED) "" "*"',
        List("a", "", "*", selection=("SUBSCRIBED",), extended=True),
    ),
    (
        b'a LIST "" * RETURN (SPECIAL-USE CHILDREN subscribed)',
        List("a", "", "*", return_options=("SPECIAL-USE", "CHILDREN", "SUBSCRIBED"), extended=True),
    ),
    (b'a LIST () "" *', List("a", "", "*", extended=True)),
    (b'a LSUB "" "*"', Lsub("a", "", "*")),
    (
        b"a STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)",
        Status("a", "INBOX", tuple(StatusItem)),
    ),
    (b"a status Sent (uidnext)", Status("a", "Sent", (StatusItem.UIDNEXT,))),
    (b"a CHECK", Check("a")),
    (b"a CLOSE", Close("a")),
    (b"a UNSELECT", Unselect("a")),
    (b"a EXPUNGE", Expunge("a")),
    (b"a UID EXPUNGE 3:5,9", UidExpunge("a", SequenceSet(((3, 5), (9, 9))))),
    (b"a FETCH 1 FLAGS", Fetch("a", ONE, (FetchItem.FLAGS,))),
    (
        b"a FETCH 1:* ALL",
        Fetch(
            "a",
            ALL_SET,
            (FetchItem.FLAGS, FetchItem.INTERNALDATE, FetchItem.RFC822_SIZE, FetchItem.ENVELOPE),
        ),
    ),
    (
        b"a FETCH 1 fast",
        Fetch("a", ONE, (FetchItem.FLAGS, FetchItem.INTERNALDATE, FetchItem.RFC822_SIZE)),
    ),
    (
        b"a FETCH 1 FULL",
        Fetch(
            "a",
            ONE,
            (
                FetchItem.FLAGS,
                FetchItem.INTERNALDATE,
                FetchItem.RFC822_SIZE,
                FetchItem.ENVELOPE,
                FetchItem.BODY,
            ),
        ),
    ),
    (
        b"a UID FETCH 4:2 (UID RFC822.SIZE BODYSTRUCTURE BODY RFC822 RFC822.HEADER RFC822.TEXT)",
        Fetch(
            "a",
            SequenceSet(((4, 2),)),
            (
                FetchItem.UID,
                FetchItem.RFC822_SIZE,
                FetchItem.BODYSTRUCTURE,
                FetchItem.BODY,
                FetchItem.RFC822,
                FetchItem.RFC822_HEADER,
                FetchItem.RFC822_TEXT,
            ),
            uid=True,
        ),
    ),
    (b"a FETCH 1 BODY[]", Fetch("a", ONE, (BodySection(),))),
    (b"a FETCH 1 body.peek[]<0.100>", Fetch("a", ONE, (BodySection(Section(), True, (0, 100)),))),
    (
        b"a FETCH 1 (BODY[1.2.MIME] BODY[3] BODY[TEXT] BODY[2.HEADER])",
        Fetch(
            "a",
            ONE,
            (
                BodySection(Section((1, 2), SectionText.MIME)),
                BodySection(Section((3,))),
                BodySection(Section((), SectionText.TEXT)),
                BodySection(Section((2,), SectionText.HEADER)),
            ),
        ),
    ),
    (
        b'a FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject "From" {2+}\r\nTo)]',
        Fetch(
            "a",
            ONE,
            (BodySection(Section((), SectionText.HEADER_FIELDS, ("SUBJECT", "FROM", "TO")), True),),
        ),
    ),
    (
        b"a FETCH 1 BODY[1.HEADER.FIELDS.NOT (X-A)]<5.7>",
        Fetch(
            "a",
            ONE,
            (BodySection(Section((1,), SectionText.HEADER_FIELDS_NOT, ("X-A",)), False, (5, 7)),),
        ),
    ),
    (b"a FETCH 1 (FLAGS FLAGS UID)", Fetch("a", ONE, (FetchItem.FLAGS, FetchItem.UID))),
    (
        b"a STORE 1 FLAGS (\\Seen)",
        Store("a", ONE, FlagMode.REPLACE, False, ("\\Seen",)),
    ),
    (
        b"a STORE 1 +FLAGS.SILENT (\\deleted $Junk)",
        Store("a", ONE, FlagMode.ADD, True, ("\\Deleted", "$Junk")),
    ),
    (
        b"a UID STORE 1:* -FLAGS \\Flagged \\Draft",
        Store("a", ALL_SET, FlagMode.REMOVE, False, ("\\Flagged", "\\Draft"), uid=True),
    ),
    (b"a STORE 1 FLAGS ()", Store("a", ONE, FlagMode.REPLACE, False, ())),
    (b"a COPY 1 Sent", Copy("a", ONE, "Sent")),
    (b"a UID COPY 1:* Sent", Copy("a", ALL_SET, "Sent", uid=True)),
    (b"a MOVE 1 Trash", Move("a", ONE, "Trash")),
    (b"a uid move 1 Trash", Move("a", ONE, "Trash", uid=True)),
    (b"a IDLE", Idle("a")),
    (b"a NAMESPACE", Namespace("a")),
    (b"a ID NIL", Id("a", None)),
    (b'a ID ("name" "mutt" "version" NIL)', Id("a", (("name", "mutt"), ("version", None)))),
    (b"a ID ()", Id("a", ())),
    (b"a ENABLE CONDSTORE utf8=accept", Enable("a", ("CONDSTORE", "UTF8=ACCEPT"))),
    (
        b'a APPEND Sent (\\Seen) " 7-Feb-2026 09:05:01 -0130" {5+}\r\nhello',
        Append(
            "a",
            "Sent",
            ("\\Seen",),
            datetime(2026, 2, 7, 9, 5, 1, tzinfo=timezone(-timedelta(hours=1, minutes=30))),
            b"hello",
        ),
    ),
    (b"a APPEND INBOX {0+}\r\n", Append("a", "INBOX", (), None, b"")),
    (b"a APPEND INBOX () {2+}\r\nhi", Append("a", "INBOX", (), None, b"hi")),
]

SEARCHES: list[tuple[bytes, Search]] = [
    (b"a SEARCH ALL", Search("a", SearchAll())),
    (
        b"a UID SEARCH 1:* UNSEEN",
        Search("a", SearchAnd((SearchSequence(ALL_SET), SearchFlag("\\Seen", False))), uid=True),
    ),
    (
        b"a SEARCH ANSWERED DELETED DRAFT FLAGGED SEEN RECENT",
        Search(
            "a",
            SearchAnd(
                tuple(
                    SearchFlag(f, True)
                    for f in (
                        "\\Answered",
                        "\\Deleted",
                        "\\Draft",
                        "\\Flagged",
                        "\\Seen",
                        "\\Recent",
                    )
                )
            ),
        ),
    ),
    (
        b"a SEARCH UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN OLD",
        Search(
            "a",
            SearchAnd(
                tuple(
                    SearchFlag(f, False)
                    for f in (
                        "\\Answered",
                        "\\Deleted",
                        "\\Draft",
                        "\\Flagged",
                        "\\Seen",
                        "\\Recent",
                    )
                )
            ),
        ),
    ),
    (
        b"a SEARCH NEW",
        Search("a", SearchAnd((SearchFlag("\\Recent"), SearchFlag("\\Seen", False)))),
    ),
    (b"a SEARCH KEYWORD $Junk", Search("a", SearchFlag("$Junk"))),
    (b"a SEARCH UNKEYWORD foo", Search("a", SearchFlag("foo", False))),
    (
        b'a SEARCH FROM joe TO "x y" CC c BCC b SUBJECT {3+}\r\nhey',
        Search(
            "a",
            SearchAnd(
                (
                    SearchHeader("FROM", "joe"),
                    SearchHeader("TO", "x y"),
                    SearchHeader("CC", "c"),
                    SearchHeader("BCC", "b"),
                    SearchHeader("SUBJECT", "hey"),
                )
            ),
        ),
    ),
    (b'a SEARCH HEADER Message-ID ""', Search("a", SearchHeader("MESSAGE-ID", ""))),
    (b"a SEARCH BODY x TEXT y", Search("a", SearchAnd((SearchBody("x"), SearchText("y"))))),
    (
        b'a SEARCH BEFORE 1-Feb-2026 ON "01-feb-2026" SINCE 28-Feb-2024',
        Search(
            "a",
            SearchAnd(
                (
                    SearchDate(DateSearch.BEFORE, date(2026, 2, 1)),
                    SearchDate(DateSearch.ON, date(2026, 2, 1)),
                    SearchDate(DateSearch.SINCE, date(2024, 2, 28)),
                )
            ),
        ),
    ),
    (
        b"a SEARCH SENTBEFORE 1-Jan-2000 SENTON 1-Jan-2000 SENTSINCE 1-Jan-2000",
        Search(
            "a",
            SearchAnd(
                tuple(
                    SearchDate(kind, date(2000, 1, 1))
                    for kind in (DateSearch.SENTBEFORE, DateSearch.SENTON, DateSearch.SENTSINCE)
                )
            ),
        ),
    ),
    (
        b"a SEARCH LARGER 10 SMALLER 20",
        Search("a", SearchAnd((SearchLarger(10), SearchSmaller(20)))),
    ),
    (b"a SEARCH UID 5:*", Search("a", SearchUid(SequenceSet(((5, None),))))),
    (b"a SEARCH NOT SEEN", Search("a", SearchNot(SearchFlag("\\Seen")))),
    (
        b"a SEARCH OR SEEN (FLAGGED NOT DELETED)",
        Search(
            "a",
            SearchOr(
                SearchFlag("\\Seen"),
                SearchAnd((SearchFlag("\\Flagged"), SearchNot(SearchFlag("\\Deleted")))),
            ),
        ),
    ),
    (
        b"a SEARCH CHARSET utf-8 TEXT {3+}\r\n\xc3\xa9t",
        Search("a", SearchText("ét"), charset="UTF-8"),
    ),
    (
        b"a SEARCH CHARSET ISO-8859-1 TEXT {1+}\r\n\xe9",
        Search("a", SearchText("é"), charset="ISO-8859-1"),
    ),
]


@pytest.mark.parametrize(("wire", "expected"), [*VALID, *SEARCHES])
def test_valid_commands_parse_to_typed_values(wire: bytes, expected: Command) -> None:
    assert events(wire + b"\r\n") == [expected]


@pytest.mark.parametrize(("wire", "expected"), VALID[:20])
def test_byte_at_a_time_gives_the_same_result(wire: bytes, expected: Command) -> None:
    assert events(wire + b"\r\n", chunk=1) == [expected]


INVALID: list[tuple[bytes, str | None, str]] = [
    (b"a FOO", "a", "Unknown command"),
    (b"a UID FOO 1", "a", "Unknown UID command"),
    (b"a UID EXPUNGE", "a", "Missing argument"),
    (b"a", None, "Invalid tag"),
    (b" NOOP", None, "Missing tag"),
    (b"a+ NOOP", None, "Invalid tag"),
    (b"a{ NOOP", None, "Invalid tag"),
    (b"a NOOP extra", "a", "Too many arguments"),
    (b"a NOOP  ", "a", "Too many arguments"),
    (b"a LOGIN joe", "a", "Missing argument"),
    (b"a LOGIN joe  x", "a", "Expected a password"),
    (b'a LOGIN "joe x', "a", "Unterminated quoted string"),
    (b'a LOGIN "jo\\e" x', "a", "Invalid escape in quoted string"),
    (b"a LOGIN {3}x", "a", "Expected CRLF after literal announcement"),
    (b"a LOGIN {3+}x", "a", "Expected CRLF after literal announcement"),
    (b"a LOGIN {x}", "a", "Invalid literal size"),
    (b'a LOGIN "\xff" x', "a", "User name is not valid UTF-8"),
    (b"a AUTHENTICATE PLAIN !!!", "a", "Invalid base64 in initial response"),
    (b"a AUTHENTICATE PLAIN AHVzZXIAcHc", "a", "Invalid base64 in initial response"),
    (b"a AUTHENTICATE", "a", "Missing argument"),
    (b"a SELECT", "a", "Missing argument"),
    (b"a SELECT &Jjo", "a", "Invalid mailbox name: unterminated '&' sequence"),
    (b"a SELECT A&B", "a", "Invalid mailbox name: unterminated '&' sequence"),
    (b"a SELECT &AGE-", "a", "Invalid mailbox name: printable ASCII must not be base64-encoded"),
    (b'a SELECT "\xc3\xa9"', "a", "Mailbox name must be 7-bit (modified UTF-7)"),
    (b"a SELECT (x)", "a", "Expected a mailbox name"),
    (b"a RENAME a", "a", "Missing argument"),
    (b'a LIST ""', "a", "Missing argument"),
    (b'a LIST "" ("a" "b")', "a", "Several LIST patterns are not supported"),
    (b'a LIST "" * RETURNS (X)', "a", "Expected RETURN"),
    (b'a LIST (SUBSCRIBED "" *', "a", "Expected an option name"),
    (b'a LIST (SUBSCRIBED) "" * RETURN (CHILDREN', "a", "Expected ')' to close the return options"),
    (b"a STATUS INBOX (FOO)", "a", "Unknown status item"),
    (b"a STATUS INBOX ()", "a", "Expected a status item"),
    (b"a STATUS INBOX MESSAGES", "a", "Expected '(' to open the status items"),
    (b"a APPEND INBOX hello", "a", "Expected the message as a literal"),
    (
        b'a APPEND INBOX "1-Jan-2020" {1+}\r\nx',
        "a",
        'Invalid date-time (expected "dd-Mon-yyyy hh:mm:ss +zzzz")',
    ),
    (
        b'a APPEND INBOX "01-Foo-2020 10:00:00 +0000" {1+}\r\nx',
        "a",
        "Invalid date (expected dd-Mon-yyyy)",
    ),
    (b'a APPEND INBOX "31-Feb-2020 10:00:00 +0000" {1+}\r\nx', "a", "Invalid date (no such day)"),
    (b'a APPEND INBOX "01-Feb-2020 25:00:00 +0000" {1+}\r\nx', "a", "Invalid time in date-time"),
    (b'a APPEND INBOX "01-Feb-2020 10:00:00 0000" {1+}\r\nx', "a", "Invalid zone in date-time"),
    (b"a APPEND INBOX (\\Seen {1+}\r\nx", "a", "Expected a flag"),
    (b"a APPEND INBOX (\\Seen \\Draft", "a", "Expected ')' to close the flag list"),
    (b"a FETCH 0 FLAGS", "a", "Invalid sequence set: 0 is not a message number"),
    (b"a FETCH 1:2:3 FLAGS", "a", "Invalid sequence set"),
    (b"a FETCH 1,,2 FLAGS", "a", "Invalid sequence set"),
    (b"a FETCH 99999999999 FLAGS", "a", "Number too large in sequence set"),
    (b"a FETCH x FLAGS", "a", "Expected a sequence set"),
    (b"a FETCH 1 FOO", "a", "Unknown FETCH attribute"),
    (b"a FETCH 1 BINARY[]", "a", "Unknown FETCH attribute"),
    (b"a FETCH 1 (FLAGS", "a", "Expected ')' to close the FETCH attributes"),
    (b"a FETCH 1 (ALL)", "a", "Unknown FETCH attribute"),
    (b"a FETCH 1 BODY[MIME]", "a", "MIME needs a part number"),
    (b"a FETCH 1 BODY[1.]", "a", "Invalid section text"),
    (b"a FETCH 1 BODY[0]", "a", "Zero is not allowed: a part number"),
    (b"a FETCH 1 BODY[FOO]", "a", "Invalid section text"),
    (b"a FETCH 1 BODY[HEADER.FIELDS]", "a", "Expected a space"),
    (b"a FETCH 1 BODY[HEADER.FIELDS ()]", "a", "Expected a header field name"),
    (b"a FETCH 1 BODY[HEADER.FIELDS (a:b)]", "a", "Invalid header field name"),
    (b"a FETCH 1 BODY[]<0>", "a", "Expected '.' in the partial range"),
    (b"a FETCH 1 BODY[]<0.0>", "a", "Zero is not allowed: the partial length"),
    (b"a FETCH 1 BODY[", "a", "Invalid section text"),
    (b"a FETCH 1 UID[]", "a", "Unknown FETCH attribute"),
    (b"a STORE 1 FLAG (\\Seen)", "a", "Expected FLAGS or FLAGS.SILENT"),
    (b"a STORE 1 FLAGS", "a", "Missing argument"),
    (b"a STORE 1 FLAGS (\\)", "a", "Expected a flag name after '\\'"),
    (b"a COPY 1", "a", "Missing argument"),
    (b"a MOVE Trash", "a", "Expected a sequence set"),
    (b"a ID", "a", "Missing argument"),
    (b"a ID FOO", "a", "Expected NIL or a parameter list"),
    (b'a ID ("name")', "a", "Expected a space"),
    (b"a ID (name x)", "a", "Expected a string"),
    (b"a ENABLE", "a", "Missing argument"),
    (b"a SEARCH", "a", "Missing argument"),
    (b"a SEARCH FOO", "a", "Unknown search key"),
    (b"a SEARCH FROM", "a", "Missing argument"),
    (b"a SEARCH OR SEEN", "a", "Missing argument"),
    (b"a SEARCH (SEEN", "a", "Expected ')' to close the search keys"),
    (b"a SEARCH ()", "a", "Expected a search key"),
    (b"a SEARCH SINCE 2026-01-01", "a", "Invalid date (expected dd-Mon-yyyy)"),
    (b"a SEARCH SINCE 1-Jan-26", "a", "Invalid date (expected dd-Mon-yyyy)"),
    (b"a SEARCH LARGER x", "a", "Expected a size"),
    (b"a SEARCH KEYWORD \\Seen", "a", "Expected a keyword"),
    (b"a SEARCH HEADER : x", "a", "Invalid header field name"),
]


@pytest.mark.parametrize(("wire", "tag", "message"), INVALID)
def test_invalid_commands_give_bad_and_the_parser_recovers(
    wire: bytes, tag: str | None, message: str
) -> None:
    got = events(wire + b"\r\nz NOOP\r\n")
    assert got == [ParseError(tag, message), Noop("z")]


def test_unknown_charset_is_refused_with_badcharset() -> None:
    got = events(b"a SEARCH CHARSET KOI-X TEXT x\r\n")
    assert got == [ParseError("a", "Unsupported charset", code="BADCHARSET (US-ASCII UTF-8)")]


def test_search_string_not_in_its_charset_is_refused() -> None:
    got = events(b"a SEARCH CHARSET UTF-8 TEXT {1+}\r\n\xff\r\n")
    assert got == [
        ParseError("a", "Search string is not valid UTF-8", code="BADCHARSET (US-ASCII UTF-8)")
    ]


def test_synchronising_literal_asks_for_continuation_before_its_data() -> None:
    got = events(b"a LOGIN {3}\r\njoe {6}\r\nsecret\r\n")
    assert got == [
        ContinuationRequest("a", 3),
        ContinuationRequest("a", 6),
        Login("a", "joe", "secret"),
    ]


def test_empty_lines_between_commands_are_ignored() -> None:
    assert events(b"\r\n\r\na NOOP\r\n\nb NOOP\n") == [Noop("a"), Noop("b")]
