"""Claimed and owned mailboxes over real HTTP, on both stores: claim, status, release
and unlock (v1 and the dynip routes), owned mailboxes created on owned or shared
domains, and every read surface (v1, dynip compatibility, search, downloads, wait,
SSE and both WebSockets) enforcing the same answers for them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ephemail.domain.accounts import Role
from tests.api.test_auth_api import (
    CSRF,
    PASSWORD,
    add_account,
    api_token,
    bearer,
    client_for,
    deliver,
    error_code,
    set_cookie_headers,
    sign_in,
    start,
    ws_refusal,
)
from tests.api.test_events import next_frame, ws_connect
from tests.conftest import StartApp

MAILBOX_PASSWORD = "mailbox secret 1"


@pytest.fixture
async def app(app_factory: StartApp, database_url: str) -> Any:
    # Wrong mailbox passwords count as failed logins; these tests try many on purpose
    # (the limits themselves: test_auth_api and test_claim_input_errors_and_rate_limit).
    return await start(app_factory, database_url=database_url, rate_limit_enabled=False)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as anonymous:
        yield anonymous


def pw(password: str) -> dict[str, str]:
    return {"X-Mailbox-Password": password}


async def read_surfaces(
    client: httpx.AsyncClient, address: str, message_id: str, headers: dict[str, str]
) -> dict[str, int]:
    """The status of every HTTP read of one mailbox and one of its messages."""
    requests: dict[str, tuple[str, str, dict[str, str | int]]] = {
        "info": ("GET", f"/api/v1/mailboxes/{address}", {}),
        "list": ("GET", f"/api/v1/mailboxes/{address}/messages", {}),
        "folders": ("GET", f"/api/v1/mailboxes/{address}/folders", {}),
        "search": ("GET", "/api/v1/search", {"q": "hello", "mailbox": address}),
        "message": ("GET", f"/api/v1/messages/{message_id}", {}),
        "raw": ("GET", f"/api/v1/messages/{message_id}/raw", {}),
        "attachment": ("GET", f"/api/v1/messages/{message_id}/attachments/0", {}),
        "extract": ("GET", f"/api/v1/messages/{message_id}/extract", {}),
        "wait": ("GET", f"/api/v1/mailboxes/{address}/wait", {"timeout": 0}),
        "dynip emails": ("GET", f"/api/emails/{address}", {}),
        "dynip email": ("GET", f"/api/email/{message_id}", {}),
        "dynip search": ("GET", "/api/search", {"query": "hello", "mailbox": address}),
    }
    statuses = {}
    for name, (method, path, params) in requests.items():
        answer = await client.request(method, path, params=params, headers=headers)
        statuses[name] = answer.status_code
    async with client.stream(
        "GET", "/api/v1/events", params={"mailbox": address, "after": 0}, headers=headers
    ) as stream:
        statuses["sse"] = stream.status_code
    return statuses


def all_are(statuses: dict[str, int], expected: int) -> bool:
    return set(statuses.values()) == {expected}


async def sse_first_received(
    client: httpx.AsyncClient, address: str, headers: dict[str, str]
) -> dict[str, Any]:
    async with (
        asyncio.timeout(10),
        client.stream(
            "GET", "/api/v1/events", params={"mailbox": address, "after": 0}, headers=headers
        ) as stream,
    ):
        assert stream.status_code == 200
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                frame: dict[str, Any] = json.loads(line.removeprefix("data:").strip())
                if frame["type"] == "message.received":
                    return frame
    raise AssertionError("no message.received event")


# -- claims ---------------------------------------------------------------------------------
async def test_claim_then_only_the_password_reads(app: Any, client: httpx.AsyncClient) -> None:
    address = "claimed@x.test"
    message_id = await deliver(app, address, attachment=True)
    before = await client.get(f"/api/v1/mailboxes/{address}/status")
    assert before.json() == {"address": address, "exists": True, "kind": "public", "claimed": False}

    claimed = await client.post(
        f"/api/v1/mailboxes/{address}/claim", json={"password": MAILBOX_PASSWORD}
    )
    assert claimed.status_code == 200
    assert claimed.json() == {"address": address, "kind": "claimed"}
    again = await client.post(
        f"/api/v1/mailboxes/{address}/claim", json={"password": "another password"}
    )
    assert again.status_code == 409 and error_code(again) == "already_claimed"
    status = await client.get(f"/api/v1/mailboxes/{address}/status")
    assert status.json() == {"address": address, "exists": True, "kind": "claimed", "claimed": True}

    anonymous = await read_surfaces(client, address, message_id, {})
    assert all_are(anonymous, 401), anonymous
    wrong = await read_surfaces(client, address, message_id, pw("wrong password"))
    assert set(wrong.values()) <= {401, 403} and 200 not in wrong.values(), wrong
    right = await read_surfaces(client, address, message_id, pw(MAILBOX_PASSWORD))
    assert all_are(right, 200), right

    raw = await client.get(f"/api/v1/messages/{message_id}/raw", headers=pw(MAILBOX_PASSWORD))
    assert b"Your code is 123456" in raw.content
    frame = await sse_first_received(client, address, pw(MAILBOX_PASSWORD))
    assert frame["message_id"] == message_id

    # Writes too: without the password nothing changes.
    denied = await client.delete(f"/api/v1/messages/{message_id}")
    assert denied.status_code == 401
    listed = await client.get(f"/api/v1/mailboxes/{address}/messages", headers=pw(MAILBOX_PASSWORD))
    assert listed.json()["total"] == 1


async def test_claimed_mailbox_over_websockets(app: Any, client: httpx.AsyncClient) -> None:
    address = "wsclaim@x.test"
    answer = await client.post(
        f"/api/v1/mailboxes/{address}/claim", json={"password": MAILBOX_PASSWORD}
    )
    assert answer.status_code == 200
    assert await ws_refusal(app, f"/api/v1/events?mailbox={address}") == 401
    assert await ws_refusal(app, f"/api/ws/{address}") == 401
    assert (
        await ws_refusal(app, f"/api/ws/{address}", additional_headers=pw("not the password"))
        == 401
    )
    async with ws_connect(app, f"/api/ws/{address}", additional_headers=pw(MAILBOX_PASSWORD)) as ws:
        assert (await next_frame(ws)) == {"type": "Connected", "address": address}
        message_id = await deliver(app, address, "live")
        frame = await next_frame(ws)
        assert frame["type"] == "Email" and frame["id"] == message_id


async def test_unlock_cookie_opens_reads_and_the_event_websocket(
    app: Any, client: httpx.AsyncClient
) -> None:
    address = "unlock@x.test"
    message_id = await deliver(app, address)
    await client.post(f"/api/v1/mailboxes/{address}/claim", json={"password": MAILBOX_PASSWORD})

    wrong = await client.post(f"/api/v1/mailboxes/{address}/unlock", json={"password": "nope nope"})
    assert wrong.status_code == 401 and error_code(wrong) == "invalid_credentials"
    assert not set_cookie_headers(wrong, "ephemail_unlock")

    unlocked = await client.post(
        f"/api/v1/mailboxes/{address}/unlock", json={"password": MAILBOX_PASSWORD}
    )
    assert unlocked.status_code == 204
    (cookie,) = set_cookie_headers(unlocked, "ephemail_unlock")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert MAILBOX_PASSWORD not in cookie

    # The client's jar now sends the cookie: no header needed.
    statuses = await read_surfaces(client, address, message_id, {})
    assert set(statuses.values()) <= {200, 404}, statuses  # 404: no attachment 0
    assert statuses["list"] == statuses["message"] == statuses["sse"] == 200

    value = client.cookies["ephemail_unlock"]
    async with ws_connect(
        app,
        f"/api/v1/events?mailbox={address}&after=0",
        additional_headers={"Cookie": f"ephemail_unlock={value}"},
    ) as ws:
        frame = await next_frame(ws)
        while frame["type"] != "message.received":  # mailbox.created came first
            frame = await next_frame(ws)
        assert frame["message_id"] == message_id

    # A second unlocked mailbox joins the first in the same cookie.
    other = "unlock2@x.test"
    await client.post(f"/api/v1/mailboxes/{other}/claim", json={"password": MAILBOX_PASSWORD})
    assert (
        await client.post(f"/api/v1/mailboxes/{other}/unlock", json={"password": MAILBOX_PASSWORD})
    ).status_code == 204
    for mailbox in (address, other):
        assert (await client.get(f"/api/v1/mailboxes/{mailbox}/messages")).status_code == 200

    # A forged cookie opens nothing.
    async with client_for(app, cookies={"ephemail_unlock": "W1sidW5sb2NrQHgudGVzdCIsIngiXV0"}) as f:
        assert (await f.get(f"/api/v1/mailboxes/{address}/messages")).status_code == 401


async def test_release_makes_it_public_and_kills_old_proofs(
    app: Any, client: httpx.AsyncClient
) -> None:
    address = "release@x.test"
    await client.post(f"/api/v1/mailboxes/{address}/claim", json={"password": MAILBOX_PASSWORD})
    await client.post(f"/api/v1/mailboxes/{address}/unlock", json={"password": MAILBOX_PASSWORD})
    old_cookie = client.cookies["ephemail_unlock"]

    wrong = await client.post(
        f"/api/v1/mailboxes/{address}/release", json={"password": "wrong password"}
    )
    assert wrong.status_code in (401, 403)
    released = await client.post(
        f"/api/v1/mailboxes/{address}/release", json={"password": MAILBOX_PASSWORD}
    )
    assert released.status_code == 200 and released.json() == {"address": address, "kind": "public"}
    not_claimed = await client.post(
        f"/api/v1/mailboxes/{address}/release", json={"password": MAILBOX_PASSWORD}
    )
    assert not_claimed.status_code == 409 and error_code(not_claimed) == "not_claimed"

    async with client_for(app) as anyone:
        assert (await anyone.get(f"/api/v1/mailboxes/{address}/messages")).status_code == 200
        # Claimed again by someone else: the old proof no longer opens it.
        await anyone.post(f"/api/v1/mailboxes/{address}/claim", json={"password": "new owner pw"})
    async with client_for(app, cookies={"ephemail_unlock": old_cookie}) as stale:
        assert (await stale.get(f"/api/v1/mailboxes/{address}/messages")).status_code == 401


async def test_claim_input_errors_and_rate_limit(app_factory: StartApp) -> None:
    app = await start(app_factory, rate_claim_per_minute=2)
    async with client_for(app) as client:
        short = await client.post("/api/v1/mailboxes/short@x.test/claim", json={"password": "x"})
        assert short.status_code == 400 and error_code(short) == "invalid_password"
        bad = await client.post("/api/v1/mailboxes/a b@@x/claim", json={"password": PASSWORD})
        assert bad.status_code == 400 and error_code(bad) == "invalid_address"
        statuses = []
        for i in range(10):
            answer = await client.post(
                f"/api/v1/mailboxes/flood{i}@x.test/claim", json={"password": PASSWORD}
            )
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                break
        assert statuses[-1] == 429, statuses
        assert int(answer.headers["retry-after"]) >= 1


async def test_dynip_claim_routes(app: Any, client: httpx.AsyncClient) -> None:
    address = "dyn@x.test"
    status = await client.get("/api/mailbox/Dyn@X.test/status")
    assert status.json() == {"address": address, "is_claimed": False}
    claimed = await client.post(f"/api/mailbox/{address}/claim", json={"password": PASSWORD})
    assert claimed.status_code == 200
    assert claimed.json() == {"message": "Mailbox claimed successfully", "address": address}
    assert (await client.get(f"/api/mailbox/{address}/status")).json()["is_claimed"] is True
    again = await client.post(f"/api/mailbox/{address}/claim", json={"password": PASSWORD})
    assert again.status_code == 409 and error_code(again) == "already_claimed"
    wrong = await client.post(f"/api/mailbox/{address}/release", json={"password": "bad password"})
    assert wrong.status_code in (401, 403)
    released = await client.post(f"/api/mailbox/{address}/release", json={"password": PASSWORD})
    assert released.json() == {"message": "Mailbox released successfully", "address": address}
    not_claimed = await client.post(f"/api/mailbox/{address}/release", json={"password": PASSWORD})
    assert not_claimed.status_code == 409 and error_code(not_claimed) == "not_claimed"


# -- owned mailboxes ------------------------------------------------------------------------
async def test_owned_mailboxes_only_on_owned_or_shared_domains(app: Any) -> None:
    owner = await add_account(app, "owner@example.org")
    await add_account(app, "stranger@example.org")
    await app.policy_admin.add_domain("mine.test")
    await app.policy_admin.set_domain_owner("mine.test", owner.id)
    await app.policy_admin.add_domain("shared.test", shared=True)
    await app.policy_admin.add_domain("nobody.test")

    async with client_for(app) as browser, client_for(app) as stranger:
        csrf = await sign_in(browser, "owner@example.org")
        stranger_csrf = await sign_in(stranger, "stranger@example.org")

        async def create(
            who: httpx.AsyncClient, token: str, body: dict[str, str]
        ) -> httpx.Response:
            return await who.post("/api/v1/account/mailboxes", json=body, headers={CSRF: token})

        mine = await create(browser, csrf, {"address": "me@mine.test"})
        assert mine.status_code == 201, mine.text
        assert mine.json()["address"] == "me@mine.test" and mine.json()["kind"] == "owned"
        assert mine.json()["created"] is True
        sub = await create(browser, csrf, {"address": "deep@sub.mine.test"})
        assert sub.status_code == 201
        random = await create(browser, csrf, {"domain": "shared.test"})
        assert random.status_code == 201 and random.json()["address"].endswith("@shared.test")
        taken = await create(browser, csrf, {"address": "me@mine.test"})
        assert taken.status_code == 409 and error_code(taken) == "conflict"
        for refused in (
            await create(browser, csrf, {"address": "x@nobody.test"}),
            await create(browser, csrf, {"address": "x@unregistered.test"}),
            await create(stranger, stranger_csrf, {"address": "y@mine.test"}),
        ):
            assert refused.status_code == 403 and error_code(refused) == "mailbox_not_allowed"

        listed = await browser.get("/api/v1/account/mailboxes")
        assert listed.status_code == 200
        addresses = [m["address"] for m in listed.json()["mailboxes"]]
        assert set(addresses) == {"me@mine.test", "deep@sub.mine.test", random.json()["address"]}
        assert listed.json()["usage"]["mailboxes"] == 3
        assert (await stranger.get("/api/v1/account/mailboxes")).json()["mailboxes"] == []

    async with client_for(app) as anonymous:
        needs_account = await anonymous.post(
            "/api/v1/account/mailboxes", json={"address": "z@shared.test"}
        )
        assert needs_account.status_code == 401


async def test_only_the_owner_and_admins_read_an_owned_mailbox(app: Any) -> None:
    owner = await add_account(app, "reader@example.org")
    await add_account(app, "other@example.org")
    await add_account(app, "root@example.org", role=Role.ADMIN)
    await app.policy_admin.add_domain("private.test")
    await app.policy_admin.set_domain_owner("private.test", owner.id)
    address = "inbox@private.test"

    async with (
        client_for(app) as owner_browser,
        client_for(app) as other_browser,
        client_for(app) as admin_browser,
        client_for(app) as anonymous,
    ):
        csrf = await sign_in(owner_browser, "reader@example.org")
        other_csrf = await sign_in(other_browser, "other@example.org")
        await sign_in(admin_browser, "root@example.org")
        created = await owner_browser.post(
            "/api/v1/account/mailboxes", json={"address": address}, headers={CSRF: csrf}
        )
        assert created.status_code == 201
        message_id = await deliver(app, address, attachment=True)

        assert all_are(await read_surfaces(anonymous, address, message_id, {}), 401)
        assert all_are(await read_surfaces(other_browser, address, message_id, {}), 403)
        assert all_are(await read_surfaces(owner_browser, address, message_id, {}), 200)
        assert all_are(await read_surfaces(admin_browser, address, message_id, {}), 200)
        # A mailbox password does not open an owned mailbox.
        with_password = await read_surfaces(anonymous, address, message_id, pw(PASSWORD))
        assert all_are(with_password, 401), str(with_password)

        # The owner's session works for both WebSockets; others are refused.
        assert await ws_refusal(app, f"/api/v1/events?mailbox={address}") == 401
        assert await ws_refusal(app, f"/api/ws/{address}") == 401
        other_cookie = {"Cookie": f"ephemail_session={other_browser.cookies['ephemail_session']}"}
        assert await ws_refusal(app, f"/api/ws/{address}", additional_headers=other_cookie) == 403
        owner_cookie = {"Cookie": f"ephemail_session={owner_browser.cookies['ephemail_session']}"}
        async with ws_connect(
            app, f"/api/v1/events?mailbox={address}&after=0", additional_headers=owner_cookie
        ) as ws:
            frame = await next_frame(ws)
            while frame["type"] != "message.received":
                frame = await next_frame(ws)
            assert frame["message_id"] == message_id

        # Only the owner (or an admin) deletes it.
        refused = await other_browser.delete(
            f"/api/v1/mailboxes/{address}", headers={CSRF: other_csrf}
        )
        assert refused.status_code == 403
        assert (await anonymous.delete(f"/api/v1/mailboxes/{address}")).status_code == 401
        deleted = await owner_browser.delete(f"/api/v1/mailboxes/{address}", headers={CSRF: csrf})
        assert deleted.status_code == 204
        assert (
            await owner_browser.delete(f"/api/v1/mailboxes/{address}", headers={CSRF: csrf})
        ).status_code == 404
        assert (await admin_browser.get(f"/api/v1/messages/{message_id}")).status_code == 404


async def test_delete_public_mailbox_in_open_mode(app: Any, client: httpx.AsyncClient) -> None:
    address = "gone@x.test"
    message_id = await deliver(app, address)
    assert (await client.delete(f"/api/v1/mailboxes/{address}")).status_code == 204
    assert (await client.get(f"/api/v1/messages/{message_id}")).status_code == 404
    status = (await client.get(f"/api/v1/mailboxes/{address}/status")).json()
    assert status["exists"] is False
    missing = await client.delete(f"/api/v1/mailboxes/{address}")
    assert missing.status_code == 404 and error_code(missing) == "not_found"


async def test_claimed_mailbox_is_deleted_with_its_password(
    app: Any, client: httpx.AsyncClient
) -> None:
    address = "delclaim@x.test"
    await client.post(f"/api/v1/mailboxes/{address}/claim", json={"password": MAILBOX_PASSWORD})
    assert (await client.delete(f"/api/v1/mailboxes/{address}")).status_code == 401
    account = await add_account(app, "tok@example.org")
    token = await api_token(app, account)
    # An account is no help either: the mailbox's password is what is missing.
    assert (
        await client.delete(f"/api/v1/mailboxes/{address}", headers=bearer(token))
    ).status_code == 401
    deleted = await client.delete(f"/api/v1/mailboxes/{address}", headers=pw(MAILBOX_PASSWORD))
    assert deleted.status_code == 204


async def test_private_domains_over_http(app_factory: StartApp) -> None:
    """A domain owned by an account and not shared: listed only to that account
    (`owned`), no public mailbox or claim there, owned mailboxes through the account
    routes."""
    app = await start(app_factory)
    alice = await add_account(app, "alice@accounts.test")
    await app.policy_admin.add_domain("alice.test")
    await app.policy_admin.set_domain_owner("alice.test", alice.id)
    token = await api_token(app, alice)
    async with client_for(app) as client:
        anonymous = (await client.get("/api/v1/domains")).json()["domains"]
        assert "alice.test" not in [d["name"] for d in anonymous]
        mine = (await client.get("/api/v1/domains", headers=bearer(token))).json()["domains"]
        assert {"name": "alice.test", "shared": False, "default": False, "owned": True} in mine
        public = await client.post("/api/v1/mailboxes", json={"address": "open@alice.test"})
        assert public.status_code == 403
        assert public.json()["error"]["code"] == "mailbox_not_allowed"
        claim = await client.post(
            "/api/v1/mailboxes/grab@alice.test/claim", json={"password": "long enough pw"}
        )
        assert claim.status_code == 403
        owned = await client.post(
            "/api/v1/account/mailboxes", json={"address": "real@alice.test"}, headers=bearer(token)
        )
        assert owned.status_code == 201 and owned.json()["kind"] == "owned"
