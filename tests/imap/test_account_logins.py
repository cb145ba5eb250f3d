"""IMAP logins with accounts (the Cybertemp model) beside mailbox passwords (the dynip
model), over real sockets against a real Application on SQLite and PostgreSQL.

An account logs in with its email and an IMAP app token and sees its owned mailboxes:
the oldest as INBOX, every other one as a folder named by its address. CREATE of an
address makes an owned mailbox, DELETE of one removes it, SELECT of a mailbox the
account does not own fails. Every failed login gets the same answer; the log says
why, never with the secret. Failed logins are rate limited.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from ephemail.app import Application
from ephemail.domain.accounts import Account, Scope, SubscriptionStatus, TokenKind
from ephemail.domain.messages import MailboxKind
from ephemail.services.access import Principal, Via
from ephemail.settings import load_settings
from tests.conftest import StartApp
from tests.imap.conftest import (
    HOST,
    MODULE_LOOP,
    RawClient,
    in_thread,
    raw_clients,
    sample_mail,
    smtp_deliver,
)

FAILED = b"NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
THROTTLED = b"NO [UNAVAILABLE] too many failed logins, try again later\r\n"
ACCOUNT_PASSWORD = "correct horse battery staple"
# Shaped like an IMAP app token (so it is tried as one), matching none.
WRONG_TOKEN = f"eph_imap_{'0' * 16}_{'A' * 43}"
_numbers = itertools.count(1)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def account_app(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Application]:
    """One running Application for this module's account tests (each uses its own
    accounts and domains). Subscriptions are enforced; the login rate limit is off
    here (every test fails logins from 127.0.0.1) and tested on its own app below."""
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("accountdata"),
        database_url=module_database_url,
        smtp_port=0,
        http_port=0,
        imap_port=0,
        hostname="mx.ephemail.test",
        retention_interval=3600,
        imap_login_failure_delay=0.05,
        enforce_subscriptions=True,
        rate_limit_enabled=False,
    )
    app = Application(settings)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def connect(account_app: Application) -> AsyncIterator[Callable[[], Any]]:
    async for open_client in raw_clients(account_app.imap_port):
        yield open_client


async def new_account(
    app: Application,
    *,
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
    ends_at: datetime | None = None,
    quota_bytes: int | None = None,
) -> tuple[Account, str, str]:
    """A fresh account with an IMAP app token and a domain it owns:
    (account, token secret, domain)."""
    n = next(_numbers)
    account = await app.accounts.add_account(
        f"user{n}@accounts.test",
        ACCOUNT_PASSWORD,
        subscription_status=status,
        subscription_ends_at=ends_at,
        quota_bytes=quota_bytes,
    )
    issued = await app.accounts.create_token(
        Principal.operator(), kind=TokenKind.IMAP, name="mail client", account_id=account.id
    )
    domain = f"owned{n}.test"
    await app.policy_admin.add_domain(domain)
    assert await app.policy_admin.set_domain_owner(domain, account.id)
    return account, issued.secret, domain


def signed_in(account: Account) -> Principal:
    return Principal(account=account, via=Via.SESSION)


async def own(app: Application, account: Account, *addresses: str) -> None:
    for address in addresses:
        await app.ownership.create_owned(signed_in(account), address)


async def login_line(client: RawClient, user: str, password: str) -> bytes:
    """The tagged answer to LOGIN, without its tag."""
    lines = await client.command(f'LOGIN "{user}" "{password}"')
    assert len(lines) == 1, lines
    return lines[0].split(b" ", 1)[1]


def list_names(lines: list[bytes]) -> list[str]:
    names = []
    for line in lines:
        match = re.match(rb'\* LIST \(([^)]*)\) "/" "(.*)"\r\n', line)
        if match:
            names.append(match.group(2).decode())
    return names


def tagged(lines: list[bytes]) -> bytes:
    return lines[-1].split(b" ", 1)[1]


# -- logins --------------------------------------------------------------------------


@MODULE_LOOP
async def test_token_login_sees_owned_mailboxes(account_app: Application, connect: Any) -> None:
    account, token, domain = await new_account(account_app)
    await own(account_app, account, f"first@{domain}", f"second@{domain}")
    client: RawClient = await connect()
    answer = await login_line(client, account.email.upper(), token)  # any case
    assert answer.startswith(b"OK [CAPABILITY IMAP4rev1"), answer
    (info,) = await account_app.accounts.list_tokens(signed_in(account))
    assert info.last_used_at is not None
    listed = await client.command('LIST "" "*"')
    # The oldest mailbox is INBOX; the other one is a folder named by its address.
    assert list_names(listed) == ["INBOX", f"second@{domain}"]
    assert (await client.command("NAMESPACE"))[0] == b'* NAMESPACE (("" "/")) NIL NIL\r\n'
    status = await client.command(f'STATUS "second@{domain}" (MESSAGES UIDNEXT)')
    assert status[0] == f'* STATUS "second@{domain}" (MESSAGES 0 UIDNEXT 1)\r\n'.encode()
    assert tagged(await client.command("SELECT INBOX")).startswith(b"OK [READ-WRITE]")
    # The default mailbox's own address names INBOX too (not listed twice).
    assert tagged(await client.command(f'EXAMINE "first@{domain}"')).startswith(b"OK [READ-ONLY]")


@MODULE_LOOP
async def test_every_failed_account_login_gets_the_same_answer(
    account_app: Application, connect: Any, caplog: pytest.LogCaptureFixture
) -> None:
    account, token, _ = await new_account(account_app)
    other, other_token, _ = await new_account(account_app)
    lapsed, lapsed_token, _ = await new_account(account_app, status=SubscriptionStatus.INACTIVE)
    overdue, overdue_token, _ = await new_account(
        account_app,
        status=SubscriptionStatus.PAST_DUE,
        ends_at=datetime.now(UTC) - timedelta(days=1),
    )
    operator = Principal.operator()
    revoked = await account_app.accounts.create_token(
        operator, kind=TokenKind.IMAP, name="old phone", account_id=account.id
    )
    await account_app.accounts.revoke_token(operator, revoked.info.id, account_id=account.id)
    expiring = await account_app.accounts.create_token(
        operator,
        kind=TokenKind.IMAP,
        name="short",
        account_id=account.id,
        expires_at=datetime.now(UTC) + timedelta(seconds=1),
    )
    api_token = await account_app.accounts.create_token(
        operator,
        kind=TokenKind.API,
        name="script",
        scopes=frozenset({Scope.READ}),
        account_id=account.id,
    )
    await asyncio.sleep(1.2)  # `expiring` has expired now
    public_id = token.split("_")[2]
    wrong_secret = f"eph_imap_{public_id}_{'A' * 43}"
    attempts = {
        "wrong secret": (account.email, wrong_secret),
        "revoked": (account.email, revoked.secret),
        "expired": (account.email, expiring.secret),
        "api token": (account.email, api_token.secret),
        "another account's token": (account.email, other_token),
        "inactive subscription": (lapsed.email, lapsed_token),
        "past due after its end": (overdue.email, overdue_token),
        "unknown account": ("nobody@accounts.test", token),
    }
    client: RawClient = await connect()
    caplog.set_level("INFO", logger="ephemail.protocols.imap")
    for why, (user, secret) in attempts.items():
        assert await login_line(client, user, secret) == FAILED, why
    for _, secret in attempts.values():
        assert secret[-43:] not in caplog.text  # the secret part of the token
    assert caplog.text.count("IMAP login failed") == len(attempts)
    assert "another account" in caplog.text and "revoked" in caplog.text
    # The real token of each still works.
    assert (await login_line(client, other.email, other_token)).startswith(b"OK")


@MODULE_LOOP
async def test_claimed_mailbox_logs_in_with_its_password(
    account_app: Application, connect: Any
) -> None:
    address = f"claimed{next(_numbers)}@example.com"
    await smtp_deliver(account_app, sample_mail(subject="for the holder"), address)
    await account_app.ownership.claim(
        Principal.anonymous(), address, "holder-password", ip="127.0.0.1"
    )
    client: RawClient = await connect()
    assert await login_line(client, address, "not-the-password") == FAILED
    assert (await login_line(client, address, "holder-password")).startswith(b"OK")
    selected = await client.command("SELECT INBOX")
    assert b"* 1 EXISTS\r\n" in selected
    fetched = await client.command("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: for the holder" in fetched[0]


@MODULE_LOOP
async def test_releasing_a_claim_ends_sessions_opened_with_its_password(
    account_app: Application, connect: Any
) -> None:
    address = f"released{next(_numbers)}@example.com"
    await smtp_deliver(account_app, sample_mail(subject="secret"), address)
    await account_app.ownership.claim(Principal.anonymous(), address, "first-password", ip="t")
    client: RawClient = await connect()
    assert (await login_line(client, address, "first-password")).startswith(b"OK")
    assert b"* 1 EXISTS\r\n" in await client.command("SELECT INBOX")
    # The holder releases it and someone else claims it with a new password: the old
    # session's next command no longer reads the mailbox.
    await account_app.ownership.release(Principal.anonymous(), address, "first-password", ip="t")
    await account_app.ownership.claim(Principal.anonymous(), address, "second-password", ip="t")
    fetched = await client.command("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: secret" not in b"".join(fetched)
    assert (await login_line(await connect(), address, "first-password")) == FAILED


@MODULE_LOOP
async def test_owned_mailbox_never_logs_in_with_a_password(
    account_app: Application, connect: Any
) -> None:
    account, _, domain = await new_account(account_app)
    await own(account_app, account, f"private@{domain}")
    client: RawClient = await connect()
    assert await login_line(client, f"private@{domain}", ACCOUNT_PASSWORD) == FAILED
    assert await login_line(client, f"private@{domain}", "anything") == FAILED


@MODULE_LOOP
async def test_public_mailbox_takes_any_password_in_open_mode(connect: Any) -> None:
    client: RawClient = await connect()
    assert (await login_line(client, "open@example.com", "whatever")).startswith(b"OK")


@MODULE_LOOP
async def test_no_public_mailbox_on_a_private_domain(
    account_app: Application, connect: Any
) -> None:
    """The open mode's any-password login creates public mailboxes, but never on a
    domain private to an account."""
    _, _, domain = await new_account(account_app)
    client: RawClient = await connect()
    assert await login_line(client, f"stranger@{domain}", "whatever") == FAILED
    assert await account_app.store.get_mailbox(f"stranger@{domain}") is None


async def test_public_mailbox_refused_outside_open_mode(
    app_factory: StartApp, database_url: str
) -> None:
    app = await app_factory(database_url=database_url, open_mode=False, imap_login_failure_delay=0)
    await smtp_deliver(app, sample_mail(), "public@example.com")
    client = await RawClient.connect(app.imap_port)
    try:
        assert await login_line(client, "public@example.com", "whatever") == FAILED
        assert await login_line(client, "never@example.com", "whatever") == FAILED
        assert await app.store.get_mailbox("never@example.com") is None
    finally:
        await client.close()


async def test_failed_logins_are_rate_limited(app_factory: StartApp, database_url: str) -> None:
    app = await app_factory(
        database_url=database_url, rate_login_per_minute=3, imap_login_failure_delay=0
    )
    account, token, domain = await new_account(app)
    await own(app, account, f"mine@{domain}")
    client = await RawClient.connect(app.imap_port)
    try:
        for _ in range(3):  # the burst: three tries
            assert await login_line(client, account.email, WRONG_TOKEN) == FAILED
        # Limited now: refused before the credentials are looked at, even good ones.
        assert await login_line(client, account.email, token) == THROTTLED
        assert await login_line(client, "someone@example.com", "x") == THROTTLED
    finally:
        await client.close()
    # Another IP and user are not limited: the limiter keys on both.
    app.limiter.check("login", "ip:192.0.2.1", "email:other@example.com")


# -- the account's namespace -------------------------------------------------------------


@MODULE_LOOP
async def test_create_and_delete_owned_mailboxes(account_app: Application, connect: Any) -> None:
    account, token, domain = await new_account(account_app)
    await account_app.policy_admin.add_domain(shared := f"shared{next(_numbers)}.test", shared=True)
    await account_app.policy_admin.add_domain(foreign := f"foreign{next(_numbers)}.test")
    await account_app.policy_admin.add_ban("address", f"banned@{domain}")
    await own(account_app, account, f"home@{domain}")
    client: RawClient = await connect()
    await client.login(account.email, token)

    assert tagged(await client.command(f'CREATE "new@{domain}"')) == b"OK CREATE completed\r\n"
    assert tagged(await client.command(f'CREATE "x@{shared}"')) == b"OK CREATE completed\r\n"
    owned = await account_app.ownership.list_owned(signed_in(account))
    assert [(o.mailbox.address, o.mailbox.kind) for o in owned] == [
        (f"home@{domain}", MailboxKind.OWNED),
        (f"new@{domain}", MailboxKind.OWNED),
        (f"x@{shared}", MailboxKind.OWNED),
    ]
    again = tagged(await client.command(f'CREATE "NEW@{domain.upper()}"'))
    assert again.startswith(b"NO [ALREADYEXISTS]"), again
    refused = tagged(await client.command(f'CREATE "y@{foreign}"'))
    assert refused.startswith(b"NO [CANNOT]"), refused
    banned = tagged(await client.command(f'CREATE "banned@{domain}"'))
    assert banned.startswith(b"NO [CANNOT]"), banned
    assert await account_app.store.get_mailbox(f"y@{foreign}") is None
    assert await account_app.store.get_mailbox(f"banned@{domain}") is None

    # Folders inside an owned mailbox, and in the default one (INBOX's mailbox).
    assert tagged(await client.command(f'CREATE "new@{domain}/Sent"')).startswith(b"OK")
    assert tagged(await client.command("CREATE Drafts")).startswith(b"OK")
    listed = list_names(await client.command('LIST "" "*"'))
    assert listed == ["INBOX", "Drafts", f"new@{domain}", f"new@{domain}/Sent", f"x@{shared}"]
    lines = await client.command('LIST "" "%"')
    assert list_names(lines) == ["INBOX", "Drafts", f"new@{domain}", f"x@{shared}"]
    assert any(b"\\HasChildren" in line and f"new@{domain}".encode() in line for line in lines)
    assert any(b"\\Drafts" in line for line in lines)

    # RENAME stays inside one mailbox and never renames a mailbox itself.
    renamed = tagged(await client.command(f'RENAME "new@{domain}/Sent" "new@{domain}/Old"'))
    assert renamed == b"OK RENAME completed\r\n"
    for old, new in (
        (f"new@{domain}/Old", "Old"),
        (f"new@{domain}/Old", f"x@{shared}/Old"),
        (f"new@{domain}", f"renamed@{domain}"),
        ("Drafts", f"elsewhere@{foreign}/Drafts"),
    ):
        answer = tagged(await client.command(f'RENAME "{old}" "{new}"'))
        assert answer.startswith(b"NO [CANNOT]"), (old, new, answer)
    renamed = tagged(await client.command(f'RENAME "new@{domain}/Old" "new@{domain}/Sent"'))
    assert renamed == b"OK RENAME completed\r\n"

    # DELETE: never INBOX (nor the default mailbox's address), not with child folders.
    assert tagged(await client.command("DELETE INBOX")).startswith(b"NO [CANNOT]")
    assert tagged(await client.command(f'DELETE "home@{domain}"')).startswith(b"NO [CANNOT]")
    has_children = tagged(await client.command(f'DELETE "new@{domain}"'))
    assert has_children.startswith(b"NO [CANNOT]"), has_children
    assert tagged(await client.command(f'DELETE "new@{domain}/Sent"')).startswith(b"OK")
    assert tagged(await client.command(f'DELETE "new@{domain}"')) == b"OK DELETE completed\r\n"
    assert await account_app.store.get_mailbox(f"new@{domain}") is None
    gone = tagged(await client.command(f'SELECT "new@{domain}"'))
    assert gone.startswith(b"NO [NONEXISTENT]"), gone
    listed = list_names(await client.command('LIST "" "*"'))
    assert listed == ["INBOX", "Drafts", f"x@{shared}"]


@MODULE_LOOP
async def test_mailboxes_of_others_are_out_of_reach(account_app: Application, connect: Any) -> None:
    mine, token, domain = await new_account(account_app)
    theirs, _, their_domain = await new_account(account_app)
    await own(account_app, mine, f"me@{domain}")
    await own(account_app, theirs, f"them@{their_domain}")
    await smtp_deliver(account_app, sample_mail(subject="private"), f"them@{their_domain}")
    await smtp_deliver(account_app, sample_mail(subject="public"), "public-box@example.com")
    await smtp_deliver(account_app, sample_mail(subject="mine"), f"me@{domain}")
    client: RawClient = await connect()
    await client.login(mine.email, token)
    for name in (f"them@{their_domain}", f"them@{their_domain}/INBOX", "public-box@example.com"):
        for command in (f'SELECT "{name}"', f'EXAMINE "{name}"', f'STATUS "{name}" (MESSAGES)'):
            answer = tagged(await client.command(command))
            assert answer.startswith(b"NO [NONEXISTENT]"), (command, answer)
        appended = tagged(await client.command(f'APPEND "{name}" {{5+}}\r\nhello'))
        assert appended.startswith(b"NO [TRYCREATE]"), appended
    # CREATE of someone else's mailbox: their domain is not ours, the address is taken.
    taken = tagged(await client.command(f'CREATE "them@{their_domain}"'))
    assert taken.startswith(b"NO [CANNOT]"), taken
    deleted = tagged(await client.command(f'DELETE "them@{their_domain}"'))
    assert deleted.startswith(b"NO [NONEXISTENT]"), deleted
    assert await account_app.store.get_mailbox(f"them@{their_domain}") is not None
    # Nothing goes there through COPY or MOVE either.
    await client.command("SELECT INBOX")
    for verb in ("COPY", "MOVE"):
        answer = tagged(await client.command(f'{verb} 1 "them@{their_domain}"'))
        assert answer.startswith(b"NO [TRYCREATE]"), answer
    assert (await account_app.store.mailbox_usage(f"them@{their_domain}")).messages == 1


@MODULE_LOOP
async def test_mail_in_owned_mailboxes_reaches_idle_and_moves_between_them(
    account_app: Application, connect: Any
) -> None:
    account, token, domain = await new_account(account_app)
    home, side = f"home@{domain}", f"side@{domain}"
    await own(account_app, account, home, side)
    client: RawClient = await connect()
    await client.login(account.email, token)
    selected = await client.command(f'SELECT "{side}"')
    assert b"* 0 EXISTS\r\n" in selected
    await client.send(b"i1 IDLE\r\n")
    assert await client.read_line() == b"+ idling\r\n"
    await smtp_deliver(account_app, sample_mail(subject="to the side"), side)
    assert await client.read_line() == b"* 1 EXISTS\r\n"
    assert await client.read_line() == b"* 1 RECENT\r\n"
    await smtp_deliver(account_app, sample_mail(subject="to home"), home)  # not this folder
    await client.send(b"DONE\r\n")
    assert await client.read_line() == b"i1 OK IDLE terminated\r\n"

    # Then INBOX (the default mailbox): the session follows that mailbox now.
    selected = await client.command("SELECT INBOX")
    assert b"* 1 EXISTS\r\n" in selected
    await client.send(b"i2 IDLE\r\n")
    assert await client.read_line() == b"+ idling\r\n"
    await smtp_deliver(account_app, sample_mail(subject="home again"), home)
    assert await client.read_line() == b"* 2 EXISTS\r\n"
    assert await client.read_line() == b"* 2 RECENT\r\n"
    await client.send(b"DONE\r\n")
    assert await client.read_line() == b"i2 OK IDLE terminated\r\n"

    # MOVE from the side mailbox to INBOX: same bytes, gone from the side.
    await client.command(f'SELECT "{side}"')
    before = await client.command("UID FETCH 1 (BODY.PEEK[])")
    moved = await client.command('UID MOVE 1 "INBOX"')
    assert any(line.startswith(b"* OK [COPYUID ") for line in moved), moved
    assert b"* 1 EXPUNGE\r\n" in moved and tagged(moved).startswith(b"OK")
    status = await client.command(f'STATUS "{side}" (MESSAGES)')
    assert status[0] == f'* STATUS "{side}" (MESSAGES 0)\r\n'.encode()
    await client.command("SELECT INBOX")
    after = await client.command("UID FETCH 3 (BODY.PEEK[])")
    assert before[0].split(b"BODY[]", 1)[1] == after[0].split(b"BODY[]", 1)[1]


@MODULE_LOOP
async def test_append_respects_the_account_quota(account_app: Application, connect: Any) -> None:
    message = sample_mail(subject="fits")
    # Room for one message, not two.
    account, token, domain = await new_account(account_app, quota_bytes=len(message) * 3 // 2)
    await own(account_app, account, f"small@{domain}")
    client: RawClient = await connect()
    await client.login(account.email, token)
    appended = await client.command(b"APPEND INBOX {%d+}\r\n" % len(message) + message)
    assert tagged(appended).startswith(b"OK [APPENDUID"), appended
    refused = await client.command(b"APPEND INBOX {%d+}\r\n" % len(message) + message)
    assert tagged(refused).startswith(b"NO [OVERQUOTA]"), refused


@MODULE_LOOP
async def test_account_without_a_mailbox_with_imapclient(account_app: Application) -> None:
    """An account that owns nothing yet: INBOX exists and is empty (clients open it
    right after login), APPEND says what to do, and CREATE of an address makes it."""
    account, token, domain = await new_account(account_app)

    def session() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        with IMAPClient(HOST, port=account_app.imap_port, ssl=False, timeout=10) as client:
            client.login(account.email, token)
            seen["folders"] = [name for _, _, name in client.list_folders()]
            seen["select"] = client.select_folder("INBOX")
            seen["search"] = client.search(["ALL"])
            seen["status"] = client.folder_status("INBOX", ["MESSAGES", "UIDNEXT"])
            for name, attempt in (
                ("append", lambda: client.append("INBOX", sample_mail())),
                ("create folder", lambda: client.create_folder("Archive")),
            ):
                try:
                    attempt()
                except IMAPClientError as exc:
                    seen[name] = str(exc)
            client.create_folder(f"first@{domain}")
            seen["after"] = [name for _, _, name in client.list_folders()]
            client.append("INBOX", sample_mail(subject="now it works"))
            seen["selected again"] = client.select_folder("INBOX")
            client.logout()
        return seen

    seen = await in_thread(session)
    assert seen["folders"] == ["INBOX"]
    assert seen["select"][b"EXISTS"] == 0 and seen["search"] == []
    assert seen["status"] == {b"MESSAGES": 0, b"UIDNEXT": 1}
    assert "no mailbox yet: CREATE name@domain first" in seen["append"]
    assert "no mailbox yet" in seen["create folder"]
    assert seen["after"] == ["INBOX"]  # the new mailbox is the account's INBOX now
    assert seen["selected again"][b"EXISTS"] == 1
    (owned,) = await account_app.ownership.list_owned(signed_in(account))
    assert owned.mailbox.address == f"first@{domain}" and owned.usage.messages == 1
