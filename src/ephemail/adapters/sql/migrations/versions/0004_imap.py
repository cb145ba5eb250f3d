"""IMAP state: structure computed at ingest, \\Recent and UIDVALIDITY bookkeeping.

- message_contents: the IMAP wire forms of ENVELOPE, BODY and BODYSTRUCTURE and the
  section offsets (mime/imap.py). NULL for rows stored before this revision: the
  store computes them from `raw` when a client asks.
- folders.recent_uid: UIDs above it are \\Recent for the next SELECT (RFC 3501
  section 2.3.2).
- mailboxes.uidvalidity_high: the largest UIDVALIDITY any folder of the mailbox
  ever had, so a folder deleted and created again gets a larger one (RFC 3501
  section 2.3.1.1).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both back-ends (no table rebuild: the search triggers and
    # foreign keys stay as they are).
    for name in ("imap_envelope", "imap_body", "imap_bodystructure"):
        op.add_column("message_contents", sa.Column(name, sa.LargeBinary, nullable=True))
    op.add_column("message_contents", sa.Column("imap_sections", sa.Text, nullable=True))
    op.add_column(
        "folders", sa.Column("recent_uid", sa.BigInteger, nullable=False, server_default="0")
    )
    op.add_column(
        "mailboxes",
        sa.Column("uidvalidity_high", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE mailboxes SET uidvalidity_high = COALESCE("
        "(SELECT MAX(folders.uidvalidity) FROM folders "
        "WHERE folders.mailbox_id = mailboxes.id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("uidvalidity_high")
    with op.batch_alter_table("folders") as batch:
        batch.drop_column("recent_uid")
    with op.batch_alter_table("message_contents") as batch:
        batch.drop_column("imap_sections")
        batch.drop_column("imap_bodystructure")
        batch.drop_column("imap_body")
        batch.drop_column("imap_envelope")
