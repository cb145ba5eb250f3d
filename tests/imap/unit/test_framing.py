"""Framing: literals (synchronising and LITERAL+), recovery after errors, limits, the
HTTP check, raw-line and IDLE modes."""

from __future__ import annotations

import time

import pytest

from ephemail.protocols.imap.proto.commands import Append, Login, Noop, Search, SearchText
from ephemail.protocols.imap.proto.parser import (
    ContinuationRequest,
    HttpRequestError,
    IdleDone,
    ImapParser,
    NeedData,
    ParseError,
    ParserLimits,
    RawLine,
)

from .support import events, feed


def test_continuation_is_requested_only_once_the_line_is_complete() -> None:
    parser = ImapParser()
    assert feed(parser, b"a LOGIN {3}") == []
    assert feed(parser, b"\r\n") == [ContinuationRequest("a", 3)]
    assert feed(parser, b"jo") == []
    assert feed(parser, b"e x\r\n") == [Login("a", "joe", "x")]


def test_literal_plus_needs_no_continuation() -> None:
    assert events(b"a LOGIN {3+}\r\njoe {1+}\r\nx\r\n") == [Login("a", "joe", "x")]


def test_literal_data_may_hold_crlf_braces_and_8bit() -> None:
    message = b"Subject: hi {5}\r\n\r\n\xe9t\xe9 {3+}\r\n"
    wire = b"a APPEND INBOX {%d}\r\n" % len(message) + message + b"\r\n"
    assert events(wire, chunk=7) == [
        ContinuationRequest("a", len(message)),
        Append("a", "INBOX", (), None, message),
    ]


def test_zero_length_literal() -> None:
    assert events(b"a LOGIN {0}\r\n {0+}\r\n\r\n") == [
        ContinuationRequest("a", 0),
        Login("a", "", ""),
    ]


def test_refused_synchronising_literal_is_not_expected() -> None:
    # RFC 3501 section 7.5: the client sends no literal data after a BAD, so the next
    # line is a new command.
    got = events(b"a FOO {5}\r\nb NOOP\r\n")
    assert got == [ParseError("a", "Unknown command"), Noop("b")]


def test_error_before_a_later_literal_refuses_before_the_continuation() -> None:
    got = events(b"a LOGIN {3}\r\njoe x {5}\r\nb NOOP\r\n")
    assert got == [ContinuationRequest("a", 3), ParseError("a", "Too many arguments"), Noop("b")]


def test_refused_literal_plus_data_is_skipped() -> None:
    got = events(b"a FOO {5+}\r\nb NOO c NOOP\r\nd NOOP\r\n")
    assert got == [ParseError("a", "Unknown command"), Noop("d")]


def test_chained_literal_plus_after_an_error_is_skipped_entirely() -> None:
    got = events(b"a FOO {3+}\r\nabc {2+}\r\nxy rest\r\nb NOOP\r\n", chunk=3)
    assert got == [ParseError("a", "Unknown command"), Noop("b")]


def test_literal_too_large_for_a_string() -> None:
    limits = ParserLimits(max_literal_size=10)
    got = events(b"a LOGIN {11}\r\nb NOOP\r\n", limits)
    assert got == [
        ParseError("a", "Literal too large (at most 10 bytes)", code="TOOBIG"),
        Noop("b"),
    ]


def test_literal_plus_too_large_is_skipped() -> None:
    limits = ParserLimits(max_literal_size=10)
    got = events(b"a LOGIN {11+}\r\n" + b"x" * 11 + b" y\r\nb NOOP\r\n", limits)
    assert got == [
        ParseError("a", "Literal too large (at most 10 bytes)", code="TOOBIG"),
        Noop("b"),
    ]


def test_append_has_its_own_literal_limit() -> None:
    limits = ParserLimits(max_literal_size=10, max_append_size=100)
    message = b"m" * 100
    assert events(b"a APPEND INBOX {100+}\r\n" + message + b"\r\n", limits) == [
        Append("a", "INBOX", (), None, message)
    ]
    got = events(b"a APPEND INBOX {101}\r\nb NOOP\r\n", limits)
    assert got == [
        ParseError("a", "Literal too large (at most 100 bytes)", code="TOOBIG"),
        Noop("b"),
    ]


def test_command_size_limit() -> None:
    limits = ParserLimits(max_literal_size=50, max_command_size=60)
    got = events(b"a LOGIN {30+}\r\n" + b"u" * 30 + b" {30}\r\nb NOOP\r\n", limits)
    assert got == [
        ParseError("a", "Command too large (at most 60 bytes)", code="TOOBIG"),
        Noop("b"),
    ]


