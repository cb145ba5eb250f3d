"""A store that cannot commit answers 451 (the sender retries) and loses nothing it acked.

The failures are real ones inside the real store: a SQLite trigger that aborts every
message insert, and a PostgreSQL database switched to read-only.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from tests.smtp.support import StartApp, inbox, send_mail

MESSAGE = b"Subject: retry me\r\n\r\nbody\r\n"


async def _admin(pg_url: str) -> tuple[asyncpg.Connection, str]:
    """A superuser connection to the server of `pg_url`, and the database name."""
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    server, name = dsn.rsplit("/", 1)
    return await asyncpg.connect(server + "/postgres"), name


async def _terminate_backends(admin: asyncpg.Connection, name: str) -> int:
    """End every session on database `name` (as a restart or failover would)."""
    killed: int = await admin.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()",
        name,
    )
    return killed


async def test_sqlite_failure_gives_451_then_recovers(
    app_factory: StartApp, tmp_path: Path
) -> None:
    app = await app_factory(data_dir=tmp_path / "db")
    database = tmp_path / "db" / "ephemail.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute(
            "CREATE TRIGGER fail_inserts BEFORE INSERT ON messages "
            "BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END"
        )
    replies = await send_mail(app.smtp_port, "a@b.test", ["r@x.test"], MESSAGE, expect_data=451)
    assert replies[-1].last == "451 4.3.0 Storage unavailable, try again later"
    assert await inbox(app, "r@x.test") == []

    with sqlite3.connect(database) as conn:
        conn.execute("DROP TRIGGER fail_inserts")
    await send_mail(app.smtp_port, "a@b.test", ["r@x.test"], MESSAGE)
    assert len(await inbox(app, "r@x.test")) == 1


@pytest.mark.postgres
async def test_postgres_read_only_gives_451_then_recovers(
    app_factory: StartApp, pg_url: str
) -> None:
    app = await app_factory(database_url=pg_url)
    admin, name = await _admin(pg_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        # Existing pooled sessions keep their settings: end them so new ones are read-only.
        await _terminate_backends(admin, name)
        await asyncio.sleep(0.2)
        await send_mail(app.smtp_port, "a@b.test", ["r@x.test"], MESSAGE, expect_data=451)

        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off')
        await _terminate_backends(admin, name)
        await asyncio.sleep(0.2)
        await send_mail(app.smtp_port, "a@b.test", ["r@x.test"], MESSAGE)
    finally:
        await admin.close()
    assert len(await inbox(app, "r@x.test")) == 1


@pytest.mark.postgres
async def test_postgres_connections_killed_under_us_cost_no_451(
    app_factory: StartApp, pg_url: str
) -> None:
    app = await app_factory(database_url=pg_url)
    await send_mail(app.smtp_port, "a@b.test", ["r@x.test"], MESSAGE)  # warm the pool
    admin, name = await _admin(pg_url)
    try:
        killed = await _terminate_backends(admin, name)
    finally:
        await admin.close()
    assert killed >= 1
    for _ in range(3):  # every dead pooled connection is replaced transparently
        await send_mail(app.smtp_port, "a@b.test", ["r@x.test"], MESSAGE)
    assert len(await inbox(app, "r@x.test")) == 4
