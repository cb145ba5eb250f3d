"""IMAP server fixtures: a real Application with IMAP (and SMTP, HTTP) on ephemeral
ports over SQLite and PostgreSQL, a small async raw IMAP client, SMTP delivery, and
`imaplib` run in a thread (it blocks; the server runs in the test's loop)."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import itertools
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import aiosmtplib
import pytest
import pytest_asyncio

from ephemail.app import Application
from ephemail.settings import load_settings
from tests.support.postgres import PostgresServer

# Tests that use the shared `imap_app` run in the module's event loop.
MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")

HOST = "127.0.0.1"
SENDER = "alice@example.org"
_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\r\n$")

T = TypeVar("T")


def sample_mail(subject: str = "Hello IMAP", body: str = "Your code is 123456") -> bytes:
    return (
        f"From: Alice <{SENDER}>\r\n"
        "To: bob@example.com\r\n"
        f"Subject: {subject}\r\n"
        "Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n"
        "Message-ID: <m1@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


async def smtp_deliver(app: Any, raw: bytes, *recipients: str) -> None:
    """Deliver over real SMTP (the way mail reaches IMAP in production)."""
    await aiosmtplib.send(
        raw,
        sender=SENDER,
        recipients=list(recipients),
        hostname=HOST,
        port=app.smtp_port,
        start_tls=False,
        timeout=10,
    )


class RawClient:
    """An async IMAP client that sends exact bytes and returns raw response lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.greeting = b""
        self._tags = 0

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection(HOST, port)
        client = cls(reader, writer)
        client.greeting = await client.read_response()
        return client

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()

    async def read_line(self, timeout: float = 10.0) -> bytes:
        async with asyncio.timeout(timeout):
            line = await self.reader.readline()
        if not line:
            raise ConnectionError("connection closed by the server")
        return line

    async def read_response(self, timeout: float = 10.0) -> bytes:
        """One response: a line plus the literals it announces, inlined."""
        response = await self.read_line(timeout)
        while match := _LITERAL_AT_END.search(response):
            async with asyncio.timeout(timeout):
                response += await self.reader.readexactly(int(match.group(1)))
            response += await self.read_line(timeout)
        return response

    def next_tag(self) -> str:
        self._tags += 1
        return f"t{self._tags}"

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def until_tagged(self, tag: str, timeout: float = 10.0) -> list[bytes]:
        lines: list[bytes] = []
        while True:
            line = await self.read_response(timeout)
            lines.append(line)
            if line.startswith(tag.encode() + b" "):
                return lines

    async def command(self, text: str | bytes, timeout: float = 10.0) -> list[bytes]:
        """Send `TAG text` and return every response up to and including the tagged one."""
        tag = self.next_tag()
        data = text.encode() if isinstance(text, str) else text
        await self.send(tag.encode() + b" " + data + b"\r\n")
        return await self.until_tagged(tag, timeout)

    async def login(self, user: str, password: str = "secret") -> list[bytes]:
        lines = await self.command(f'LOGIN "{user}" "{password}"')
        assert lines[-1].split()[1] == b"OK", lines
        return lines


_databases = itertools.count(1)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per test module and back-end (the IMAP tests use distinct mailboxes,
    so they share a server: starting one per test would cost most of the run)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('imap') / 'store.sqlite3'}"
        return
    pg_server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"imap{os.getpid()}_{next(_databases)}"
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def imap_app(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Application]:
    """A running Application with IMAP, SMTP and HTTP on ephemeral ports, shared by the
    tests of one module (run them with `pytestmark = MODULE_LOOP`)."""
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("imapdata"),
        database_url=module_database_url,
        smtp_port=0,
        http_port=0,
        imap_port=0,
        hostname="mx.ephemail.test",
        retention_interval=3600,
        imap_login_failure_delay=0.05,
        smtp_max_message_size=1024 * 1024,
    )
    app = Application(settings)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def raw_clients(port: int) -> AsyncIterator[Callable[[], Any]]:
    """Yields `await open_client()`: RawClients to `port`, all closed at the end."""
    clients: list[RawClient] = []

    async def open_client() -> RawClient:
        client = await RawClient.connect(port)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()


@pytest_asyncio.fixture(loop_scope="module")
async def connect(imap_app: Any) -> AsyncIterator[Callable[[], Any]]:
    """`await connect()`: a RawClient to the app's IMAP port (closed at the end)."""
    async for open_client in raw_clients(imap_app.imap_port):
        yield open_client


async def in_thread(fn: Callable[[], T]) -> T:
    """Run blocking client code (imaplib) without blocking the server's loop."""
    return await asyncio.to_thread(fn)


def imaplib_client(app: Any) -> imaplib.IMAP4:
    return imaplib.IMAP4(HOST, app.imap_port, timeout=10)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
