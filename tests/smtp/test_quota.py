"""Quotas at SMTP ingest, over a real socket to a real Application (SQLite and
PostgreSQL): the per-mailbox message cap refuses a recipient at RCPT with
`452 4.2.2 Mailbox full` (the others go on), an owning account's size quota refuses
at RCPT when the announced SIZE (RFC 1870) does not fit and at the end of DATA when
the real message does not (then the whole transaction gets the 452 and nothing is
stored), and mail under every limit is delivered."""

from __future__ import annotations

from typing import Any

import pytest

from ephemail.app import Application
from ephemail.domain.accounts import Account, TokenKind
from ephemail.services.access import Principal
from tests.smtp.support import ENHANCED, RawClient, Reply, StartApp, inbox, send_mail

OPERATOR = Principal.operator()
PASSWORD = "quota owner password 1"


def message(size: int, subject: str = "hello") -> bytes:
    """A message of about `size` bytes (before our Received header)."""
    head = f"From: a@sender.test\r\nTo: box@owned.test\r\nSubject: {subject}\r\n\r\n".encode()
    body_len = max(0, size - len(head))
    lines = [b"x" * 76 + b"\r\n"] * (body_len // 78)
    return head + b"".join(lines) + b"y" * (body_len % 78) + b"\r\n"


@pytest.fixture
async def app(app_factory: StartApp, database_url: str) -> Application:
    return await app_factory(database_url=database_url)


async def owner_with_box(app: Application, quota_bytes: int | None) -> Account:
    """An account owning box@owned.test (on a shared domain), with that quota."""
    await app.policy_admin.add_domain("owned.test", shared=True)
    account = await app.accounts.add_account(
        "owner@accounts.test", PASSWORD, quota_bytes=quota_bytes
    )
    await app.ownership.create_owned(OPERATOR, "box@owned.test", account_id=account.id)
    return account


async def transaction(
    port: int, recipients: list[str], data: bytes, *, mail_params: str = ""
) -> tuple[list[Reply], Reply | None]:
    """MAIL, each RCPT, and (when one was accepted) DATA: the RCPT replies and the
    final reply to DATA."""
    client = await RawClient.connect(port)
    try:
        await client.greet()
        mail = await client.cmd(f"MAIL FROM:<a@sender.test>{mail_params}")
        assert mail.code == 250, mail
        rcpt = [await client.cmd(f"RCPT TO:<{r}>") for r in recipients]
        final = None
        if any(r.code == 250 for r in rcpt):
            go = await client.cmd("DATA")
            assert go.code == 354, go
            await client.send(data + b".\r\n")
            final = await client.reply()
        assert (await client.cmd("QUIT")).code == 221
        return rcpt, final
    finally:
        await client.close()


def assert_452(reply: Reply | None, text: str) -> None:
    assert reply is not None
    assert reply.last == f"452 4.2.2 {text}", reply
    assert ENHANCED.match(reply.last)


async def test_message_cap_refuses_the_full_mailbox_at_rcpt_only(app: Application) -> None:
    await app.store.create_mailbox("full@cap.test")
    await app.ownership.set_message_cap(OPERATOR, "full@cap.test", 1)
    await send_mail(app.smtp_port, "a@sender.test", ["full@cap.test"], message(300, "first"))

    rcpt, final = await transaction(
        app.smtp_port, ["full@cap.test", "other@cap.test"], message(300, "second")
    )

    assert_452(rcpt[0], "Mailbox full")
    assert rcpt[1].last == "250 2.1.5 Ok"
    assert final is not None and final.code == 250, final
    assert len(await inbox(app, "full@cap.test")) == 1
    [stored] = await inbox(app, "other@cap.test")
    assert b"Subject: second" in stored


async def test_default_cap_from_settings(app_factory: StartApp, database_url: str) -> None:
    app = await app_factory(database_url=database_url, mailbox_max_messages=2)
    for n in range(2):
        await send_mail(app.smtp_port, "a@sender.test", ["two@cap.test"], message(200, f"m{n}"))
    rcpt, final = await transaction(app.smtp_port, ["two@cap.test"], message(200))
    assert_452(rcpt[0], "Mailbox full")
    assert final is None  # no recipient left: DATA is not even tried
    assert len(await inbox(app, "two@cap.test")) == 2


async def test_account_quota_over_at_data_refuses_the_whole_transaction(
    app: Application,
) -> None:
    await owner_with_box(app, quota_bytes=4000)
    await send_mail(app.smtp_port, "a@sender.test", ["box@owned.test"], message(1500, "fits"))

    # RCPT passes (without SIZE only "is it full already" can be asked); the real size
    # does not fit: one 452 for the transaction, stored for nobody, the public
    # recipient included (the sender retries the whole message).
    rcpt, final = await transaction(
        app.smtp_port, ["public@elsewhere.test", "box@owned.test"], message(3000, "too big")
    )
    assert [r.last for r in rcpt] == ["250 2.1.5 Ok", "250 2.1.5 Ok"]
    assert_452(final, "Over quota")
    assert [b"Subject: fits" in raw for raw in await inbox(app, "box@owned.test")] == [True]
    assert await inbox(app, "public@elsewhere.test") == []
    assert await app.store.count_messages() == 1

    # A smaller message fits and goes through, to both.
    rcpt, final = await transaction(
        app.smtp_port, ["public@elsewhere.test", "box@owned.test"], message(1000, "small")
    )
    assert final is not None and final.code == 250, final
    assert len(await inbox(app, "box@owned.test")) == 2
    assert len(await inbox(app, "public@elsewhere.test")) == 1


async def test_announced_size_over_quota_refuses_that_recipient_at_rcpt(
    app: Application,
) -> None:
    await owner_with_box(app, quota_bytes=5000)
    rcpt, final = await transaction(
        app.smtp_port,
        ["box@owned.test", "public@elsewhere.test"],
        message(800),
        mail_params=" SIZE=9000",
    )
    assert_452(rcpt[0], "Over quota")
    assert rcpt[1].code == 250
    assert final is not None and final.code == 250, final
    assert await inbox(app, "box@owned.test") == []
    assert len(await inbox(app, "public@elsewhere.test")) == 1

    # An honest SIZE that fits is accepted and delivered.
    rcpt, final = await transaction(
        app.smtp_port, ["box@owned.test"], message(800), mail_params=" SIZE=900"
    )
    assert rcpt[0].code == 250 and final is not None and final.code == 250
    assert len(await inbox(app, "box@owned.test")) == 1


async def test_a_quota_used_up_to_the_byte_refuses_at_rcpt_without_size(
    app: Application,
) -> None:
    account = await owner_with_box(app, quota_bytes=2000)
    await send_mail(app.smtp_port, "a@sender.test", ["box@owned.test"], message(1500))
    used = (await app.store.account_usage(account.id)).bytes
    assert used > 1500
    await app.accounts.update_account(OPERATOR, account.id, quota_bytes=used)
    rcpt, final = await transaction(app.smtp_port, ["box@owned.test"], message(10))
    assert_452(rcpt[0], "Over quota")
    assert final is None
    assert len(await inbox(app, "box@owned.test")) == 1


async def test_default_account_quota_from_settings_and_no_quota_without_owner(
    app_factory: StartApp, database_url: str
) -> None:
    app = await app_factory(database_url=database_url, account_quota_bytes=1000)
    await owner_with_box(app, quota_bytes=None)
    rcpt, final = await transaction(
        app.smtp_port, ["box@owned.test", "public@elsewhere.test"], message(2000)
    )
    assert rcpt[0].code == 250 and rcpt[1].code == 250
    assert_452(final, "Over quota")
    # The account quota is about owned mailboxes: public ones have none.
    rcpt, final = await transaction(app.smtp_port, ["public@elsewhere.test"], message(2000))
    assert final is not None and final.code == 250
    assert await app.store.count_messages() == 1


async def test_under_quota_is_delivered_and_replies_hold_no_secret(app: Application) -> None:
    account = await owner_with_box(app, quota_bytes=1_000_000)
    issued = await app.accounts.create_token(
        OPERATOR, kind=TokenKind.IMAP, name="mail client", account_id=account.id
    )
    await app.store.create_mailbox("capped@cap.test")
    await app.store.set_mailbox_cap("capped@cap.test", 1)
    await send_mail(app.smtp_port, "a@sender.test", ["capped@cap.test"], message(100))

    replies: list[Any] = []
    rcpt, final = await transaction(
        app.smtp_port, ["box@owned.test", "capped@cap.test"], message(2000, "delivered")
    )
    replies += [*rcpt, final]
    assert final is not None and final.code == 250
    [stored] = await inbox(app, "box@owned.test")
    assert b"Subject: delivered" in stored

    await app.accounts.update_account(OPERATOR, account.id, quota_bytes=10)
    rcpt, final = await transaction(app.smtp_port, ["box@owned.test"], message(50))
    replies += [*rcpt, final]
    texts = "\n".join(r.text for r in replies if r is not None)
    assert "452 4.2.2 Mailbox full" in texts and "452 4.2.2 Over quota" in texts
    for secret in (
        PASSWORD,
        issued.secret,
        issued.info.prefix,
        "owner@accounts.test",
        "argon2",
    ):
        assert secret not in texts


async def test_a_private_domain_takes_only_its_owners_mailboxes(app: Application) -> None:
    """On a domain owned by an account and not shared, only that account's owned
    mailboxes receive: any other address is `550 5.1.1`, so nothing meant for a
    private domain lands in a public mailbox anyone could read. Shared domains still
    create public mailboxes for unknown recipients."""
    account = await app.accounts.add_account("private@accounts.test", PASSWORD)
    await app.policy_admin.add_domain("private.test")
    await app.policy_admin.set_domain_owner("private.test", account.id)
    await app.policy_admin.add_domain("shared.test", shared=True)
    await app.ownership.create_owned(OPERATOR, "real@private.test", account_id=account.id)

    rcpt, final = await transaction(
        app.smtp_port,
        ["nobody@private.test", "real@private.test", "x@sub.private.test", "new@shared.test"],
        message(300, "private"),
    )
    assert [r.code for r in rcpt] == [550, 250, 550, 250]
    assert rcpt[0].last == "550 5.1.1 No such mailbox" and ENHANCED.match(rcpt[0].last)
    assert final is not None and final.code == 250
    assert await app.store.get_mailbox("nobody@private.test") is None
    assert len(await inbox(app, "real@private.test")) == 1
    public = await app.store.get_mailbox("new@shared.test")
    assert public is not None and public.kind.value == "public"
