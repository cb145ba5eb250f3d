"""Initial schema: domains, bans, mailboxes, folders, message contents, messages, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("owner_account_id", sa.BigInteger, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("retention_hours", sa.Float, nullable=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.UniqueConstraint("name", name="uq_domains_name"),
    )
    op.create_table(
        "bans",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("match", sa.String(16), nullable=False),
        sa.Column("value", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.UniqueConstraint("scope", "match", "value", name="uq_bans_scope_match_value"),
    )
    op.create_table(
        "policy_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO policy_state (id, revision) VALUES (1, 1)")
    op.create_table(
        "mailboxes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("owner_account_id", sa.BigInteger, nullable=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.UniqueConstraint("address", name="uq_mailboxes_address"),
    )
    op.create_index("ix_mailboxes_domain", "mailboxes", ["domain"])
    op.create_table(
        "folders",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "mailbox_id",
            sa.BigInteger,
            sa.ForeignKey(
                "mailboxes.id", ondelete="CASCADE", name="fk_folders_mailbox_id_mailboxes"
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False),
        sa.Column("next_uid", sa.BigInteger, nullable=False),
        sa.Column("subscribed", sa.Boolean, nullable=False),
        sa.Column("special_use", sa.String(32), nullable=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.UniqueConstraint("mailbox_id", "name", name="uq_folders_mailbox_id_name"),
    )
    op.create_table(
        "message_contents",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("from_header", sa.Text, nullable=False),
        sa.Column("to_header", sa.Text, nullable=False),
        sa.Column("cc_header", sa.Text, nullable=False),
        sa.Column("reply_to", sa.Text, nullable=False),
        sa.Column("date_header", Ts, nullable=True),
        sa.Column("message_id_header", sa.Text, nullable=True),
        sa.Column("text_body", sa.Text, nullable=True),
        sa.Column("html_body", sa.Text, nullable=True),
        sa.Column("attachments", sa.Text, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("has_attachments", sa.Boolean, nullable=False),
        sa.Column("defects", sa.Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column(
            "mailbox_id",
            sa.BigInteger,
            sa.ForeignKey(
                "mailboxes.id", ondelete="CASCADE", name="fk_messages_mailbox_id_mailboxes"
            ),
            nullable=False,
        ),
        sa.Column(
            "folder_id",
            sa.BigInteger,
            sa.ForeignKey("folders.id", ondelete="CASCADE", name="fk_messages_folder_id_folders"),
            nullable=False,
        ),
        sa.Column("uid", sa.BigInteger, nullable=False),
        sa.Column(
            "sha256",
            sa.String(64),
            sa.ForeignKey("message_contents.sha256", name="fk_messages_sha256_message_contents"),
            nullable=False,
        ),
        sa.Column("queue_id", sa.String(26), nullable=False),
        sa.Column("envelope_from", sa.Text, nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("seen", sa.Boolean, nullable=False),
        sa.Column("flags", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("received_at", Ts, nullable=False),
        sa.Column("expires_at", Ts, nullable=True),
        sa.UniqueConstraint("folder_id", "uid", name="uq_messages_folder_id_uid"),
    )
    op.create_index("ix_messages_folder_id_id", "messages", ["folder_id", "id"])
    op.create_index("ix_messages_mailbox_id_id", "messages", ["mailbox_id", "id"])
    op.create_index("ix_messages_expires_at", "messages", ["expires_at"])
    op.create_index("ix_messages_sha256", "messages", ["sha256"])
    op.create_table(
        "events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("mailbox", sa.String(320), nullable=False),
        sa.Column("message_id", sa.String(26), nullable=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_mailbox_id", "events", ["mailbox", "id"])


def downgrade() -> None:
    for table in (
        "events",
        "messages",
        "message_contents",
        "folders",
        "mailboxes",
        "policy_state",
        "bans",
        "domains",
    ):
        op.drop_table(table)
