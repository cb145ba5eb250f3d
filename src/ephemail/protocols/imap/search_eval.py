"""SEARCH evaluation (RFC 3501 section 6.4.4): which messages of the selected folder a
parsed search key matches.

Pure: the session gives the folder's messages in sequence order, the UIDs that are
``\\Recent`` for it and, when `search_needs_text` says so, the header/body texts from the
service; `evaluate_search` returns the matching sequence numbers.

Matching rules:

- Flags: system flags by name; keywords compared case-insensitively. RECENT / OLD use
  the session's ``\\Recent`` UIDs; NEW is RECENT and UNSEEN (the parser builds it so).
- BEFORE / ON / SINCE compare the date of INTERNALDATE in UTC (the zone it is reported
  in), disregarding the time. SENTBEFORE / SENTON / SENTSINCE compare the date written
  in the Date: header, disregarding time and zone; a missing or unparsable Date: header
  matches none of them (and so matches their NOT).
- LARGER / SMALLER compare RFC822.SIZE strictly.
- `*` in a sequence set is the highest sequence number, in a UID set the highest UID.
- HEADER, FROM, TO, CC, BCC, SUBJECT: the text is a substring of the decoded value of
  a field of that name (any occurrence); an empty text matches every message having the
  field. BODY: a substring of the readable body text. TEXT: of a header line
  (``name: value``) or of the body. All comparisons use Unicode case folding, which
  covers both CHARSET US-ASCII and UTF-8 (the parser has decoded the strings).
- A message whose texts the service did not return (expunged meanwhile) matches no
  text key.

Cost: the key is compiled once into closures; per-message data that only some keys need
(case-folded bodies and header blocks, dates) is computed lazily and at most once per
search, so a flag or UID search over 10,000 messages takes a few milliseconds.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, date
from email.utils import parsedate_to_datetime

from ephemail.domain.imap import RECENT, SYSTEM_FLAGS, ImapMessage
from ephemail.protocols.imap.proto.commands import (
    DateSearch,
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
from ephemail.services.imap import MessageText

__all__ = ["evaluate_search", "search_needs_text"]

# Keys that read the message texts (headers or body), not just the IMAP state.
_TEXT_DATES = frozenset({DateSearch.SENTBEFORE, DateSearch.SENTON, DateSearch.SENTSINCE})


def search_needs_text(key: SearchKey) -> bool:
    """Whether evaluating `key` needs the messages' texts (HEADER, SUBJECT, FROM, TO, CC,
    BCC, BODY, TEXT and the SENT* dates): the session then loads them with the service's
    `texts` and passes them to `evaluate_search`."""
    if isinstance(key, SearchHeader | SearchBody | SearchText):
        return True
    if isinstance(key, SearchDate):
        return key.kind in _TEXT_DATES
    if isinstance(key, SearchNot):
        return search_needs_text(key.key)
    if isinstance(key, SearchOr):
        return search_needs_text(key.left) or search_needs_text(key.right)
    if isinstance(key, SearchAnd):
        return any(search_needs_text(k) for k in key.keys)
    return False


# A compiled key: does the message at this index (sequence number - 1) match?
_Predicate = Callable[[int], bool]

# The canonical spelling of each system flag, by its lowercase name.
_SYSTEM_BY_LOWER = {flag.lower(): flag for flag in SYSTEM_FLAGS}


class _Context:
    """The messages and the per-message data computed lazily during one search."""

    def __init__(
        self,
        messages: Sequence[ImapMessage],
        recent: AbstractSet[int],
        texts: Mapping[str, MessageText] | None,
    ) -> None:
        self.messages = messages
        self.recent = recent
        self.texts = texts
        self._bodies: list[str | None] | None = None
        self._header_texts: list[str | None] | None = None
        self._sent: list[date | bool | None] | None = None

    def _text(self, index: int) -> MessageText | None:
        if self.texts is None:
            raise ValueError("this SEARCH needs the message texts (see search_needs_text)")
        return self.texts.get(self.messages[index].message_id)

    def headers(self, index: int) -> tuple[tuple[str, str], ...] | None:
        """The decoded header fields, or None without texts."""
        text = self._text(index)
        return None if text is None else text.headers

    def body(self, index: int) -> str | None:
        """The case-folded body text, or None without texts."""
        if self._bodies is None:
            self._bodies = [None] * len(self.messages)
        body = self._bodies[index]
        if body is None:
            text = self._text(index)
            if text is None:
                return None
            body = self._bodies[index] = text.body.casefold()
        return body

    def header_text(self, index: int) -> str | None:
        """The case-folded header block, one ``name: value`` line per field."""
        if self._header_texts is None:
            self._header_texts = [None] * len(self.messages)
        block = self._header_texts[index]
        if block is None:
            text = self._text(index)
            if text is None:
                return None
            block = "\n".join(f"{name}: {value}" for name, value in text.headers).casefold()
            self._header_texts[index] = block
        return block

    def sent_date(self, index: int) -> date | None:
        """The date written in the Date: header, or None when missing or unparsable."""
        if self._sent is None:
            self._sent = [False] * len(self.messages)  # False: not computed yet
        cached = self._sent[index]
        if cached is False:
            cached = self._sent[index] = _parse_sent(self._text(index))
        assert cached is not True
        return cached


def _parse_sent(text: MessageText | None) -> date | None:
    if text is None:
        return None
    for name, value in text.headers:
        if name.lower() == "date":
            try:
                return parsedate_to_datetime(value).date()
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
    return None


def _in_set(sequence_set: SequenceSet, max_value: int) -> Callable[[int], bool]:
    """Membership in a sequence set with `*` = `max_value`, by bisection over the merged
    ranges (a client may send thousands of them)."""
    merged: list[list[int]] = []
    for low, high in sorted(sequence_set.bounds(max_value)):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    starts = [low for low, _ in merged]
    ends = [high for _, high in merged]
    if len(merged) == 1:
        only_low, only_high = merged[0]
        return lambda number: only_low <= number <= only_high

    def contains(number: int) -> bool:
        position = bisect.bisect_right(starts, number) - 1
        return position >= 0 and number <= ends[position]

    return contains


def _utc_date_getter(context: _Context) -> Callable[[int], date]:
    dates: list[date | None] = [None] * len(context.messages)

    def internal_date(index: int) -> date:
        value = dates[index]
        if value is None:
            moment = context.messages[index].internal_date
            if moment.tzinfo is not None and moment.tzinfo is not UTC:
                moment = moment.astimezone(UTC)
            value = dates[index] = moment.date()
        return value

    return internal_date


def _compare(kind: DateSearch, day: date) -> Callable[[date], bool]:
    if kind in (DateSearch.BEFORE, DateSearch.SENTBEFORE):
        return lambda value: value < day
    if kind in (DateSearch.ON, DateSearch.SENTON):
        return lambda value: value == day
    return lambda value: value >= day  # SINCE: on or after


def _flag_predicate(key: SearchFlag, context: _Context) -> _Predicate:
    messages = context.messages
    present = key.present
    lowered = key.flag.lower()
    if lowered == RECENT.lower():
        recent = context.recent
        return lambda i: (messages[i].uid in recent) is present
    system = _SYSTEM_BY_LOWER.get(lowered)
    if system is not None:
        return lambda i: (system in messages[i].flags) is present

    def has_keyword(i: int) -> bool:
        flags = messages[i].flags
        found = key.flag in flags or any(flag.lower() == lowered for flag in flags)
        return found is present

    return has_keyword


def _header_predicate(key: SearchHeader, context: _Context) -> _Predicate:
    name = key.name.lower()
    needle = key.value.casefold()

    def matches(i: int) -> bool:
        fields = context.headers(i)
        if fields is None:
            return False
        for field, value in fields:
            if field.lower() == name and (not needle or needle in value.casefold()):
                return True
        return False

    return matches


def _both(first: _Predicate, second: _Predicate) -> _Predicate:
    return lambda i: first(i) and second(i)


def _compile(key: SearchKey, context: _Context) -> _Predicate:
    messages = context.messages
    if isinstance(key, SearchAll):
        return lambda i: True
    if isinstance(key, SearchFlag):
        return _flag_predicate(key, context)
    if isinstance(key, SearchAnd):
        parts = [_compile(k, context) for k in key.keys]
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return lambda i: True
        combined = parts[0]
        for part in parts[1:]:
            combined = _both(combined, part)  # no generator per message
        return combined
    if isinstance(key, SearchOr):
        left = _compile(key.left, context)
        right = _compile(key.right, context)
        return lambda i: left(i) or right(i)
    if isinstance(key, SearchNot):
        inner = _compile(key.key, context)
        return lambda i: not inner(i)
    if isinstance(key, SearchSequence):
        in_sequence = _in_set(key.sequence_set, len(messages))
        return lambda i: in_sequence(i + 1)
    if isinstance(key, SearchUid):
        in_uids = _in_set(key.uids, max((m.uid for m in messages), default=0))
        return lambda i: in_uids(messages[i].uid)
    if isinstance(key, SearchLarger):
        larger = key.size
        return lambda i: messages[i].size > larger
    if isinstance(key, SearchSmaller):
        smaller = key.size
        return lambda i: messages[i].size < smaller
    if isinstance(key, SearchDate):
        compare = _compare(key.kind, key.date)
        if key.kind in _TEXT_DATES:

            def sent_matches(i: int) -> bool:
                sent = context.sent_date(i)
                return sent is not None and compare(sent)

            return sent_matches
        internal_date = _utc_date_getter(context)
        return lambda i: compare(internal_date(i))
    if isinstance(key, SearchHeader):
        return _header_predicate(key, context)
    if isinstance(key, SearchBody):
        needle = key.value.casefold()

        def body_matches(i: int) -> bool:
            body = context.body(i)
            return body is not None and needle in body

        return body_matches
    if isinstance(key, SearchText):
        text_needle = key.value.casefold()

        def text_matches(i: int) -> bool:
            block = context.header_text(i)
            if block is None:
                return False
            if text_needle in block:
                return True
            body = context.body(i)
            return body is not None and text_needle in body

        return text_matches
    raise TypeError(f"unknown search key {key!r}")


def evaluate_search(
    key: SearchKey,
    messages: Sequence[ImapMessage],
    *,
    recent: AbstractSet[int],
    texts: Mapping[str, MessageText] | None,
) -> list[int]:
    """The sequence numbers (ascending) of the messages that match `key`.

    `messages` are the selected folder's messages in sequence order (sequence number =
    index + 1). `recent` holds the UIDs that are ``\\Recent`` in this session. `texts`
    maps message ids to their texts and is required when ``search_needs_text(key)``
    (ValueError otherwise); a message missing from it matches no text key.
    """
    if texts is None and search_needs_text(key):
        raise ValueError("this SEARCH needs the message texts (see search_needs_text)")
    context = _Context(messages, recent, texts)
    predicate = _compile(key, context)
    return [i + 1 for i in range(len(messages)) if predicate(i)]
