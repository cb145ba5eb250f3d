"""Accepted mail: pipelining, recipients, byte-exact storage, trace header, queue ids."""

from __future__ import annotations

import asyncio
import re
import smtplib

from ephemail.app import Application
from tests.smtp.support import RawClient, body_of, inbox, send_mail

QUEUED = re.compile(r"\A250 2\.0\.0 Ok: queued as [0-9A-Z]{26}\Z")


async def test_pipelined_transaction_in_one_write(app: Application, client: RawClient) -> None:
    await client.greet()
    await client.send(
        b"MAIL FROM:<alice@example.com>\r\n"
        b"RCPT TO:<bob@example.com>\r\n"
        b"RCPT TO:<carol@example.com>\r\n"
        b"DATA\r\n"
    )
    replies = [await client.reply() for _ in range(4)]
    assert [r.last for r in replies] == [
        "250 2.1.0 Ok",
        "250 2.1.5 Ok",
        "250 2.1.5 Ok",
        "354 End data with <CR><LF>.<CR><LF>",
    ]
    # Content, end of data and the next transaction in one write as well (RFC 2920).
    await client.send(
        b"Subject: one\r\n\r\nfirst\r\n.\r\n"
        b"MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"
    )
    assert QUEUED.match((await client.reply()).last)
    assert [(await client.reply()).code for _ in range(3)] == [250, 250, 354]
    await client.send(b"Subject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n")
    assert QUEUED.match((await client.reply()).last)
    assert (await client.reply()).last == "221 2.0.0 Bye"
    assert [body_of(m) for m in await inbox(app, "bob@example.com")] == [
        b"Subject: one\r\n\r\nfirst\r\n",
        b"Subject: two\r\n\r\nsecond\r\n",
    ]
    assert len(await inbox(app, "carol@example.com")) == 1


async def test_every_recipient_gets_one_copy(app: Application) -> None:
    """To, Cc and Bcc recipients (Bcc is envelope-only), duplicates stored once."""
    data = b"From: a@example.com\r\nTo: to@example.com\r\nCc: cc@example.com\r\n\r\nhi\r\n"
    replies = await send_mail(
        app.smtp_port,
        "a@example.com",
        [
            "to@example.com",
            "cc@example.com",
            "hidden@example.com",
            "TO@Example.COM",
            "to@example.com",
        ],
        data,
    )
    assert [r.last for r in replies[1:6]] == ["250 2.1.5 Ok"] * 5
    for address in ("to@example.com", "cc@example.com", "hidden@example.com"):
        stored = await inbox(app, address)
        assert len(stored) == 1, address
        assert body_of(stored[0]) == data
        assert b"hidden" not in stored[0]  # the Bcc recipient is not written into the message


async def test_stored_bytes_equal_sent_bytes(app: Application) -> None:
    """8-bit, NUL-free binary, bare LF (not next to a dot), trailing spaces, long-ish lines."""
    body = (
        b"Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n"
        b"Content-Type: text/plain; charset=latin-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"gr\xfc\xdfe \xff\xfe\x80\r\n"
        b"bare\nline feed\r\n"
        b"cr in\rthe middle\r\n"
        b"trailing spaces   \r\n"
        b"\t tab start\r\n" + b"x" * 990 + b"\r\n"
        b"\r\n"
        b"\r\n"
    )
    await send_mail(app.smtp_port, "a@example.com", ["bin@example.com"], body)
    (raw,) = await inbox(app, "bin@example.com")
    assert body_of(raw) == body


async def test_dot_unstuffing(app: Application) -> None:
    sent = b"Subject: dots\r\n\r\n..\r\n..leading\r\n...\r\nmid.dle\r\n. space\r\n"
    await send_mail(app.smtp_port, "a@example.com", ["dots@example.com"], sent)
    (raw,) = await inbox(app, "dots@example.com")
    assert body_of(raw) == b"Subject: dots\r\n\r\n.\r\n.leading\r\n..\r\nmid.dle\r\n space\r\n"


async def test_empty_message(app: Application) -> None:
    await send_mail(app.smtp_port, "a@example.com", ["empty@example.com"], b"")
    (raw,) = await inbox(app, "empty@example.com")
    assert body_of(raw) == b""


