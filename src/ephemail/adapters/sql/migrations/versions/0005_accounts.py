"""Accounts: accounts, their tokens and web sessions, shared server secrets, mailbox caps.

- accounts: email (unique, normalised), Argon2id password hash, role, subscription,
  size quota.
- tokens: API and IMAP app tokens, stored as a public id plus the SHA-256 of the secret.
- web_sessions: signed-in browser sessions (SHA-256 of the cookie secret).
- server_secrets: values every node must share, stored once by the first node.
- mailboxes.max_messages: a per-mailbox message cap (NULL: the deployment default),
  and an index on mailboxes.owner_account_id for "the account's mailboxes".

mailboxes.owner_account_id and domains.owner_account_id exist since 0001; they get no
foreign key: adding one would rebuild `mailboxes` on SQLite, and dropping the old
table there cascades into folders and messages. delete_account clears them itself.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ts = sa.DateTime(timezone=True)


def _account_fk(table: str) -> sa.Column[int]:
    return sa.Column(
        "account_id",
        sa.BigInteger,
        sa.ForeignKey("accounts.id", ondelete="CASCADE", name=f"fk_{table}_account_id_accounts"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("subscription_status", sa.String(16), nullable=False),
        sa.Column("subscription_ends_at", Ts, nullable=True),
        sa.Column("quota_bytes", sa.BigInteger, nullable=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.UniqueConstraint("email", name="uq_accounts_email"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "tokens",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        _account_fk("tokens"),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scopes", sa.String(64), nullable=False),
        sa.Column("public_id", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("expires_at", Ts, nullable=True),
        sa.Column("last_used_at", Ts, nullable=True),
        sa.Column("revoked_at", Ts, nullable=True),
        sa.UniqueConstraint("public_id", name="uq_tokens_public_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tokens_account_id", "tokens", ["account_id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        _account_fk("web_sessions"),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("expires_at", Ts, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_web_sessions_account_id", "web_sessions", ["account_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
    )
    # Plain ADD COLUMN on both back-ends: no table rebuild (see the module docstring).
    op.add_column("mailboxes", sa.Column("max_messages", sa.Integer, nullable=True))
    op.create_index("ix_mailboxes_owner_account_id", "mailboxes", ["owner_account_id"])


def downgrade() -> None:
    op.drop_index("ix_mailboxes_owner_account_id", table_name="mailboxes")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch rebuild of `mailboxes`.
    op.drop_column("mailboxes", "max_messages")
    op.drop_table("server_secrets")
    op.drop_index("ix_web_sessions_expires_at", table_name="web_sessions")
    op.drop_index("ix_web_sessions_account_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_tokens_account_id", table_name="tokens")
    op.drop_table("tokens")
    op.drop_table("accounts")
