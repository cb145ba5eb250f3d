"""Hostile input over a real socket: every payload gets a protocol answer (or a close), the
server logs no unhandled error, other clients keep being served, and no stored mail changes."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from typing import Any

import pytest

from tests.imap.conftest import MODULE_LOOP, RawClient, sample_mail, smtp_deliver

pytestmark = MODULE_LOOP

ADDRESS = "hostile@example.com"
# What a well-formed server line starts with: untagged, continuation, or a tag the client
# sent (RFC 3501 section 9: tag = 1*<ASTRING-CHAR except "+">, so `[` and `]` may appear).
_LINE = re.compile(rb'^(\* |\+ |\+\r\n|[^\x00-\x20\x7f-\xff(){%*"\\+]{1,64} (OK|NO|BAD) )')

HOSTILE: list[tuple[str, bytes]] = [
    ("a line far over the limit", b"a1 NOOP " + b"x" * 200_000 + b"\r\n"),
    ("a literal larger than any limit", b"a2 APPEND INBOX {999999999999}\r\n"),
    ("a negative-looking literal", b"a3 LOGIN {-5}\r\n"),
    ("deep nesting", b"a4 SEARCH " + b"(" * 5000 + b"ALL" + b")" * 5000 + b"\r\n"),
    ("NUL and 8-bit bytes", b"a5 SELECT \x00\xff\xfe INBOX\r\n"),
    ("a bare CR flood", b"\r" * 10_000 + b"a6 NOOP\r\n"),
    ("a tag with specials", b"a*%{ NOOP\r\n"),
    ("a sequence set of zeros", b"a7 FETCH 0:0 FLAGS\r\n"),
    ("a huge sequence number", b"a8 FETCH 99999999999999999999 FLAGS\r\n"),
    ("an unterminated quoted string", b'a9 LOGIN "abc\r\n'),
    ("a thousand bad commands", b"".join(b"b%d XYZZY\r\n" % i for i in range(1000))),
    ("many literals", b"c1 LOGIN " + b"{1+}\r\nx " * 200 + b"\r\n"),
    ("IDLE then garbage", b"d1 IDLE\r\nnot done\r\n"),
    ("AUTHENTICATE with bad base64", b"e1 AUTHENTICATE PLAIN\r\n!!!notbase64!!!\r\n"),
]


async def _drain(client: RawClient, seconds: float = 0.4) -> list[bytes]:
    """Lines the server sends within `seconds` (until it goes quiet or closes)."""
    lines: list[bytes] = []
    try:
        while True:
            lines.append(await client.read_line(timeout=seconds))
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        return lines


async def _logged_in_selected(connect: Any) -> RawClient:
    client: RawClient = await connect()
    await client.login(ADDRESS)
    lines = await client.command("SELECT INBOX")
    assert lines[-1].split()[1] == b"OK", lines
    return client


async def _inbox_state(connect: Any, items: str = "FLAGS RFC822.SIZE") -> list[bytes]:
    """The stored messages as EXAMINE shows them (read-only: no \\Recent is claimed)."""
    client: RawClient = await connect()
    await client.login(ADDRESS)
    await client.command("EXAMINE INBOX")
    lines = await client.command(f"UID FETCH 1:* ({items})")
    await client.command("LOGOUT")
    return sorted(line.replace(b"\\Recent", b"") for line in lines if line.startswith(b"* "))


@pytest.mark.parametrize(("name", "payload"), HOSTILE, ids=[name for name, _ in HOSTILE])
async def test_hostile_payload_gets_an_answer_and_harms_nothing(
    imap_app: Any, connect: Any, caplog: pytest.LogCaptureFixture, name: str, payload: bytes
) -> None:
    await smtp_deliver(imap_app, sample_mail(subject="keep me"), ADDRESS)
    before = await _inbox_state(connect)
    caplog.set_level(logging.WARNING, logger="ephemail")
    attacker = await _logged_in_selected(connect)
    await attacker.send(payload)
    answered = await _drain(attacker)
    assert answered, f"{name}: no answer at all"
    for line in answered:
        assert _LINE.match(line), (name, line[:120])
    # The server is fine: a new client is served and nothing stored changed.
    assert await _inbox_state(connect) == before
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def test_random_bytes_never_break_the_server(
    imap_app: Any, connect: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await smtp_deliver(imap_app, sample_mail(subject="fuzz"), ADDRESS)
    # Random fragments may form valid commands (a keyword STORE, say), so only the stored
    # messages themselves are compared here, not their flags.
    before = await _inbox_state(connect, "RFC822.SIZE")
    caplog.set_level(logging.WARNING, logger="ephemail")
    rng = random.Random(4)
    fragments = [
        b"{5}\r\n",
        b"{3+}\r\n",
        b"(",
        b")",
        b'"',
        b"\\",
        b"\r\n",
        b" ",
        b"*",
        b":",
        b"UID ",
        b"FETCH ",
        b"BODY[",
        b"]",
        b"<0.1>",
        b"SEARCH ",
        b"OR ",
        b"NOT ",
        b"IDLE\r\n",
        b"DONE\r\n",
        b"a1 ",
        b"1:*",
        b"\x00",
        b"\xff",
        b"INBOX",
        b"EXPUNGE",
    ]
    for _round in range(15):
        attacker = await _logged_in_selected(connect)
        data = b"".join(rng.choice(fragments) for _ in range(rng.randint(20, 300)))
        data += bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        await attacker.send(data + b"\r\nz9 NOOP\r\n")
        for line in await _drain(attacker, 0.3):
            assert _LINE.match(line) or not line.endswith(b"\r\n"), line[:120]
        await attacker.close()
    assert await _inbox_state(connect, "RFC822.SIZE") == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
