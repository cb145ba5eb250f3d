"""The search language compiled to SQLAlchemy Core conditions, over the full-text index
that migration 0002 builds (see `ephemail.domain.search` for what each term means).

- **SQLite**: the FTS5 table `message_search`, one entry per message (external content
  keyed on `messages.rowid`, kept in sync by triggers on `messages`), tokenizer
  `unicode61 remove_diacritics 2`. Its `from_text` column holds the From header and the
  envelope sender. Every text term becomes an FTS5 string (`"..."`, a `"` doubled), so
  no user text can reach FTS5's operator syntax; field terms add a column filter.
- **PostgreSQL**: the tsvector column `messages.search_vector` (`to_tsvector('simple',
  ...)` of the text as `ephemail_search_fold` folds it: lower case, Latin diacritics
  removed, punctuation turned into spaces, i.e. FTS5's tokens; weights A subject, B From
  and envelope sender, C To and Cc, D body and file names), filled by a trigger, with a
  GIN index. A word or phrase is `phraseto_tsquery('simple', ephemail_search_fold(v))`
  and a field term `ephemail_search_query(v, weight)`, v always a bound value; `to:` and
  `cc:` (one weight) re-check the header's own text on the rows the index found.

Conditions refer to `messages`, and to `message_contents` when `needs_contents` says so.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Text,
    and_,
    column,
    exists,
    func,
    literal_column,
    not_,
    select,
    table,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import JSONB, REGCONFIG, TSVECTOR
from sqlalchemy.engine import Connection

from ephemail.adapters.sql import tables as t
from ephemail.domain.search import SearchField, SearchQuery, Term

# Schema objects of the index, made by migration 0002 and absent from `tables.metadata`.
FTS_TABLE = "message_search"  # SQLite: the FTS5 table (its shadow tables share the prefix)
FTS_SOURCE_VIEW = "message_search_source"  # SQLite: what the FTS5 table indexes
PG_VECTOR_COLUMN = "search_vector"  # PostgreSQL: tsvector column of messages
PG_VECTOR_INDEX = "ix_messages_search_vector"  # PostgreSQL: its GIN index

# Longest text of one field that the index holds (the same limits as migration 0002).
FIELD_LIMIT = 10_000
BODY_LIMIT = 100_000

# A mailbox of at most this many messages is a small scope: SQLite checks it message by
# message against the index (FTS5 seeks each rowid; a larger scope reads each term's
# whole match list once), and the store fetches all its matches in one statement.
SMALL_SCOPE_MAX = 500
# Up to this many matches, the store reads every match and sorts them for a page; above,
# it walks messages newest first and stops at the page's end (see search_messages).
FEW_MATCHES_MAX = 5000

_FTS_FIELD_COLUMNS = {
    SearchField.FROM: "from_text",
    SearchField.TO: "to_text",
    SearchField.CC: "cc_text",
    SearchField.SUBJECT: "subject",
}
_FTS_COLUMNS = "subject, from_text, to_text, cc_text, body_text, attachment_names"
# PostgreSQL: the weight of each field in the message's tsvector (migration 0002).
_PG_WEIGHTS = {
    SearchField.SUBJECT: "A",
    SearchField.FROM: "B",
    SearchField.TO: "C",
    SearchField.CC: "C",
}

_fts = table(FTS_TABLE, column("rowid", Integer), column(FTS_TABLE, Text))
_message_rowid = literal_column("messages.rowid", Integer)
_message_rowid_unindexed = literal_column("+messages.rowid", Integer)
_search_vector = literal_column(f"messages.{PG_VECTOR_COLUMN}", TSVECTOR)
_SIMPLE = literal_column("'simple'::regconfig", REGCONFIG)


def is_index_object(name: str | None, kind: str) -> bool:
    """True for the schema objects of the search index, which `tables.metadata` does not
    declare (for Alembic's `include_name` when comparing the schema with the metadata)."""
    if name is None:
        return False
    if kind == "table":
        return name == FTS_TABLE or name.startswith(f"{FTS_TABLE}_")
    if kind == "column":
        return name == PG_VECTOR_COLUMN
    if kind == "index":
        return name == PG_VECTOR_INDEX
    return False


def search_conditions(
    query: SearchQuery,
    *,
    postgresql: bool,
    scope_size: int | None = None,
    in_id_order: bool = False,
) -> list[ColumnElement[bool]]:
    """The WHERE conditions (to AND together) selecting the messages that match `query`.

    `scope_size`: how many messages the search covers when it is limited to a mailbox
    (None: every mailbox); SQLite picks its plan from it. `in_id_order`: many matches
    are expected and read newest first: SQLite then walks messages in id order probing
    the match list (stopping at the page's end) instead of sorting every match.
    """
    if postgresql:
        return [_pg_condition(term) for term in query.terms]
    return _sqlite_conditions(
        query, per_message=is_small_scope(scope_size), in_id_order=in_id_order
    )


def is_small_scope(scope_size: int | None) -> bool:
    """See SMALL_SCOPE_MAX."""
    return scope_size is not None and scope_size <= SMALL_SCOPE_MAX


def are_few_matches(total: int) -> bool:
    """See FEW_MATCHES_MAX."""
    return total <= FEW_MATCHES_MAX


def needs_contents(query: SearchQuery, *, postgresql: bool) -> bool:
    """Whether the conditions refer to `message_contents` (else the caller can leave the
    join out: SQLite would look up every message's content row for nothing)."""
    on_contents = {SearchField.HAS_ATTACHMENT}
    if postgresql:
        on_contents |= {SearchField.TO, SearchField.CC}
    return any(term.field in on_contents for term in query.terms)


def rebuild_sqlite_index(conn: Connection) -> None:
    """Index every stored message again (SQLite). Needed only if messages' rowids ever
    change (SQLite documents that VACUUM may renumber implicit rowids; 3.40 keeps them).
    FTS5's own 'rebuild' cannot read the content view (it uses json_each)."""
    conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")  # noqa: S608 - constants
    conn.exec_driver_sql(
        f"INSERT INTO {FTS_TABLE}(rowid, {_FTS_COLUMNS}) "  # noqa: S608 - constants
        f"SELECT id, {_FTS_COLUMNS} FROM {FTS_SOURCE_VIEW}"
    )


# -- conditions shared by both back-ends ----------------------------------------------


def _day_start(day: Any) -> datetime:
    assert isinstance(day, date)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _plain_condition(term: Term) -> ColumnElement[bool] | None:
    """The condition of a term that needs no text index, or None."""
    m, c = t.messages.c, t.message_contents.c
    match term.field:
        case SearchField.HAS_ATTACHMENT:
            return c.has_attachments.is_(True)
        case SearchField.IS_READ:
            return m.seen.is_(True)
        case SearchField.IS_UNREAD:
            return m.seen.is_(False)
        case SearchField.BEFORE:
            return m.received_at < _day_start(term.value)
        case SearchField.AFTER:
            return m.received_at >= _day_start(term.value)
        case SearchField.LARGER:
            return m.size > term.value
        case SearchField.SMALLER:
            return m.size < term.value
        case _:
            return None


def _negate(term: Term, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return not_(condition) if term.negated else condition


# -- SQLite: FTS5 ---------------------------------------------------------------------


def fts5_string(value: str) -> str:
    """`value` as an FTS5 string: the tokenizer splits it into a phrase of tokens; no
    character inside can act as FTS5 syntax (a `"` is doubled)."""
    return '"' + value.replace('"', '""') + '"'


def _fts_expression(term: Term) -> str:
    string = fts5_string(str(term.value))
    field = _FTS_FIELD_COLUMNS.get(term.field)
    return f"{field} : {string}" if field else string


def _fts_match(expression: str, *, per_message: bool, in_id_order: bool) -> ColumnElement[bool]:
    """Messages whose index entry matches the FTS5 `expression` (a bound value)."""
    match = _fts.c[FTS_TABLE].op("MATCH", is_comparison=True)(expression)
    if per_message:
        return exists().where(match, _fts.c.rowid == _message_rowid)
    # A unary + keeps SQLite from looking messages up by rowid through the list.
    rowid = _message_rowid_unindexed if in_id_order else _message_rowid
    return rowid.in_(select(_fts.c.rowid).where(match))


def _sqlite_conditions(
    query: SearchQuery, *, per_message: bool, in_id_order: bool
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    wanted: list[str] = []  # FTS5 expressions that must all match
    excluded: list[str] = []  # FTS5 expressions none of which may match
    for term in query.terms:
        plain = _plain_condition(term)
        if plain is not None:
            conditions.append(_negate(term, plain))
        else:
            (excluded if term.negated else wanted).append(_fts_expression(term))
    # One MATCH for the required terms and one for the excluded ones: FTS5 intersects
    # and unites the match lists itself.
    if wanted:
        required = " AND ".join(wanted)
        conditions.insert(0, _fts_match(required, per_message=per_message, in_id_order=in_id_order))
    if excluded:
        refused = " OR ".join(excluded)
        conditions.append(
            not_(_fts_match(refused, per_message=per_message, in_id_order=in_id_order))
        )
    return conditions


# -- PostgreSQL: tsvector -------------------------------------------------------------


def _pg_field_vector(field: SearchField) -> Any:
    """The tsvector of the To or Cc header alone (weight C holds both), built as
    migration 0002 builds that part of the document: the JSON list read back as text."""
    c = t.message_contents.c
    header = c.to_header if field is SearchField.TO else c.cc_header
    text = func.left(sql_cast(sql_cast(header, JSONB), Text), FIELD_LIMIT)
    return func.to_tsvector(_SIMPLE, func.ephemail_search_fold(text))


def _matches(vector: Any, tsquery: Any) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = vector.op("@@", is_comparison=True)(tsquery)
    return condition


def _pg_condition(term: Term) -> ColumnElement[bool]:
    plain = _plain_condition(term)
    if plain is not None:
        return _negate(term, plain)
    value = str(term.value)
    phrase = func.phraseto_tsquery(_SIMPLE, func.ephemail_search_fold(value))
    if term.field is SearchField.TEXT:
        return _negate(term, _matches(_search_vector, phrase))
    # A field term: the phrase limited to the field's weight, found by the GIN index.
    weighted = _matches(_search_vector, func.ephemail_search_query(value, _PG_WEIGHTS[term.field]))
    if term.field in (SearchField.TO, SearchField.CC):
        # To and Cc share a weight: the header's own text decides.
        weighted = and_(weighted, _matches(_pg_field_vector(term.field), phrase))
    return _negate(term, weighted)
