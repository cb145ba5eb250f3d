"""The search language parser (docs/api.md, "Search language"): every form, the errors
people see, round trips through format_search, and hostile input."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ephemail.domain.search import (
    MAX_QUERY_LENGTH,
    MAX_TERMS,
    SearchField,
    SearchQuery,
    SearchSyntaxError,
    Term,
    format_search,
    parse_search,
)

F = SearchField


def terms(text: str) -> list[Term]:
    return list(parse_search(text).terms)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", [Term(F.TEXT, "hello")]),
        ("  hello   world ", [Term(F.TEXT, "hello"), Term(F.TEXT, "world")]),
        ("hello\tworld\n", [Term(F.TEXT, "hello"), Term(F.TEXT, "world")]),
        ('"hello world"', [Term(F.TEXT, "hello world", phrase=True)]),
        ('"say \\"hi\\" \\\\ now"', [Term(F.TEXT, 'say "hi" \\ now', phrase=True)]),
        ('"a\\b"', [Term(F.TEXT, "a\\b", phrase=True)]),
        ("-spam", [Term(F.TEXT, "spam", negated=True)]),
        ('-"spam offer"', [Term(F.TEXT, "spam offer", negated=True, phrase=True)]),
        ("--x", [Term(F.TEXT, "-x", negated=True)]),
        ("from:alice@example.org", [Term(F.FROM, "alice@example.org")]),
        ("FROM:Alice", [Term(F.FROM, "Alice")]),
        ('from:"Alice Liddell"', [Term(F.FROM, "Alice Liddell", phrase=True)]),
        ("to:bob", [Term(F.TO, "bob")]),
        ("cc:carol", [Term(F.CC, "carol")]),
        ("Subject:invoice", [Term(F.SUBJECT, "invoice")]),
        ('subject:"password reset"', [Term(F.SUBJECT, "password reset", phrase=True)]),
        ("subject:re:hello", [Term(F.SUBJECT, "re:hello")]),
        ("-from:alice", [Term(F.FROM, "alice", negated=True)]),
        ("has:attachment", [Term(F.HAS_ATTACHMENT, None)]),
        ("has:Attachments", [Term(F.HAS_ATTACHMENT, None)]),
        ('has:"attachment"', [Term(F.HAS_ATTACHMENT, None)]),
        ("-has:attachment", [Term(F.HAS_ATTACHMENT, None, negated=True)]),
        ("is:read", [Term(F.IS_READ, None)]),
        ("IS:UNREAD", [Term(F.IS_UNREAD, None)]),
        ("-is:unread", [Term(F.IS_UNREAD, None, negated=True)]),
        ("before:2026-01-31", [Term(F.BEFORE, date(2026, 1, 31))]),
        ("after:2024-02-29", [Term(F.AFTER, date(2024, 2, 29))]),
        ("-before:2026-01-31", [Term(F.BEFORE, date(2026, 1, 31), negated=True)]),
        ("larger:100", [Term(F.LARGER, 100)]),
        ("larger:10K", [Term(F.LARGER, 10 * 1024)]),
        ("smaller:2m", [Term(F.SMALLER, 2 * 1024 * 1024)]),
        ("smaller:0", [Term(F.SMALLER, 0)]),
        ("http://example.org/a?b=c", [Term(F.TEXT, "http://example.org/a?b=c")]),
        ("Re: hello", [Term(F.TEXT, "Re:"), Term(F.TEXT, "hello")]),
        ("10:30", [Term(F.TEXT, "10:30")]),
        ("état:bon", [Term(F.TEXT, "état:bon")]),
        ('"foo:bar"', [Term(F.TEXT, "foo:bar", phrase=True)]),
        ("a-b it's", [Term(F.TEXT, "a-b"), Term(F.TEXT, "it's")]),
        (
            "école Привет 中文",
            [Term(F.TEXT, "école"), Term(F.TEXT, "Привет"), Term(F.TEXT, "中文")],
        ),
        (
            '"a" OR b* NEAR(',
            [
                Term(F.TEXT, "a", phrase=True),
                Term(F.TEXT, "OR"),
                Term(F.TEXT, "b*"),
                Term(F.TEXT, "NEAR("),
            ],
        ),
        (
            'from:alice -subject:"x y" has:attachment is:unread after:2026-01-01 smaller:1M w',
            [
                Term(F.FROM, "alice"),
                Term(F.SUBJECT, "x y", negated=True, phrase=True),
                Term(F.HAS_ATTACHMENT, None),
                Term(F.IS_UNREAD, None),
                Term(F.AFTER, date(2026, 1, 1)),
                Term(F.SMALLER, 1024 * 1024),
                Term(F.TEXT, "w"),
            ],
        ),
    ],
)
def test_every_form_parses(text: str, expected: list[Term]) -> None:
    assert terms(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \t\n ", "empty"),
        ('"unclosed', "unclosed quote"),
        ('hello "unclosed phrase', "unclosed quote"),
        ('"ends in backslash\\"', "unclosed quote"),
        ('subject:"unclosed', "unclosed quote"),
        ('"a"b', "space after the closing quote"),
        ('x"y', "unexpected quote"),
        ('from:a"b', "unexpected quote"),
        ('""', "empty phrase"),
        ('subject:""', "needs a value"),
        ("-", "must be followed"),
        ("a - b", "must be followed"),
        ("from:", "needs a value"),
        ("from: alice", "needs a value"),
        ("foo:bar", "unknown field foo:"),
        ("form:alice", "did you mean from:?"),
        ("subjet:x", "did you mean subject:?"),
        ("mailto:a@b", 'quote it: "mailto:a@b"'),
        ("has:pdf", "has:attachment"),
        ("is:starred", "is:read and is:unread"),
        ("before:yesterday", "YYYY-MM-DD"),
        ("before:2026-1-5", "YYYY-MM-DD"),
        ("after:2026-02-30", "not a date"),
        ("after:0000-01-01", "not a date"),
        ("before:２０２６-01-01", "YYYY-MM-DD"),  # full-width digits
        ("larger:big", "size in bytes"),
        ("larger:1.5M", "size in bytes"),
        ("larger:10G", "size in bytes"),
        ("smaller:-1", "size in bytes"),
        ("larger:99999999999999999999", "too large"),
        ("larger:9999999999999M", "too large"),
        ("!!!", "no letters or digits"),
        ("- - -", "must be followed"),
        ("--", "no letters or digits"),
        ('"  ,, "', "no letters or digits"),
        ("from:@", "no letters or digits"),
        ("🙂", "no letters or digits"),
        ("a\x00b", "control character"),
        ("a\x1bb", "control character"),
        ("\ud800", "invalid character"),
        ("x" * (MAX_QUERY_LENGTH + 1), "too long"),
        (" ".join(["w"] * (MAX_TERMS + 1)), "too many terms"),
    ],
)
def test_errors_explain_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(SearchSyntaxError, match=re.escape(message)):
        parse_search(text)


def test_the_limits_themselves_are_accepted() -> None:
    assert len(terms(" ".join(["w"] * MAX_TERMS))) == MAX_TERMS
    assert terms("x" * MAX_QUERY_LENGTH) == [Term(F.TEXT, "x" * MAX_QUERY_LENGTH)]


def test_errors_carry_the_position() -> None:
    with pytest.raises(SearchSyntaxError) as caught:
        parse_search('hello "world')
    assert caught.value.position == 6
    assert isinstance(caught.value, ValueError)


# -- round trips ----------------------------------------------------------------------

# The first character is a letter or digit (Latin-1 letters, without the signs × and ÷).
BARE = st.from_regex(r"[A-Za-z0-9À-ÖØ-öø-ÿ][A-Za-z0-9À-ÿ.@_'+*()/-]{0,15}", fullmatch=True)
PHRASE = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20).filter(
    lambda s: any(c.isalnum() for c in s)
)


@st.composite
def term_strategy(draw: st.DrawFn) -> Term:
    field = draw(st.sampled_from(list(SearchField)))
    negated = draw(st.booleans())
    if field in (F.HAS_ATTACHMENT, F.IS_READ, F.IS_UNREAD):
        return Term(field, None, negated)
    if field in (F.BEFORE, F.AFTER):
        return Term(field, draw(st.dates()), negated)
    if field in (F.LARGER, F.SMALLER):
        return Term(field, draw(st.integers(0, 1 << 40)), negated)
    phrase = draw(st.booleans())
    value = draw(PHRASE if phrase else BARE)
    if field is F.TEXT and not phrase and ":" in value:
        phrase = True  # a bare word shaped like field:value would read as a field
    return Term(field, value, negated, phrase)


@given(st.lists(term_strategy(), min_size=1, max_size=MAX_TERMS).map(tuple))
@settings(max_examples=400)
def test_format_then_parse_gives_the_query_back(items: tuple[Term, ...]) -> None:
    query = SearchQuery(items)
    assert parse_search(format_search(query)) == query


@given(st.text(max_size=200))
@settings(max_examples=1000)
@example('"a" OR b* NEAR(')
@example('from:"x\\" y" -"-" \\')
@example("is:read:x has::")
@example("---a")
def test_any_text_parses_or_fails_cleanly_and_round_trips(text: str) -> None:
    try:
        query = parse_search(text)
    except SearchSyntaxError as error:
        message = str(error)
    else:
        assert 1 <= len(query.terms) <= MAX_TERMS
        assert parse_search(format_search(query)) == query
        return
    assert message


@given(st.text(alphabet='"\\-: \t:abc', max_size=60))
@settings(max_examples=1000)
def test_quote_and_operator_soup_fails_cleanly(text: str) -> None:
    try:
        query = parse_search(text)
    except SearchSyntaxError:
        return
    assert parse_search(format_search(query)) == query


def test_huge_and_binary_like_input_fails_fast() -> None:
    with pytest.raises(SearchSyntaxError, match="too long"):
        parse_search('"' * 1_000_000)
    with pytest.raises(SearchSyntaxError, match="control character"):
        parse_search(bytes(range(1, 64)).decode())


@pytest.mark.parametrize(
    "term",
    [
        Term(F.TEXT, "two words"),
        Term(F.TEXT, "-dash"),
        Term(F.TEXT, "from:alice"),
        Term(F.TEXT, 'quo"te'),
        Term(F.TEXT, "!!!", phrase=True),
        Term(F.FROM, 42),
        Term(F.BEFORE, "2026-01-01"),
        Term(F.LARGER, -1),
        Term(F.IS_READ, "yes"),
    ],
)
def test_format_refuses_terms_the_language_cannot_express(term: Term) -> None:
    with pytest.raises(ValueError, match=r"cannot|needs|no letters"):
        format_search(SearchQuery((term,)))


def test_format_writes_canonical_spelling() -> None:
    query = parse_search('FROM:Alice has:Attachments IS:unread larger:1k "a \\"b\\"" -x')
    assert format_search(query) == 'from:Alice has:attachment is:unread larger:1024 "a \\"b\\"" -x'
