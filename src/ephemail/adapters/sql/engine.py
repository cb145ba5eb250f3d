"""Engines for the two back-ends, with the settings each needs.

SQLite: WAL, `busy_timeout`, `synchronous=FULL` by default (a 250 reply
survives power loss, not only a crash), foreign keys on. Writes go through
one connection (pool of 1) that begins with `BEGIN IMMEDIATE`, so writers
queue in the pool instead of fighting over SQLite's lock; reads use their own
pool and deferred transactions, which WAL lets run beside the writer.
PostgreSQL: one asyncpg pool for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool


class DatabaseUrlError(ValueError):
    """The database URL names no back-end we support."""


@dataclass(frozen=True, slots=True)
class Engines:
    """The engines of one store: `write` for transactions that change data."""

    dialect: str
    read: AsyncEngine
    write: AsyncEngine

    async def dispose(self) -> None:
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()


def async_url(url: str) -> URL:
    """Map a user-facing URL (sqlite:///x, postgres://...) to its async driver."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise DatabaseUrlError(f"cannot parse database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise DatabaseUrlError(f"unsupported database {backend!r}: use sqlite or postgresql")


def create_engines(url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 10) -> Engines:
    """Build the engines for `url`; creates the SQLite file's directory."""
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        return _sqlite_engines(target, sqlite_synchronous)
    engine = create_async_engine(
        target, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )
    return Engines("postgresql", engine, engine)


def _sqlite_engines(target: URL, synchronous: str) -> Engines:
    if synchronous not in ("FULL", "NORMAL"):
        raise DatabaseUrlError("sqlite_synchronous must be FULL or NORMAL")
    database = target.database or ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    write = create_async_engine(target, poolclass=AsyncAdaptedQueuePool, pool_size=1,
                                max_overflow=0, pool_timeout=60)
    read = create_async_engine(target, poolclass=AsyncAdaptedQueuePool, pool_size=4,
                               max_overflow=4)
    _configure_sqlite(write, synchronous, begin="BEGIN IMMEDIATE")
    _configure_sqlite(read, synchronous, begin="BEGIN")
    return Engines("sqlite", read, write)


def _configure_sqlite(engine: AsyncEngine, synchronous: str, *, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own
        # implicit transactions do not start before SELECTs).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)
