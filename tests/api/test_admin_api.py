"""/api/v1/admin over real HTTP: only admins get in (401 anonymous, 403 others and
tokens without the admin scope); users, domains (with owners), bans, counts and the
mailbox listing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ephemail.domain.accounts import Role, Scope
from ephemail.services.access import Principal
from tests.api.test_auth_api import (
    CSRF,
    PASSWORD,
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

ADMIN_READS = [
    "/api/v1/admin/users",
    "/api/v1/admin/domains",
    "/api/v1/admin/bans",
    "/api/v1/admin/stats",
    "/api/v1/admin/mailboxes",
]


@pytest.fixture
async def app(app_factory: StartApp) -> Any:
    return await start(app_factory, open_mode=False)


@pytest.fixture
async def admin(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client carrying an admin token with the admin scope (no CSRF needed)."""
    account = await add_account(app, "root@example.org", role=Role.ADMIN)
    token = await api_token(app, account, frozenset({Scope.READ, Scope.WRITE, Scope.ADMIN}))
    async with client_for(app, headers=bearer(token)) as client:
        yield client


async def test_admin_routes_refuse_everyone_else(app: Any) -> None:
    user = await add_account(app, "user@example.org")
    boss = await add_account(app, "boss@example.org", role=Role.ADMIN)
    user_token = await api_token(app, user)
    no_admin_scope = await api_token(app, boss, frozenset({Scope.READ, Scope.WRITE}))
    writes = [
        ("POST", "/api/v1/admin/users", {"email": "x@example.org", "password": PASSWORD}),
        ("PATCH", f"/api/v1/admin/users/{user.id}", {"role": "admin"}),
        ("DELETE", f"/api/v1/admin/users/{user.id}", None),
        ("POST", "/api/v1/admin/domains", {"name": "evil.test"}),
        ("DELETE", "/api/v1/admin/domains/x.test", None),
        ("POST", "/api/v1/admin/bans", {"scope": "sender", "value": "a@b.test"}),
        ("DELETE", "/api/v1/admin/bans/1", None),
        ("PUT", "/api/v1/admin/mailboxes/a@b.test/cap", {"max_messages": 1}),
    ]
    async with client_for(app) as client:
        for path in ADMIN_READS:
            anonymous = await client.get(path)
            assert anonymous.status_code == 401, path
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            for token in (user_token, no_admin_scope):
                denied = await client.get(path, headers=bearer(token))
                assert denied.status_code == 403 and error_code(denied) == "forbidden", path
        for method, path, body in writes:
            assert (await client.request(method, path, json=body)).status_code == 401, path
            denied = await client.request(method, path, json=body, headers=bearer(user_token))
            assert denied.status_code == 403, path
    # Nothing changed.
    assert (await app.accounts.account_by_email("x@example.org")) is None
    still = await app.accounts.account_by_email("user@example.org")
    assert still is not None and still.role is Role.USER

    async with client_for(app) as browser:  # a signed-in user is not an admin either
        csrf = await sign_in(browser, "user@example.org")
        assert (await browser.get("/api/v1/admin/users")).status_code == 403
        answer = await browser.post(
            "/api/v1/admin/domains", json={"name": "evil.test"}, headers={CSRF: csrf}
        )
        assert answer.status_code == 403
    async with client_for(app) as browser:  # an admin's session is
        csrf = await sign_in(browser, "boss@example.org")
        for path in ADMIN_READS:
            assert (await browser.get(path)).status_code == 200, path