async def test_received_header(app: Application) -> None:
    await send_mail(
        app.smtp_port, "a@example.com", ["trace@example.com"], b"Subject: t\r\n\r\nx\r\n"
    )
    (raw,) = await inbox(app, "trace@example.com")
    first, second = raw.split(b"\r\n")[:2]
    assert first == b"Received: from client.example (unknown [127.0.0.1])"
    assert re.fullmatch(
        rb"\tby mx\.ephemail\.test \(ephemail\) with ESMTP; "
        rb"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
        rb"\d{4} \d\d:\d\d:\d\d \+0000",
        second,
    ), second


async def test_helo_session_and_hostile_helo_name(app: Application) -> None:
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.reply()
        assert (await c.cmd("HELO evil (x) [1.2.3.4]\rz")).code == 250
        await c.cmd("MAIL FROM:<a@example.com>")
        await c.cmd("RCPT TO:<helo@example.com>")
        await c.cmd("DATA")
        await c.send(b"x\r\n.\r\n")
        assert (await c.reply()).code == 250
    finally:
        await c.close()
    (raw,) = await inbox(app, "helo@example.com")
    header = raw.split(b"\r\n")[0]
    assert header.startswith(b"Received: from evil?")
    assert b"(x)" not in header
    assert b"\r" not in header
    assert b"with SMTP;" in raw.split(b"\r\n")[1]


async def test_null_sender_is_accepted(app: Application) -> None:
    replies = await send_mail(
        app.smtp_port, "", ["bounce@example.com"], b"Subject: bounce\r\n\r\nundeliverable\r\n"
    )
    assert replies[0].last == "250 2.1.0 Ok"
    page = await app.store.list_messages("bounce@example.com", limit=10, cursor=None)
    assert len(page.items) == 1
    assert page.items[0].envelope_from == ""


async def test_smtputf8_sender_and_recipient(app: Application, client: RawClient) -> None:
    await client.greet()
    assert (await client.cmd("MAIL FROM:<jürgen@bücher.example> SMTPUTF8")).code == 250
    assert (await client.cmd("RCPT TO:<δοκιμή@παράδειγμα.δοκιμή>")).code == 250
    await client.cmd("DATA")
    await client.send("Subject: ü\r\n\r\nü\r\n.\r\n".encode())
    assert (await client.reply()).code == 250
    address = "δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp"
    stored = await inbox(app, address)
    assert len(stored) == 1
    assert b"with UTF8SMTP;" in stored[0].split(b"\r\n")[1]


async def test_rset_discards_the_transaction(app: Application, client: RawClient) -> None:
    await client.greet()
    await client.cmd("MAIL FROM:<a@example.com>")
    await client.cmd("RCPT TO:<dropped@example.com>")
    assert (await client.cmd("RSET")).last == "250 2.0.0 Ok"
    await client.cmd("MAIL FROM:<a@example.com>")
    await client.cmd("RCPT TO:<kept@example.com>")
    await client.cmd("DATA")
    await client.send(b"x\r\n.\r\n")
    assert (await client.reply()).code == 250
    assert await inbox(app, "dropped@example.com") == []
    assert len(await inbox(app, "kept@example.com")) == 1


async def test_smtplib_client(app: Application) -> None:
    """A stock client (smtplib, in a thread) talks to us without trouble."""

    def send() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", app.smtp_port, timeout=10) as s:
            s.ehlo("smtplib.example")
            assert s.has_extn("pipelining")
            assert s.has_extn("enhancedstatuscodes")
            return s.sendmail(
                "sender@example.com",
                ["one@example.com", "two@example.com"],
                b"Subject: via smtplib\r\n\r\nHello\r\n.starts with a dot\r\n",
            )

    refused = await asyncio.to_thread(send)
    assert refused == {}
    (raw,) = await inbox(app, "two@example.com")
    assert body_of(raw) == b"Subject: via smtplib\r\n\r\nHello\r\n.starts with a dot\r\n"


async def test_concurrent_senders(app: Application) -> None:
    async def one(n: int) -> None:
        await send_mail(
            app.smtp_port,
            f"s{n}@example.com",
            ["many@example.com"],
            f"Subject: {n}\r\n\r\n".encode(),
        )

    await asyncio.gather(*(one(n) for n in range(20)))
    assert len(await inbox(app, "many@example.com")) == 20
