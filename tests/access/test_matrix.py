"""The access matrix: every surface x every principal x every mailbox kind, against an
explicit table of expected answers, on SQLite and PostgreSQL.

The deployment is a public temp-mail service: public mailboxes readable by anyone
(`public_read`), the open dev mode off (`open_mode=False`). The table is written out
by hand (not computed from `authorize`), so a change of the rules has to change it.

Surfaces: /api/v1 (list, info, folders, one message, raw, html, attachment, extract,
mark read, delete one, delete all, search in a mailbox, wait, SSE, WebSocket), the
dynip routes (emails, email by id, delete by id, WebSocket by full address and by
local part), global reads (search without a mailbox, every-mailbox events, the admin
mailbox list) and IMAP (login + SELECT). The dynip bypasses (message by id, search
without a mailbox, WebSocket, full address versus local part) are explicit cases.
Webhooks (v1 and dynip routes) have their own table: managing a mailbox's webhooks
takes what writing the mailbox takes, seeing them what reading it takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from ephemail.domain.accounts import Role, Scope, TokenKind, format_token, secret_digest
from ephemail.domain.messages import Envelope
from ephemail.services.access import Principal
from tests.api.test_events import next_frame, ws_connect
from tests.conftest import StartApp

DOMAIN = "tenant.test"  # the default domain: local parts resolve to it
OWNER = "owner@accounts.test"
OTHER = "other@accounts.test"
ADMIN = "admin@accounts.test"
ACCOUNT_PASSWORD = "correct horse battery"
MAILBOX_PASSWORD = "claimed-mailbox-pw"

KINDS = ("public", "claimed", "owned")
PRINCIPALS = (
    "anonymous",
    "wrong_password",
    "mailbox_password",
    "owner",
    "other_account",
    "expired_token",
    "read_only_token",
    "admin",
)

RAW = (
    b"From: Sender <sender@example.org>\r\n"
    b"To: someone@tenant.test\r\n"
    b"Subject: matrix\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n'
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p>Your code is 424242</p>\r\n"
    b"--b\r\n"
    b'Content-Type: application/octet-stream; name="a.bin"\r\n'
    b'Content-Disposition: attachment; filename="a.bin"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAEC\r\n"
    b"--b--\r\n"
)

# -- the expected answers -------------------------------------------------------------
# Y: allowed; N: denied. Per action class and mailbox kind, one letter per principal in
# the order of PRINCIPALS:
#   anonymous, wrong_password, mailbox_password, owner, other_account, expired_token,
#   read_only_token, admin
EXPECTED: dict[tuple[str, str], str] = {
    # Public mailboxes: anyone may read and change (classic temp mail); an expired
    # token is an error, not anonymity; a read-only token reads only.
    ("read", "public"): "YYYYYNYY",
    ("write", "public"): "YYYYYNNY",
    # Claimed: only the password holder and admins. The owner account has no claim.
    ("read", "claimed"): "NNYNNNNY",
    ("write", "claimed"): "NNYNNNNY",
    # Owned: the owner (read-only token reads) and admins.
    ("read", "owned"): "NNNYNNYY",
    ("write", "owned"): "NNNYNNNY",
}
# Reads across every mailbox: admins only when the open mode is off.
EXPECTED_GLOBAL = "NNNNNNNY"


def allowed(action: str, kind: str, principal: str) -> bool:
    return EXPECTED[(action, kind)][PRINCIPALS.index(principal)] == "Y"


def test_the_table_is_complete() -> None:
    for (action, kind), row in EXPECTED.items():
        assert len(row) == len(PRINCIPALS), (action, kind)
        assert set(row) <= {"Y", "N"}
    assert {k for _, k in EXPECTED} == set(KINDS)
    assert len(EXPECTED_GLOBAL) == len(PRINCIPALS)


# -- the world --------------------------------------------------------------------------
@dataclass
class World:
    app: Any
    client: httpx.AsyncClient
    addresses: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    imap_tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, principal: str) -> dict[str, str]:
        if principal == "anonymous":
            return {}
        if principal == "wrong_password":
            return {"X-Mailbox-Password": "not-the-password"}
        if principal == "mailbox_password":
            return {"X-Mailbox-Password": MAILBOX_PASSWORD}
        return {"Authorization": f"Bearer {self.tokens[principal]}"}

    async def deliver(self, kind: str) -> str:
        envelope = Envelope("sender@example.org", (self.addresses[kind],), "127.0.0.1")
        (message_id,) = (await self.app.ingest.deliver(envelope, RAW)).message_ids
        return str(message_id)


@pytest.fixture
async def world(app_factory: StartApp, database_url: str) -> AsyncIterator[World]:
    app = await app_factory(
        database_url=database_url,
        smtp_enabled=False,
        default_domain=DOMAIN,
        public_read=True,
        open_mode=False,
        rate_limit_enabled=False,
        # Webhooks created by the matrix point at a closed port on loopback.
        webhook_allow_networks=["127.0.0.1/32"],
    )
    operator = Principal.operator()
    accounts = {}
    for email, role in ((OWNER, Role.USER), (OTHER, Role.USER), (ADMIN, Role.ADMIN)):
        accounts[email] = await app.accounts.add_account(email, ACCOUNT_PASSWORD, role=role)
    # Owned by OWNER and shared (the Cybertemp model): public and claimed temp mailboxes
    # and owned ones live side by side. A private domain is tested in tests/smtp and
    # tests/services (no public mailbox may exist there at all).
    await app.policy_admin.add_domain(DOMAIN, active=True, shared=True, retention_hours=None)
    await app.policy_admin.set_domain_owner(DOMAIN, accounts[OWNER].id)
    await app.policy.refresh()

    async def token(email: str, scopes: set[Scope], **kw: Any) -> str:
        issued = await app.accounts.create_token(
            operator,
            kind=TokenKind.API,
            name="matrix",
            scopes=frozenset(scopes),
            account_id=accounts[email].id,
            **kw,
        )
        return str(issued.secret)

    addresses = {
        "public": f"pub@{DOMAIN}",
        "claimed": f"locked@{DOMAIN}",
        "owned": f"mine@{DOMAIN}",
    }
    await app.mailboxes.create_mailbox(Principal.anonymous(), addresses["public"], None)
    await app.ownership.claim(Principal.anonymous(), addresses["claimed"], MAILBOX_PASSWORD, ip="t")
    await app.ownership.create_owned(operator, addresses["owned"], account_id=accounts[OWNER].id)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as client:
        w = World(app, client, addresses)
        w.tokens["owner"] = await token(OWNER, {Scope.READ, Scope.WRITE})
        w.tokens["other_account"] = await token(OTHER, {Scope.READ, Scope.WRITE})
        w.tokens["read_only_token"] = await token(OWNER, {Scope.READ})
        w.tokens["admin"] = await token(ADMIN, {Scope.READ, Scope.WRITE, Scope.ADMIN})
        # A token issued earlier that has expired since: written as such into the store
        # (the service refuses to issue one already expired).
        public_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        await app.store.create_token(
            accounts[OWNER].id,
            kind=TokenKind.API,
            name="expired",
            scopes=frozenset({Scope.READ, Scope.WRITE}),
            public_id=public_id,
            digest=secret_digest(secret),
            expires_at=app.clock.now() - timedelta(minutes=1),
        )
        w.tokens["expired_token"] = format_token(TokenKind.API, public_id, secret)
        for email, name in ((OWNER, "owner"), (OTHER, "other_account")):
            issued = await app.accounts.create_token(
                operator,
                kind=TokenKind.IMAP,
                name="imap",
                account_id=accounts[email].id,
                expires_at=app.clock.now() + timedelta(days=1),
            )
            w.imap_tokens[name] = issued.secret
        yield w


# -- HTTP surfaces ------------------------------------------------------------------------
def _ok(status: int) -> bool:
    return 200 <= status < 300


def _denied(status: int) -> bool:
    return status in (401, 403, 404)


async def _read_surfaces(w: World, kind: str, principal: str) -> dict[str, int]:
    """Status of every read surface for one (kind, principal)."""
    address = w.addresses[kind]
    local = address.partition("@")[0]
    mid = await w.deliver(kind)
    h = w.headers(principal)
    c = w.client
    got = {
        "v1 list": (await c.get(f"/api/v1/mailboxes/{address}/messages", headers=h)).status_code,
        "v1 list by local part": (
            await c.get(f"/api/v1/mailboxes/{local}/messages", headers=h)
        ).status_code,
        "v1 mailbox info": (await c.get(f"/api/v1/mailboxes/{address}", headers=h)).status_code,
        "v1 folders": (await c.get(f"/api/v1/mailboxes/{address}/folders", headers=h)).status_code,
        "v1 message by id": (await c.get(f"/api/v1/messages/{mid}", headers=h)).status_code,
        "v1 raw": (await c.get(f"/api/v1/messages/{mid}/raw", headers=h)).status_code,
        "v1 html": (await c.get(f"/api/v1/messages/{mid}/html", headers=h)).status_code,
        "v1 attachment": (
            await c.get(f"/api/v1/messages/{mid}/attachments/0", headers=h)
        ).status_code,
        "v1 extract": (await c.get(f"/api/v1/messages/{mid}/extract", headers=h)).status_code,
        "v1 search in mailbox": (
            await c.get("/api/v1/search", params={"q": "matrix", "mailbox": address}, headers=h)
        ).status_code,
        "v1 wait": (
            await c.get(f"/api/v1/mailboxes/{address}/wait", params={"timeout": 0}, headers=h)
        ).status_code,
        "dynip emails": (await c.get(f"/api/emails/{address}", headers=h)).status_code,
        "dynip emails by local part": (await c.get(f"/api/emails/{local}", headers=h)).status_code,
        "dynip email by id": (await c.get(f"/api/email/{mid}", headers=h)).status_code,
        "dynip search in mailbox": (
            await c.get("/api/search", params={"q": "matrix", "mailbox": address}, headers=h)
        ).status_code,
    }
    async with c.stream("GET", "/api/v1/events", params={"mailbox": address}, headers=h) as sse:
        got["v1 SSE"] = sse.status_code
    # after=0 replays the stored events, so an admitted stream sends a first frame.
    got["v1 WebSocket"] = await _ws_status(w, f"/api/v1/events?mailbox={address}&after=0", h)
    got["dynip WebSocket"] = await _ws_status(w, f"/api/ws/{address}", h)
    got["dynip WebSocket by local part"] = await _ws_status(w, f"/api/ws/{local}", h)
    return got


async def _ws_status(w: World, path: str, headers: dict[str, str]) -> int:
    """101 when the WebSocket opened and sent its first frame, else the refusal status
    (or the close code mapped: 4401/4403 and 1008 count as denied)."""
    try:
        async with ws_connect(w.app, path, additional_headers=headers) as ws:
            try:
                await next_frame(ws, timeout=5)
            except Exception:
                code = ws.close_code or 1008
                return 403 if code in (1008, 4401, 4403) else 500
            return 101
    except InvalidStatus as exc:
        return int(exc.response.status_code)


def _check(got: dict[str, int], expected_allowed: bool, what: str) -> list[str]:
    wrong = []
    for surface, status in got.items():
        ok = (status in (101,) or _ok(status)) if expected_allowed else _denied(status)
        if not ok:
            wrong.append(
                f"{what} {surface}: {status} (expected {'allow' if expected_allowed else 'deny'})"
            )
    return wrong


@pytest.mark.parametrize("kind", KINDS)
async def test_read_surfaces(world: World, kind: str) -> None:
    wrong: list[str] = []
    for principal in PRINCIPALS:
        got = await _read_surfaces(world, kind, principal)
        wrong += _check(got, allowed("read", kind, principal), f"{principal} {kind}")
    assert not wrong, "\n".join(wrong)


async def _write_surfaces(w: World, kind: str, principal: str) -> dict[str, int]:
    """Status of every changing surface; each gets a fresh message."""
    h = w.headers(principal)
    c = w.client
    address = w.addresses[kind]
    got = {}
    mid = await w.deliver(kind)
    got["v1 mark read"] = (
        await c.patch(f"/api/v1/messages/{mid}", json={"seen": True}, headers=h)
    ).status_code
    mid = await w.deliver(kind)
    got["v1 delete one"] = (await c.delete(f"/api/v1/messages/{mid}", headers=h)).status_code
    mid = await w.deliver(kind)
    got["dynip delete by id"] = (await c.delete(f"/api/email/{mid}", headers=h)).status_code
    await w.deliver(kind)
    got["v1 delete all"] = (
        await c.delete(f"/api/v1/mailboxes/{address}/messages", headers=h)
    ).status_code
    return got


@pytest.mark.parametrize("kind", KINDS)
async def test_write_surfaces(world: World, kind: str) -> None:
    wrong: list[str] = []
    for principal in PRINCIPALS:
        got = await _write_surfaces(world, kind, principal)
        wrong += _check(got, allowed("write", kind, principal), f"{principal} {kind}")
    assert not wrong, "\n".join(wrong)


async def test_denied_writes_change_nothing(world: World) -> None:
    """A denied delete leaves the message; a denied mark-read leaves it unread."""
    for kind in ("claimed", "owned"):
        mid = await world.deliver(kind)
        h = world.headers("other_account")
        assert _denied(
            (await world.client.delete(f"/api/v1/messages/{mid}", headers=h)).status_code
        )
        assert _denied(
            (
                await world.client.patch(f"/api/v1/messages/{mid}", json={"seen": True}, headers=h)
            ).status_code
        )
        detail = await world.app.store.get_message(mid)
        assert detail is not None and not detail.summary.seen


async def test_global_reads(world: World) -> None:
    wrong: list[str] = []
    for principal in PRINCIPALS:
        h = world.headers(principal)
        c = world.client
        got = {
            "v1 search without mailbox": (
                await c.get("/api/v1/search", params={"q": "matrix"}, headers=h)
            ).status_code,
            "dynip search without mailbox": (
                await c.get("/api/search", params={"q": "matrix"}, headers=h)
            ).status_code,
            "admin mailbox list": (await c.get("/api/v1/admin/mailboxes", headers=h)).status_code,
        }
        async with c.stream("GET", "/api/v1/events", headers=h) as sse:
            got["v1 SSE of every mailbox"] = sse.status_code
        got["v1 WebSocket of every mailbox"] = await _ws_status(world, "/api/v1/events?after=0", h)
        expect = EXPECTED_GLOBAL[PRINCIPALS.index(principal)] == "Y"
        wrong += _check(got, expect, principal)
    assert not wrong, "\n".join(wrong)


async def test_denied_answers_leak_no_mail(world: World) -> None:
    """What a denied reader gets back never contains the subject or the code."""
    mid = await world.deliver("owned")
    for path in (
        f"/api/v1/messages/{mid}",
        f"/api/email/{mid}",
        f"/api/v1/mailboxes/{world.addresses['owned']}/messages",
        f"/api/emails/{world.addresses['owned']}",
    ):
        answer = await world.client.get(path, headers=world.headers("other_account"))
        assert _denied(answer.status_code)
        assert b"424242" not in answer.content and b"matrix" not in answer.content


# -- IMAP ----------------------------------------------------------------------------------
# IMAP credentials per principal and kind: (user, password) or None when the principal
# has no way to express itself over IMAP (then it is not a case).
def _imap_credentials(w: World, principal: str, kind: str) -> tuple[str, str] | None:
    address = w.addresses[kind]
    if principal == "anonymous":
        return address, "any-password-at-all"
    if principal == "wrong_password":
        return address, "not-the-password"
    if principal == "mailbox_password":
        return address, MAILBOX_PASSWORD
    if principal == "owner":
        return OWNER, w.imap_tokens["owner"]
    if principal == "other_account":
        return OTHER, w.imap_tokens["other_account"]
    if principal == "expired_token":
        return OWNER, w.tokens["expired_token"]  # an API token is no IMAP password either
    return None


# Expected IMAP answers (login + SELECT of the mailbox), principals as above.
# The open mode is off, so a public mailbox does not take "any password".
EXPECTED_IMAP: dict[str, str] = {
    "public": "NNNNNN",
    "claimed": "NNYNNN",
    "owned": "NNNYNN",
}
IMAP_PRINCIPALS = PRINCIPALS[:6]


def _imap_select(port: int, user: str, password: str, folder: str) -> bool:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    try:
        try:
            client.login(user, password)
        except imaplib.IMAP4.error:
            return False
        status, _ = client.select(f'"{folder}"')
        return status == "OK"
    finally:
        with contextlib.suppress(Exception):
            client.logout()


@pytest.mark.parametrize("kind", KINDS)
async def test_imap(app_factory: StartApp, world: World, kind: str) -> None:
    port = world.app.imap_port
    wrong = []
    for principal in IMAP_PRINCIPALS:
        creds = _imap_credentials(world, principal, kind)
        assert creds is not None
        user, password = creds
        # An account login selects the mailbox by its address; a mailbox login by INBOX.
        folder = world.addresses[kind] if "@accounts.test" in user else "INBOX"
        got = await asyncio.to_thread(_imap_select, port, user, password, folder)
        expect = EXPECTED_IMAP[kind][IMAP_PRINCIPALS.index(principal)] == "Y"
        if got != expect:
            wrong.append(f"IMAP {principal} {kind}: {'allowed' if got else 'denied'}")
    assert not wrong, "\n".join(wrong)


# -- webhooks --------------------------------------------------------------------------------
# Managing a mailbox's webhooks (create, change, delete, test, redrive) is a write to the
# mailbox; listing them, reading one and its delivery log is a read of the mailbox. Written
# out by hand like EXPECTED (principals in the order of PRINCIPALS).
EXPECTED_WEBHOOKS: dict[tuple[str, str], str] = {
    ("manage", "public"): "YYYYYNNY",
    ("view", "public"): "YYYYYNYY",
    ("manage", "claimed"): "NNYNNNNY",
    ("view", "claimed"): "NNYNNNNY",
    ("manage", "owned"): "NNNYNNNY",
    ("view", "owned"): "NNNYNNYY",
}
# A closed port on loopback (allowed by the world's webhook_allow_networks): nothing
# needs to arrive; a test send answers 200 with delivered=false.
HOOK_URL = "http://127.0.0.1:9/hook"


def test_webhook_table_follows_the_mailbox_rule() -> None:
    for kind in KINDS:
        assert EXPECTED_WEBHOOKS[("manage", kind)] == EXPECTED[("write", kind)], kind
        assert EXPECTED_WEBHOOKS[("view", kind)] == EXPECTED[("read", kind)], kind


async def _admin_webhook(w: World, kind: str) -> str:
    """A webhook on the mailbox, created by an allowed principal (the admin)."""
    answer = await w.client.post(
        f"/api/v1/mailboxes/{w.addresses[kind]}/webhooks",
        json={"url": HOOK_URL},
        headers=w.headers("admin"),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def _drop_webhooks(w: World, kind: str) -> None:
    """Remove every webhook of the mailbox (keeps under the per-mailbox limit)."""
    for webhook in await w.app.store.list_webhooks(mailbox=w.addresses[kind]):
        await w.app.store.delete_webhook(webhook.id)


async def _webhook_surfaces(
    w: World, kind: str, principal: str
) -> tuple[dict[str, int], dict[str, int]]:
    """Status of every webhook surface for one (kind, principal): (view, manage)."""
    address = w.addresses[kind]
    h = w.headers(principal)
    c = w.client
    hook = await _admin_webhook(w, kind)
    dynip_hook = await _admin_webhook(w, kind)
    await w.deliver(kind)  # an `arrival`: one delivery in the hook's log
    found = await w.app.store.list_deliveries(hook, limit=10)
    assert found, "the delivery was not written to the outbox"
    delivery_id = found[0].id
    view = {
        "v1 list of mailbox": (
            await c.get(f"/api/v1/mailboxes/{address}/webhooks", headers=h)
        ).status_code,
        "v1 list by mailbox query": (
            await c.get("/api/v1/webhooks", params={"mailbox": address}, headers=h)
        ).status_code,
        "v1 get": (await c.get(f"/api/v1/webhooks/{hook}", headers=h)).status_code,
        "v1 deliveries": (
            await c.get(f"/api/v1/webhooks/{hook}/deliveries", headers=h)
        ).status_code,
        "dynip list": (await c.get(f"/api/webhooks/{address}", headers=h)).status_code,
        "dynip get": (await c.get(f"/api/webhook/{hook}", headers=h)).status_code,
    }
    manage = {
        "v1 create on mailbox": (
            await c.post(f"/api/v1/mailboxes/{address}/webhooks", json={"url": HOOK_URL}, headers=h)
        ).status_code,
        "v1 create with mailbox": (
            await c.post("/api/v1/webhooks", json={"url": HOOK_URL, "mailbox": address}, headers=h)
        ).status_code,
        "dynip create": (
            await c.post(
                "/api/webhooks",
                json={"mailbox_address": address, "webhook_url": "127.0.0.1:9/hook"},
                headers=h,
            )
        ).status_code,
        "v1 patch": (
            await c.patch(
                f"/api/v1/webhooks/{hook}", json={"events": ["arrival", "read"]}, headers=h
            )
        ).status_code,
        "v1 test": (await c.post(f"/api/v1/webhooks/{hook}/test", headers=h)).status_code,
        "v1 redrive failed": (
            await c.post(f"/api/v1/webhooks/{hook}/redrive", headers=h)
        ).status_code,
        "v1 redrive one": (
            await c.post(f"/api/v1/webhooks/{hook}/deliveries/{delivery_id}/redrive", headers=h)
        ).status_code,
        "dynip put": (
            await c.put(f"/api/webhook/{dynip_hook}", json={"enabled": True}, headers=h)
        ).status_code,
        "dynip test": (await c.post(f"/api/webhook/{dynip_hook}/test", headers=h)).status_code,
        "v1 delete": (await c.delete(f"/api/v1/webhooks/{hook}", headers=h)).status_code,
        "dynip delete": (await c.delete(f"/api/webhook/{dynip_hook}", headers=h)).status_code,
    }
    await _drop_webhooks(w, kind)
    return view, manage


@pytest.mark.parametrize("kind", KINDS)
async def test_webhook_surfaces(world: World, kind: str) -> None:
    wrong: list[str] = []
    for principal in PRINCIPALS:
        view, manage = await _webhook_surfaces(world, kind, principal)
        index = PRINCIPALS.index(principal)
        wrong += _check(
            view, EXPECTED_WEBHOOKS[("view", kind)][index] == "Y", f"{principal} {kind}"
        )
        wrong += _check(
            manage, EXPECTED_WEBHOOKS[("manage", kind)][index] == "Y", f"{principal} {kind}"
        )
    assert not wrong, "\n".join(wrong)


async def test_denied_webhook_changes_leave_nothing_behind(world: World) -> None:
    """A denied create stores no webhook; a denied change or delete leaves it as it was;
    a denied listing shows no URL."""
    for kind in ("claimed", "owned"):
        address = world.addresses[kind]
        hook = await _admin_webhook(world, kind)
        before = await world.app.store.get_webhook(hook)
        for principal in ("anonymous", "other_account", "read_only_token", "wrong_password"):
            h = world.headers(principal)
            c = world.client
            answers = [
                await c.post(
                    f"/api/v1/mailboxes/{address}/webhooks",
                    json={"url": "http://127.0.0.1:9/sneaky"},
                    headers=h,
                ),
                await c.post(
                    "/api/v1/webhooks",
                    json={"url": "http://127.0.0.1:9/sneaky", "mailbox": address},
                    headers=h,
                ),
                await c.post(
                    "/api/webhooks",
                    json={"mailbox_address": address, "webhook_url": "127.0.0.1:9/sneaky"},
                    headers=h,
                ),
                await c.patch(
                    f"/api/v1/webhooks/{hook}",
                    json={"url": "http://127.0.0.1:9/sneaky", "enabled": False},
                    headers=h,
                ),
                await c.put(
                    f"/api/webhook/{hook}", json={"webhook_url": "127.0.0.1:9/sneaky"}, headers=h
                ),
                await c.delete(f"/api/v1/webhooks/{hook}", headers=h),
                await c.delete(f"/api/webhook/{hook}", headers=h),
            ]
            for answer in answers:
                assert _denied(answer.status_code), (kind, principal, answer.request.url)
            if not allowed("read", kind, principal):  # a read-only owner token may list
                listing = await c.get(f"/api/v1/mailboxes/{address}/webhooks", headers=h)
                assert _denied(listing.status_code) and b"127.0.0.1" not in listing.content
        (left,) = await world.app.store.list_webhooks(mailbox=address)
        assert left == before, kind
        await _drop_webhooks(world, kind)
