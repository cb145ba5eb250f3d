"""Accept policy and bans at SMTP time: exact codes and texts, and what still gets through."""

from __future__ import annotations

import asyncio

import pytest

from ephemail.app import Application
from tests.smtp.support import RawClient, StartApp, inbox

DOMAIN_NOT_ALLOWED = "550 5.1.2 Domain not allowed"


async def rcpt_replies(
    app: Application, recipients: list[str], sender: str = "a@example.com"
) -> list[str]:
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        assert (await c.cmd(f"MAIL FROM:<{sender}>")).last == "250 2.1.0 Ok"
        return [(await c.cmd(f"RCPT TO:<{r}>")).last for r in recipients]
    finally:
        await c.close()


async def test_accept_all(app: Application) -> None:
    assert await rcpt_replies(app, ["x@anything.example", "y@other.test"]) == ["250 2.1.5 Ok"] * 2


async def test_accept_registered_domains_only(app_factory: StartApp) -> None:
    app = await app_factory(accept_policy="domains")
    await app.policy_admin.add_domain("mail.example")
    await app.policy_admin.add_domain("inactive.example", active=False)
    assert await rcpt_replies(
        app,
        ["a@mail.example", "a@sub.mail.example", "a@other.example", "a@inactive.example"],
    ) == ["250 2.1.5 Ok", "250 2.1.5 Ok", DOMAIN_NOT_ALLOWED, DOMAIN_NOT_ALLOWED]


async def test_domains_mode_with_no_domains_rejects_everything(app_factory: StartApp) -> None:
    app = await app_factory(accept_policy="domains")
    assert await rcpt_replies(app, ["a@example.com", "postmaster"]) == [DOMAIN_NOT_ALLOWED] * 2


async def test_accept_single_domain_and_subdomains(app_factory: StartApp) -> None:
    app = await app_factory(accept_policy="Temp.Example")
    assert await rcpt_replies(
        app, ["a@temp.example", "b@x.temp.example", "c@nottemp.example", "d@example"]
    ) == ["250 2.1.5 Ok", "250 2.1.5 Ok", DOMAIN_NOT_ALLOWED, DOMAIN_NOT_ALLOWED]


async def test_reject_non_domain_emails_uses_the_default_domain(app_factory: StartApp) -> None:
    app = await app_factory(reject_non_domain_emails=True, default_domain="dyn.example")
    assert await rcpt_replies(app, ["a@dyn.example", "b@else.example", "local"]) == [
        "250 2.1.5 Ok",
        DOMAIN_NOT_ALLOWED,
        "250 2.1.5 Ok",
    ]


@pytest.mark.parametrize(
    ("scope", "value", "match", "sender", "banned"),
    [
        ("sender", "spammer@bad.example", None, "Spammer@BAD.example", True),
        ("sender", "spammer@bad.example", None, "other@bad.example", False),
        ("email", "spammer@bad.example", None, "spammer@bad.example", True),
        ("sender_domain", "bad.example", None, "x@bad.example", True),
        ("sender_domain", "bad.example", None, "x@mx.bad.example", True),
        ("sender_domain", "bad.example", None, "x@notbad.example", False),
        ("sender", "casino", "contains", "win-casino-now@x.example", True),
        ("sender", "contains:CASINO", None, "CasinoKing@x.example", True),
    ],
)
async def test_sender_bans(
    app: Application, scope: str, value: str, match: str | None, sender: str, banned: bool
) -> None:
    await app.policy_admin.add_ban(scope, value, match=match)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        reply = await c.cmd(f"MAIL FROM:<{sender}>")
        assert reply.last == ("550 5.7.1 Sender banned" if banned else "250 2.1.0 Ok")
        # The rejection is not a protocol error: the connection goes on.
        assert (await c.cmd("MAIL FROM:<fine@example.com>")).code in (250, 503)
    finally:
        await c.close()


async def test_inactive_ban_does_not_apply(app: Application) -> None:
    await app.policy_admin.add_ban("sender", "x@bad.example", status="inactive")
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        assert (await c.cmd("MAIL FROM:<x@bad.example>")).last == "250 2.1.0 Ok"
    finally:
        await c.close()


async def test_null_sender_is_never_sender_banned(app: Application) -> None:
    await app.policy_admin.add_ban("sender", "contains:a")
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        assert (await c.cmd("MAIL FROM:<>")).last == "250 2.1.0 Ok"
    finally:
        await c.close()


async def test_recipient_domain_and_address_bans(app: Application) -> None:
    await app.policy_admin.add_ban("recipient_domain", "blocked.example")
    await app.policy_admin.add_ban("domain", "legacy.example")
    await app.policy_admin.add_ban("address", "victim@ok.example")
    await app.policy_admin.add_ban("address", "abuse", match="contains")
    assert await rcpt_replies(
        app,
        [
            "a@blocked.example",
            "a@deep.sub.blocked.example",
            "a@legacy.example",
            "Victim@OK.example",
            "report-abuse-here@ok.example",
            "fine@ok.example",
        ],
    ) == [
        "550 5.7.1 Domain banned",
        "550 5.7.1 Domain banned",
        "550 5.7.1 Domain banned",
        "550 5.7.1 Address banned",
        "550 5.7.1 Address banned",
        "250 2.1.5 Ok",
    ]


async def test_substring_bans_can_be_switched_off(app_factory: StartApp) -> None:
    app = await app_factory(allow_substring_bans=False)
    await app.policy_admin.add_ban("address", "abuse", match="contains")
    assert await rcpt_replies(app, ["abuse@ok.example"]) == ["250 2.1.5 Ok"]