def test_line_too_long_arriving_in_pieces() -> None:
    limits = ParserLimits(max_line_length=100)
    parser = ImapParser(limits)
    got = feed(parser, b"a LOGIN " + b"x" * 200, chunk=50)
    assert got == [ParseError("a", "Line too long (at most 100 bytes)")]
    assert feed(parser, b"x" * 500 + b"\r\nb NOOP\r\n") == [Noop("b")]


def test_line_too_long_arriving_at_once() -> None:
    limits = ParserLimits(max_line_length=100)
    got = events(b"a LOGIN " + b"x" * 200 + b" y\r\nb NOOP\r\n", limits)
    assert got[-1] == Noop("b")
    assert got[:-1] == [ParseError("a", "Line too long (at most 100 bytes)")]


def test_line_too_long_ending_in_literal_plus_skips_the_literal() -> None:
    limits = ParserLimits(max_line_length=100)
    got = events(b"a LOGIN " + b"x" * 200 + b" {4+}\r\nb NO\r\nc NOOP\r\n", limits)
    assert got == [ParseError("a", "Line too long (at most 100 bytes)"), Noop("c")]


def test_line_limit_excludes_literal_data() -> None:
    limits = ParserLimits(max_line_length=100, max_literal_size=1000)
    assert events(b"a LOGIN {500+}\r\n" + b"u" * 500 + b" p\r\n", limits) == [
        Login("a", "u" * 500, "p")
    ]


def test_tag_too_long() -> None:
    limits = ParserLimits(max_tag_length=8)
    got = events(b"abcdefghi NOOP\r\nabcdefgh NOOP\r\n", limits)
    assert got == [ParseError(None, "Tag too long (at most 8)"), Noop("abcdefgh")]


def test_too_many_items() -> None:
    limits = ParserLimits(max_items=5)
    got = events(b"a FETCH 1,2,3,4,5,6 FLAGS\r\na SEARCH 1 2 3 4 5 6\r\nb NOOP\r\n", limits)
    assert got == [
        ParseError("a", "Too many items (at most 5)"),
        ParseError("a", "Too many items (at most 5)"),
        Noop("b"),
    ]


def test_nesting_depth_limit() -> None:
    limits = ParserLimits(max_nesting_depth=4)
    deep = b"a SEARCH " + b"NOT " * 5 + b"ALL\r\n"
    parens = b"a SEARCH " + b"(" * 6 + b"ALL" + b")" * 6 + b"\r\n"
    assert events(deep + parens + b"b NOOP\r\n", limits) == [
        ParseError("a", "Search keys nested too deeply (at most 4)"),
        ParseError("a", "Search keys nested too deeply (at most 4)"),
        Noop("b"),
    ]
    assert events(b"a SEARCH " + b"NOT " * 4 + b"ALL\r\n", limits)[0].__class__ is Search


def test_default_depth_stops_hostile_nesting_cleanly() -> None:
    wire = b"a SEARCH " + b"(" * 3000 + b"ALL" + b")" * 3000 + b"\r\n"
    got = events(wire, ParserLimits(max_line_length=10_000))
    assert got == [ParseError("a", "Search keys nested too deeply (at most 32)")]


@pytest.mark.parametrize(
    "line",
    [b"GET / HTTP/1.1", b"POST /api/v1/x HTTP/1.0", b"HEAD /favicon.ico HTTP/2", b"PRI * HTTP/2.0"],
)
def test_http_request_line_first_is_fatal(line: bytes) -> None:
    parser = ImapParser()
    got = feed(parser, line + b"\r\nHost: example\r\n\r\n")
    assert got == [HttpRequestError()]
    error = got[0]
    assert isinstance(error, ParseError)
    assert (error.tag, error.message, error.fatal) == (
        None,
        "This is an IMAP server, not HTTP",
        True,
    )
    assert parser.closed
    assert feed(parser, b"a NOOP\r\n") == []


def test_http_request_line_after_the_first_command_is_an_ordinary_error() -> None:
    got = events(b"a NOOP\r\nGET / HTTP/1.1\r\n")
    assert got == [Noop("a"), ParseError("GET", "Unknown command")]


