"""Sequence sets and modified UTF-7 (RFC 3501 sections 9 and 5.1.3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ephemail.protocols.imap.proto import utf7
from ephemail.protocols.imap.proto.commands import Fetch, SequenceSet

from .support import events


def parse_set(text: str) -> SequenceSet:
    (command,) = events(f"a FETCH {text} FLAGS\r\n".encode())
    assert isinstance(command, Fetch)
    return command.sequence_set


@pytest.mark.parametrize(
    ("text", "max_value", "numbers"),
    [
        ("1", 5, [1]),
        ("1:3", 5, [1, 2, 3]),
        ("3:1", 5, [1, 2, 3]),
        ("2,4:5", 5, [2, 4, 5]),
        ("*", 5, [5]),
        ("1:*", 5, [1, 2, 3, 4, 5]),
        ("*:3", 5, [3, 4, 5]),
        ("7:*", 5, [5]),  # RFC 3501 6.4.8: 7:* is 5:7 when 5 is the largest
        ("4,2,4,1:2", 5, [1, 2, 4]),
        ("9", 5, []),
        ("1:*", 0, []),
        ("1:4294967295", 3, [1, 2, 3]),
    ],
)
def test_resolve(text: str, max_value: int, numbers: list[int]) -> None:
    sequence_set = parse_set(text)
    assert sequence_set.resolve(max_value) == numbers
    assert str(sequence_set) == text
    for number in range(1, max_value + 2):
        assert sequence_set.contains(number, max_value) == (
            number in numbers
            or (
                number > max_value
                and any(low <= number <= high for low, high in sequence_set.bounds(max_value))
            )
        )


def test_contains_does_not_enumerate() -> None:
    huge = parse_set("1:4294967295")
    assert huge.contains(4_000_000_000, 10)
    assert not parse_set("5:*").contains(3, 10)
    assert parse_set("5:*").contains(10, 10)
    assert parse_set("*").uses_star and not parse_set("1:2").uses_star


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("INBOX", "INBOX"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501 5.1.3
        ("&", "&-"),
        ("A&B&", "A&-B&-"),
        ("é", "&AOk-"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("😀", "&2D3eAA-"),
        ("a\u00e9\u00e9b", "a&AOkA6Q-b"),
        ("", ""),
    ],
)
def test_utf7_examples(name: str, wire: str) -> None:
    assert utf7.encode(name) == wire
    assert utf7.decode(wire) == name


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        ("&", "unterminated '&' sequence"),
        ("&AOk", "unterminated '&' sequence"),
        ("&AO!-", "invalid character in modified base64"),
        ("&AOk=-", "invalid character in modified base64"),
        ("&A-", "truncated modified base64"),
        ("&AO-", "modified base64 does not hold whole UTF-16 units"),
        ("&AOl-", "non-zero padding bits in modified base64"),
        ("&AGE-", "printable ASCII must not be base64-encoded"),
        ("&2D0-", "unpaired UTF-16 surrogate in modified base64"),
        ("&AOk-&AOk-", "adjacent encoded sequences must be merged"),
        ("é", "mailbox names must be 7-bit printable (modified UTF-7)"),
        ("a\tb", "mailbox names must be 7-bit printable (modified UTF-7)"),
    ],
)
def test_utf7_strict_decode(wire: str, reason: str) -> None:
    with pytest.raises(utf7.Utf7Error) as error:
        utf7.decode(wire)
    assert str(error.value) == reason


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="utf-8")))
def test_utf7_round_trip(name: str) -> None:
    wire = utf7.encode(name)
    assert all(" " <= char <= "~" for char in wire)
    assert utf7.decode(wire) == name


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20))
def test_utf7_decode_accepts_only_its_own_encodings(wire: str) -> None:
    try:
        name = utf7.decode(wire)
    except utf7.Utf7Error:
        return
    assert utf7.encode(name) == wire
