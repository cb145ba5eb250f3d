"""Property tests: parse(serialise(command)) == command, and hostile input only ever
produces parser events (never an exception, never a hang)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ephemail.domain.imap import (
    ANSWERED,
    DELETED,
    DRAFT,
    FLAGGED,
    INBOX,
    RECENT,
    SEEN,
    FlagMode,
    Section,
    SectionText,
)
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
    FetchAttribute,
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
    SearchKey,
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
from ephemail.protocols.imap.proto.grammar import ATOM_CHARS, TAG_CHARS
from ephemail.protocols.imap.proto.parser import (
    ContinuationRequest,
    IdleDone,
    ImapParser,
    NeedData,
    ParseError,
    RawLine,
)
from ephemail.protocols.imap.proto.serialise import serialise_command

from .support import events

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _chars(allowed: frozenset[int]) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(chr(byte) for byte in allowed))


tags = st.text(_chars(TAG_CHARS), min_size=1, max_size=8)
atoms = st.text(_chars(ATOM_CHARS), min_size=1, max_size=8)
upper_atoms = atoms.map(str.upper)
no_nul_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
mailboxes = st.text(st.characters(codec="utf-8"), max_size=12).map(
    lambda name: INBOX if name.upper() == INBOX else name
)
numbers = st.integers(1, 4294967295)
sequence_sets = st.lists(
    st.tuples(numbers | st.none(), numbers | st.none()), min_size=1, max_size=4
).map(lambda ranges: SequenceSet(tuple(ranges)))
system_flags = st.sampled_from([ANSWERED, FLAGGED, DELETED, SEEN, DRAFT])
keywords = atoms.filter(lambda word: word.upper() not in {"NIL"})
extension_flags = atoms.map(lambda word: "\\" + word).filter(
    lambda flag: (
        flag.upper() not in {f.upper() for f in (ANSWERED, FLAGGED, DELETED, SEEN, DRAFT, RECENT)}
    )
)
flags = st.lists(system_flags | keywords | extension_flags, unique=True, max_size=4).map(tuple)
header_names = st.text(
    _chars(frozenset(range(0x21, 0x7F)) - frozenset(b":")), min_size=1, max_size=10
).map(str.upper)
dates = st.dates(date(1000, 1, 1), date(9999, 12, 31))
datetimes = st.builds(
    lambda day, seconds, offset: (
        datetime(day.year, day.month, day.day, tzinfo=timezone(timedelta(minutes=offset)))
        + timedelta(seconds=seconds)
    ),
    st.dates(date(1000, 1, 1), date(9999, 12, 30)),
    st.integers(0, 86399),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)

search_leaves: st.SearchStrategy[SearchKey] = st.one_of(
    st.just(SearchAll()),
    st.builds(SearchFlag, system_flags | st.just(RECENT) | keywords, st.booleans()),
    st.builds(SearchDate, st.sampled_from(list(DateSearch)), dates),
    st.builds(SearchHeader, header_names, no_nul_text),
    st.builds(SearchBody, no_nul_text),
    st.builds(SearchText, no_nul_text),
    st.builds(SearchLarger, st.integers(0, 4294967295)),
    st.builds(SearchSmaller, st.integers(0, 4294967295)),
    st.builds(SearchUid, sequence_sets),
    st.builds(SearchSequence, sequence_sets),
)
search_keys = st.recursive(
    search_leaves,
    lambda inner: st.one_of(
        st.builds(SearchNot, inner),
        st.builds(SearchOr, inner, inner),
        st.lists(inner, min_size=1, max_size=3).map(lambda keys: SearchAnd(tuple(keys))),
    ),
    max_leaves=8,
)


@st.composite
def sections(draw: st.DrawFn) -> Section:
    part = tuple(draw(st.lists(st.integers(1, 500), max_size=3)))
    choices: list[SectionText | None] = [
        None,
        SectionText.HEADER,
        SectionText.HEADER_FIELDS,
        SectionText.HEADER_FIELDS_NOT,
        SectionText.TEXT,
    ]
    if part:
        choices.append(SectionText.MIME)
    text = draw(st.sampled_from(choices))
    fields: tuple[str, ...] = ()
    if text in (SectionText.HEADER_FIELDS, SectionText.HEADER_FIELDS_NOT):
        fields = tuple(draw(st.lists(header_names, min_size=1, max_size=3, unique=True)))
    return Section(part, text, fields)


fetch_attributes: st.SearchStrategy[FetchAttribute] = st.sampled_from(list(FetchItem)) | st.builds(
    BodySection,
    sections(),
    st.booleans(),
    st.none() | st.tuples(st.integers(0, 10**6), st.integers(1, 10**6)),
)


@st.composite
def lists(draw: st.DrawFn) -> List:
    selection = tuple(draw(st.lists(upper_atoms, unique=True, max_size=3)))
    return_options = tuple(draw(st.lists(upper_atoms, unique=True, max_size=3)))
    extended = bool(selection or return_options) or draw(st.booleans())
    return List(draw(tags), draw(mailboxes), draw(mailboxes), selection, return_options, extended)


commands: st.SearchStrategy[Command] = st.one_of(
    *(
        st.builds(kind, tags)
        for kind in (
            Capability,
            Noop,
            Logout,
            StartTls,
            Check,
            Close,
            Unselect,
            Expunge,
            Idle,
            Namespace,
        )
    ),
    st.builds(
        Authenticate,
        tags,
        upper_atoms.filter(lambda m: m != "="),
        st.none() | st.binary(max_size=20),
    ),
    st.builds(Login, tags, no_nul_text, no_nul_text),
    *(
        st.builds(kind, tags, mailboxes)
        for kind in (Select, Examine, Create, Delete, Subscribe, Unsubscribe)
    ),
    st.builds(Rename, tags, mailboxes, mailboxes),
    lists(),
    st.builds(Lsub, tags, mailboxes, mailboxes),
    st.builds(
        Status,
        tags,
        mailboxes,
        st.lists(st.sampled_from(list(StatusItem)), min_size=1, max_size=5).map(tuple),
    ),
    st.builds(
        Append,
        tags,
        mailboxes,
        flags,
        st.none() | datetimes,
        st.binary(max_size=50).map(lambda data: data.replace(b"\x00", b".")),
    ),
    st.builds(UidExpunge, tags, sequence_sets),
    st.builds(Search, tags, search_keys, st.sampled_from([None, "UTF-8"]), st.booleans()),
    st.builds(
        Fetch,
        tags,
        sequence_sets,
        st.lists(fetch_attributes, min_size=1, max_size=4, unique=True).map(tuple),
        st.booleans(),
    ),
    st.builds(
        Store,
        tags,
        sequence_sets,
        st.sampled_from(list(FlagMode)),
        st.booleans(),
        flags,
        st.booleans(),
    ),
    st.builds(Copy, tags, sequence_sets, mailboxes, st.booleans()),
    st.builds(Move, tags, sequence_sets, mailboxes, st.booleans()),
    st.builds(
        Id,
        tags,
        st.none()
        | st.lists(st.tuples(no_nul_text, st.none() | no_nul_text), max_size=3).map(tuple),
    ),
    st.builds(Enable, tags, st.lists(upper_atoms, min_size=1, max_size=3).map(tuple)),
)


def _parsed(wire: bytes) -> list[object]:
    return [event for event in events(wire) if not isinstance(event, ContinuationRequest)]


@SETTINGS
@given(commands)
def test_parse_of_serialise_is_identity(command: Command) -> None:
    assert _parsed(serialise_command(command)) == [command]


@SETTINGS
@given(commands)
def test_parse_of_serialise_with_literal_plus_is_identity(command: Command) -> None:
    wire = serialise_command(command, non_synchronising=True)
    assert [e for e in events(wire) if isinstance(e, ContinuationRequest)] == []
    assert events(wire) == [command]


def _run_hostile(data: bytes, chunk: int) -> None:
    parser = ImapParser()
    budget = len(data) + 10  # every event consumes input, so this bounds the loop
    for start in range(0, len(data), max(chunk, 1)):
        parser.receive_data(data[start : start + max(chunk, 1)])
        while True:
            event = parser.next_event()
            if isinstance(event, NeedData):
                break
            budget -= 1
            assert budget > 0, "parser produced more events than input bytes"
            assert isinstance(
                event, Command | ContinuationRequest | ParseError | RawLine | IdleDone
            )
            if isinstance(event, ParseError):
                assert not event.message.startswith("Internal error"), data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 64))
def test_random_bytes_only_produce_events(data: bytes, chunk: int) -> None:
    _run_hostile(data, chunk)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"a ",
                b"UID ",
                b"FETCH ",
                b"SEARCH ",
                b"1:* ",
                b"(",
                b")",
                b"[",
                b"]",
                b"<0.5>",
                b"{3}\r\n",
                b"{2+}\r\n",
                b"{0}\r\n",
                b'"',
                b"\\",
                b"\r\n",
                b"\n",
                b"NOT ",
                b"OR ",
                b"BODY.PEEK[HEADER.FIELDS (A)]",
                b"APPEND INBOX ",
                b"LOGIN ",
                b"x",
                b" ",
                b"&",
                b"-",
                b"GET / HTTP/1.1\r\n",
                b"\x00",
                b"\xff",
                b"*",
                b"%",
                b"LIST ",
                b"STORE ",
                b"+FLAGS ",
            ]
        ),
        max_size=40,
    ).map(b"".join),
    st.integers(1, 16),
)
def test_token_soup_only_produces_events(data: bytes, chunk: int) -> None:
    _run_hostile(data, chunk)


@settings(max_examples=200, deadline=None)
@given(commands, st.data())
def test_mutated_commands_only_produce_events(command: Command, data: st.DataObject) -> None:
    wire = bytearray(serialise_command(command, non_synchronising=data.draw(st.booleans())))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(wire)))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "insert" or position == len(wire):
            wire[position:position] = data.draw(st.binary(min_size=1, max_size=3))
        elif action == "delete":
            del wire[position]
        else:
            wire[position] = data.draw(st.integers(0, 255))
    _run_hostile(bytes(wire) + b"\r\nz NOOP\r\n", data.draw(st.integers(1, 32)))
