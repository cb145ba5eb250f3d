"""The SMTP conversation: greeting, EHLO, simple commands, sequencing, enhanced codes."""

from __future__ import annotations

from ephemail.app import Application
from tests.smtp.support import ENHANCED, GREETING, HOST, RawClient, StartApp, inbox


async def test_greeting_names_host_and_banner(client: RawClient) -> None:
    greeting = await client.reply()
    assert greeting.lines == [GREETING.encode()]


async def test_banner_is_configurable(app_factory: StartApp) -> None:
    app = await app_factory(smtp_banner="TempMail 1.0")
    c = await RawClient.connect(app.smtp_port)
    try:
        assert (await c.reply()).last == f"220 {HOST} ESMTP TempMail 1.0"
    finally:
        await c.close()


async def test_ehlo_advertises_exactly_what_works(client: RawClient) -> None:
    ehlo = await client.greet()
    assert ehlo.lines == [
        f"250-{HOST}".encode(),
        f"250-SIZE {25 * 1024 * 1024}".encode(),
        b"250-8BITMIME",
        b"250-SMTPUTF8",
        b"250-PIPELINING",
        b"250-ENHANCEDSTATUSCODES",
        b"250 HELP",
    ]


async def test_ehlo_size_follows_the_setting(app_factory: StartApp) -> None:
    app = await app_factory(smtp_max_message_size=1_000_000)
    c = await RawClient.connect(app.smtp_port)
    try:
        assert b"250-SIZE 1000000" in (await c.greet()).lines
    finally:
        await c.close()


async def test_not_offered_commands_are_not_half_available(client: RawClient) -> None:
    await client.greet()
    for command in ("STARTTLS", "AUTH PLAIN AGxvZ2luAHB3", "EXPN list"):
        reply = await client.cmd(command)
        assert reply.code in (500, 502), reply
        assert ENHANCED.match(reply.last), reply


async def test_helo_reply_is_plain(client: RawClient) -> None:
    helo = await client.greet(ehlo=False)
    assert helo.lines == [f"250 {HOST}".encode()]


async def test_simple_commands(client: RawClient) -> None:
    await client.reply()
    # Allowed before HELO/EHLO.
    assert (await client.cmd("NOOP")).last == "250 2.0.0 Ok"
    assert (await client.cmd("RSET")).last == "250 2.0.0 Ok"
    assert (
        await client.cmd("VRFY postmaster")
    ).last == "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"
    help_reply = await client.cmd("HELP")
    assert help_reply.code == 214
    assert help_reply.last.startswith("214 2.0.0 ")
    assert "MAIL" in help_reply.last
    assert "AUTH" not in help_reply.last
    assert (await client.cmd("HELP MAIL")).last.startswith("214 2.0.0 Syntax: MAIL FROM:")
    assert (await client.cmd("NOOP with an argument")).last == "250 2.0.0 Ok"
    assert (await client.cmd("QUIT")).last == "221 2.0.0 Bye"
    assert await client.closed()


async def test_commands_before_helo_are_out_of_sequence(client: RawClient) -> None:
    await client.reply()
    for command in ("MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA"):
        reply = await client.cmd(command)
        assert reply.code == 503, reply
        assert reply.last.startswith("503 5.5.1 "), reply


async def test_sequence_errors(client: RawClient) -> None:
    await client.greet()
    assert (await client.cmd("RCPT TO:<b@example.com>")).last.startswith("503 5.5.1 ")
    assert (await client.cmd("DATA")).last.startswith("503 5.5.1 ")
    assert (await client.cmd("MAIL FROM:<a@example.com>")).last == "250 2.1.0 Ok"
    assert (await client.cmd("MAIL FROM:<a@example.com>")).last.startswith("503 5.5.1 ")
    assert (await client.cmd("RSET")).last == "250 2.0.0 Ok"
    assert (await client.cmd("MAIL FROM:<a@example.com>")).last == "250 2.1.0 Ok"


