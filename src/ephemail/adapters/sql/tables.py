"""The schema, as SQLAlchemy Core tables. Migrations in `migrations/` create it.

Raw bytes live once per distinct message (`message_contents`, keyed by SHA-256)
with everything derived from them; `messages` holds one row per recipient with
its IMAP state (folder, UID, flags) and lifecycle (`expires_at`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# SQLite needs INTEGER PRIMARY KEY (rowid alias) for autoincrement.
BigId = BigInteger().with_variant(Integer(), "sqlite")
UtcDateTime = DateTime(timezone=True)

domains = Table(
    "domains",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(253), nullable=False, unique=True),
    Column("owner_account_id", BigInteger, nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("shared", Boolean, nullable=False, default=False),
    Column("retention_hours", Float, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

bans = Table(
    "bans",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("scope", String(32), nullable=False),
    Column("match", String(16), nullable=False),
    Column("value", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("scope", "match", "value", name="uq_bans_scope_match_value"),
)

# A single row whose revision moves with every change of domains or bans.
policy_state = Table(
    "policy_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", BigInteger, nullable=False),
)

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("address", String(320), nullable=False, unique=True),
    Column("domain", String(253), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("password_hash", Text, nullable=True),
    # OWNED mailboxes: the account (no foreign key: delete_account removes them itself).
    Column("owner_account_id", BigInteger, nullable=True, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    # The highest UIDVALIDITY given to any folder of this mailbox, deleted ones
    # included: a folder created again under an old name gets a larger one
    # (RFC 3501 section 2.3.1.1).
    Column("uidvalidity_high", BigInteger, nullable=False, server_default="0"),
    # Per-mailbox message cap; NULL: the deployment default.
    Column("max_messages", Integer, nullable=True),
)

folders = Table(
    "folders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "mailbox_id", BigInteger, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(255), nullable=False),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("next_uid", BigInteger, nullable=False, default=1),
    Column("subscribed", Boolean, nullable=False, default=True),
    Column("special_use", String(32), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # UIDs above this are \\Recent for the next SELECT (RFC 3501 section 2.3.2).
    Column("recent_uid", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("mailbox_id", "name", name="uq_folders_mailbox_id_name"),
)

message_contents = Table(
    "message_contents",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("raw", LargeBinary, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("subject", Text, nullable=False),
    Column("from_header", Text, nullable=False),
    Column("to_header", Text, nullable=False),  # JSON list
    Column("cc_header", Text, nullable=False),  # JSON list
    Column("reply_to", Text, nullable=False),  # JSON list
    Column("date_header", UtcDateTime, nullable=True),
    Column("message_id_header", Text, nullable=True),
    Column("text_body", Text, nullable=True),
    Column("html_body", Text, nullable=True),
    Column("attachments", Text, nullable=False),  # JSON list
    Column("headers", Text, nullable=False),  # JSON list of [name, value]
    Column("has_attachments", Boolean, nullable=False),
    Column("defects", Text, nullable=False),  # JSON list
    Column("created_at", UtcDateTime, nullable=False),
    # The readable text (text part, else the HTML as text) that search indexes. The index
    # itself (SQLite FTS5 table, PostgreSQL tsvector column) is not declared here: see
    # migration 0002 and adapters/sql/search.py.
    Column("body_text", Text, nullable=True),
    # IMAP wire forms computed at ingest (mime/imap.py); NULL for rows stored before
    # migration 0004, computed from `raw` when read.
    Column("imap_envelope", LargeBinary, nullable=True),
    Column("imap_body", LargeBinary, nullable=True),
    Column("imap_bodystructure", LargeBinary, nullable=True),
    Column("imap_sections", Text, nullable=True),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(26), primary_key=True),
    Column(
        "mailbox_id", BigInteger, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False
    ),
    Column("folder_id", BigInteger, ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("sha256", String(64), ForeignKey("message_contents.sha256"), nullable=False),
    Column("queue_id", String(26), nullable=False),
    Column("envelope_from", Text, nullable=False),
    Column("client_ip", String(64), nullable=True),
    Column("seen", Boolean, nullable=False, default=False),
    Column("flags", Text, nullable=False, default=""),  # IMAP flags other than \Seen
    Column("size", BigInteger, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    UniqueConstraint("folder_id", "uid", name="uq_messages_folder_id_uid"),
    Index("ix_messages_folder_id_id", "folder_id", "id"),
    # Covers the folder counts (total, unread) of every listing.
    Index("ix_messages_folder_id_seen", "folder_id", "seen"),
    Index("ix_messages_mailbox_id_id", "mailbox_id", "id"),
    Index("ix_messages_expires_at", "expires_at"),
    Index("ix_messages_sha256", "sha256"),
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("type", String(32), nullable=False),
    Column("mailbox", String(320), nullable=False),
    Column("message_id", String(26), nullable=True),
    Column("data", Text, nullable=False),  # JSON object
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_events_mailbox_id", "mailbox", "id"),
    sqlite_autoincrement=True,
)

# -- accounts (migration 0005) ---------------------------------------------------------
# AUTOINCREMENT on SQLite: an id is never given to a second account, so nothing that
# still names a deleted account (a cached principal, a log line) can point at another.
accounts = Table(
    "accounts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),  # normalised, lowercase
    Column("password_hash", Text, nullable=False),  # Argon2id (PasswordHasher)
    Column("role", String(16), nullable=False),
    Column("subscription_status", String(16), nullable=False),
    Column("subscription_ends_at", UtcDateTime, nullable=True),
    Column("quota_bytes", BigInteger, nullable=True),  # NULL: the deployment default
    Column("created_at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)

# API and IMAP app tokens: `public_id` finds the row, `digest` is the SHA-256 of the
# secret part (domain/accounts.py); the secret itself is never stored.
tokens = Table(
    "tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "account_id",
        BigInteger,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("kind", String(8), nullable=False),
    Column("name", String(200), nullable=False),
    Column("scopes", String(64), nullable=False),  # comma-separated Scope values
    Column("public_id", String(16), nullable=False, unique=True),
    Column("digest", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    sqlite_autoincrement=True,
)

# Signed-in browser sessions: the cookie carries the id and a secret whose SHA-256
# is `digest`.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "account_id",
        BigInteger,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("digest", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
    sqlite_autoincrement=True,
)

# Secrets every node must share (e.g. the session signing key when none is
# configured): the first node to start stores one, the others read it.
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# -- webhooks (migration 0006) ---------------------------------------------------------
# One subscription: exactly one of mailbox / domain / account_id is set, by `scope`.
# Mailbox and domain are names, not foreign keys: a webhook may watch an address
# before its first message (as anyone may watch an address).
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("scope", String(8), nullable=False),
    Column("mailbox", String(320), nullable=True, index=True),
    Column("domain", String(253), nullable=True, index=True),
    Column(
        "account_id",
        BigInteger,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    Column("url", Text, nullable=False),
    Column("events", String(400), nullable=False),  # comma-separated event names
    Column("secret", Text, nullable=True),  # HMAC key: must be readable to sign
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", Text, nullable=True),
    Column("consecutive_failures", Integer, nullable=False),
    Column("failing_since", UtcDateTime, nullable=True),  # first failure of the streak
    Column("created_by", BigInteger, nullable=True),  # account id, no FK (kept on delete)
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# The durable outbox: one row per (event, subscription), written in the event's
# transaction. `payload` is built at the first attempt and then kept, so every retry
# sends the same body. `lease_until`: a dispatcher holds the row until then (a node
# that dies mid-attempt loses it when the lease runs out).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "webhook_id",
        String(26),
        ForeignKey("webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", BigInteger, nullable=True),  # NULL: a test delivery
    Column("event", String(32), nullable=False),
    Column("mailbox", String(320), nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("give_up_at", UtcDateTime, nullable=True),  # NULL: created_at + the retry window
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("last_attempt_at", UtcDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("payload", Text, nullable=True),
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
    sqlite_autoincrement=True,
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "delivery_id",
        BigInteger,
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("attempted_at", UtcDateTime, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("error", Text, nullable=True),
    sqlite_autoincrement=True,
)
