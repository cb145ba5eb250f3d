"""Authentication over real HTTP: register, login, logout and `me` with the session
cookie and its CSRF token, bearer tokens that need no CSRF, forged and invalid
credentials, rate limits (429 with Retry-After), and the open dev mode switch for
global reads.

The helpers here are shared by the other account test modules of tests/api.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from ephemail.domain.accounts import Account, Role, Scope, TokenKind
from ephemail.domain.messages import Envelope
from ephemail.services.access import Principal
from tests.api.test_events import ws_connect
from tests.conftest import StartApp

PASSWORD = "correct horse battery"
CSRF = "X-CSRF-Token"


# -- helpers shared by the account test modules -----------------------------------------
async def start(app_factory: StartApp, **settings: Any) -> Any:
    """A running app with HTTP only (mail is delivered through the ingest service)."""
    settings.setdefault("smtp_enabled", False)
    settings.setdefault("imap_enabled", False)
    return await app_factory(**settings)


def client_for(app: Any, **kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client of the app with its own cookie jar (one "browser")."""
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}", **kwargs)


async def add_account(
    app: Any, email: str, *, role: Role = Role.USER, password: str = PASSWORD
) -> Account:
    account: Account = await app.accounts.add_account(email, password, role=role)
    return account


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Sign `client` in (its jar keeps the session cookie); the CSRF token."""
    answer = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["csrf_token"]
    return token


async def api_token(
    app: Any,
    account: Account,
    scopes: frozenset[Scope] = frozenset({Scope.READ, Scope.WRITE}),
    **kwargs: Any,
) -> str:
    """A new API token of `account` (made by the operator, as the CLI does)."""
    issued = await app.accounts.create_token(
        Principal.operator(),
        kind=TokenKind.API,
        name="test",
        scopes=scopes,
        account_id=account.id,
        **kwargs,
    )
    secret: str = issued.secret
    return secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def raw_mail(subject: str = "hello", *, attachment: bool = False) -> bytes:
    if not attachment:
        return (
            f"From: Alice <alice@example.org>\r\nTo: someone@x.test\r\nSubject: {subject}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nYour code is 123456\r\n"
        ).encode()
    return (
        f"From: Alice <alice@example.org>\r\nTo: someone@x.test\r\nSubject: {subject}\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour code is 123456\r\n"
        '--b\r\nContent-Type: text/plain; name="a.txt"\r\n'
        'Content-Disposition: attachment; filename="a.txt"\r\n\r\nsecret file\r\n--b--\r\n'
    ).encode()


async def deliver(app: Any, to: str, subject: str = "hello", *, attachment: bool = False) -> str:
    result = await app.ingest.deliver(
        Envelope("alice@example.org", (to,), "127.0.0.1"), raw_mail(subject, attachment=attachment)
    )
    (message_id,) = result.message_ids
    return str(message_id)


def error_code(answer: httpx.Response) -> str:
    code: str = answer.json()["error"]["code"]
    return code


def set_cookie_headers(answer: httpx.Response, name: str) -> list[str]:
    return [v for v in answer.headers.get_list("set-cookie") if v.startswith(f"{name}=")]


async def ws_refusal(app: Any, path: str, **kwargs: Any) -> int:
    """The HTTP status a refused WebSocket handshake got."""
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(app, path, **kwargs):
            pass
    status: int = refused.value.response.status_code
    return status


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture
async def app(app_factory: StartApp) -> Any:
    return await start(app_factory)


@pytest.fixture
async def browser(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


# -- sessions -------------------------------------------------------------------------------
async def test_register_sets_a_session_cookie_and_me_answers(
    app: Any, browser: httpx.AsyncClient
) -> None:
    answer = await browser.post(
        "/api/v1/auth/register", json={"email": " New@Example.ORG ", "password": PASSWORD}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["account"]["email"] == "new@example.org"
    assert body["account"]["role"] == "user"
    assert set(body["account"]) == {
        "id",
        "email",
        "role",
        "subscription_status",
        "subscription_ends_at",
        "quota_bytes",
        "created_at",
    }
    (cookie,) = set_cookie_headers(answer, "ephemail_session")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes

    me = await browser.get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["account"]["email"] == "new@example.org"
    assert me.json()["via"] == "session"
    assert me.json()["csrf_token"] == body["csrf_token"]
    assert set(me.json()["scopes"]) == {"read", "write", "admin"}


async def test_logout_needs_the_csrf_token_then_ends_the_session(
    app: Any, browser: httpx.AsyncClient
) -> None:
    await add_account(app, "u@example.org")
    csrf = await sign_in(browser, "u@example.org")

    missing = await browser.post("/api/v1/auth/logout")
    assert missing.status_code == 403 and error_code(missing) == "csrf_failed"
    wrong = await browser.post("/api/v1/auth/logout", headers={CSRF: csrf[:-2] + "xx"})
    assert wrong.status_code == 403 and error_code(wrong) == "csrf_failed"
    assert (await browser.get("/api/v1/auth/me")).status_code == 200  # still signed in

    cookie_value = browser.cookies["ephemail_session"]
    done = await browser.post("/api/v1/auth/logout", headers={CSRF: csrf})
    assert done.status_code == 204
    (cleared,) = set_cookie_headers(done, "ephemail_session")
    assert "max-age=0" in cleared.lower()

    me = await browser.get("/api/v1/auth/me")
    assert me.status_code == 401
    assert error_code(me) == "unauthorized"
    assert me.headers["www-authenticate"].startswith("Bearer")
    # The old cookie is dead on the server too, not only forgotten by this client.
    async with client_for(app, cookies={"ephemail_session": cookie_value}) as replay:
        assert (await replay.get("/api/v1/auth/me")).status_code == 401


async def test_every_cookie_write_needs_csrf_but_reads_do_not(
    app: Any, browser: httpx.AsyncClient
) -> None:
    await add_account(app, "w@example.org")
    csrf = await sign_in(browser, "w@example.org")
    message_id = await deliver(app, "csrf@x.test")

    assert (await browser.get(f"/api/v1/messages/{message_id}")).status_code == 200
    for request in (
        browser.patch(f"/api/v1/messages/{message_id}", json={"seen": True}),
        browser.delete(f"/api/v1/messages/{message_id}"),
        browser.post("/api/v1/mailboxes", json={"address": "new@x.test"}),
        browser.post("/api/v1/tokens", json={"kind": "api", "name": "t"}),
    ):
        refused = await request
        assert refused.status_code == 403 and error_code(refused) == "csrf_failed"
    assert (await browser.get(f"/api/v1/messages/{message_id}")).json()["seen"] is False

    patched = await browser.patch(
        f"/api/v1/messages/{message_id}", json={"seen": True}, headers={CSRF: csrf}
    )
    assert patched.status_code == 200 and patched.json()["seen"] is True


async def test_bearer_and_anonymous_writes_need_no_csrf(app: Any) -> None:
    account = await add_account(app, "b@example.org")
    token = await api_token(app, account)
    first = await deliver(app, "bearer@x.test")
    second = await deliver(app, "bearer@x.test")
    async with client_for(app) as program:
        assert (
            await program.delete(f"/api/v1/messages/{first}", headers=bearer(token))
        ).status_code == 204
        me = await program.get("/api/v1/auth/me", headers=bearer(token))
        assert me.json()["via"] == "api_token" and me.json()["csrf_token"] is None
        assert (await program.delete(f"/api/v1/messages/{second}")).status_code == 204


async def test_login_needs_no_csrf_even_with_a_session_cookie(
    app: Any, browser: httpx.AsyncClient
) -> None:
    await add_account(app, "again@example.org")
    await sign_in(browser, "again@example.org")
    await sign_in(browser, "again@example.org")  # no X-CSRF-Token: still fine


async def test_wrong_credentials_get_one_generic_answer(
    app: Any, browser: httpx.AsyncClient
) -> None:
    await add_account(app, "known@example.org")
    answers = [
        await browser.post("/api/v1/auth/login", json={"email": email, "password": password})
        for email, password in (
            ("known@example.org", "wrong password"),
            ("unknown@example.org", PASSWORD),
            ("not an email", PASSWORD),
        )
    ]
    for answer in answers:
        assert answer.status_code == 401
        assert answer.json() == answers[0].json()
        assert answer.json()["error"]["code"] == "invalid_credentials"
        assert not set_cookie_headers(answer, "ephemail_session")
    assert "password" in answers[0].json()["error"]["message"]


async def test_registration_errors(app_factory: StartApp) -> None:
    app = await start(app_factory, registration_domains=["corp.example"])
    async with client_for(app) as browser:

        async def register(email: str, password: str = PASSWORD) -> httpx.Response:
            return await browser.post(
                "/api/v1/auth/register", json={"email": email, "password": password}
            )

        assert (await register("a@corp.example")).status_code == 201
        taken = await register("A@Corp.Example")
        assert taken.status_code == 409 and error_code(taken) == "conflict"
        closed = await register("a@elsewhere.example")
        assert closed.status_code == 403 and error_code(closed) == "registration_closed"
        short = await register("b@corp.example", "short")
        assert short.status_code == 400 and error_code(short) == "invalid_password"
        bad = await register("no-at-sign")
        assert bad.status_code == 400 and error_code(bad) == "invalid_email"


async def test_registration_can_be_closed(app_factory: StartApp) -> None:
    app = await start(app_factory, registration_enabled=False)
    async with client_for(app) as browser:
        closed = await browser.post(
            "/api/v1/auth/register", json={"email": "a@example.org", "password": PASSWORD}
        )
        assert closed.status_code == 403 and error_code(closed) == "registration_closed"


async def test_secure_cookies_setting_marks_cookies_secure(app_factory: StartApp) -> None:
    app = await start(app_factory, secure_cookies=True)
    await add_account(app, "s@example.org")
    async with client_for(app) as browser:
        answer = await browser.post(
            "/api/v1/auth/login", json={"email": "s@example.org", "password": PASSWORD}
        )
        (cookie,) = set_cookie_headers(answer, "ephemail_session")
        assert "secure" in cookie.lower().split("; ")


# -- forged and invalid credentials -------------------------------------------------------
async def test_forged_session_cookie_is_anonymous_and_cleared(app: Any) -> None:
    account = await add_account(app, "f@example.org")
    async with client_for(app) as browser:
        real = await browser.post(
            "/api/v1/auth/login", json={"email": account.email, "password": PASSWORD}
        )
        session_id, secret, signature = real.cookies["ephemail_session"].split(".")
    forged_values = [
        "garbage",
        f"{session_id}.{secret}.{'A' * len(signature)}",  # bad signature
        f"{int(session_id) + 1}.{secret}.{signature}",  # another session's id
    ]
    for value in forged_values:
        async with client_for(app, cookies={"ephemail_session": value}) as forger:
            me = await forger.get("/api/v1/auth/me")
            assert me.status_code == 401
            (cleared,) = set_cookie_headers(me, "ephemail_session")
            assert "max-age=0" in cleared.lower()
            # Served as anonymous: public reading works, and writes need no CSRF.
            page = await forger.get("/api/v1/mailboxes/anyone@x.test/messages")
            assert page.status_code == 200
            created = await forger.post("/api/v1/mailboxes", json={"address": "fresh@x.test"})
            assert created.status_code in (200, 201)


async def test_present_but_invalid_bearer_is_401_never_anonymous(app: Any) -> None:
    async with client_for(app) as program:
        for header in (
            "Bearer eph_api_0123456789abcdef_" + "A" * 43,  # well formed, unknown
            "Bearer not-a-token",
            "Basic dXNlcjpwYXNz",
            "Bearer",
        ):
            answer = await program.get(
                "/api/v1/mailboxes/public@x.test/messages", headers={"Authorization": header}
            )
            assert answer.status_code == 401, header
            assert error_code(answer) == "invalid_credentials"
            assert 'error="invalid_token"' in answer.headers["www-authenticate"]
        # The same over a WebSocket handshake.
        status = await ws_refusal(
            app,
            "/api/v1/events?mailbox=public@x.test",
            additional_headers={"Authorization": "Bearer nope"},
        )
        assert status == 401


# -- rate limits --------------------------------------------------------------------------------
async def test_login_failures_are_rate_limited_with_retry_after(app_factory: StartApp) -> None:
    app = await start(app_factory, rate_login_per_minute=2)
    await add_account(app, "victim@example.org")
    async with client_for(app) as attacker:
        statuses = []
        for _ in range(10):
            answer = await attacker.post(
                "/api/v1/auth/login", json={"email": "victim@example.org", "password": "guess1234"}
            )
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                break
        assert statuses[0] == 401 and statuses[-1] == 429, statuses
        assert error_code(answer) == "rate_limited"
        assert int(answer.headers["retry-after"]) >= 1
        # Even the right password waits now.
        right = await attacker.post(
            "/api/v1/auth/login", json={"email": "victim@example.org", "password": PASSWORD}
        )
        assert right.status_code == 429


async def test_api_requests_are_rate_limited_per_ip(app_factory: StartApp) -> None:
    app = await start(app_factory, rate_api_per_minute=20)
    async with client_for(app) as client:
        statuses = []
        for _ in range(30):
            answer = await client.get("/api/v1/mailboxes/limit@x.test/messages")
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                break
        assert statuses[0] == 200 and statuses[-1] == 429, statuses
        assert int(answer.headers["retry-after"]) >= 1
        assert error_code(answer) == "rate_limited"
        # The web UI and health checks are not API requests.
        assert (await client.get("/healthz")).status_code == 200


async def test_rate_limits_can_be_switched_off(app_factory: StartApp) -> None:
    app = await start(app_factory, rate_api_per_minute=1, rate_limit_enabled=False)
    async with client_for(app) as client:
        for _ in range(5):
            answer = await client.get("/api/v1/mailboxes/free@x.test/messages")
            assert answer.status_code == 200


async def test_wrong_mailbox_passwords_in_the_header_are_rate_limited(
    app_factory: StartApp,
) -> None:
    app = await start(app_factory, rate_login_per_minute=2)
    async with client_for(app) as client:
        claim = await client.post(
            "/api/v1/mailboxes/guarded@x.test/claim", json={"password": PASSWORD}
        )
        assert claim.status_code == 200
        statuses = []
        for attempt in range(10):
            answer = await client.get(
                "/api/v1/mailboxes/guarded@x.test/messages",
                headers={"X-Mailbox-Password": f"guess {attempt:04d}"},
            )
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                break
        assert statuses[0] == 401 and statuses[-1] == 429, statuses


# -- open dev mode and global reads ----------------------------------------------------------
async def test_global_reads_are_for_admins_unless_open_mode(app_factory: StartApp) -> None:
    app = await start(app_factory, open_mode=False)
    user = await add_account(app, "user@example.org")
    admin = await add_account(app, "admin@example.org", role=Role.ADMIN)
    admin_token = await api_token(app, admin, frozenset({Scope.READ, Scope.ADMIN}))
    admin_without_admin_scope = await api_token(app, admin, frozenset({Scope.READ}))
    user_token = await api_token(app, user)
    await deliver(app, "global@x.test", "findme")

    async with client_for(app) as client:
        anonymous = await client.get("/api/v1/search", params={"q": "findme"})
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        for token in (user_token, admin_without_admin_scope):
            denied = await client.get(
                "/api/v1/search", params={"q": "findme"}, headers=bearer(token)
            )
            assert denied.status_code == 403 and error_code(denied) == "forbidden"
        compat = await client.get("/api/search", params={"query": "findme"})
        assert compat.status_code == 401
        assert (await client.get("/api/v1/events", headers=bearer(user_token))).status_code == 403
        # One mailbox stays public.
        one = await client.get("/api/v1/search", params={"q": "findme", "mailbox": "global@x.test"})
        assert one.status_code == 200 and one.json()["total"] == 1

        allowed = await client.get(
            "/api/v1/search", params={"q": "findme"}, headers=bearer(admin_token)
        )
        assert allowed.status_code == 200 and allowed.json()["total"] == 1
    async with client_for(app) as admin_browser:
        await sign_in(admin_browser, "admin@example.org")
        assert (
            await admin_browser.get("/api/v1/search", params={"q": "findme"})
        ).status_code == 200

    assert await ws_refusal(app, "/api/v1/events") == 401
    assert await ws_refusal(app, "/api/v1/events", additional_headers=bearer(user_token)) == 403
    async with ws_connect(app, "/api/v1/events", additional_headers=bearer(admin_token)) as ws:
        message_id = await deliver(app, "other@x.test", "live")
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("message_id") == message_id:
                    break


async def test_open_mode_lets_anyone_read_globally(app: Any) -> None:
    await deliver(app, "open@x.test", "everyone")
    async with client_for(app) as client:
        found = await client.get("/api/v1/search", params={"q": "everyone"})
        assert found.status_code == 200 and found.json()["total"] == 1
    async with ws_connect(app, "/api/v1/events"):
        pass


async def test_openapi_documents_the_account_routes(app: Any) -> None:
    async with client_for(app) as client:
        spec = (await client.get("/api/openapi.json")).json()
    for path in (
        "/api/v1/auth/login",
        "/api/v1/tokens",
        "/api/v1/account/mailboxes",
        "/api/v1/mailboxes/{address}/claim",
        "/api/mailbox/{address}/status",
        "/api/v1/admin/users",
    ):
        assert path in spec["paths"], path


async def test_a_refused_websocket_logs_no_error(
    app_factory: StartApp, caplog: pytest.LogCaptureFixture
) -> None:
    """The refusal reaches the client as 401 with our JSON; the server log stays free of
    uvicorn's spurious "returned without completing handshake" ERROR."""
    app = await start(app_factory, open_mode=False)
    await app.ownership.claim(Principal.anonymous(), "shut@x.test", "door-password", ip="t")
    with caplog.at_level("INFO"):
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(app, "/api/v1/events?mailbox=shut@x.test"):
                pass
        assert refused.value.response.status_code == 401
        await asyncio.sleep(0.2)  # the server finishes the connection
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == []
    assert any("connection rejected (401" in r.getMessage() for r in caplog.records)
