"""Migrations create exactly the schema the code declares, on both back-ends."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

import ephemail.adapters.sql as sql_package
from ephemail.adapters.sql.engine import create_engines
from ephemail.adapters.sql.migrate import current_revision, head_revision, upgrade
from ephemail.adapters.sql.search import is_index_object
from ephemail.adapters.sql.store import SqlStore
from ephemail.adapters.sql.tables import metadata
from ephemail.domain.accounts import Role, SubscriptionStatus
from ephemail.domain.ids import new_id
from ephemail.domain.messages import MailboxKind
from ephemail.mime.summary import parse_summary
from ephemail.ports import Delivery, RecipientDelivery

MIGRATIONS = Path(sql_package.__file__).parent / "migrations"


async def test_upgrade_is_idempotent_and_matches_the_tables(database_url: str) -> None:
    engines = create_engines(database_url)
    try:
        before, after = await upgrade(engines)
        assert before is None and after == head_revision()
        assert await upgrade(engines) == (after, after)  # a second run changes nothing
        assert await current_revision(engines) == head_revision()

        def diff(connection: Connection) -> list[Any]:
            # The search index (FTS5 table, tsvector column) is not in the metadata.
            opts = {
                "compare_type": True,
                "include_name": lambda name, kind, _parents: not is_index_object(name, kind),
            }
            context = MigrationContext.configure(connection, opts=opts)
            return list(compare_metadata(context, metadata))

        assert await engines.run_read(diff) == []
    finally:
        await engines.dispose()


async def test_upgrade_from_0004_keeps_mailboxes_and_messages(database_url: str) -> None:
    """A database at revision 0004 with mail in it upgrades to the accounts schema."""

    def to_0004(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")

    raw = b"From: a@example.org\r\nSubject: old\r\n\r\nkept\r\n"
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    engines = create_engines(database_url)
    try:
        await engines.run_write(to_0004)
        store = SqlStore(engines)
        # Ingest only touches columns 0004 has: it stores mail into the old schema.
        # The webhook outbox (0006) did not exist yet: that step of ingest is left out.
        store._enqueue_webhooks = lambda _conn, _events, _owners=None: None  # type: ignore[method-assign]
        await store.write_deliveries(
            [
                Delivery(
                    queue_id=new_id(),
                    raw=raw,
                    sha256=hashlib.sha256(raw).hexdigest(),
                    summary=parse_summary(raw),
                    envelope_from="a@example.org",
                    recipients=tuple(
                        RecipientDelivery(new_id(), a, "x.test", expires)
                        for a in ("pub@x.test", "claimed@x.test")
                    ),
                    received_at=datetime(2029, 12, 31, tzinfo=UTC),
                )
            ]
        )
        await engines.run_write(
            lambda c: c.execute(
                text(
                    "UPDATE mailboxes SET kind = 'claimed', password_hash = 'h' "
                    "WHERE address = 'claimed@x.test'"
                )
            )
        )

        assert await upgrade(engines) == ("0004", head_revision())
        pub = await store.get_mailbox("pub@x.test")
        claimed = await store.get_mailbox("claimed@x.test")
        assert pub is not None and pub.kind is MailboxKind.PUBLIC and pub.max_messages is None
        assert claimed is not None and claimed.kind is MailboxKind.CLAIMED
        assert await store.mailbox_password_hash("claimed@x.test") == "h"
        page = await store.list_messages("pub@x.test", limit=5, cursor=None)
        assert page.total == 1 and page.items[0].expires_at == expires
        assert await store.get_raw(page.items[0].id) == raw
        assert await store.mailbox_kind_counts() == {"public": 1, "claimed": 1, "owned": 0}
        account = await store.create_account(
            "ann@example.com",
            "hash",
            role=Role.USER,
            subscription_status=SubscriptionStatus.ACTIVE,
            subscription_ends_at=None,
            quota_bytes=None,
        )
        owned, _ = await store.create_owned_mailbox("o@x.test", account.id, adopt_public=False)
        assert await store.list_owned_mailboxes(account.id) == [owned]
    finally:
        await engines.dispose()


async def test_accounts_revision_downgrades_and_upgrades_again(database_url: str) -> None:
    def downgrade_to_0004(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")

    engines = create_engines(database_url)
    try:
        await upgrade(engines)
        await engines.run_write(downgrade_to_0004)
        assert await current_revision(engines) == "0004"
        assert await upgrade(engines) == ("0004", head_revision())
    finally:
        await engines.dispose()
