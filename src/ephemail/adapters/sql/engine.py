"""Engines for the two back-ends, and how a transaction runs on each.

Every store operation is a plain function over a synchronous SQLAlchemy Core
`Connection`; the engine decides where it runs:

- **SQLite**: the whole transaction runs in a thread (one writer thread with
  one connection, a small pool of reader threads), so it costs one thread hop
  per transaction. aiosqlite's model (one hop per driver call, each needing the
  GIL back from a busy event loop) made a 20-message batch cost ~15 ms of CPU;
  see docs/decisions/001. WAL lets readers run beside the writer;
  `synchronous=FULL` by default (a 250 survives power loss, not only a crash);
  writes begin with `BEGIN IMMEDIATE` so other processes (the CLI) queue on
  `busy_timeout` instead of failing on a lock upgrade.
- **PostgreSQL**: asyncpg through SQLAlchemy's asyncio extension; the same
  function runs inside `AsyncConnection.run_sync`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

T = TypeVar("T")


class DatabaseUrlError(ValueError):
    """The database URL names no back-end we support."""


class Engines(Protocol):
    dialect: str

    async def run_write(self, tx: Callable[[Connection], T]) -> T:
        """Run `tx` in one write transaction; commit when it returns."""
        ...

    async def run_read(self, tx: Callable[[Connection], T]) -> T:
        """Run `tx` in one read transaction."""
        ...

    async def dispose(self) -> None: ...


class SqliteEngines:
    """SQLite: transactions run whole in dedicated threads."""

    dialect = "sqlite"

    def __init__(self, url: URL, synchronous: str, readers: int = 4) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise DatabaseUrlError("sqlite_synchronous must be FULL or NORMAL")
        database = url.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False}
        self.write = create_engine(
            url, poolclass=QueuePool, pool_size=1, max_overflow=0, connect_args=connect_args
        )
        self.read = create_engine(
            url, poolclass=QueuePool, pool_size=readers, max_overflow=0, connect_args=connect_args
        )
        _configure(self.write, synchronous, begin="BEGIN IMMEDIATE")
        _configure(self.read, synchronous, begin="BEGIN")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")

    async def run_write(self, tx: Callable[[Connection], T]) -> T:
        return await self._run(self.write, self._writer, tx)

    async def run_read(self, tx: Callable[[Connection], T]) -> T:
        return await self._run(self.read, self._readers, tx)

    @staticmethod
    async def _run(engine: Engine, threads: ThreadPoolExecutor, tx: Callable[[Connection], T]) -> T:
        """One whole transaction on one of `threads`: a single hop from the event loop."""

        def work() -> T:
            with engine.begin() as conn:
                return tx(conn)

        return await asyncio.get_running_loop().run_in_executor(threads, work)

    async def dispose(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self.write.dispose)
        await loop.run_in_executor(self._readers, self.read.dispose)
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)


class PostgresEngines:
    """PostgreSQL: one asyncpg pool; sync Core code runs through run_sync."""

    dialect = "postgresql"

    def __init__(self, url: URL, pool_size: int) -> None:
        # No pre-ping: it would cost a round trip per transaction. A connection
        # that died is invalidated on its first error; ingest retries the batch
        # item by item on fresh connections, and readers get a 503 once.
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
        )

    async def run_write(self, tx: Callable[[Connection], T]) -> T:
        async with self.engine.begin() as conn:
            return await conn.run_sync(tx)

    async def run_read(self, tx: Callable[[Connection], T]) -> T:
        async with self.engine.connect() as conn:
            return await conn.run_sync(tx)

    async def dispose(self) -> None:
        await self.engine.dispose()


def parse_url(url: str) -> URL:
    """Map a user-facing URL (sqlite:///x, postgres://...) to the driver we use."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise DatabaseUrlError(f"cannot parse database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise DatabaseUrlError(f"unsupported database {backend!r}: use sqlite or postgresql")


def create_engines(
    url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 10
) -> SqliteEngines | PostgresEngines:
    """Build the engines for `url`; creates the SQLite file's directory."""
    target = parse_url(url)
    if target.get_backend_name() == "sqlite":
        return SqliteEngines(target, sqlite_synchronous)
    return PostgresEngines(target, pool_size)


_MMAP_BYTES = 256 * 1024 * 1024
_CACHE_KIB = 16 * 1024


def _configure(engine: Engine, synchronous: str, *, begin: str) -> None:
    @event.listens_for(engine, "connect")
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
        # Reads of raw messages (IMAP FETCH, downloads) walk many overflow pages: memory-
        # mapped reads skip a copy per page and are shared by the reader connections,
        # and a larger page cache keeps the hot index pages (measured: a 100-message
        # BODY[] read went from 1.1 to 0.7 ms with sqlite3 on a 4,000-message bench database).
        cursor.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        cursor.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)
