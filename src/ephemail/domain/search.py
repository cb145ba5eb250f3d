"""The search language (docs/api.md, "Search language"): parsed here, compiled by the store.

One parser serves the API, the web UI and (later) MCP. It is pure: it knows nothing of
SQL; `ephemail.adapters.sql.search` turns a `SearchQuery` into conditions.

Grammar (terms are separated by whitespace and combined with AND)::

    term   = ["-"] ( phrase | field | word )
    phrase = '"' any characters, with \\" and \\\\ as escapes '"'
    field  = name ":" ( phrase | bare value )      name is case-insensitive
    word   = any run of non-space characters without '"'

Meaning of each form:

- ``word`` and ``"a phrase"``: the text is split into tokens (runs of letters and
  digits; case and Latin diacritics ignored, so ``ecole`` finds ``École``). A word or
  phrase matches when its tokens appear one after the other, as whole tokens (no
  prefix matching: ``verif`` does not find ``verification``), in the subject, the
  From/To/Cc headers, the readable body text or an attachment's file name. So
  ``example.org`` and ``alice@example.org`` find the address ``alice@example.org``.
- ``from:``, ``to:``, ``cc:``, ``subject:`` (value bare or quoted): the same token match,
  restricted to that header; ``from:`` looks in the envelope sender (SMTP ``MAIL FROM``)
  too. ``from:alice``, ``from:example.org`` and ``from:alice@example.org`` all find
  ``Alice <alice@example.org>``. Quoting changes nothing but allows spaces.
- ``has:attachment`` (or ``has:attachments``), ``is:read``, ``is:unread``.
- ``before:YYYY-MM-DD``: arrived before that day began (UTC); ``after:YYYY-MM-DD``:
  arrived on that day or later (UTC), as Gmail does. ``after:2026-01-01
  before:2026-01-02`` is exactly the first of January.
- ``larger:N`` / ``smaller:N``: the raw message is strictly larger / smaller than N
  bytes; N may end in ``K`` or ``M`` (multiples of 1024), e.g. ``larger:10K``.
- ``-`` before any term negates it.

Unknown field names: ``name:value`` where *name* is made of ASCII letters and is not a
field above is an error that names the fields (and suggests the closest one), so a
typo such as ``form:alice`` is not silently searched as text. Two forms stay plain
words: a URL-like ``name://...`` (``http://example.org/x``), and a word ending in its
colon (``Re:``). Any other text with a colon can be searched by quoting it:
``"mailto:alice@example.org"``.

Limits: at most 1000 characters and 32 terms; control characters (other than
whitespace) are refused; a word, phrase or text value must contain a letter or digit.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

MAX_QUERY_LENGTH = 1000
MAX_TERMS = 32
# Larger sizes than this (8 PiB) are refused: they could not be stored anyway.
MAX_SIZE = 1 << 53


class SearchField(StrEnum):
    """What a term tests. TEXT is a plain word or phrase."""

    TEXT = "text"
    FROM = "from"
    TO = "to"
    CC = "cc"
    SUBJECT = "subject"
    HAS_ATTACHMENT = "has_attachment"
    IS_READ = "is_read"
    IS_UNREAD = "is_unread"
    BEFORE = "before"
    AFTER = "after"
    LARGER = "larger"
    SMALLER = "smaller"


# Fields whose value is text (str); `phrase` tells whether it was quoted.
TEXT_FIELDS = frozenset(
    {SearchField.TEXT, SearchField.FROM, SearchField.TO, SearchField.CC, SearchField.SUBJECT}
)
DATE_FIELDS = frozenset({SearchField.BEFORE, SearchField.AFTER})
SIZE_FIELDS = frozenset({SearchField.LARGER, SearchField.SMALLER})
FLAG_FIELDS = frozenset({SearchField.HAS_ATTACHMENT, SearchField.IS_READ, SearchField.IS_UNREAD})


@dataclass(frozen=True, slots=True)
class Term:
    """One condition. `value` is str for text fields, `date` for before/after,
    int (bytes) for larger/smaller, None for has:/is: flags."""

    field: SearchField
    value: str | int | date | None
    negated: bool = False
    phrase: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Every term must hold (AND)."""

    terms: tuple[Term, ...]


