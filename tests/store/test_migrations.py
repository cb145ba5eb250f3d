"""Migrations create exactly the schema the code declares, on both back-ends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from ephemail.adapters.sql.engine import create_engines
from ephemail.adapters.sql.migrate import current_revision, head_revision, upgrade
from ephemail.adapters.sql.search import is_index_object
from ephemail.adapters.sql.tables import metadata


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
