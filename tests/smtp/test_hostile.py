"""Hostile input: random command lines never crash the server or end a connection silently."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ephemail.app import Application
from tests.smtp.support import ENHANCED, RawClient, wait_for_no_connections

VERBS = [
    b"HELO",
    b"EHLO",
    b"MAIL FROM:",
    b"RCPT TO:",
    b"DATA",
    b"RSET",
    b"NOOP",
    b"VRFY",
    b"HELP",
    b"EXPN",
    b"AUTH",
    b"STARTTLS",
    b"BDAT",
    b"QUIT",
]

# A line is anything without LF (aiosmtpd ends a command at LF); CR may appear anywhere.
_noise = st.binary(max_size=120).map(lambda b: b.replace(b"\n", b""))
_line = st.one_of(
    _noise,
    st.tuples(st.sampled_from(VERBS), st.sampled_from([b"", b" ", b":", b"<", b" <"]), _noise).map(
        b"".join
    ),
    st.tuples(
        st.sampled_from([b"MAIL FROM:<", b"RCPT TO:<"]),
        st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.sampled_from([b">", b"> SIZE=1", b"> SMTPUTF8", b"> BODY=8BITMIME", b""]),
    ).map(lambda t: b"".join(t).replace(b"\n", b"")),
    st.binary(min_size=500, max_size=1500).map(lambda b: b.replace(b"\n", b"")),
)


async def converse(port: int, lines: list[bytes]) -> None:
    c = await RawClient.connect(port)
    try:
        assert (await c.reply()).code == 220
        await c.cmd("EHLO fuzz.example")
        for line in lines:
            await c.send(line + b"\r\n")
            reply = await c.reply(wait=10)  # every line gets an answer (or it is DATA content)
            assert 200 <= reply.code <= 599, reply
            if reply.code == 354:
                await c.send(b"\r\n.\r\n")
                reply = await c.reply(wait=10)
            verb = line.rstrip(b"\r").split(b" ", 1)[0].upper()
            if reply.code != 354 and verb not in (b"HELO", b"EHLO"):  # RFC 2034 exemptions
                for text in reply.lines:
                    assert ENHANCED.match(text.decode("utf-8", "replace")), (line, reply)
            if reply.code in (221, 421):
                assert await c.closed()
                return
    finally:
        await c.close()


async def test_random_command_lines(app: Application, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ephemail.protocols.smtp")
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(_line, min_size=1, max_size=12))
    def check(lines: list[bytes]) -> None:
        asyncio.run_coroutine_threadsafe(converse(app.smtp_port, lines), loop).result(60)

    await asyncio.to_thread(check)
    # No command ended in an unexpected exception (that would be a 451 "local error").
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    # Still serving, and no connection leaked (each one gave its gate slot back).
    c = await RawClient.connect(app.smtp_port)
    try:
        assert (await c.greet()).code == 250
    finally:
        await c.close()
    await wait_for_no_connections(app)


async def test_binary_garbage_and_eof_mid_command(app: Application) -> None:
    for payload in (b"\x00\xff" * 300, b"MAIL FROM:<a@b", b"\r\r\r", b"DATA\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", app.smtp_port)
        await reader.readline()
        writer.write(payload)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    c = await RawClient.connect(app.smtp_port)
    try:
        assert (await c.greet()).code == 250
    finally:
        await c.close()


async def test_client_that_disconnects_mid_data(app: Application) -> None:
    c = await RawClient.connect(app.smtp_port)
    await c.greet()
    await c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<cut@example.com>\r\nDATA\r\n")
    for _ in range(3):
        await c.reply()
    await c.send(b"Subject: cut\r\n\r\npartial")
    await c.close()
    await asyncio.sleep(0.2)
    page = await app.store.list_messages("cut@example.com", limit=5, cursor=None)
    assert page.items == []
