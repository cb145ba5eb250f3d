"""The search language compiled to SQLAlchemy Core conditions, over the full-text index
that migration 0002 builds (see `ephemail.domain.search` for what each term means).

- **SQLite**: the FTS5 table `message_search`, one entry per message (external content
  keyed on `messages.rowid`, kept in sync by triggers on `messages`), tokenizer
  `unicode61 remove_diacritics 2`. Its `from_text` column holds the From header and the
  envelope sender. Every text term becomes an FTS5 string (`"..."`, a `"` doubled), so
  no user text can reach FTS5's operator syntax; field terms add a column filter.
- **PostgreSQL**: the stored generated column `message_contents.search_vector`
  (`to_tsvector('simple', ...)` of the text as `ephemail_search_fold` folds it: lower
  case, Latin diacritics removed, punctuation turned into spaces, i.e. FTS5's tokens)
  with a GIN index, and a GIN expression index over the envelope sender of `messages`.
  A term is `phraseto_tsquery('simple', ephemail_search_fold(<bound value>))`; a field
  term re-checks that field's own text on the rows the index found.

Conditions refer to `messages` and `message_contents`; the caller joins the two.
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
    or_,
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
PG_VECTOR_COLUMN = "search_vector"  # PostgreSQL: generated tsvector on message_contents
PG_VECTOR_INDEX = "ix_message_contents_search_vector"  # PostgreSQL: its GIN index
PG_ENVELOPE_INDEX = "ix_messages_envelope_search"  # PostgreSQL: GIN over envelope senders

# Longest text of one field that the index holds (the same limits as migration 0002).
FIELD_LIMIT = 10_000
BODY_LIMIT = 100_000

# SQLite: a scope of at most this many messages is checked message by message against
# the index (FTS5 seeks each rowid); a larger one reads the term's whole match list once.
PER_MESSAGE_CHECK_MAX = 500

_FTS_FIELD_COLUMNS = {
    SearchField.FROM: "from_text",
    SearchField.TO: "to_text",
    SearchField.CC: "cc_text",
    SearchField.SUBJECT: "subject",
}
_FTS_COLUMNS = "subject, from_text, to_text, cc_text, body_text, attachment_names"

_fts = table(FTS_TABLE, column("rowid", Integer), column(FTS_TABLE, Text))
_message_rowid = literal_column("messages.rowid", Integer)
_search_vector = literal_column(f"message_contents.{PG_VECTOR_COLUMN}", TSVECTOR)
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
        return name in (PG_VECTOR_INDEX, PG_ENVELOPE_INDEX)
    return False


def search_conditions(
    query: SearchQuery, *, postgresql: bool, scope_size: int | None = None
) -> list[ColumnElement[bool]]:
    """The WHERE conditions (to AND together) selecting the messages that match `query`.

    `scope_size`: how many messages the search covers when it is limited to a mailbox
    (None: every mailbox); SQLite picks its plan from it.
    """
    if postgresql:
        return [_pg_condition(term) for term in query.terms]
    per_message = scope_size is not None and scope_size <= PER_MESSAGE_CHECK_MAX
    return _sqlite_conditions(query, per_message=per_message)


def needs_contents(query: SearchQuery, *, postgresql: bool) -> bool:
    """Whether the conditions refer to `message_contents` (else the caller can leave the
    join out: SQLite would look up every message's content row for nothing)."""
    on_contents = {SearchField.HAS_ATTACHMENT}
    if postgresql:
        on_contents |= {SearchField.TEXT, SearchField.TO, SearchField.CC, SearchField.SUBJECT}
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


def _fts_match(expression: str, *, per_message: bool) -> ColumnElement[bool]:
    """Messages whose index entry matches the FTS5 `expression` (a bound value)."""
    match = _fts.c[FTS_TABLE].op("MATCH", is_comparison=True)(expression)
    if per_message:
        return exists().where(match, _fts.c.rowid == _message_rowid)
    return _message_rowid.in_(select(_fts.c.rowid).where(match))


def _sqlite_conditions(query: SearchQuery, *, per_message: bool) -> list[ColumnElement[bool]]:
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
        conditions.insert(0, _fts_match(" AND ".join(wanted), per_message=per_message))
    if excluded:
        conditions.append(not_(_fts_match(" OR ".join(excluded), per_message=per_message)))
    return conditions


# -- PostgreSQL: tsvector -------------------------------------------------------------


def _pg_vector(text: Any) -> Any:
    return func.to_tsvector(_SIMPLE, func.ephemail_search_fold(text))


def _pg_field_vector(field: SearchField, contents: Any) -> Any:
    """The tsvector of one header of `contents` (message_contents or an alias), built as
    migration 0002 builds that part of `search_vector` (address lists are JSON, read
    back as text first)."""
    c = contents.c
    source: Any
    if field is SearchField.SUBJECT:
        source = c.subject
    elif field is SearchField.FROM:
        source = c.from_header
    elif field is SearchField.TO:
        source = sql_cast(sql_cast(c.to_header, JSONB), Text)
    else:
        source = sql_cast(sql_cast(c.cc_header, JSONB), Text)
    return _pg_vector(func.left(source, FIELD_LIMIT))


def _matches(vector: Any, tsquery: Any) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = vector.op("@@", is_comparison=True)(tsquery)
    return condition


def _pg_condition(term: Term) -> ColumnElement[bool]:
    plain = _plain_condition(term)
    if plain is not None:
        return _negate(term, plain)
    tsquery = func.phraseto_tsquery(_SIMPLE, func.ephemail_search_fold(str(term.value)))
    if term.field is SearchField.TEXT:
        return _negate(term, _matches(_search_vector, tsquery))
    if term.field is not SearchField.FROM:
        # The GIN index finds the candidates; the field's own text then decides.
        in_field = and_(
            _matches(_search_vector, tsquery),
            _matches(_pg_field_vector(term.field, t.message_contents), tsquery),
        )
        return _negate(term, in_field)
    # The From header or the envelope sender, each found through its own index as a set
    # of keys the planner can hash (an OR across the join could use neither index).
    contents = t.message_contents.alias("from_contents")
    envelope = t.messages.alias("from_envelope")
    by_header = select(contents.c.sha256).where(
        _matches(literal_column(f"from_contents.{PG_VECTOR_COLUMN}", TSVECTOR), tsquery),
        _matches(_pg_field_vector(SearchField.FROM, contents), tsquery),
    )
    by_envelope = select(envelope.c.id).where(
        _matches(_pg_vector(envelope.c.envelope_from), tsquery)
    )
    either = or_(t.messages.c.sha256.in_(by_header), t.messages.c.id.in_(by_envelope))
    return _negate(term, either)
