"""Apply the Alembic migrations (`ephemail db upgrade`, and at every start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from ephemail.adapters.sql.engine import Engines
from ephemail.ports import StoreError

_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x65706865  # "ephe": one node migrates at a time


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


async def upgrade(engines: Engines) -> tuple[str | None, str | None]:
    """Upgrade the schema to the newest revision; return (before, after)."""

    def run(connection: Connection) -> tuple[str | None, str | None]:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
        before = MigrationContext.configure(connection).get_current_revision()
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        after = MigrationContext.configure(connection).get_current_revision()
        return before, after

    try:
        return await engines.run_write(run)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"cannot migrate the database: {type(exc).__name__}: {exc}") from exc


async def current_revision(engines: Engines) -> str | None:
    return await engines.run_read(lambda c: MigrationContext.configure(c).get_current_revision())