def test_raw_line_mode_for_authenticate() -> None:
    parser = ImapParser()
    parser.receive_data(b"a AUTHENTICATE PLAIN\r\nAGpvZQBzZWNyZXQ=\r\nb NOOP\r\n")
    first = parser.next_event()
    assert first.__class__.__name__ == "Authenticate"
    parser.expect_raw_line()
    assert parser.next_event() == RawLine(b"AGpvZQBzZWNyZXQ=")
    assert parser.next_event() == Noop("b")
    assert isinstance(parser.next_event(), NeedData)


def test_raw_line_mode_line_limit() -> None:
    parser = ImapParser(ParserLimits(max_line_length=10))
    parser.expect_raw_line()
    assert feed(parser, b"x" * 30 + b"\r\nb NOOP\r\n") == [
        ParseError(None, "Line too long (at most 10 bytes)"),
        Noop("b"),
    ]


def test_idle_done() -> None:
    parser = ImapParser()
    parser.expect_idle_done()
    assert feed(parser, b"DO") == []
    assert feed(parser, b"NE\r\n") == [IdleDone()]
    parser.expect_idle_done()
    assert feed(parser, b"done\r\n") == [IdleDone()]
    parser.expect_idle_done()
    assert feed(parser, b"a NOOP\r\nb NOOP\r\n") == [
        ParseError(None, "Expected DONE to end IDLE"),
        Noop("b"),
    ]


def test_starttls_buffer_can_be_inspected_and_dropped() -> None:
    parser = ImapParser()
    parser.receive_data(b"a STARTTLS\r\nb LOGIN x y\r\n")
    assert parser.next_event().__class__.__name__ == "StartTls"
    assert parser.buffered == len(b"b LOGIN x y\r\n")
    parser.discard_buffered()
    assert parser.buffered == 0
    assert isinstance(parser.next_event(), NeedData)


def test_nul_and_8bit_outside_strings_are_refused() -> None:
    got = events(b"a LOGIN \x00 x\r\na LOGIN \xe9 x\r\nb SEARCH TEXT {1+}\r\n\x00\r\nc NOOP\r\n")
    assert got == [
        ParseError("a", "Expected a user name"),
        ParseError("a", "Expected a user name"),
        ParseError("b", "NUL in literal"),
        Noop("c"),
    ]


def test_8bit_in_quoted_search_string_is_accepted_as_utf8() -> None:
    assert events('a SEARCH CHARSET UTF-8 TEXT "été"\r\n'.encode()) == [
        Search("a", SearchText("été"), charset="UTF-8")
    ]


def test_too_many_literals() -> None:
    limits = ParserLimits(max_literals=3)
    wire = b"a SEARCH TEXT {1+}\r\nx TEXT {1+}\r\ny TEXT {1+}\r\nz TEXT {1+}\r\nw\r\nb NOOP\r\n"
    assert events(wire, limits) == [ParseError("a", "Too many literals (at most 3)"), Noop("b")]
    assert len(events(wire.replace(b" TEXT {1+}\r\nw", b""), limits)) == 2


def test_append_message_does_not_count_towards_the_command_size() -> None:
    limits = ParserLimits(max_command_size=100, max_append_size=1000)
    message = b"m" * 1000
    assert events(b"a APPEND INBOX {1000+}\r\n" + message + b"\r\n", limits) == [
        Append("a", "INBOX", (), None, message)
    ]


def test_lines_count_towards_the_command_size() -> None:
    limits = ParserLimits(max_command_size=100, max_literal_size=1000)
    wire = b"a LOGIN {90+}\r\n" + b"u" * 90 + b" {1+}\r\np rest\r\nb NOOP\r\n"
    assert events(wire, limits) == [
        ParseError("a", "Command too large (at most 100 bytes)", code="TOOBIG"),
        Noop("b"),
    ]


def test_many_literals_stay_fast() -> None:
    # The command is checked again after each literal: the literal limit and the
    # regex-based scanning keep that cheap.

    big = b"a SEARCH" + (b" TEXT {16000+}\r\n" + b"x" * 16000) * 60 + b"\r\n"
    started = time.monotonic()
    (search,) = events(big, ParserLimits(max_line_length=100_000))
    assert isinstance(search, Search)
    assert time.monotonic() - started < 2.0


def test_invalid_tag_with_literal_plus_skips_the_literal() -> None:
    assert events(b"* LOGIN {3+}\r\nabc x\r\nb NOOP\r\n") == [
        ParseError(None, "Invalid tag"),
        Noop("b"),
    ]
