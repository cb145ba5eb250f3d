"""SEARCH keys evaluated over a hand-built folder (RFC 3501 section 6.4.4), plus the
algebra every key must obey: NOT is the complement, OR the union, AND the intersection."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ephemail.domain.imap import ImapMessage
from ephemail.protocols.imap.proto import ContinuationRequest, ImapParser, NeedData
from ephemail.protocols.imap.proto.commands import (
    DateSearch,
    Search,
    SearchAll,
    SearchAnd,
    SearchBody,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchLarger,
    SearchNot,
    SearchOr,
    SearchSequence,
    SearchSmaller,
    SearchText,
    SearchUid,
    SequenceSet,
)
from ephemail.protocols.imap.search_eval import evaluate_search, search_needs_text
from ephemail.services.imap import MessageText


def msg(uid: int, flags: set[str], size: int, when: datetime) -> ImapMessage:
    return ImapMessage(
        message_id=f"id-{uid}",
        uid=uid,
        flags=frozenset(flags),
        size=size,
        internal_date=when,
        envelope_from="sender@example.org",
    )


# Five messages, UIDs with gaps; seq = index + 1.
MESSAGES = [
    msg(3, {"\\Seen", "\\Answered"}, 500, datetime(2024, 1, 1, 0, 30, tzinfo=UTC)),
    msg(7, {"\\Flagged", "$Label1"}, 1500, datetime(2024, 1, 2, 23, 59, tzinfo=UTC)),
    # 2024-01-03 01:00 at +02:00 is 2024-01-02 23:00 UTC: its date is the 2nd.
    msg(
        8,
        {"\\Deleted", "\\Seen", "Junk"},
        2000,
        datetime(2024, 1, 3, 1, 0, tzinfo=timezone(timedelta(hours=2))),
    ),
    msg(20, {"\\Draft"}, 2001, datetime(2024, 1, 5, 12, 0, tzinfo=UTC)),
    msg(21, set(), 10, datetime(2024, 2, 1, 12, 0, tzinfo=UTC)),
]
RECENT = frozenset({20, 21})
TEXTS = {
    "id-3": MessageText(
        headers=(
            ("From", '"Alice" <alice@example.org>'),
            ("To", "bob@example.com"),
            ("Subject", "Straße report"),
            ("Date", "Mon, 01 Jan 2024 23:30:00 -0500"),
        ),
        body="Quarterly numbers attached.",
    ),
    "id-7": MessageText(
        headers=(
            ("From", "Bob <bob@example.com>"),
            ("To", "alice@example.org"),
            ("Cc", "carol@example.net"),
            ("Subject", "Re: STRASSE report"),
            ("Date", "Tue, 2 Jan 2024 08:00:00 +0000"),
            ("X-Tag", "one"),
            ("X-Tag", "two"),
        ),
        body="Looks good. Your code is 123456.",
    ),
    "id-8": MessageText(
        headers=(
            ("from", "Carol <carol@example.net>"),
            ("Subject", "Код подтверждения"),
            ("Date", "not a date"),
            ("X-Empty", ""),
        ),
        body="ВАШ КОД: 987654",
    ),
    "id-20": MessageText(
        headers=(("From", "dave@example.com"), ("Bcc", "eve@example.com")),
        body="draft with the word report in the body",
    ),
    # id-21 has no texts (expunged meanwhile): it matches no text key.
}


def seqs(key: SearchKey) -> list[int]:
    return evaluate_search(key, MESSAGES, recent=RECENT, texts=TEXTS)


def flag(name: str, present: bool = True) -> SearchFlag:
    return SearchFlag(name, present)


def seqset(*ranges: tuple[int | None, int | None]) -> SequenceSet:
    return SequenceSet(tuple(ranges))


NEW = SearchAnd((flag("\\Recent"), flag("\\Seen", False)))

CASES: list[tuple[str, SearchKey, list[int]]] = [
    ("ALL", SearchAll(), [1, 2, 3, 4, 5]),
    ("ANSWERED", flag("\\Answered"), [1]),
    ("UNANSWERED", flag("\\Answered", False), [2, 3, 4, 5]),
    ("DELETED", flag("\\Deleted"), [3]),
    ("UNDELETED", flag("\\Deleted", False), [1, 2, 4, 5]),
    ("DRAFT", flag("\\Draft"), [4]),
    ("UNDRAFT", flag("\\Draft", False), [1, 2, 3, 5]),
    ("FLAGGED", flag("\\Flagged"), [2]),
    ("UNFLAGGED", flag("\\Flagged", False), [1, 3, 4, 5]),
    ("SEEN", flag("\\Seen"), [1, 3]),
    ("UNSEEN", flag("\\Seen", False), [2, 4, 5]),
    ("seen in another case", flag("\\SEEN"), [1, 3]),
    ("RECENT", flag("\\Recent"), [4, 5]),
    ("OLD", flag("\\Recent", False), [1, 2, 3]),
    ("NEW", NEW, [4, 5]),
    ("KEYWORD", flag("$Label1"), [2]),
    ("KEYWORD case-insensitive", flag("junk"), [3]),
    ("UNKEYWORD", flag("Junk", False), [1, 2, 4, 5]),
    ("KEYWORD absent", flag("$Nothing"), []),
    ("BEFORE", SearchDate(DateSearch.BEFORE, date(2024, 1, 2)), [1]),
    ("ON", SearchDate(DateSearch.ON, date(2024, 1, 2)), [2, 3]),
    ("SINCE", SearchDate(DateSearch.SINCE, date(2024, 1, 5)), [4, 5]),
    ("SINCE far future", SearchDate(DateSearch.SINCE, date(2030, 1, 1)), []),
    # SENT* use the written date, disregarding time and zone; unparsable never matches.
    ("SENTON", SearchDate(DateSearch.SENTON, date(2024, 1, 1)), [1]),
    ("SENTBEFORE", SearchDate(DateSearch.SENTBEFORE, date(2024, 1, 2)), [1]),
    ("SENTSINCE", SearchDate(DateSearch.SENTSINCE, date(2024, 1, 2)), [2]),
    ("NOT SENTON", SearchNot(SearchDate(DateSearch.SENTON, date(2024, 1, 1))), [2, 3, 4, 5]),
    ("LARGER", SearchLarger(2000), [4]),
    ("SMALLER", SearchSmaller(1500), [1, 5]),
    ("LARGER 0", SearchLarger(0), [1, 2, 3, 4, 5]),
    ("seq", SearchSequence(seqset((2, 2), (4, 5))), [2, 4, 5]),
    ("seq reversed range", SearchSequence(seqset((3, 1))), [1, 2, 3]),
    ("seq *", SearchSequence(seqset((None, None))), [5]),
    ("seq 4:*", SearchSequence(seqset((4, None))), [4, 5]),
    ("seq beyond", SearchSequence(seqset((9, 12))), []),
    ("UID", SearchUid(seqset((7, 8), (21, 21))), [2, 3, 5]),
    ("UID *", SearchUid(seqset((None, None))), [5]),
    ("UID 9:*", SearchUid(seqset((9, None))), [4, 5]),
    ("UID 100:*", SearchUid(seqset((100, None))), [5]),
    ("UID gaps", SearchUid(seqset((4, 6), (9, 19))), []),
    ("FROM", SearchHeader("FROM", "example.com"), [2, 4]),
    ("FROM case-insensitive", SearchHeader("FROM", "CAROL"), [3]),
    ("TO", SearchHeader("TO", "alice"), [2]),
    ("CC", SearchHeader("CC", "carol"), [2]),
    ("BCC", SearchHeader("BCC", "eve@"), [4]),
    ("SUBJECT casefold ß = ss", SearchHeader("SUBJECT", "strasse"), [1, 2]),
    ("SUBJECT Cyrillic", SearchHeader("SUBJECT", "код"), [3]),
    ("SUBJECT empty: has the field", SearchHeader("SUBJECT", ""), [1, 2, 3]),
    ("HEADER any occurrence", SearchHeader("X-TAG", "two"), [2]),
    ("HEADER name case-insensitive", SearchHeader("x-tag", "ONE"), [2]),
    ("HEADER empty value, empty field", SearchHeader("X-Empty", ""), [3]),
    ("HEADER missing field", SearchHeader("X-Missing", ""), []),
    ("BODY", SearchBody("123456"), [2]),
    ("BODY casefold", SearchBody("ваш код"), [3]),
    ("BODY not in headers", SearchBody("alice"), []),
    ("TEXT header or body", SearchText("report"), [1, 2, 4]),
    ("TEXT header name", SearchText("x-tag: two"), [2]),
    ("TEXT empty", SearchText(""), [1, 2, 3, 4]),
    ("NOT", SearchNot(flag("\\Seen")), [2, 4, 5]),
    ("NOT text key", SearchNot(SearchBody("123456")), [1, 3, 4, 5]),
    ("OR", SearchOr(flag("\\Flagged"), SearchLarger(2000)), [2, 4]),
    ("AND list", SearchAnd((flag("\\Seen", False), SearchSmaller(2000))), [2, 5]),
    ("AND empty", SearchAnd(()), [1, 2, 3, 4, 5]),
    (
        "nested",
        SearchOr(
            SearchNot(SearchOr(flag("\\Seen"), flag("\\Recent"))),
            SearchAnd((SearchHeader("SUBJECT", "report"), SearchUid(seqset((1, 5))))),
        ),
        [1, 2],
    ),
]


@pytest.mark.parametrize(("key", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_search_key(key: SearchKey, expected: list[int]) -> None:
    assert seqs(key) == expected


@pytest.mark.parametrize(
    ("key", "needs"),
    [
        (SearchAll(), False),
        (flag("\\Seen"), False),
        (SearchDate(DateSearch.ON, date(2024, 1, 1)), False),
        (SearchDate(DateSearch.SENTON, date(2024, 1, 1)), True),
        (SearchHeader("SUBJECT", "x"), True),
        (SearchBody("x"), True),
        (SearchText("x"), True),
        (SearchLarger(1), False),
        (SearchUid(seqset((1, None))), False),
        (SearchNot(SearchBody("x")), True),
        (SearchOr(flag("\\Seen"), SearchText("x")), True),
        (SearchOr(flag("\\Seen"), SearchSmaller(3)), False),
        (SearchAnd((SearchAll(), SearchHeader("TO", "a"))), True),
        (SearchAnd((SearchAll(), SearchSequence(seqset((1, 1))))), False),
    ],
)
def test_search_needs_text(key: SearchKey, needs: bool) -> None:
    assert search_needs_text(key) is needs


def test_text_keys_without_texts_are_a_caller_error() -> None:
    with pytest.raises(ValueError, match="texts"):
        evaluate_search(SearchBody("x"), MESSAGES, recent=RECENT, texts=None)
    assert evaluate_search(flag("\\Seen"), MESSAGES, recent=RECENT, texts=None) == [1, 3]


def test_empty_folder() -> None:
    for key in (SearchAll(), SearchSequence(seqset((None, None))), SearchUid(seqset((1, None)))):
        assert evaluate_search(key, [], recent=frozenset(), texts={}) == []


def test_ten_thousand_messages_are_fast() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    messages = [
        msg(i + 1, {"\\Seen"} if i % 2 else set(), 1000 + i, start + timedelta(hours=i))
        for i in range(10_000)
    ]
    texts = {
        m.message_id: MessageText(
            headers=(("Subject", f"Message number {m.uid}"), ("From", "a@example.org")),
            body=f"Body text of message {m.uid} with some words in it.",
        )
        for m in messages
    }
    began = time.perf_counter()
    unseen = evaluate_search(flag("\\Seen", False), messages, recent=frozenset(), texts=None)
    text = evaluate_search(SearchText("number 9999"), messages, recent=frozenset(), texts=texts)
    elapsed = time.perf_counter() - began
    assert len(unseen) == 5000
    assert text == [9999]
    assert elapsed < 1.0


# -- algebra ----------------------------------------------------------------------------------

WORDS = ["report", "code", "ß", "SS", "alice", "", "x"]
DAY0 = date(2024, 1, 1)

leaf_keys: st.SearchStrategy[SearchKey] = st.one_of(
    st.just(SearchAll()),
    st.builds(
        SearchFlag,
        st.sampled_from(["\\Seen", "\\Flagged", "\\Deleted", "\\Recent", "$Label1", "junk"]),
        st.booleans(),
    ),
    st.builds(
        SearchDate,
        st.sampled_from(list(DateSearch)),
        st.integers(0, 6).map(lambda d: DAY0 + timedelta(days=d)),
    ),
    st.builds(SearchLarger, st.integers(0, 3000)),
    st.builds(SearchSmaller, st.integers(0, 3000)),
    st.builds(
        SearchHeader, st.sampled_from(["SUBJECT", "FROM", "TO", "X-TAG"]), st.sampled_from(WORDS)
    ),
    st.builds(SearchBody, st.sampled_from(WORDS)),
    st.builds(SearchText, st.sampled_from(WORDS)),
    st.builds(
        SearchUid,
        st.lists(
            st.tuples(st.none() | st.integers(1, 25), st.none() | st.integers(1, 25)),
            min_size=1,
            max_size=3,
        ).map(lambda r: SequenceSet(tuple(r))),
    ),
    st.builds(
        SearchSequence,
        st.lists(
            st.tuples(st.none() | st.integers(1, 8), st.none() | st.integers(1, 8)),
            min_size=1,
            max_size=3,
        ).map(lambda r: SequenceSet(tuple(r))),
    ),
)

search_keys: st.SearchStrategy[SearchKey] = st.recursive(
    leaf_keys,
    lambda inner: st.one_of(
        st.builds(SearchNot, inner),
        st.builds(SearchOr, inner, inner),
        st.lists(inner, max_size=3).map(lambda keys: SearchAnd(tuple(keys))),
    ),
    max_leaves=6,
)

folders = st.lists(st.sampled_from(MESSAGES), min_size=0, max_size=5, unique_by=lambda m: m.uid)


def run(key: SearchKey, folder: list[ImapMessage], recent: frozenset[int]) -> set[int]:
    folder = sorted(folder, key=lambda m: m.uid)
    return set(evaluate_search(key, folder, recent=recent, texts=TEXTS))


@settings(max_examples=300, deadline=None)
@given(
    search_keys,
    search_keys,
    search_keys,
    folders,
    st.frozensets(st.sampled_from([3, 7, 8, 20, 21])),
)
def test_not_or_and_are_complement_union_intersection(
    a: SearchKey, b: SearchKey, c: SearchKey, folder: list[ImapMessage], recent: frozenset[int]
) -> None:
    everything = set(range(1, len(folder) + 1))
    in_a, in_b, in_c = run(a, folder, recent), run(b, folder, recent), run(c, folder, recent)
    assert in_a <= everything
    assert run(SearchNot(a), folder, recent) == everything - in_a
    assert run(SearchOr(a, b), folder, recent) == in_a | in_b
    assert run(SearchAnd((a, b, c)), folder, recent) == in_a & in_b & in_c
    assert run(SearchAnd(()), folder, recent) == everything


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"a SEARCH NEW\r\n", [4, 5]),
        (b"a SEARCH OLD UNSEEN\r\n", [2]),
        (b"a SEARCH OR SEEN FLAGGED NOT DELETED\r\n", [1, 2]),
        (b"a SEARCH KEYWORD JUNK\r\n", [3]),
        (b"a SEARCH UID 8:* SINCE 2-Jan-2024\r\n", [3, 4, 5]),
        (b"a SEARCH 2:* SENTSINCE 1-Jan-2024 SENTBEFORE 2-Jan-2024\r\n", []),
        (b'a SEARCH HEADER X-Tag "" SUBJECT report\r\n', [2]),
        (b"a SEARCH CHARSET UTF-8 SUBJECT {6}\r\n\xd0\xba\xd0\xbe\xd0\xb4\r\n", [3]),
        (b"a SEARCH CHARSET US-ASCII TEXT REPORT (LARGER 400 SMALLER 1600)\r\n", [1, 2]),
    ],
)
def test_parsed_searches(line: bytes, expected: list[int]) -> None:
    parser = ImapParser()
    parser.receive_data(line)
    events = []
    while not isinstance(event := parser.next_event(), Search):
        assert isinstance(event, ContinuationRequest | NeedData), event
        events.append(event)
    assert seqs(event.key) == expected
