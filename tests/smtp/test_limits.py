"""Limits: message size, line length, SMTP smuggling, timeouts, the error budget."""

from __future__ import annotations

import asyncio

import pytest

from ephemail.app import Application
from tests.smtp.support import RawClient, StartApp, body_of, inbox

SMUGGLING = "550 5.5.2 Bare CR or LF with dot in message (possible SMTP smuggling)"


async def open_data(c: RawClient, rcpt: str = "limits@example.com") -> None:
    await c.send(f"MAIL FROM:<a@example.com>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
    assert [(await c.reply()).code for _ in range(3)] == [250, 250, 354]


async def test_size_parameter_over_the_limit(app_factory: StartApp) -> None:
    app = await app_factory(smtp_max_message_size=2048)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        assert (await c.cmd("MAIL FROM:<a@example.com> SIZE=2049")).last == (
            "552 5.3.4 Message too large"
        )
        assert (await c.cmd("MAIL FROM:<a@example.com> SIZE=2048")).last == "250 2.1.0 Ok"
    finally:
        await c.close()


async def test_data_over_the_limit_is_read_to_the_end_then_refused(app_factory: StartApp) -> None:
    app = await app_factory(smtp_max_message_size=2048)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        await open_data(c)
        # After the limit the client keeps sending; none of it may be taken as a command.
        await c.send(b"Subject: big\r\n\r\n" + b"y" * 70 + b"\r\n" * 1 + (b"z" * 78 + b"\r\n") * 40)
        await c.send(b"RSET\r\nMAIL FROM:<evil@example.com>\r\nQUIT\r\n")
        await c.send(b".\r\n")
        assert (await c.reply()).last == "552 5.3.4 Message too large"
        # The connection is usable, and the very next reply answers our next command.
        assert (await c.cmd("NOOP")).last == "250 2.0.0 Ok"
        await open_data(c)
        await c.send(b"Subject: small\r\n\r\nok\r\n.\r\n")
        assert (await c.reply()).code == 250
    finally:
        await c.close()
    (raw,) = await inbox(app, "limits@example.com")
    assert body_of(raw) == b"Subject: small\r\n\r\nok\r\n"


async def test_message_exactly_at_the_limit_is_accepted(app_factory: StartApp) -> None:
    app = await app_factory(smtp_max_message_size=2048)
    body = (b"x" * 62 + b"\r\n") * 32  # 2048 bytes
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        await open_data(c)
        await c.send(body + b".\r\n")
        assert (await c.reply()).code == 250
    finally:
        await c.close()
    (raw,) = await inbox(app, "limits@example.com")
    assert body_of(raw) == body


async def test_line_too_long(app_factory: StartApp) -> None:
    # An error budget of 1: a content problem must not count as a bad command.
    app = await app_factory(smtp_error_budget=1)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        await open_data(c)
        await c.send(b"Subject: long\r\n\r\n" + b"w" * 5000 + b"\r\nmore\r\n.\r\n")
        assert (await c.reply()).last == "500 5.5.6 Line too long"
        assert (await c.cmd("NOOP")).last == "250 2.0.0 Ok"
    finally:
        await c.close()
    assert await inbox(app, "limits@example.com") == []


async def test_longest_allowed_line(app: Application, client: RawClient) -> None:
    await client.greet()
    await open_data(client)
    line = b"v" * 998 + b"\r\n"  # RFC 5321 4.5.3.1.6: 998 octets + CRLF
    await client.send(line + b".\r\n")
    assert (await client.reply()).code == 250
    (raw,) = await inbox(app, "limits@example.com")
    assert body_of(raw) == line


@pytest.mark.parametrize(
    "content",
    [
        b"Subject: s\r\n\r\nline\n.\r\nMAIL FROM:<x@evil.example>\r\n",  # \n.\r\n
        b"Subject: s\r\n\r\nline\r\n.\nMAIL FROM:<x@evil.example>\r\n",  # \r\n.\n
        b"Subject: s\r\n\r\nline\n.\nMAIL FROM:<x@evil.example>\r\n",  # \n.\n
        b"Subject: s\r\n\r\nline\r.\r\nMAIL FROM:<x@evil.example>\r\n",  # \r.\r\n
        b"Subject: s\r\n\r\nline\r\n.\rMAIL FROM:<x@evil.example>\r\n",  # \r\n.\r
        b"Subject: s\r\n\r\nline\r.\rMAIL FROM:<x@evil.example>\r\n",  # \r.\r
        b".\nMAIL FROM:<x@evil.example>\r\n",  # right after DATA's CRLF
        b".\rMAIL FROM:<x@evil.example>\r\n",
    ],
)
async def test_smuggling_patterns_are_refused(
    app: Application, client: RawClient, content: bytes
) -> None:
    await client.greet()
    await open_data(client)
    await client.send(content + b".\r\n")
    assert (await client.reply()).last == SMUGGLING
    # The rest was not taken as commands, and the session goes on cleanly.
    assert (await client.cmd("NOOP")).last == "250 2.0.0 Ok"
    await open_data(client)
    await client.send(b"Subject: clean\r\n\r\nfine\r\n.\r\n")
    assert (await client.reply()).code == 250
    stored = await inbox(app, "limits@example.com")
    assert [body_of(m) for m in stored] == [b"Subject: clean\r\n\r\nfine\r\n"]


@pytest.mark.parametrize(
    "content",
    [
        b"bare\nlf\r\n",
        b"a\n.b\r\n",  # a dot after a bare LF, but not a dot line
        b"a\n..\r\n",  # a stuffed dot line after a bare LF
        b"a\r\n..\r\n",  # a stuffed lone dot: stored as a line with one dot
        b"x.\r\n.x\r\n",
        b"cr\ralone\r\n",
    ],
)
async def test_other_bare_line_ends_are_kept(
    app: Application, client: RawClient, content: bytes
) -> None:
    await client.greet()
    await open_data(client)
    await client.send(content + b".\r\n")
    assert (await client.reply()).code == 250
    (raw,) = await inbox(app, "limits@example.com")
    expected = b"\r\n".join(
        line[1:] if line.startswith(b".") else line for line in content.split(b"\r\n")
    )
    assert body_of(raw) == expected


async def test_idle_timeout(app_factory: StartApp) -> None:
    app = await app_factory(smtp_idle_timeout=0.5)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        reply = await c.reply(wait=5)
        assert reply.last == "421 4.4.2 mx.ephemail.test Idle timeout"
        assert await c.closed()
    finally:
        await c.close()


async def test_slow_data_that_keeps_coming_is_not_idle(app_factory: StartApp) -> None:
    app = await app_factory(smtp_idle_timeout=0.5)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        await open_data(c)
        for n in range(8):  # 1.6 s of DATA, never 0.5 s without bytes
            await c.send(f"line {n}\r\n".encode())
            await asyncio.sleep(0.2)
        await c.send(b".\r\n")
        assert (await c.reply()).code == 250
    finally:
        await c.close()


async def test_session_time_limit(app_factory: StartApp) -> None:
    app = await app_factory(smtp_session_timeout=1.0)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        replies = []
        for _ in range(30):
            await c.send(b"NOOP\r\n")
            reply = await c.reply(wait=5)
            replies.append(reply.last)
            if reply.code != 250:
                break
            await asyncio.sleep(0.1)
        assert replies[-1] == "421 4.4.2 mx.ephemail.test Session time limit exceeded"
        assert await c.closed()
    finally:
        await c.close()


async def test_session_time_limit_lets_a_transaction_in_data_finish(
    app_factory: StartApp,
) -> None:
    app = await app_factory(smtp_session_timeout=1.0)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        await open_data(c)
        for n in range(8):  # DATA still running when the session time is up
            await c.send(f"line {n}\r\n".encode())
            await asyncio.sleep(0.2)
        await c.send(b".\r\n")
        assert (await c.reply()).code == 250
        assert (await c.reply()).last == "421 4.4.2 mx.ephemail.test Session time limit exceeded"
        assert await c.closed()
    finally:
        await c.close()
    assert len(await inbox(app, "limits@example.com")) == 1


async def test_error_budget(app_factory: StartApp) -> None:
    app = await app_factory(smtp_error_budget=3)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        assert (await c.cmd("BOGUS")).code == 500
        assert (await c.cmd("MAIL FROM:")).code == 501
        assert (await c.cmd("DATA")).code == 503
        assert (await c.reply()).last == (
            "421 4.7.0 mx.ephemail.test Too many errors, closing connection"
        )
        assert await c.closed()
    finally:
        await c.close()


async def test_error_budget_with_pipelined_garbage(app_factory: StartApp) -> None:
    app = await app_factory(smtp_error_budget=3)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        # Garbage, then a full transaction: nothing after the 421 may be processed.
        await c.send(
            b"X1\r\nX2\r\nX3\r\nX4\r\nX5\r\n"
            b"MAIL FROM:<a@example.com>\r\nRCPT TO:<after@example.com>\r\nDATA\r\n"
            b"Subject: must not be stored\r\n\r\n.\r\n"
        )
        codes = [(await c.reply()).code for _ in range(4)]
        assert codes == [500, 500, 500, 421]
        assert await c.closed()
    finally:
        await c.close()
    await asyncio.sleep(0.1)
    assert await inbox(app, "after@example.com") == []


async def test_policy_rejections_do_not_spend_the_error_budget(app_factory: StartApp) -> None:
    app = await app_factory(smtp_error_budget=2, accept_policy="only.example")
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        await c.cmd("MAIL FROM:<a@example.com>")
        for n in range(5):
            assert (await c.cmd(f"RCPT TO:<x{n}@other.example>")).code == 550
            assert (await c.cmd(f"RCPT TO:<bad {n}@other.example>")).code == 553
        assert (await c.cmd("NOOP")).last == "250 2.0.0 Ok"
    finally:
        await c.close()


async def test_unknown_commands_use_our_budget_not_aiosmtpds(app_factory: StartApp) -> None:
    """aiosmtpd alone would hang up after 5 unknown commands with a 502."""
    app = await app_factory(smtp_error_budget=10)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        for n in range(9):
            assert (await c.cmd(f"BOGUS{n}")).last == "500 5.5.1 Error: command not recognized"
        assert (await c.cmd("NOOP")).last == "250 2.0.0 Ok"
        assert (await c.cmd("BOGUS")).code == 500
        assert (await c.reply()).code == 421
    finally:
        await c.close()
