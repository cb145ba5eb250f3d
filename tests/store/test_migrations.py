"""Migrations create exactly the schema the code declares, on both back-ends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from ephemail.adapters.sql.engine import create_engines
from ephemail.adapters.sql.migrate import current_revision, head_revision, upgrade
from ephemail.adapters.sql.tables import metadata


async def test_upgrade_is_idempotent_and_matches_the_tables(database_url: str) -> None:
    engines = create_engines(database_url)
    try:
        before, after = await upgrade(engines)
        assert before is None and after == head_revision()
        assert await upgrade(engines) == (after, after)  # a second run changes nothing
        assert await current_revision(engines) == head_revision()

        def diff(connection: Connection) -> list[Any]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        assert await engines.run_read(diff) == []
    finally:
        await engines.dispose()
