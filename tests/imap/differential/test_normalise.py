"""The normaliser erases only what the RFC leaves free: equal meanings compare equal,
and every real difference still shows."""

from __future__ import annotations

from tests.imap.differential.normalise import normalise
from tests.imap.differential.wire import Atom, parse_values

TAG = b"A1"


def _same(first: list[bytes], second: list[bytes], command: bytes = b"FETCH 1 ALL") -> bool:
    return normalise(first, TAG, command) == normalise(second, TAG, command)


def test_literal_and_quoted_string_are_the_same_string() -> None:
    assert _same(
        [b"* 1 FETCH (BODY[] {3}\r\nabc)\r\n", b"A1 OK done\r\n"],
        [b'* 1 FETCH (BODY[] "abc")\r\n', b"A1 OK FETCH completed.\r\n"],
    )
    assert not _same(
        [b'* 1 FETCH (BODY[] "abc")\r\n', b"A1 OK\r\n"],
        [b'* 1 FETCH (BODY[] "abd")\r\n', b"A1 OK\r\n"],
    )


def test_fetch_items_merge_and_their_order_is_free_but_values_count() -> None:
    assert _same(
        [b"* 1 FETCH (FLAGS (\\Seen \\Flagged) UID 4)\r\n", b"A1 OK\r\n"],
        [b"* 1 FETCH (UID 4)\r\n", b"* 1 FETCH (FLAGS (\\Flagged \\Seen))\r\n", b"A1 OK\r\n"],
    )
    assert not _same(
        [b"* 1 FETCH (FLAGS (\\Seen) UID 4)\r\n", b"A1 OK\r\n"],
        [b"* 1 FETCH (FLAGS (\\Seen) UID 5)\r\n", b"A1 OK\r\n"],
    )


def test_status_text_goes_but_status_and_code_stay() -> None:
    assert _same([b"A1 NO [TRYCREATE] no such folder\r\n"], [b"A1 NO [TRYCREATE] Nope.\r\n"])
    assert not _same([b"A1 NO [TRYCREATE] x\r\n"], [b"A1 NO x\r\n"])
    assert not _same([b"A1 NO x\r\n"], [b"A1 BAD x\r\n"])


def test_uidvalidity_is_masked_and_uid_sets_expanded() -> None:
    assert _same(
        [b"A1 OK [COPYUID 17 1:3 4:6] done\r\n"],
        [b"A1 OK [COPYUID 99 1,2,3 4,5,6] done\r\n"],
    )
    assert not _same([b"A1 OK [COPYUID 17 1:3 4:6]\r\n"], [b"A1 OK [COPYUID 17 1:3 5:7]\r\n"])


def test_expunge_order_matters_other_untagged_order_does_not() -> None:
    assert _same(
        [b"* 3 EXPUNGE\r\n", b"* 1 EXPUNGE\r\n", b"* 2 RECENT\r\n", b"A1 OK\r\n"],
        [b"* 2 RECENT\r\n", b"* 3 EXPUNGE\r\n", b"* 1 EXPUNGE\r\n", b"A1 OK\r\n"],
        b"EXPUNGE",
    )
    assert not _same(
        [b"* 3 EXPUNGE\r\n", b"* 1 EXPUNGE\r\n", b"A1 OK\r\n"],
        [b"* 1 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n", b"A1 OK\r\n"],
        b"EXPUNGE",
    )


def test_mime_tokens_are_case_insensitive_sizes_are_not() -> None:
    upper = b'* 1 FETCH (BODY ("TEXT" "PLAIN" ("CHARSET" "UTF-8") NIL NIL "7BIT" 4 1))\r\n'
    lower = b'* 1 FETCH (BODY ("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 4 1))\r\n'
    bigger = b'* 1 FETCH (BODY ("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 5 1))\r\n'
    assert _same([upper, b"A1 OK\r\n"], [lower, b"A1 OK\r\n"])
    assert not _same([lower, b"A1 OK\r\n"], [bigger, b"A1 OK\r\n"])


def test_internaldate_compares_instants() -> None:
    utc = b'* 1 FETCH (INTERNALDATE "05-Apr-2024 08:00:00 +0000")\r\n'
    cest = b'* 1 FETCH (INTERNALDATE " 5-Apr-2024 10:00:00 +0200")\r\n'
    wrong = b'* 1 FETCH (INTERNALDATE " 5-Apr-2024 10:00:00 +0000")\r\n'
    assert _same([utc, b"A1 OK\r\n"], [cest, b"A1 OK\r\n"])
    assert not _same([cest, b"A1 OK\r\n"], [wrong, b"A1 OK\r\n"])


def test_header_fields_list_order_is_free() -> None:
    assert _same(
        [b'* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] "x")\r\n', b"A1 OK\r\n"],
        [b'* 1 FETCH (BODY[HEADER.FIELDS (FROM SUBJECT)] "x")\r\n', b"A1 OK\r\n"],
    )


def test_parser_reads_bracketed_atoms_and_nested_lists() -> None:
    values = parse_values(b'(BODY[HEADER.FIELDS (A B)]<0> {2}\r\nhi FLAGS (\\Seen) X NIL "q\\"")')
    assert values == [
        (
            Atom("BODY[HEADER.FIELDS (A B)]<0>"),
            b"hi",
            Atom("FLAGS"),
            (Atom("\\Seen"),),
            Atom("X"),
            None,
            b'q"',
        )
    ]
