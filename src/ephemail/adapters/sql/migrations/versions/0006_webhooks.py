"""Webhooks: subscriptions, the durable delivery outbox and its attempt log.

- webhooks: one subscription per row (a mailbox, a domain or an account), URL,
  event names, optional signing secret, enabled flag and why it was disabled.
- webhook_deliveries: the outbox, one row per (event, subscription), written in the
  same transaction as the event; status, attempts, next attempt, lease, last result.
- webhook_attempts: every HTTP attempt (time, status code, latency, error).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("mailbox", sa.String(320), nullable=True),
        sa.Column("domain", sa.String(253), nullable=True),
        sa.Column(
            "account_id",
            sa.BigInteger,
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_webhooks_account_id_accounts"
            ),
            nullable=True,
        ),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", sa.String(400), nullable=False),
        sa.Column("secret", sa.Text, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.Text, nullable=True),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("failing_since", Ts, nullable=True),
        sa.Column("created_by", sa.BigInteger, nullable=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
    )
    op.create_index("ix_webhooks_mailbox", "webhooks", ["mailbox"])
    op.create_index("ix_webhooks_domain", "webhooks", ["domain"])
    op.create_index("ix_webhooks_account_id", "webhooks", ["account_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "webhook_id",
            sa.String(26),
            sa.ForeignKey(
                "webhooks.id", ondelete="CASCADE", name="fk_webhook_deliveries_webhook_id_webhooks"
            ),
            nullable=False,
        ),
        sa.Column("event_id", sa.BigInteger, nullable=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("mailbox", sa.String(320), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("give_up_at", Ts, nullable=True),
        sa.Column("next_attempt_at", Ts, nullable=True),
        sa.Column("lease_until", Ts, nullable=True),
        sa.Column("last_attempt_at", Ts, nullable=True),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("delivered_at", Ts, nullable=True),
        sa.Column("payload", sa.Text, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_id_id", "webhook_deliveries", ["webhook_id", "id"]
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "delivery_id",
            sa.BigInteger,
            sa.ForeignKey(
                "webhook_deliveries.id",
                ondelete="CASCADE",
                name="fk_webhook_attempts_delivery_id_webhook_deliveries",
            ),
            nullable=False,
        ),
        sa.Column("attempted_at", Ts, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_attempts_delivery_id", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_webhook_id_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_status_next_attempt_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhooks_account_id", table_name="webhooks")
    op.drop_index("ix_webhooks_domain", table_name="webhooks")
    op.drop_index("ix_webhooks_mailbox", table_name="webhooks")
    op.drop_table("webhooks")