async def test_users(app: Any, admin: httpx.AsyncClient) -> None:
    created = await admin.post(
        "/api/v1/admin/users",
        json={
            "email": "Paid@Example.org",
            "password": PASSWORD,
            "subscription_status": "active",
            "subscription_ends_at": "2030-01-01T00:00:00Z",
            "quota_bytes": 1000,
        },
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "paid@example.org" and user["role"] == "user"
    assert user["subscription_status"] == "active" and user["quota_bytes"] == 1000
    duplicate = await admin.post(
        "/api/v1/admin/users", json={"email": "paid@example.org", "password": PASSWORD}
    )
    assert duplicate.status_code == 409
    weak = await admin.post("/api/v1/admin/users", json={"email": "w@example.org", "password": "x"})
    assert weak.status_code == 400 and error_code(weak) == "invalid_password"

    await app.policy_admin.add_domain("paid.test")
    await app.policy_admin.set_domain_owner("paid.test", user["id"])
    mailbox = await app.ownership.create_owned(
        Principal.operator(),
        "box@paid.test",
        account_id=user["id"],
    )
    await deliver(app, mailbox.address)

    users = (await admin.get("/api/v1/admin/users")).json()["users"]
    by_email = {u["email"]: u for u in users}
    assert set(by_email) == {"root@example.org", "paid@example.org"}
    assert by_email["paid@example.org"]["mailboxes"] == 1
    assert by_email["paid@example.org"]["used_bytes"] > 0

    patched = await admin.patch(
        f"/api/v1/admin/users/{user['id']}",
        json={"role": "admin", "quota_bytes": None, "subscription_status": "past_due"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["role"] == "admin" and patched.json()["quota_bytes"] is None
    assert patched.json()["subscription_status"] == "past_due"
    assert patched.json()["subscription_ends_at"] is not None  # left out: unchanged
    cleared = await admin.patch(
        f"/api/v1/admin/users/{user['id']}", json={"subscription_ends_at": None}
    )
    assert cleared.json()["subscription_ends_at"] is None
    new_password = await admin.patch(
        f"/api/v1/admin/users/{user['id']}", json={"password": "a brand new password"}
    )
    assert new_password.status_code == 200
    async with client_for(app) as browser:
        await sign_in(browser, "paid@example.org", "a brand new password")

    assert (
        await admin.patch("/api/v1/admin/users/999999", json={"role": "user"})
    ).status_code == 404
    assert (await admin.delete(f"/api/v1/admin/users/{user['id']}")).status_code == 204
    assert (await admin.delete(f"/api/v1/admin/users/{user['id']}")).status_code == 404
    # Its owned mailbox went with it.
    status = (await admin.get(f"/api/v1/mailboxes/{mailbox.address}/status")).json()
    assert status["exists"] is False


async def test_domains_with_owners(app: Any, admin: httpx.AsyncClient) -> None:
    await add_account(app, "owner@example.org")
    created = await admin.post(
        "/api/v1/admin/domains",
        json={"name": "*.Owned.Test", "shared": False, "owner": "Owner@Example.org"},
    )
    assert created.status_code == 201, created.text
    assert created.json() == {
        "name": "owned.test",
        "active": True,
        "shared": False,
        "owner": "owner@example.org",
        "retention_hours": None,
    }
    shared = await admin.post(
        "/api/v1/admin/domains", json={"name": "shared.test", "shared": True, "retention_hours": 2}
    )
    assert shared.status_code == 201 and shared.json()["owner"] is None
    unknown_owner = await admin.post(
        "/api/v1/admin/domains", json={"name": "nobody.test", "owner": "ghost@example.org"}
    )
    assert unknown_owner.status_code == 404
    conflict = await admin.post("/api/v1/admin/domains", json={"name": "owned.test"})
    assert conflict.status_code == 409 and error_code(conflict) == "conflict"
    bad = await admin.post("/api/v1/admin/domains", json={"name": "not a domain!"})
    assert bad.status_code == 400

    listed = (await admin.get("/api/v1/admin/domains")).json()["domains"]
    by_name = {d["name"]: d for d in listed}
    assert set(by_name) == {"owned.test", "shared.test"}
    assert by_name["owned.test"]["owner"] == "owner@example.org"
    assert by_name["shared.test"]["shared"] is True
    assert by_name["shared.test"]["retention_hours"] == 2

    # The owner can now create mailboxes there.
    async with client_for(app) as browser:
        csrf = await sign_in(browser, "owner@example.org")
        owned = await browser.post(
            "/api/v1/account/mailboxes", json={"address": "me@owned.test"}, headers={CSRF: csrf}
        )
        assert owned.status_code == 201

    assert (await admin.delete("/api/v1/admin/domains/shared.test")).status_code == 204
    missing = await admin.delete("/api/v1/admin/domains/shared.test")
    assert missing.status_code == 404 and error_code(missing) == "not_found"


async def test_bans(admin: httpx.AsyncClient) -> None:
    created = await admin.post(
        "/api/v1/admin/bans",
        json={"scope": "sender", "value": "contains:Spam", "reason": "spam"},
    )
    assert created.status_code == 201, created.text
    ban = created.json()
    assert ban["scope"] == "sender" and ban["match"] == "contains" and ban["value"] == "spam"
    assert ban["status"] == "active" and ban["reason"] == "spam" and ban["id"] is not None
    bad = await admin.post("/api/v1/admin/bans", json={"scope": "planet", "value": "x"})
    assert bad.status_code == 400 and error_code(bad) == "invalid_ban"
    listed = (await admin.get("/api/v1/admin/bans")).json()["bans"]
    assert [b["id"] for b in listed] == [ban["id"]]
    assert (await admin.delete(f"/api/v1/admin/bans/{ban['id']}")).status_code == 204
    assert (await admin.delete(f"/api/v1/admin/bans/{ban['id']}")).status_code == 404
    assert (await admin.get("/api/v1/admin/bans")).json()["bans"] == []


async def test_stats_and_mailbox_listing(app: Any, admin: httpx.AsyncClient) -> None:
    owner = await add_account(app, "o@example.org")
    await app.policy_admin.add_domain("o.test", shared=True)
    async with client_for(app) as browser:
        csrf = await sign_in(browser, "o@example.org")
        owned = await browser.post(
            "/api/v1/account/mailboxes", json={"address": "a@o.test"}, headers={CSRF: csrf}
        )
        assert owned.status_code == 201
        claimed = await browser.post(
            "/api/v1/mailboxes/c@x.test/claim", json={"password": PASSWORD}, headers={CSRF: csrf}
        )
        assert claimed.status_code == 200
    for address in ("b@x.test", "d@x.test", "e@x.test"):
        await deliver(app, address)

    stats = (await admin.get("/api/v1/admin/stats")).json()
    assert stats == {
        "accounts": 2,
        "mailboxes": 5,
        "messages": 3,
        "owned_mailboxes": 1,
        "claimed_mailboxes": 1,
    }

    seen: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if after:
            params["after"] = after
        page = (await admin.get("/api/v1/admin/mailboxes", params=params)).json()
        seen += page["mailboxes"]
        after = page["next_after"]
        if after is None:
            break
    assert [m["address"] for m in seen] == [
        "a@o.test",
        "b@x.test",
        "c@x.test",
        "d@x.test",
        "e@x.test",
    ]
    kinds = {m["address"]: (m["kind"], m["owner_account_id"]) for m in seen}
    assert kinds["a@o.test"] == ("owned", owner.id)
    assert kinds["c@x.test"] == ("claimed", None)
    assert kinds["b@x.test"] == ("public", None)


async def test_mailbox_cap(app: Any, admin: httpx.AsyncClient) -> None:
    """An admin caps one mailbox; SMTP-side checks see it at once; null restores the
    default; a missing mailbox is 404, a cap below 1 is 422."""
    await deliver(app, "capped@x.test", "first")
    answer = await admin.put("/api/v1/admin/mailboxes/capped@x.test/cap", json={"max_messages": 1})
    assert answer.status_code == 200 and answer.json() == {"max_messages": 1}
    listed = (await admin.get("/api/v1/admin/mailboxes")).json()["mailboxes"]
    assert {m["address"]: m["max_messages"] for m in listed if m["address"] == "capped@x.test"} == {
        "capped@x.test": 1
    }
    assert (await app.ownership.check_delivery("capped@x.test", 0)).value == "mailbox_full"
    cleared = await admin.put(
        "/api/v1/admin/mailboxes/capped@x.test/cap", json={"max_messages": None}
    )
    assert cleared.status_code == 200
    assert (await app.ownership.check_delivery("capped@x.test", 0)).value == "ok"
    missing = await admin.put("/api/v1/admin/mailboxes/nobody@x.test/cap", json={"max_messages": 3})
    assert missing.status_code == 404
    zero = await admin.put("/api/v1/admin/mailboxes/capped@x.test/cap", json={"max_messages": 0})
    assert zero.status_code == 422
