"""Full-text search: `message_contents.body_text` and the index over it.

- SQLite: an FTS5 table `message_search` with external content: the view
  `message_search_source`, one row per message (keyed on `messages.rowid`) with its
  content's fields and, in `from_text`, the envelope sender too. Triggers on `messages`
  (and on `message_contents` updates) keep it in sync; tokenizer `unicode61
  remove_diacritics 2`. One entry per message rather than per content: a match then
  leads straight to the narrow `messages` rows (joining through `message_contents`
  rows, which hold the raw bytes, made a common word 20 times slower at 100k messages).
- PostgreSQL: the column `messages.search_vector` (`to_tsvector('simple', ...)`: no
  stemming, no stop words, any language; weights A subject, B From and envelope sender,
  C To and Cc, D body and file names) with a GIN index, filled by a trigger on
  `messages` from the message's content row; text goes through `ephemail_search_fold`
  (lower case, Latin diacritics removed, punctuation turned into spaces: the tokens
  FTS5's tokenizer makes). One vector per message, as on SQLite.

Indexed fields: subject, From, To, Cc, the readable body text and attachment file
names, each cut to a bounded length (PostgreSQL refuses a tsvector over 1 MB).
`adapters/sql/search.py` compiles queries against these objects.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

# ruff: noqa: S608 - the DDL below is assembled from constants of this file only.

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FIELD_LIMIT = 10_000  # characters of one header field (or of the file names) indexed
BODY_LIMIT = 100_000  # characters of body text indexed

# -- SQLite -------------------------------------------------------------------------


def _sqlite_values(content: str, envelope: str) -> str:
    """The indexed values of one message: its content row `content` (a table name, new
    or old) and its envelope sender expression `envelope`."""
    return ", ".join(
        [
            f"substr({content}.subject, 1, {FIELD_LIMIT})",
            f"substr({content}.from_header, 1, {FIELD_LIMIT}) || ' ' || {envelope}",
            f"substr((SELECT group_concat(value, ' ') FROM json_each({content}.to_header)),"
            f" 1, {FIELD_LIMIT})",
            f"substr((SELECT group_concat(value, ' ') FROM json_each({content}.cc_header)),"
            f" 1, {FIELD_LIMIT})",
            f"substr({content}.body_text, 1, {BODY_LIMIT})",
            "substr((SELECT group_concat(json_extract(value, '$.filename'), ' ')"
            f" FROM json_each({content}.attachments)), 1, {FIELD_LIMIT})",
        ]
    )


_FTS_COLUMNS = "subject, from_text, to_text, cc_text, body_text, attachment_names"
_SQLITE_TRIGGERS = (
    "message_search_insert",
    "message_search_delete",
    "message_search_move",
    "message_search_reparse",
)


def _upgrade_sqlite() -> None:
    # One index row per message (keyed on messages.rowid, so a match leads straight to
    # the narrow messages table); `from_text` also holds the envelope sender.
    op.execute(
        f"CREATE VIEW message_search_source (id, {_FTS_COLUMNS}) AS "
        f"SELECT messages.rowid, {_sqlite_values('c', 'messages.envelope_from')} "
        "FROM messages JOIN message_contents AS c ON c.sha256 = messages.sha256"
    )
    op.execute(
        f"CREATE VIRTUAL TABLE message_search USING fts5({_FTS_COLUMNS}, "
        "content='message_search_source', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    index = f"INSERT INTO message_search(rowid, {_FTS_COLUMNS})"
    unindex = f"INSERT INTO message_search(message_search, rowid, {_FTS_COLUMNS})"
    # A message's content row exists while the message does (foreign key), so both
    # triggers can read it; FTS5 needs the very values indexed to delete an entry.
    op.execute(
        "CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN "
        f"{index} SELECT new.rowid, {_sqlite_values('c', 'new.envelope_from')} "
        "FROM message_contents AS c WHERE c.sha256 = new.sha256; END"
    )
    op.execute(
        "CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN "
        f"{unindex} SELECT 'delete', old.rowid, {_sqlite_values('c', 'old.envelope_from')} "
        "FROM message_contents AS c WHERE c.sha256 = old.sha256; END"
    )
    # Never fired today (seen, flags and folder changes do not touch these columns);
    # they keep the index right if a message or a content row is ever rewritten.
    op.execute(
        "CREATE TRIGGER message_search_move AFTER UPDATE OF sha256, envelope_from "
        "ON messages BEGIN "
        f"{unindex} SELECT 'delete', old.rowid, {_sqlite_values('c', 'old.envelope_from')} "
        "FROM message_contents AS c WHERE c.sha256 = old.sha256; "
        f"{index} SELECT new.rowid, {_sqlite_values('c', 'new.envelope_from')} "
        "FROM message_contents AS c WHERE c.sha256 = new.sha256; END"
    )
    op.execute(
        "CREATE TRIGGER message_search_reparse AFTER UPDATE OF subject, from_header, "
        "to_header, cc_header, body_text, attachments ON message_contents BEGIN "
        f"{unindex} SELECT 'delete', m.rowid, {_sqlite_values('old', 'm.envelope_from')} "
        "FROM messages AS m WHERE m.sha256 = old.sha256; "
        f"{index} SELECT m.rowid, {_sqlite_values('new', 'm.envelope_from')} "
        "FROM messages AS m WHERE m.sha256 = new.sha256; END"
    )
    # Index the messages stored so far. (FTS5's own 'rebuild' command fails on a
    # content view that uses json_each, so rows are inserted as the trigger does.)
    op.execute(
        f"INSERT INTO message_search(rowid, {_FTS_COLUMNS}) "
        f"SELECT id, {_FTS_COLUMNS} FROM message_search_source"
    )


def _downgrade_sqlite() -> None:
    for trigger in _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS message_search")
    op.execute("DROP VIEW IF EXISTS message_search_source")


# -- PostgreSQL ---------------------------------------------------------------------

# Blocks with letters whose lower case PostgreSQL's lower() misses in a database with
# the C locale (it then knows ASCII only) and that NFD does not turn into an ASCII
# letter: Greek, Cyrillic, and Latin letters such as Ø, Æ, Ł.
_CASE_BLOCKS = ((0x00C0, 0x024F), (0x0370, 0x052F), (0x1E00, 0x1FFF))
# Separators (replaced by a space): ASCII and Latin-1 punctuation and symbols, × and ÷,
# Greek and Cyrillic punctuation, general punctuation, currency, arrows, mathematical
# and technical symbols, box drawing, shapes, dingbats, CJK and full-width punctuation,
# emoji. ARE escapes in a PostgreSQL regular expression.
_SEPARATORS = (
    r"\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u00A9\u00AB-\u00B1\u00B4"
    r"\u00B6-\u00B8\u00BB\u00BF\u00D7\u00F7\u037E\u0387\u0482-\u0489\u2000-\u206F"
    r"\u20A0-\u20CF\u2190-\u245F\u249C-\u24E9\u2500-\u2775\u2794-\u2BFF\u2E00-\u2E7F"
    r"\u3000-\u3004\u3008-\u3020\u3030\u303D-\u303F\uFE10-\uFE1F\uFE30-\uFE6F\uFEFF"
    r"\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65\U0001F000-\U0001FAFF"
)


def _case_table() -> tuple[str, str]:
    """The `from` and `to` arguments of translate() for the letters of _CASE_BLOCKS
    that need it, each to its case-folded form (final sigma to sigma, as FTS5 does)."""
    source: list[str] = []
    target: list[str] = []
    for first, last in _CASE_BLOCKS:
        for code in range(first, last + 1):
            char = chr(code)
            folded = char.casefold()
            if unicodedata.category(char) == "Cn" or len(folded) != 1 or folded == char:
                continue
            if unicodedata.normalize("NFD", char)[0].isascii():
                continue  # NFD, then lower(), handle it
            source.append(char)
            target.append(folded)
    return "".join(source), "".join(target)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _fold_function(*, fold_case_by_table: bool) -> str:
    """ephemail_search_fold(text): the text as tokens FTS5 would see them: lower case,
    diacritics of Latin letters removed (NFD, marks after A-Z dropped, NFC), separators
    turned into spaces. Text that is all ASCII skips the Unicode steps (the common case,
    and the costly part). `fold_case_by_table`: lower() misses non-ASCII letters here,
    so translate() folds them (slow on long text: only when such a letter is present)."""
    cased = "v"
    if fold_case_by_table:
        source, target = _case_table()
        uppers = "".join(f"\\u{ord(c):04X}" for c in source)
        cased = (
            f"CASE WHEN v ~ '[{uppers}]' "
            f"THEN translate(v, {_literal(source)}, {_literal(target)}) ELSE v END"
        )
    unaccented = (
        f"normalize(regexp_replace(normalize({cased}, NFD), "
        "'([A-Za-z])[\\u0300-\\u036F]+', '\\1', 'g'), NFC)"
    )
    return (
        "CREATE FUNCTION ephemail_search_fold(value text) RETURNS text "
        "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fold$ "
        "SELECT regexp_replace(lower("
        f"CASE WHEN v ~ '[^\\u0001-\\u007F]' THEN {unaccented} ELSE v END"
        f"), '[{_SEPARATORS}]+', ' ', 'g') FROM (SELECT value AS v) AS input $fold$"
    )


def _vector(text: str, weight: str | None = None) -> str:
    vector = f"to_tsvector('simple'::regconfig, ephemail_search_fold({text}))"
    return f"setweight({vector}, '{weight}')" if weight else vector


def _document_function() -> str:
    """ephemail_search_document(...): one message's tsvector. Weights tell the fields
    apart so that field terms need no other table: A subject, B From header and envelope
    sender, C To and Cc, D body text and attachment file names."""
    filenames = (
        "jsonb_path_query_array(attachments::jsonb, "
        "'strict $[*].filename ? (@.type() == \"string\")')::text"
    )
    limit = FIELD_LIMIT
    names = f"left({filenames}, {limit})"
    document = " || ".join(
        [
            _vector(f"left(subject, {limit})", "A"),
            _vector(f"left(from_header, {limit}) || ' ' || envelope_from", "B"),
            _vector(
                f"left((to_header::jsonb)::text, {limit}) || ' ' "
                f"|| left((cc_header::jsonb)::text, {limit})",
                "C",
            ),
            _vector(f"left(coalesce(body_text, ''), {BODY_LIMIT}) || ' ' || {names}"),
        ]
    )
    return (
        "CREATE FUNCTION ephemail_search_document(subject text, from_header text, "
        "to_header text, cc_header text, body_text text, attachments text, "
        "envelope_from text) RETURNS tsvector "
        f"LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $doc$ SELECT {document} $doc$"
    )


# A term restricted to one field: the phrase query of the folded value, each lexeme
# limited to the field's weight ('abc' <-> 'def' becomes 'abc':B <-> 'def':B; lexemes
# hold no quote, as the fold removed them).
_QUERY_FUNCTION = (
    "CREATE FUNCTION ephemail_search_query(value text, weight text) RETURNS tsquery "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $query$ "
    "SELECT regexp_replace(phraseto_tsquery('simple'::regconfig, "
    "ephemail_search_fold(value))::text, '(''[^'']*'')', '\\1:' || weight, 'g')::tsquery "
    "$query$"
)

_DOCUMENT_OF_MESSAGE = (
    "ephemail_search_document(c.subject, c.from_header, c.to_header, c.cc_header, "
    "c.body_text, c.attachments, {envelope})"
)

_INDEX_MESSAGE_FUNCTION = (
    "CREATE FUNCTION ephemail_search_index_message() RETURNS trigger LANGUAGE plpgsql "
    "AS $index$ BEGIN "
    f"SELECT {_DOCUMENT_OF_MESSAGE.format(envelope='NEW.envelope_from')} "
    "INTO NEW.search_vector FROM message_contents AS c WHERE c.sha256 = NEW.sha256; "
    "RETURN NEW; END $index$"
)

_REINDEX_CONTENT_FUNCTION = (
    "CREATE FUNCTION ephemail_search_reindex_content() RETURNS trigger LANGUAGE plpgsql "
    "AS $reindex$ BEGIN "
    "UPDATE messages AS m SET search_vector = ephemail_search_document(NEW.subject, "
    "NEW.from_header, NEW.to_header, NEW.cc_header, NEW.body_text, NEW.attachments, "
    "m.envelope_from) WHERE m.sha256 = NEW.sha256; "
    "RETURN NULL; END $reindex$"
)


def _upgrade_postgresql() -> None:
    bind = op.get_bind()
    encoding = bind.exec_driver_sql("SHOW server_encoding").scalar()
    if encoding != "UTF8":
        raise RuntimeError(f"ephemail needs a UTF8 PostgreSQL database (this one is {encoding})")
    # lower() follows the database's LC_CTYPE: with the C locale it knows ASCII only.
    lower_knows_unicode = bind.exec_driver_sql("SELECT lower('ÆЖΣ') = 'æжσ'").scalar()
    op.execute(_fold_function(fold_case_by_table=not lower_knows_unicode))
    op.execute(_document_function())
    op.execute(_QUERY_FUNCTION)
    # One vector per message (not per content): a match then leads straight to the
    # narrow messages rows, and the envelope sender is part of it.
    op.execute("ALTER TABLE messages ADD COLUMN search_vector tsvector")
    op.execute(
        "UPDATE messages AS m SET search_vector = "
        f"{_DOCUMENT_OF_MESSAGE.format(envelope='m.envelope_from')} "
        "FROM message_contents AS c WHERE c.sha256 = m.sha256"
    )
    op.execute("CREATE INDEX ix_messages_search_vector ON messages USING gin (search_vector)")
    op.execute(_INDEX_MESSAGE_FUNCTION)
    op.execute(
        "CREATE TRIGGER message_search_index BEFORE INSERT OR UPDATE OF sha256, envelope_from "
        "ON messages FOR EACH ROW EXECUTE FUNCTION ephemail_search_index_message()"
    )
    # Never fired today (contents are written once); keeps the index right if a content
    # row is ever parsed again.
    op.execute(_REINDEX_CONTENT_FUNCTION)
    op.execute(
        "CREATE TRIGGER message_search_reindex AFTER UPDATE OF subject, from_header, "
        "to_header, cc_header, body_text, attachments ON message_contents "
        "FOR EACH ROW EXECUTE FUNCTION ephemail_search_reindex_content()"
    )


def _downgrade_postgresql() -> None:
    op.execute("DROP TRIGGER IF EXISTS message_search_reindex ON message_contents")
    op.execute("DROP TRIGGER IF EXISTS message_search_index ON messages")
    op.execute("DROP INDEX IF EXISTS ix_messages_search_vector")
    op.execute("ALTER TABLE messages DROP COLUMN IF EXISTS search_vector")
    for function in (
        "ephemail_search_reindex_content()",
        "ephemail_search_index_message()",
        "ephemail_search_query(text, text)",
        "ephemail_search_document(text, text, text, text, text, text, text)",
        "ephemail_search_fold(text)",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")


def upgrade() -> None:
    op.add_column("message_contents", sa.Column("body_text", sa.Text, nullable=True))
    # Rows stored before this revision: the text part is the readable text we have.
    op.execute("UPDATE message_contents SET body_text = text_body WHERE body_text IS NULL")
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _downgrade_postgresql()
    else:
        _downgrade_sqlite()
    with op.batch_alter_table("message_contents") as batch:
        batch.drop_column("body_text")