class SearchSyntaxError(ValueError):
    """The query cannot be parsed; the message is meant for the person who typed it."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


# Field names as typed (lower case) -> the field they name, for fields with a free value.
_VALUE_FIELDS = {
    "from": SearchField.FROM,
    "to": SearchField.TO,
    "cc": SearchField.CC,
    "subject": SearchField.SUBJECT,
    "before": SearchField.BEFORE,
    "after": SearchField.AFTER,
    "larger": SearchField.LARGER,
    "smaller": SearchField.SMALLER,
}
_HAS_VALUES = {"attachment": SearchField.HAS_ATTACHMENT, "attachments": SearchField.HAS_ATTACHMENT}
_IS_VALUES = {"read": SearchField.IS_READ, "unread": SearchField.IS_UNREAD}
_FIELD_NAMES = (*_VALUE_FIELDS, "has", "is")
_FLAG_SPELLING = {
    SearchField.HAS_ATTACHMENT: "has:attachment",
    SearchField.IS_READ: "is:read",
    SearchField.IS_UNREAD: "is:unread",
}

_FIELD_PREFIX = re.compile(r"([A-Za-z]+):")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_SIZE = re.compile(r"([0-9]+)([kKmM]?)")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}


def parse_search(text: str) -> SearchQuery:
    """Parse the search language; raise SearchSyntaxError with a readable message."""
    if len(text) > MAX_QUERY_LENGTH:
        raise SearchSyntaxError(
            f"the search is too long ({len(text)} characters; at most {MAX_QUERY_LENGTH})"
        )
    _check_characters(text)
    terms: list[Term] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if len(terms) == MAX_TERMS:
            raise SearchSyntaxError(f"too many terms: at most {MAX_TERMS}", i)
        term, i = _parse_term(text, i)
        terms.append(term)
    if not terms:
        raise SearchSyntaxError("the search is empty: type a word, a phrase or a field:value")
    return SearchQuery(tuple(terms))


def format_search(query: SearchQuery) -> str:
    """Write `query` in the search language so that `parse_search` gives it back.

    Raises ValueError for a term that the language cannot express (parse_search
    never produces one), e.g. a non-phrase word containing a space.
    """
    return " ".join(_format_term(term) for term in query.terms)


# -- parsing --------------------------------------------------------------------------


def _check_characters(text: str) -> None:
    for index, char in enumerate(text):
        if char.isspace():
            continue
        category = unicodedata.category(char)
        if category == "Cc":
            raise SearchSyntaxError(
                f"the search contains a control character (U+{ord(char):04X})", index
            )
        if category == "Cs":
            raise SearchSyntaxError("the search contains an invalid character", index)


def _parse_term(text: str, start: int) -> tuple[Term, int]:
    i = start
    negated = text[i] == "-"
    if negated:
        i += 1
        if i >= len(text) or text[i].isspace():
            raise SearchSyntaxError(
                "a '-' must be followed directly by the term it excludes, e.g. -from:alice",
                start,
            )
    if text[i] == '"':
        value, end = _read_quoted(text, i)
        _require_searchable(value, i)
        return Term(SearchField.TEXT, value, negated, phrase=True), end
    field = _FIELD_PREFIX.match(text, i)
    if field is not None:
        name = field.group(1).lower()
        if name in _FIELD_NAMES:
            return _parse_field(text, name, field.end(), negated, i)
        rest_end = _bare_end(text, field.end())
        rest = text[field.end() : rest_end]
        if rest and not rest.startswith("//"):
            raise _unknown_field(field.group(1), text[i:rest_end], i)
    end = _bare_end(text, i)
    word = text[i:end]
    _check_bare(word, i)
    _require_searchable(word, i)
    return Term(SearchField.TEXT, word, negated), end


def _parse_field(
    text: str, name: str, value_start: int, negated: bool, position: int
) -> tuple[Term, int]:
    if value_start >= len(text) or text[value_start].isspace():
        raise SearchSyntaxError(
            f"{name}: needs a value right after the colon, e.g. {_EXAMPLES[name]}", position
        )
    quoted = text[value_start] == '"'
    if quoted:
        value, end = _read_quoted(text, value_start)
    else:
        end = _bare_end(text, value_start)
        value = text[value_start:end]
        _check_bare(value, value_start)
    if name == "has":
        flag = _HAS_VALUES.get(value.lower())
        if flag is None:
            raise SearchSyntaxError(
                f"has: understands only has:attachment (got has:{_shown(value)})", position
            )
        return Term(flag, None, negated), end
    if name == "is":
        flag = _IS_VALUES.get(value.lower())
        if flag is None:
            raise SearchSyntaxError(
                f"is: understands is:read and is:unread (got is:{_shown(value)})", position
            )
        return Term(flag, None, negated), end
    field = _VALUE_FIELDS[name]
    if field in DATE_FIELDS:
        return Term(field, _parse_date(name, value, position), negated), end
    if field in SIZE_FIELDS:
        return Term(field, _parse_size(name, value, position), negated), end
    if not value:
        raise SearchSyntaxError(f"{name}: needs a value, e.g. {_EXAMPLES[name]}", position)
    _require_searchable(value, value_start)
    return Term(field, value, negated, phrase=quoted), end


_EXAMPLES = {
    "from": "from:alice@example.org",
    "to": "to:bob",
    "cc": "cc:carol",
    "subject": 'subject:"password reset"',
    "has": "has:attachment",
    "is": "is:unread",
    "before": "before:2026-01-31",
    "after": "after:2026-01-01",
    "larger": "larger:10K",
    "smaller": "smaller:2M",
}


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a quoted string starting at text[start] == '"'; return (value, index after)."""
    chars: list[str] = []
    i = start + 1
    n = len(text)
    while True:
        if i >= n:
            raise SearchSyntaxError(
                f'unclosed quote: the phrase starting at character {start + 1} needs a closing "',
                start,
            )
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in '"\\':
            chars.append(text[i + 1])
            i += 2
        elif char == '"':
            i += 1
            break
        else:
            chars.append(char)
            i += 1
    if i < n and not text[i].isspace():
        raise SearchSyntaxError(
            f"put a space after the closing quote at character {i} (before {_shown(text[i:])})",
            i,
        )
    return "".join(chars), i