async def test_syntax_errors(client: RawClient) -> None:
    await client.reply()
    assert (await client.cmd("EHLO")).last == "501 5.5.4 Syntax: EHLO hostname"
    assert (await client.cmd("HELO")).last == "501 5.5.4 Syntax: HELO hostname"
    await client.cmd("EHLO client.example")
    assert (await client.cmd("MAIL TO:<a@example.com>")).last.startswith("501 5.5.4 Syntax: MAIL")
    assert (await client.cmd("MAIL FROM:<a@example.com> FOO=BAR")).last.startswith("555 5.5.4 ")
    assert (await client.cmd("MAIL FROM:<a@example.com> BODY=BINARY")).last.startswith("501 5.5.4 ")
    assert (await client.cmd("RSET now")).last == "501 5.5.4 Syntax: RSET"
    assert (await client.cmd("QUIT now")).last == "501 5.5.4 Syntax: QUIT"
    assert (await client.cmd("")).last.startswith("500 5.5.2 ")
    assert (await client.cmd("FOO bar")).last.startswith("500 5.5.1 ")


async def test_every_reply_carries_an_enhanced_code(client: RawClient) -> None:
    """RFC 2034: all but the greeting and HELO/EHLO replies (354 is not a final reply)."""
    await client.reply()
    script = [
        "NOOP",
        "MAIL FROM:<a@example.com>",
        "EHLO client.example",
        "HELP",
        "HELP NOSUCH",
        "VRFY <bad",
        "VRFY user@example.com",
        "MAIL FROM:<a@example.com> SIZE=999999999999",
        "MAIL FROM:<not an address>",
        "MAIL FROM:<a@example.com> SIZE=10",
        "RCPT TO:<bad address@x>",
        "RCPT TO:<>",
        "RCPT TO:<b@example.com> NOTIFY=NEVER",
        "RCPT TO:<b@example.com>",
        "RSET",
        "MAIL FROM:<>",
        "RCPT TO:<c@example.com>",
        "DATA",
    ]
    for line in script:
        reply = await client.cmd(line)
        if line.startswith("EHLO"):
            continue
        if line == "DATA":
            assert reply.code == 354
            continue
        for text in reply.lines:
            assert ENHANCED.match(text.decode()), (line, reply)
    await client.send(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    assert ENHANCED.match((await client.reply()).last)
    assert ENHANCED.match((await client.cmd("QUIT")).last)


async def test_malformed_addresses_get_553(client: RawClient) -> None:
    await client.greet()
    assert (await client.cmd("MAIL FROM:<a@@example.com>")).last == (
        "553 5.1.7 Bad sender address syntax"
    )
    assert (await client.cmd("MAIL FROM:<nodomain>")).last == (
        "553 5.1.7 Bad sender address syntax"
    )
    assert (await client.cmd("MAIL FROM:<a@example.com>")).last == "250 2.1.0 Ok"
    assert (await client.cmd("RCPT TO:<a b@example.com>")).last == (
        "553 5.1.3 Bad recipient address syntax"
    )
    assert (await client.cmd("RCPT TO:<x@-bad-.example>")).last == (
        "553 5.1.3 Bad recipient address syntax"
    )
    assert (await client.cmd("RCPT TO:<>")).last == "553 5.1.3 Bad recipient address syntax"


async def test_postmaster_without_domain_goes_to_default_domain(
    app: Application, client: RawClient
) -> None:
    await client.greet()
    await client.cmd("MAIL FROM:<a@example.com>")
    assert (await client.cmd("RCPT TO:<Postmaster>")).last == "250 2.1.5 Ok"
    await client.cmd("DATA")
    await client.send(b"Subject: to postmaster\r\n\r\nhi\r\n.\r\n")
    assert (await client.reply()).code == 250

    assert len(await inbox(app, "postmaster@localhost")) == 1


async def test_long_command_line_is_refused_and_connection_survives(client: RawClient) -> None:
    await client.greet()
    reply = await client.cmd(b"NOOP " + b"x" * 3000)
    assert reply.last == "500 5.5.2 Error: command line too long"
    assert (await client.cmd("NOOP")).last == "250 2.0.0 Ok"
