"""Account and domain webhooks, and who may create them (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from ephemail.domain.accounts import Role, Scope
from tests.api.test_auth_api import add_account, api_token, bearer, client_for, deliver
from tests.conftest import StartApp
from tests.support.receiver import Receiver

SETTINGS = {
    "smtp_enabled": False,
    "imap_enabled": False,
    "webhook_allow_networks": ["127.0.0.1/32"],
    "open_mode": False,
}


@pytest.fixture
async def app(app_factory: StartApp, database_url: str) -> Any:
    return await app_factory(database_url=database_url, **SETTINGS)


async def test_account_webhook_sees_only_its_owned_mailboxes(app: Any) -> None:
    receiver = await Receiver().start()
    try:
        owner = await add_account(app, "owner@acct.test")
        token = await api_token(app, owner)
        await app.policy_admin.add_domain(
            "own.test", active=True, shared=True, retention_hours=None
        )
        async with client_for(app, headers=bearer(token)) as client:
            box = await client.post("/api/v1/account/mailboxes", json={"address": "mine@own.test"})
            assert box.status_code == 201, box.text
            hook = await client.post(
                "/api/v1/webhooks", json={"url": receiver.url, "account": True}
            )
            assert hook.status_code == 201, hook.text
            assert hook.json()["scope"] == "account"
            assert hook.json()["account_id"] == owner.id
            mine = (await client.get("/api/v1/webhooks")).json()["webhooks"]
            assert [w["id"] for w in mine] == [hook.json()["id"]]
        await deliver(app, "someone-else@own.test", "not mine")
        await deliver(app, "mine@own.test", "mine")
        (request,) = await receiver.wait_for(1)
        assert request.json()["email"]["subject"] == "mine"
        assert request.json()["mailbox"] == "mine@own.test"
    finally:
        await receiver.stop()


async def test_domain_webhooks_are_for_admins_and_domain_owners(app: Any) -> None:
    receiver = await Receiver().start()
    try:
        admin = await add_account(app, "admin@acct.test", role=Role.ADMIN)
        user = await add_account(app, "user@acct.test")
        admin_token = await api_token(app, admin, frozenset({Scope.READ, Scope.WRITE, Scope.ADMIN}))
        user_token = await api_token(app, user)
        body = {"url": receiver.url, "domain": "whole.test"}
        async with client_for(app) as client:
            anonymous = await client.post("/api/v1/webhooks", json=body)
            assert anonymous.status_code == 401
            denied = await client.post("/api/v1/webhooks", json=body, headers=bearer(user_token))
            assert denied.status_code == 403
            created = await client.post("/api/v1/webhooks", json=body, headers=bearer(admin_token))
            assert created.status_code == 201, created.text
            hook_id = created.json()["id"]
            hidden = await client.get(f"/api/v1/webhooks/{hook_id}", headers=bearer(user_token))
            assert hidden.status_code == 403
            listed = await client.get(
                "/api/v1/webhooks?domain=whole.test", headers=bearer(admin_token)
            )
            assert [w["id"] for w in listed.json()["webhooks"]] == [hook_id]
        await deliver(app, "a@whole.test", "one")
        await deliver(app, "b@whole.test", "two")
        await deliver(app, "c@other.test", "three")
        requests = await receiver.wait_for(2)
        assert sorted(r.json()["mailbox"] for r in requests) == ["a@whole.test", "b@whole.test"]
    finally:
        await receiver.stop()


async def test_a_read_only_token_cannot_subscribe(app: Any) -> None:
    user = await add_account(app, "reader@acct.test")
    token = await api_token(app, user, frozenset({Scope.READ}))
    async with client_for(app, headers=bearer(token)) as client:
        answer = await client.post(
            "/api/v1/mailboxes/pub@tenant.test/webhooks", json={"url": "http://127.0.0.1:9/"}
        )
        assert answer.status_code == 403
        listed = await client.get("/api/v1/mailboxes/pub@tenant.test/webhooks")
        assert listed.status_code == 200


async def test_claiming_disables_webhooks_made_while_public(app: Any) -> None:
    async with client_for(app) as client:
        hook = await client.post(
            "/api/v1/mailboxes/soon@tenant.test/webhooks", json={"url": "http://127.0.0.1:9/"}
        )
        assert hook.status_code == 201, hook.text
        claimed = await client.post(
            "/api/v1/mailboxes/soon@tenant.test/claim", json={"password": "long enough pw"}
        )
        assert claimed.status_code in (200, 201), claimed.text
        anonymous = await client.get(f"/api/v1/webhooks/{hook.json()['id']}")
        assert anonymous.status_code == 401
        seen = await client.get(
            f"/api/v1/webhooks/{hook.json()['id']}",
            headers={"X-Mailbox-Password": "long enough pw"},
        )
        assert seen.status_code == 200
        assert seen.json()["enabled"] is False
        assert "claimed" in seen.json()["disabled_reason"]
