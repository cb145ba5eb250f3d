"""SMTP test helpers: a raw line-level client, reading stored mail.

Every test talks to the real Application (SQLite in a tmp dir, ephemeral ports) over real
sockets on 127.0.0.1; replies are checked byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable

from ephemail.app import Application

HOST = "mx.ephemail.test"
GREETING = f"220 {HOST} ESMTP ephemail"
# RFC 2034 / RFC 3463: "<code> <class>.<subject>.<detail> <text>", class matching the code.
ENHANCED = re.compile(r"\A([245])\d\d \1\.\d{1,3}\.\d{1,3}( |\Z)")

StartApp = Callable[..., Awaitable[Application]]


class Reply:
    """One (possibly multi-line) SMTP reply."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.code = int(lines[-1][:3])
        self.text = "\n".join(line.decode("utf-8", "replace") for line in lines)

    @property
    def last(self) -> str:
        return self.lines[-1].decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"Reply({self.text!r})"


class RawClient:
    """Line-level SMTP client on asyncio streams: exact bytes out, exact replies in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.all_replies: list[Reply] = []

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        return cls(reader, writer)

    async def reply(self, wait: float = 10) -> Reply:
        lines: list[bytes] = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), wait)
            if not line:
                raise ConnectionError(f"connection closed; partial reply {lines!r}")
            assert line.endswith(b"\r\n"), line
            lines.append(line[:-2])
            if line[3:4] != b"-":
                reply = Reply(lines)
                self.all_replies.append(reply)
                return reply

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def cmd(self, line: str | bytes, wait: float = 10) -> Reply:
        data = line.encode() if isinstance(line, str) else line
        await self.send(data + b"\r\n")
        return await self.reply(wait)

    async def greet(self, ehlo: bool = True) -> Reply:
        greeting = await self.reply()
        assert greeting.last == GREETING
        return await self.cmd("EHLO client.example" if ehlo else "HELO client.example")

    async def closed(self, wait: float = 10) -> bool:
        """True once the server has closed the connection (EOF with nothing more to read)."""
        data = await asyncio.wait_for(self.reader.read(), wait)
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


async def inbox(app: Application, address: str) -> list[bytes]:
    """Raw bytes of every message stored for `address`, oldest first."""
    page = await app.store.list_messages(address, limit=100, cursor=None)
    out = []
    for item in reversed(page.items):
        raw = await app.store.get_raw(item.id)
        assert raw is not None
        out.append(raw)
    return out


def body_of(raw: bytes) -> bytes:
    """The stored message without the Received header we prepend."""
    assert raw.startswith(b"Received: from "), raw[:80]
    end = raw.index(b"\r\n", raw.index(b"\r\n\tby ") + 2) + 2
    return raw[end:]


async def send_mail(
    port: int,
    mail_from: str,
    recipients: list[str],
    data: bytes,
    *,
    expect_data: int = 250,
) -> list[Reply]:
    """One full transaction over a fresh connection; `data` is sent as given (already
    dot-stuffed) followed by the final `.`."""
    c = await RawClient.connect(port)
    try:
        await c.greet()
        replies = [await c.cmd(f"MAIL FROM:<{mail_from}>")]
        for rcpt in recipients:
            replies.append(await c.cmd(f"RCPT TO:<{rcpt}>"))
        replies.append(await c.cmd("DATA"))
        assert replies[-1].code == 354, replies
        await c.send(data + b".\r\n")
        final = await c.reply()
        replies.append(final)
        assert final.code == expect_data, final
        assert (await c.cmd("QUIT")).last == "221 2.0.0 Bye"
        return replies
    finally:
        await c.close()


async def wait_for_no_connections(app: Application) -> None:
    """Every SMTP connection is gone (and has given back its connection-gate slot)."""
    for _ in range(100):
        if app.smtp_connections == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{app.smtp_connections} SMTP connection(s) still open")
