"""dynip's MCP REST shim (`GET /tools`, `POST /tools/{name}`, `GET /resources/...`)
over real HTTP, on SQLite and PostgreSQL: the same tools as MCP, the API's
authentication (bearer tokens, sessions with CSRF) and its JSON errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ephemail.domain.accounts import Scope, TokenKind
from ephemail.services.access import Principal
from tests.api.test_auth_api import CSRF, bearer, client_for, deliver, error_code, sign_in
from tests.conftest import StartApp
from tests.mcp.support import AGENT, DOMAIN, OTHER, TOOL_NAMES, account_token, start_world


async def test_tools_resources_and_errors(app_factory: StartApp, database_url: str) -> None:
    app = await start_world(app_factory, database_url, smtp_enabled=False)
    address = f"shim@{DOMAIN}"
    message_id = await deliver(app, address, "Shim test")
    async with client_for(app) as client:
        listed = (await client.get("/tools")).json()
        assert {t["name"] for t in listed["tools"]} == TOOL_NAMES
        assert listed["count"] == len(TOOL_NAMES)
        by_name = {t["name"]: t for t in listed["tools"]}
        assert by_name["list_emails"]["input_schema"]["required"] == ["mailbox"]
        assert by_name["delete_email"]["annotations"]["destructive"] is True

        answer = await client.post("/tools/list_emails", json={"mailbox": "shim"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["mailbox"] == address and answer.json()["count"] == 1
        assert answer.json()["emails"][0]["id"] == message_id
        answer = await client.post("/tools/extract_codes_and_links", json={"email_id": message_id})
        assert answer.status_code == 200 and answer.json()["code"] == "123456"

        answer = await client.post("/tools/no_such_tool", json={})
        assert answer.status_code == 404 and error_code(answer) == "not_found"
        for body in (b"", b"[1, 2]", b"{not json"):
            answer = await client.post("/tools/list_emails", content=body)
            assert answer.status_code == 422, body
            assert error_code(answer) == "invalid_arguments"
        answer = await client.post("/tools/list_emails", json={})
        assert answer.status_code == 422 and "mailbox" in answer.json()["error"]["message"]
        answer = await client.post(
            "/tools/read_email", json={"email_id": "01NOSUCHEMAIL000000000000"}
        )
        assert answer.status_code == 404 and error_code(answer) == "not_found"
        answer = await client.post("/tools/search_emails", json={"query": 'broken "quote'})
        assert answer.status_code == 400 and error_code(answer) == "invalid_query"

        resources = (await client.get("/resources")).json()["resources"]
        assert {r["uri_template"] for r in resources} == {
            "email://{email_id}",
            "webhook://{webhook_id}",
            "mailbox://{address}",
        }
        for path in (
            f"/resources/email://{message_id}",
            f"/resources/{quote(f'email://{message_id}', safe='')}",
            f"/resources/email/{message_id}",
        ):
            answer = await client.get(path)
            assert answer.status_code == 200, (path, answer.text)
            assert answer.json()["id"] == message_id and answer.json()["subject"] == "Shim test"
        answer = await client.get(f"/resources/mailbox/{address}")
        assert answer.status_code == 200 and answer.json()["total"] == 1
        for path in ("/resources/invalid://test", "/resources/email://", "/resources/nothing"):
            answer = await client.get(path)
            assert answer.status_code == 404 and error_code(answer) == "not_found", path


async def test_shim_and_mcp_are_authenticated_like_the_api(
    app_factory: StartApp, database_url: str
) -> None:
    app = await start_world(app_factory, database_url, smtp_enabled=False)
    owner_token = await account_token(app, AGENT)
    other_token = await account_token(app, OTHER)
    owner = await app.accounts.account_by_email(AGENT)
    read_only = (
        await app.accounts.create_token(
            Principal.operator(),
            kind=TokenKind.API,
            name="read",
            scopes=frozenset({Scope.READ}),
            account_id=owner.id,
        )
    ).secret
    owned = f"mine@{DOMAIN}"
    await app.ownership.create_owned(Principal(account=owner), owned)
    private_id = await deliver(app, owned, "Private")

    async with client_for(app) as client:
        listing: dict[str, Any] = {"mailbox": owned}
        answer = await client.post("/tools/list_emails", json=listing, headers=bearer(other_token))
        assert answer.status_code == 403 and error_code(answer) == "forbidden"
        answer = await client.post("/tools/list_emails", json=listing)
        assert answer.status_code == 401 and "WWW-Authenticate" in answer.headers
        answer = await client.get(f"/resources/email/{private_id}", headers=bearer(other_token))
        assert answer.status_code == 403
        bad = bearer("eph_api_x_y")
        answer = await client.post("/tools/list_emails", json=listing, headers=bad)
        assert answer.status_code == 401 and error_code(answer) == "invalid_credentials"
        answer = await client.get("/tools", headers=bad)
        assert answer.status_code == 401
        answer = await client.post(
            "/tools/delete_email", json={"email_id": private_id}, headers=bearer(read_only)
        )
        assert answer.status_code == 403
        answer = await client.post("/tools/list_emails", json=listing, headers=bearer(owner_token))
        assert answer.status_code == 200 and answer.json()["count"] == 1

    # A signed-in browser: its cookie writes need the CSRF token, on the shim and on /mcp.
    async with client_for(app) as browser:
        csrf = await sign_in(browser, AGENT)
        answer = await browser.post("/tools/list_emails", json=listing)
        assert answer.status_code == 403 and error_code(answer) == "csrf_failed"
        answer = await browser.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
        )
        assert answer.status_code == 403 and error_code(answer) == "csrf_failed"
        answer = await browser.post("/tools/list_emails", json=listing, headers={CSRF: csrf})
        assert answer.status_code == 200 and answer.json()["count"] == 1
        # Another site's page cannot drive MCP (Origin check), even with the CSRF token;
        # the server's own origin can.
        rpc = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        accept = "application/json, text/event-stream"
        answer = await browser.post(
            "/mcp",
            json=rpc,
            headers={"Accept": accept, CSRF: csrf, "Origin": "http://evil.example"},
        )
        assert answer.status_code == 403 and error_code(answer) == "origin_not_allowed"
        own = f"http://127.0.0.1:{app.http_port}"
        answer = await browser.post(
            "/mcp", json=rpc, headers={"Accept": accept, CSRF: csrf, "Origin": own}
        )
        assert answer.status_code == 200, answer.text
