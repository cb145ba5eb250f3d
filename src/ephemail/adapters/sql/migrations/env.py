"""Alembic environment: always driven programmatically by `ephemail.adapters.sql.migrate`.

The caller passes an open synchronous connection (from `AsyncConnection.run_sync`)
in `config.attributes["connection"]`, so SQLite and PostgreSQL share one path.
"""

from __future__ import annotations

from alembic import context

from ephemail.adapters.sql.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `ephemail db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
