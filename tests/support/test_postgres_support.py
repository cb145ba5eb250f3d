"""The throwaway PostgreSQL helper starts, serves a database and cleans up after itself."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres


def test_start_create_connect_stop() -> None:
    asyncpg = pytest.importorskip("asyncpg")
    server = PostgresServer()
    server.start()
    try:
        directory = server.directory
        url = server.create_database("support_check")
        assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/support_check"

        async def select_one() -> int:
            conn = await asyncpg.connect(server.dsn_for("support_check"), timeout=10)
            try:
                return int(await conn.fetchval("select 1"))
            finally:
                await conn.close()

        assert asyncio.run(select_one()) == 1
        server.drop_database("support_check")
        server.drop_database("support_check")  # dropping twice is not an error
    finally:
        server.stop()
    assert not directory.exists()
    assert not server.running
    server.stop()  # idempotent
