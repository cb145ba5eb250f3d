"""Server limits that need a server of their own: the idle timeout, the connection cap
and the BYE on shutdown."""

from __future__ import annotations

import asyncio

from tests.conftest import StartApp
from tests.imap.conftest import RawClient


async def test_idle_timeout_says_bye(app_factory: StartApp, database_url: str) -> None:
    app = await app_factory(database_url=database_url, imap_idle_timeout=1.0)
    client = await RawClient.connect(app.imap_port)
    try:
        await client.login("bob@example.com")
        line = await client.read_line(timeout=5)
        assert line == b"* BYE Autologout; idle for too long\r\n"
        async with asyncio.timeout(5):
            assert await client.reader.read() == b""
    finally:
        await client.close()


async def test_connection_cap(app_factory: StartApp, database_url: str) -> None:
    app = await app_factory(database_url=database_url, imap_max_connections=2)
    first = await RawClient.connect(app.imap_port)
    second = await RawClient.connect(app.imap_port)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", app.imap_port)
        async with asyncio.timeout(5):
            assert (await reader.readline()).startswith(b"* BYE [UNAVAILABLE]")
            assert await reader.read() == b""
        writer.close()
        await first.command("LOGOUT")
        await first.close()

        async def third_admitted() -> bytes:
            client = await RawClient.connect(app.imap_port)
            await client.close()
            return client.greeting

        async with asyncio.timeout(5):
            while not (await third_admitted()).startswith(b"* OK"):
                await asyncio.sleep(0.05)
    finally:
        await second.close()


async def test_shutdown_says_bye(app_factory: StartApp, database_url: str) -> None:
    app = await app_factory(database_url=database_url)
    client = await RawClient.connect(app.imap_port)
    try:
        await client.login("bob@example.com")
        await client.command("SELECT INBOX")
        await client.send(b"i1 IDLE\r\n")
        assert await client.read_line() == b"+ idling\r\n"
        async with asyncio.timeout(10):
            await app.stop()
        assert await client.read_line() == b"* BYE Server shutting down\r\n"
    finally:
        await client.close()


async def test_idle_command_is_timed_out_too(app_factory: StartApp, database_url: str) -> None:
    """RFC 2177: the server may log out an IDLE that lasts longer than its timeout; the
    client re-issues IDLE (each one re-arms the timer)."""
    app = await app_factory(database_url=database_url, imap_idle_timeout=1.0)
    client = await RawClient.connect(app.imap_port)
    try:
        await client.login("bob@example.com")
        for _ in range(3):  # 3 x 0.4 s > 1 s: re-arming keeps the session alive
            await client.send(b"i1 IDLE\r\n")
            assert await client.read_line() == b"+ idling\r\n"
            await asyncio.sleep(0.4)
            await client.send(b"DONE\r\n")
            assert await client.read_line() == b"i1 OK IDLE terminated\r\n"
        await client.send(b"i2 IDLE\r\n")
        assert await client.read_line() == b"+ idling\r\n"
        assert await client.read_line(timeout=5) == b"* BYE Autologout; idle for too long\r\n"
    finally:
        await client.close()