def _bare_end(text: str, start: int) -> int:
    i = start
    while i < len(text) and not text[i].isspace():
        i += 1
    return i


def _check_bare(value: str, position: int) -> None:
    if '"' in value:
        raise SearchSyntaxError(
            f"unexpected quote in {_shown(value)}: a quote may only start a phrase "
            '(put a space before it), and a " inside a phrase is written \\"',
            position + value.index('"'),
        )


def _require_searchable(value: str, position: int) -> None:
    if not any(char.isalnum() for char in value):
        if not value:
            raise SearchSyntaxError("empty phrase: put some words between the quotes", position)
        raise SearchSyntaxError(f"{_shown(value)} has no letters or digits to search for", position)


def _parse_date(name: str, value: str, position: int) -> date:
    match = _DATE.fullmatch(value)
    if match is None:
        raise SearchSyntaxError(
            f"{name}: needs a date written YYYY-MM-DD, e.g. {_EXAMPLES[name]} "
            f"(got {_shown(value)})",
            position,
        )
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise SearchSyntaxError(
            f"{name}: {value} is not a date in the calendar", position
        ) from None


def _parse_size(name: str, value: str, position: int) -> int:
    match = _SIZE.fullmatch(value)
    if match is None:
        raise SearchSyntaxError(
            f"{name}: needs a size in bytes, optionally ending in K or M, e.g. "
            f"{_EXAMPLES[name]} (got {_shown(value)})",
            position,
        )
    digits = match.group(1)
    if len(digits) > 16 or int(digits) * _SIZE_UNITS[match.group(2).lower()] > MAX_SIZE:
        raise SearchSyntaxError(f"{name}: {_shown(value)} is too large", position)
    return int(digits) * _SIZE_UNITS[match.group(2).lower()]


def _unknown_field(name: str, token: str, position: int) -> SearchSyntaxError:
    close = difflib.get_close_matches(name.lower(), _FIELD_NAMES, n=1)
    hint = f"did you mean {close[0]}:? " if close else ""
    known = ", ".join(f"{f}:" for f in _FIELD_NAMES)
    return SearchSyntaxError(
        f"unknown field {name}: ({hint}known fields: {known}); "
        f"to search for the text itself, quote it: {_quote(token)}",
        position,
    )


def _shown(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


# -- formatting -----------------------------------------------------------------------


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format_term(term: Term) -> str:
    sign = "-" if term.negated else ""
    field = term.field
    if field in FLAG_FIELDS:
        _expect(term, type(None))
        return sign + _FLAG_SPELLING[field]
    if field in DATE_FIELDS:
        if not isinstance(term.value, date) or isinstance(term.value, datetime):
            raise ValueError(f"{field.value}: needs a date, got {term.value!r}")
        return f"{sign}{field.value}:{term.value.isoformat()}"
    if field in SIZE_FIELDS:
        if isinstance(term.value, bool) or not isinstance(term.value, int) or term.value < 0:
            raise ValueError(f"{field.value}: needs a size in bytes, got {term.value!r}")
        return f"{sign}{field.value}:{term.value}"
    value = _expect(term, str)
    if not any(char.isalnum() for char in value):
        raise ValueError(f"{value!r} has no letters or digits to search for")
    if term.phrase:
        written = _quote(value)
    else:
        _check_writable_bare(term, value)
        written = value
    if field is SearchField.TEXT:
        return sign + written
    return f"{sign}{field.value}:{written}"


def _expect(term: Term, kind: type[str] | type[None]) -> str:
    if not isinstance(term.value, kind):
        raise ValueError(f"{term.field.value}: cannot hold {term.value!r}")
    return term.value if isinstance(term.value, str) else ""


def _check_writable_bare(term: Term, value: str) -> None:
    """A non-phrase value must read back as the same bare word."""
    unwritable = (
        not value
        or '"' in value
        or any(char.isspace() for char in value)
        # "-x" reads as a negated x; a negated "-x" is written "--x".
        or (term.field is SearchField.TEXT and value.startswith("-") and not term.negated)
        or (term.field is SearchField.TEXT and _looks_like_field(value))
    )
    if unwritable:
        raise ValueError(f"{value!r} cannot be written as a bare word; make it a phrase")


def _looks_like_field(word: str) -> bool:
    match = _FIELD_PREFIX.match(word)
    if match is None:
        return False
    if match.group(1).lower() in _FIELD_NAMES:
        return True
    rest = word[match.end() :]
    return bool(rest) and not rest.startswith("//")
