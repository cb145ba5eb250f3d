"""API and IMAP tokens over real HTTP: create (secret shown once), list, revoke, and
what a token may do: scopes bound every request, revoked and expired tokens are 401."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ephemail.domain.accounts import Role, Scope
from ephemail.services.access import Principal
from tests.api.test_auth_api import (
    CSRF,
    add_account,
    api_token,
    bearer,
    client_for,
    deliver,
    error_code,
    sign_in,
    start,
)
from tests.conftest import StartApp

TOKEN_KEYS = {
    "id",
    "kind",
    "name",
    "scopes",
    "prefix",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
}


@pytest.fixture
async def app(app_factory: StartApp) -> Any:
    return await start(app_factory)


@pytest.fixture
async def browser(app: Any) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser signed in as t@example.org, with its CSRF token."""
    await add_account(app, "t@example.org")
    async with client_for(app) as client:
        csrf = await sign_in(client, "t@example.org")
        yield client, csrf


async def test_create_list_use_and_revoke_an_api_token(
    app: Any, browser: tuple[httpx.AsyncClient, str]
) -> None:
    client, csrf = browser
    created = await client.post(
        "/api/v1/tokens",
        json={"kind": "api", "name": "ci", "scopes": ["read"], "expires_in_days": 30},
        headers={CSRF: csrf},
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    token = created.json()["token"]
    secret = created.json()["secret"]
    assert set(token) == TOKEN_KEYS
    assert token["kind"] == "api" and token["scopes"] == ["read"] and token["name"] == "ci"
    assert secret.startswith(token["prefix"] + "_") and token["prefix"].startswith("eph_api_")
    expires = datetime.fromisoformat(token["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)

    listed = (await client.get("/api/v1/tokens")).json()["tokens"]
    assert [t["id"] for t in listed] == [token["id"]]
    assert secret not in str(listed)  # never the secret again

    async with client_for(app) as program:
        me = await program.get("/api/v1/auth/me", headers=bearer(secret))
        assert me.status_code == 200
        assert me.json()["account"]["email"] == "t@example.org"
        assert me.json()["via"] == "api_token" and me.json()["scopes"] == ["read"]
        used = (await client.get("/api/v1/tokens")).json()["tokens"][0]
        assert used["last_used_at"] is not None

        revoked = await client.delete(f"/api/v1/tokens/{token['id']}", headers={CSRF: csrf})
        assert revoked.status_code == 204
        after = await program.get("/api/v1/auth/me", headers=bearer(secret))
        assert after.status_code == 401 and error_code(after) == "invalid_credentials"
        listed = (await client.get("/api/v1/tokens")).json()["tokens"]
        assert listed[0]["revoked_at"] is not None


async def test_default_scopes_and_imap_tokens(browser: tuple[httpx.AsyncClient, str]) -> None:
    client, csrf = browser
    api = await client.post(
        "/api/v1/tokens", json={"kind": "api", "name": "d"}, headers={CSRF: csrf}
    )
    assert api.status_code == 201 and api.json()["token"]["scopes"] == ["read", "write"]
    imap = await client.post(
        "/api/v1/tokens", json={"kind": "imap", "name": "phone"}, headers={CSRF: csrf}
    )
    assert imap.status_code == 201
    assert imap.json()["token"]["kind"] == "imap" and imap.json()["token"]["scopes"] == []
    assert imap.json()["secret"].startswith("eph_imap_")
    # An IMAP token is not an HTTP credential.
    me = await client.get("/api/v1/auth/me", headers=bearer(imap.json()["secret"]))
    assert me.status_code == 401

    scoped_imap = await client.post(
        "/api/v1/tokens",
        json={"kind": "imap", "name": "x", "scopes": ["read"]},
        headers={CSRF: csrf},
    )
    assert scoped_imap.status_code == 400
    for bad in (
        {"kind": "api", "name": ""},
        {"kind": "api", "name": "x", "expires_in_days": 0},
        {"kind": "api", "name": "x", "scopes": ["root"]},
        {"kind": "smtp", "name": "x"},
    ):
        answer = await client.post("/api/v1/tokens", json=bad, headers={CSRF: csrf})
        assert answer.status_code in (400, 422), bad


async def test_only_admin_accounts_get_the_admin_scope(
    browser: tuple[httpx.AsyncClient, str],
) -> None:
    client, csrf = browser
    answer = await client.post(
        "/api/v1/tokens",
        json={"kind": "api", "name": "root", "scopes": ["admin"]},
        headers={CSRF: csrf},
    )
    assert answer.status_code == 403


async def test_read_only_token_cannot_write(app: Any) -> None:
    account = await add_account(app, "ro@example.org")
    read_only = await api_token(app, account, frozenset({Scope.READ}))
    message_id = await deliver(app, "ro@x.test")
    async with client_for(app) as program:
        headers = bearer(read_only)
        assert (
            await program.get(f"/api/v1/messages/{message_id}", headers=headers)
        ).status_code == 200
        assert (
            await program.get("/api/v1/mailboxes/ro@x.test/messages", headers=headers)
        ).status_code == 200
        for refused in (
            program.patch(f"/api/v1/messages/{message_id}", json={"seen": True}, headers=headers),
            program.delete(f"/api/v1/messages/{message_id}", headers=headers),
            program.delete("/api/v1/mailboxes/ro@x.test/messages", headers=headers),
            program.delete(f"/api/email/{message_id}", headers=headers),
            program.post("/api/v1/mailboxes", json={"address": "x@x.test"}, headers=headers),
            program.post("/api/v1/tokens", json={"kind": "api", "name": "n"}, headers=headers),
            program.post(
                "/api/v1/mailboxes/ro@x.test/claim",
                json={"password": "long enough"},
                headers=headers,
            ),
        ):
            answer = await refused
            assert answer.status_code == 403, answer.text
            assert error_code(answer) == "forbidden"
        assert (await program.get(f"/api/v1/messages/{message_id}", headers=headers)).json()[
            "seen"
        ] is False


async def test_expired_token_is_401(app: Any) -> None:
    account = await add_account(app, "exp@example.org")
    soon = datetime.now(UTC) + timedelta(seconds=1)
    token = await api_token(app, account, expires_at=soon)
    async with client_for(app) as program:
        assert (await program.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200
        await asyncio.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.2)
        expired = await program.get("/api/v1/mailboxes/pub@x.test/messages", headers=bearer(token))
        assert expired.status_code == 401 and error_code(expired) == "invalid_credentials"


async def test_tokens_of_other_accounts_are_not_found(
    app: Any, browser: tuple[httpx.AsyncClient, str]
) -> None:
    client, csrf = browser
    other = await add_account(app, "other@example.org")
    theirs = await app.accounts.list_tokens(
        Principal.operator(),
        account_id=other.id,
    )
    assert theirs == []
    secret = await api_token(app, other)
    (their_token,) = await app.accounts.list_tokens(
        Principal.operator(),
        account_id=other.id,
    )
    gone = await client.delete(f"/api/v1/tokens/{their_token.id}", headers={CSRF: csrf})
    assert gone.status_code == 404 and error_code(gone) == "not_found"
    async with client_for(app) as program:  # still usable
        assert (await program.get("/api/v1/auth/me", headers=bearer(secret))).status_code == 200


async def test_token_routes_need_an_account(app: Any) -> None:
    async with client_for(app) as anonymous:
        listed = await anonymous.get("/api/v1/tokens")
        assert listed.status_code == 401
        assert listed.headers["www-authenticate"].startswith("Bearer")
        created = await anonymous.post("/api/v1/tokens", json={"kind": "api", "name": "x"})
        assert created.status_code == 401


async def test_admin_token_scope_counts_only_for_admin_accounts(app: Any) -> None:
    admin = await add_account(app, "boss@example.org", role=Role.ADMIN)
    token = await api_token(app, admin, frozenset({Scope.READ, Scope.WRITE, Scope.ADMIN}))
    async with client_for(app) as program:
        me = await program.get("/api/v1/auth/me", headers=bearer(token))
        assert me.json()["scopes"] == ["admin", "read", "write"]
        assert (await program.get("/api/v1/admin/stats", headers=bearer(token))).status_code == 200