async def test_domain_not_allowed_wins_over_bans(app_factory: StartApp) -> None:
    app = await app_factory(accept_policy="domains")
    await app.policy_admin.add_domain("ok.example")
    await app.policy_admin.add_ban("recipient_domain", "ok.example")
    assert await rcpt_replies(app, ["a@ok.example", "a@no.example"]) == [
        "550 5.7.1 Domain banned",
        DOMAIN_NOT_ALLOWED,
    ]


async def test_rejected_recipient_keeps_the_accepted_ones(app: Application) -> None:
    await app.policy_admin.add_ban("address", "banned@example.com")
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        await c.cmd("MAIL FROM:<a@example.com>")
        assert (await c.cmd("RCPT TO:<first@example.com>")).code == 250
        assert (await c.cmd("RCPT TO:<banned@example.com>")).last == "550 5.7.1 Address banned"
        assert (await c.cmd("RCPT TO:<bad syntax@example.com>")).code == 553
        assert (await c.cmd("RCPT TO:<second@example.com>")).code == 250
        assert (await c.cmd("DATA")).code == 354
        await c.send(b"Subject: s\r\n\r\nbody\r\n.\r\n")
        assert (await c.reply()).code == 250
    finally:
        await c.close()
    assert len(await inbox(app, "first@example.com")) == 1
    assert len(await inbox(app, "second@example.com")) == 1
    assert await inbox(app, "banned@example.com") == []


async def test_data_without_any_accepted_recipient(app_factory: StartApp) -> None:
    app = await app_factory(accept_policy="domains")
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        await c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<x@nowhere.example>\r\nDATA\r\n")
        assert [(await c.reply()).last for _ in range(3)] == [
            "250 2.1.0 Ok",
            DOMAIN_NOT_ALLOWED,
            "554 5.5.1 Error: no valid recipients",
        ]
        assert (await c.cmd("RSET")).code == 250
    finally:
        await c.close()


async def test_too_many_recipients(app_factory: StartApp) -> None:
    app = await app_factory(smtp_max_recipients=3)
    c = await RawClient.connect(app.smtp_port)
    try:
        await c.greet()
        await c.cmd("MAIL FROM:<a@example.com>")
        replies = [(await c.cmd(f"RCPT TO:<r{n}@example.com>")).last for n in range(5)]
        assert replies == ["250 2.1.5 Ok"] * 3 + ["452 4.5.3 Too many recipients"] * 2
        # A duplicate of an accepted one is still fine.
        assert (await c.cmd("RCPT TO:<r0@example.com>")).last == "250 2.1.5 Ok"
        await c.cmd("DATA")
        await c.send(b"Subject: many\r\n\r\nx\r\n.\r\n")
        assert (await c.reply()).code == 250
    finally:
        await c.close()
    for n in range(3):
        assert len(await inbox(app, f"r{n}@example.com")) == 1
    assert await inbox(app, "r3@example.com") == []


async def test_banned_ip_is_refused_at_connect(app: Application) -> None:
    await app.policy_admin.add_ban("ip", "127.0.0.0/8")
    c = await RawClient.connect(app.smtp_port)
    try:
        assert (await c.reply()).last == "554 5.7.1 Client address banned"
        assert await c.closed()
    finally:
        await c.close()
    # The gate slot was given back: lifting the ban lets the next connection in.
    (ban,) = await app.policy_admin.list_bans()
    assert ban.id is not None
    await app.policy_admin.remove_ban(ban.id)
    c = await RawClient.connect(app.smtp_port)
    try:
        assert (await c.reply()).code == 220
    finally:
        await c.close()


async def test_connection_cap(app_factory: StartApp) -> None:
    app = await app_factory(smtp_max_connections=2)
    first = await RawClient.connect(app.smtp_port)
    second = await RawClient.connect(app.smtp_port)
    try:
        assert (await first.reply()).code == 220
        assert (await second.reply()).code == 220
        third = await RawClient.connect(app.smtp_port)
        try:
            reply = await third.reply(wait=2)
            assert reply.last == (
                "421 4.7.0 mx.ephemail.test Too many connections, try again later"
            )
            assert await third.closed(wait=2)
        finally:
            await third.close()
        # A slot frees up when a client leaves.
        await first.cmd("QUIT")
        assert await first.closed()
        for _ in range(50):
            fourth = await RawClient.connect(app.smtp_port)
            reply = await fourth.reply()
            await fourth.close()
            if reply.code == 220:
                break
            await asyncio.sleep(0.05)
        assert reply.code == 220
    finally:
        await first.close()
        await second.close()


async def test_per_ip_cap_and_rate(app_factory: StartApp) -> None:
    app = await app_factory(smtp_max_connections_per_ip=1)
    first = await RawClient.connect(app.smtp_port)
    try:
        assert (await first.reply()).code == 220
        second = await RawClient.connect(app.smtp_port)
        reply = await second.reply()
        await second.close()
        assert reply.last.startswith("421 4.7.0 mx.ephemail.test ")
    finally:
        await first.close()
    app = await app_factory(smtp_connection_rate_per_ip=2)
    codes = []
    for _ in range(3):
        c = await RawClient.connect(app.smtp_port)
        codes.append((await c.reply()).last)
        await c.close()
    assert codes[:2] == ["220 mx.ephemail.test ESMTP ephemail"] * 2
    assert codes[2] == "421 4.7.0 mx.ephemail.test Connection rate limit exceeded, try again later"
