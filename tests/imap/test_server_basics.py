"""The IMAP server over real sockets: greeting, capabilities, logins, literals, protocol
errors, the HTTP guard, timeouts, the connection cap and shutdown."""

from __future__ import annotations

import asyncio
import base64
import imaplib
from typing import Any

import pytest

from tests.imap.conftest import MODULE_LOOP, RawClient, imaplib_client, in_thread

pytestmark = MODULE_LOOP

PRE_AUTH = (
    b"IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE"
    b" SASL-IR AUTH=PLAIN"
)
POST_AUTH = (
    b"IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE"
)


async def test_greeting_and_capability(connect: Any) -> None:
    client: RawClient = await connect()
    assert client.greeting == b"* OK [CAPABILITY " + PRE_AUTH + b"] ephemail IMAP4rev1 ready\r\n"
    lines = await client.command("CAPABILITY")
    assert lines == [b"* CAPABILITY " + PRE_AUTH + b"\r\n", b"t1 OK CAPABILITY completed\r\n"]
    login = await client.login("bob@example.com")
    assert login[-1] == b"t2 OK [CAPABILITY " + POST_AUTH + b"] Logged in\r\n"
    after = await client.command("CAPABILITY")
    assert after[0] == b"* CAPABILITY " + POST_AUTH + b"\r\n"
    assert (await client.command("STARTTLS"))[-1].startswith(b"t4 NO ")
    assert b"STARTTLS" not in after[0]


async def test_imaplib_login_ok_and_failure(imap_app: Any) -> None:
    def session() -> tuple[str, list[bytes], str]:
        with imaplib_client(imap_app) as imap:
            typ, _data = imap.login("bob@example.com", "anything")
            _, data = imap.capability()
            caps = data[-1].split()
            imap.logout()
        with imaplib_client(imap_app) as imap:
            try:
                imap.login("x@", "pw")
            except imaplib.IMAP4.error as exc:
                failure = str(exc)
            else:  # pragma: no cover - the assertion below reports it
                failure = "logged in"
        return typ, caps, failure

    typ, caps, failure = await in_thread(session)
    assert typ == "OK"
    assert b"IDLE" in caps and b"AUTH=PLAIN" not in caps
    assert "[AUTHENTICATIONFAILED] Authentication failed" in failure


async def test_login_failure_is_generic_and_logged_without_password(
    connect: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client: RawClient = await connect()
    caplog.set_level("INFO", logger="ephemail.protocols.imap")
    lines = await client.command('LOGIN "bad@" "hunter2-secret"')
    assert lines == [b"t1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"]
    assert "login failed" in caplog.text
    assert "hunter2-secret" not in caplog.text
    # The connection stays usable.
    await client.login("bob@example.com")


async def test_authenticate_plain_with_sasl_ir(connect: Any) -> None:
    client: RawClient = await connect()
    token = base64.b64encode(b"\x00bob@example.com\x00pw").decode()
    lines = await client.command(f"AUTHENTICATE PLAIN {token}")
    assert lines[-1].startswith(b"t1 OK [CAPABILITY IMAP4rev1")
    assert (await client.command("SELECT INBOX"))[-1].startswith(b"t2 OK [READ-WRITE]")


async def test_authenticate_plain_with_continuation_and_cancel(connect: Any) -> None:
    client: RawClient = await connect()
    await client.send(b"a1 AUTHENTICATE PLAIN\r\n")
    assert await client.read_line() == b"+ \r\n"
    await client.send(b"*\r\n")
    assert (await client.read_line()).startswith(b"a1 BAD ")
    await client.send(b"a2 AUTHENTICATE PLAIN\r\n")
    assert await client.read_line() == b"+ \r\n"
    await client.send(base64.b64encode(b"bob@example.com\x00bob@example.com\x00pw") + b"\r\n")
    assert (await client.read_line()).startswith(b"a2 OK [CAPABILITY ")
    # Wrong authorization identity: generic failure.
    other: RawClient = await connect()
    token = base64.b64encode(b"carol@example.com\x00bob@example.com\x00pw").decode()
    lines = await other.command(f"AUTHENTICATE PLAIN {token}")
    assert lines == [b"t1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"]
    unknown = await other.command("AUTHENTICATE CRAM-MD5")
    assert unknown[-1].startswith(b"t2 NO ")


async def test_imaplib_authenticate_plain(imap_app: Any) -> None:
    def session() -> str:
        with imaplib_client(imap_app) as imap:
            typ, _ = imap.authenticate("PLAIN", lambda _: b"\x00carol@example.com\x00pw")
            imap.logout()
            return typ

    assert await in_thread(session) == "OK"


async def test_http_request_line_is_refused_and_closed(connect: Any) -> None:
    client: RawClient = await connect()
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await client.read_line() == b"* BAD This is an IMAP server, not HTTP\r\n"
    async with asyncio.timeout(5):
        assert await client.reader.read() == b""


async def test_synchronising_literal_and_literal_plus(connect: Any) -> None:
    client: RawClient = await connect()
    await client.send(b"a1 LOGIN {15}\r\n")
    assert (await client.read_line()).startswith(b"+ ")
    await client.send(b"bob@example.com {2}\r\n")
    assert (await client.read_line()).startswith(b"+ ")
    await client.send(b"pw\r\n")
    assert (await client.read_line()).startswith(b"a1 OK ")
    # LITERAL+: no continuation, everything at once.
    await client.send(b'a2 CREATE {8+}\r\nF&APw-r \r\na3 LIST "" *\r\n')
    lines = await client.until_tagged("a3")
    assert b"a2 OK CREATE completed\r\n" in lines
    assert b'* LIST (\\HasNoChildren) "/" "F&APw-r "\r\n' in lines


async def test_bad_syntax_and_state_errors_keep_the_connection(connect: Any) -> None:
    client: RawClient = await connect()
    assert (await client.command("SELECT INBOX"))[-1].startswith(b"t1 BAD ")
    assert (await client.command("FROB"))[-1].startswith(b"t2 BAD ")
    await client.login("bob@example.com")
    assert (await client.command("FETCH 1 FLAGS"))[-1].startswith(b"t4 BAD ")
    assert (await client.command('LOGIN "a" "b"'))[-1] == b"t5 BAD Already authenticated\r\n"
    assert (await client.command("NOOP"))[-1] == b"t6 OK NOOP completed\r\n"


async def test_id_namespace_enable_noop_logout(connect: Any) -> None:
    client: RawClient = await connect()
    lines = await client.command('ID ("name" "pytest")')
    assert lines[0] == b'* ID ("name" "ephemail" "version" "0.1.0")\r\n'
    await client.login("bob@example.com")
    assert (await client.command("NAMESPACE"))[0] == b'* NAMESPACE (("" "/")) NIL NIL\r\n'
    assert (await client.command("ENABLE CONDSTORE"))[0] == b"* ENABLED\r\n"
    bye = await client.command("LOGOUT")
    assert bye == [b"* BYE Logging out\r\n", b"t5 OK LOGOUT completed\r\n"]
    async with asyncio.timeout(5):
        assert await client.reader.read() == b""


async def test_readiness_reports_imap(imap_app: Any) -> None:
    assert (await imap_app.readiness())["imap"] == "ok"
