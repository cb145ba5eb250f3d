"""MCP over streamable HTTP at /mcp, with the SDK's own client against a running
server, on SQLite and PostgreSQL: the agent flow (a mailbox, a wait, mail over real
SMTP, the code), the tool list, resources, webhooks, and the authorisation of every
call by the API's rules (tokens, scopes, owned mailboxes, 401 for a bad token)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from ephemail.domain.accounts import Scope, TokenKind
from ephemail.services.access import Principal
from tests.api.test_auth_api import deliver
from tests.conftest import StartApp
from tests.mcp.support import (
    AGENT,
    CODE,
    DOMAIN,
    OTHER,
    SENDER,
    TOOL_NAMES,
    account_token,
    error_of,
    http_client,
    result_of,
    send_smtp,
    start_world,
    verification_mail,
)
from tests.support.receiver import Receiver


async def test_agent_flow_create_wait_smtp_read_extract(
    app_factory: StartApp, database_url: str
) -> None:
    app = await start_world(app_factory, database_url)
    token = await account_token(app, AGENT)
    async with http_client(app, token) as client:
        created = result_of(await client.call_tool("create_mailbox", {"private": True}))
        address = created["address"]
        assert address.endswith(f"@{DOMAIN}") and created["kind"] == "owned"
        assert created["created"] is True

        waiting = asyncio.create_task(
            client.call_tool(
                "wait_for_email",
                {"mailbox": address, "from": "service.example", "timeout_seconds": 30},
            )
        )
        await asyncio.sleep(0.3)  # the wait is subscribed and found nothing stored
        assert not waiting.done()
        await send_smtp(app, address, verification_mail(address))
        arrived = result_of(await asyncio.wait_for(waiting, 20))

        assert arrived["found"] is True
        email = arrived["email"]
        assert email["subject"] == "Verify your account" and SENDER in email["from"]
        read = result_of(await client.call_tool("read_email", {"email_id": email["id"]}))
        assert f"code is {CODE}" in read["text"]
        assert CODE in read["html_as_text"] and "<b>" not in read["html_as_text"]
        assert {"name": "Subject", "value": "Verify your account"} in read["headers"]
        assert read["attachments"] == [] and "html" not in read
        with_html = result_of(
            await client.call_tool("read_email", {"email_id": email["id"], "include_html": True})
        )
        assert f"<b>{CODE}</b>" in with_html["html"] and with_html["truncated"] is False

        found = result_of(
            await client.call_tool("extract_codes_and_links", {"email_id": email["id"]})
        )
        assert found["code"] == CODE
        assert "https://service.example/verify?token=abc" in [x["url"] for x in found["links"]]

        listed = result_of(await client.call_tool("list_emails", {"mailbox": address}))
        assert listed["count"] == 1 and listed["emails"][0]["id"] == email["id"]
        assert "text" not in listed["emails"][0]  # summaries only
        searched = result_of(
            await client.call_tool("search_emails", {"query": "subject:verify", "mailbox": address})
        )
        assert [e["id"] for e in searched["emails"]] == [email["id"]]

        deleted = result_of(await client.call_tool("delete_email", {"email_id": email["id"]}))
        assert deleted["deleted"] is True
        code, _ = error_of(await client.call_tool("read_email", {"email_id": email["id"]}))
        assert code == "not_found"


async def test_every_tool_is_listed_with_a_schema(app_factory: StartApp, tmp_path: Path) -> None:
    app = await start_world(
        app_factory, f"sqlite:///{tmp_path / 'tools.sqlite3'}", smtp_enabled=False
    )
    async with http_client(app) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == TOOL_NAMES
        for tool in tools.values():
            assert tool.description and len(tool.description) > 30, tool.name
            schema = tool.input_schema
            assert schema["type"] == "object" and schema.get("additionalProperties") is False
            for name, field in schema["properties"].items():
                assert field.get("description"), (tool.name, name)
        assert tools["list_emails"].input_schema["required"] == ["mailbox"]
        assert tools["read_email"].input_schema["required"] == ["email_id"]
        wait = tools["wait_for_email"].input_schema["properties"]
        assert {"mailbox", "from", "subject", "contains", "timeout_seconds"} <= set(wait)
        assert wait["timeout_seconds"]["maximum"] == 300
        assert set(tools["create_webhook"].input_schema["required"]) == {"mailbox", "webhook_url"}
        assert tools["list_emails"].annotations and tools["list_emails"].annotations.read_only_hint
        assert tools["delete_email"].annotations
        assert tools["delete_email"].annotations.destructive_hint

        templates = (await client.list_resource_templates()).resource_templates
        assert {t.uri_template for t in templates} == {
            "email://{email_id}",
            "webhook://{webhook_id}",
            "mailbox://{address}",
        }

        code, message = error_of(await client.call_tool("list_emails", {}))
        assert code == "invalid_arguments" and "mailbox" in message
        code, message = error_of(
            await client.call_tool("list_emails", {"mailbox": "a", "limit": 1000})
        )
        assert code == "invalid_arguments" and "limit" in message
        code, message = error_of(await client.call_tool("list_emails", {"mailbx": "a"}))
        assert code == "invalid_arguments" and "mailbx" in message
        code, _ = error_of(await client.call_tool("no_such_tool", {}))
        assert code == "unknown_tool"


async def test_resources_email_mailbox_and_refusals(
    app_factory: StartApp, database_url: str
) -> None:
    app = await start_world(app_factory, database_url, smtp_enabled=False)
    token = await account_token(app, AGENT)
    other = await account_token(app, OTHER)
    address = f"public@{DOMAIN}"
    message_id = await deliver(app, address, "Resource test")
    async with http_client(app, token) as client:
        (content,) = (await client.read_resource(f"email://{message_id}")).contents
        assert content.mime_type == "application/json"
        email = _json(content)
        assert email["id"] == message_id and email["subject"] == "Resource test"
        assert "123456" in email["text"]

        (content,) = (await client.read_resource(f"mailbox://{address}")).contents
        mailbox = _json(content)
        assert mailbox["address"] == address and mailbox["total"] == 1
        assert mailbox["emails"][0]["id"] == message_id

        with pytest.raises(MCPError, match="no resource"):
            await client.read_resource("ftp://nothing")
        with pytest.raises(MCPError, match="no email"):
            await client.read_resource("email://01NOTANEMAIL0000000000000")

    owned = f"owned@{DOMAIN}"
    await app.ownership.create_owned(Principal(account=await _account(app, AGENT)), owned)
    owned_id = await deliver(app, owned, "Private")
    async with http_client(app, other) as client:
        with pytest.raises(MCPError, match="access denied"):
            await client.read_resource(f"email://{owned_id}")
        with pytest.raises(MCPError, match="access denied"):
            await client.read_resource(f"mailbox://{owned}")


async def test_calls_are_authorised_like_the_api(app_factory: StartApp, database_url: str) -> None:
    app = await start_world(app_factory, database_url, smtp_enabled=False, open_mode=False)
    owner = await account_token(app, AGENT)
    other = await account_token(app, OTHER)
    reader = await app.accounts.create_token(
        Principal.operator(),
        kind=TokenKind.API,
        name="read only",
        scopes=frozenset({Scope.READ}),
        account_id=(await _account(app, AGENT)).id,
    )
    owned = f"mine@{DOMAIN}"
    await app.ownership.create_owned(Principal(account=await _account(app, AGENT)), owned)
    private_id = await deliver(app, owned, "Private")
    public_id = await deliver(app, f"pub@{DOMAIN}", "Public")
    claimed = f"locked@{DOMAIN}"

    async with http_client(app, other) as client:
        for name, arguments in (
            ("list_emails", {"mailbox": owned}),
            ("read_email", {"email_id": private_id}),
            ("extract_codes_and_links", {"email_id": private_id}),
            ("delete_email", {"email_id": private_id}),
            ("wait_for_email", {"mailbox": owned, "timeout_seconds": 0}),
            ("search_emails", {"query": "private", "mailbox": owned}),
            ("list_webhooks", {"mailbox": owned}),
            ("create_webhook", {"mailbox": owned, "webhook_url": "https://example.com/h"}),
        ):
            code, message = error_of(await client.call_tool(name, arguments))
            assert code == "forbidden" and "access denied" in message, name
        code, _ = error_of(await client.call_tool("create_mailbox", {"address": owned}))
        assert code in ("forbidden", "conflict")
        # Searching every mailbox at once is for admins when open_mode is off.
        code, _ = error_of(await client.call_tool("search_emails", {"query": "private"}))
        assert code == "forbidden"

    async with http_client(app) as anonymous:
        code, _ = error_of(await anonymous.call_tool("list_emails", {"mailbox": owned}))
        assert code == "unauthorized"
        # A public mailbox is anyone's to read (open dev defaults for public_read).
        listed = result_of(await anonymous.call_tool("list_emails", {"mailbox": "pub"}))
        assert listed["count"] == 1
        # A claimed mailbox needs its password, in the API's header.
        await app.ownership.claim(Principal.anonymous(), claimed, "claim password", ip="t")
        code, _ = error_of(await anonymous.call_tool("list_emails", {"mailbox": claimed}))
        assert code == "unauthorized"
    async with http_client(app, headers={"X-Mailbox-Password": "claim password"}) as holder:
        assert result_of(await holder.call_tool("list_emails", {"mailbox": claimed}))

    async with http_client(app, reader.secret) as client:
        assert result_of(await client.call_tool("read_email", {"email_id": private_id}))
        code, message = error_of(await client.call_tool("delete_email", {"email_id": public_id}))
        assert code == "forbidden" and "scopes" in message
        code, _ = error_of(await client.call_tool("create_mailbox", {}))
        assert code == "forbidden"

    async with http_client(app, owner) as client:
        listed = result_of(await client.call_tool("list_emails", {"mailbox": owned}))
        assert [e["id"] for e in listed["emails"]] == [private_id]
        assert result_of(await client.call_tool("delete_email", {"email_id": private_id}))

    # A bad token is refused before MCP sees the request: 401 JSON, as on the API.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as raw:
        answer = await raw.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={
                "Authorization": "Bearer eph_api_nope_nope",
                "Accept": "application/json, text/event-stream",
            },
        )
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "invalid_credentials"
    with pytest.raises(Exception):  # noqa: B017, PT011 - the SDK wraps the 401 its own way
        async with http_client(app, "eph_api_nope_nope") as client:
            await client.list_tools()


async def test_wait_times_out_and_filters(app_factory: StartApp, database_url: str) -> None:
    app = await start_world(app_factory, database_url, smtp_enabled=False)
    address = f"waits@{DOMAIN}"
    async with http_client(app) as client:
        quiet = result_of(
            await client.call_tool("wait_for_email", {"mailbox": address, "timeout_seconds": 0.3})
        )
        assert quiet["found"] is False and quiet["timed_out"] is True
        assert "again" in quiet["message"]

        first = await deliver(app, address, "Newsletter")  # body: "Your code is 123456"
        waiting = asyncio.create_task(
            client.call_tool(
                "wait_for_email",
                {"mailbox": address, "contains": "secret phrase", "timeout_seconds": 20},
            )
        )
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the stored email lacks the phrase
        second = await deliver(app, address, "The secret phrase")
        arrived = result_of(await asyncio.wait_for(waiting, 15))
        assert arrived["found"] and arrived["email"]["id"] == second != first

        stored = result_of(
            await client.call_tool(
                "wait_for_email",
                {"mailbox": address, "subject": "newsletter", "timeout_seconds": 5},
            )
        )
        assert stored["email"]["id"] == first  # one already there counts
        newer = result_of(
            await client.call_tool(
                "wait_for_email", {"mailbox": address, "after": second, "timeout_seconds": 0.2}
            )
        )
        assert newer["found"] is False


async def test_webhook_tools(app_factory: StartApp, database_url: str) -> None:
    app = await start_world(
        app_factory,
        database_url,
        smtp_enabled=False,
        webhook_allow_networks=["127.0.0.1/32"],
        webhook_timeout=5.0,
    )
    token = await account_token(app, AGENT)
    receiver = await Receiver().start()
    address = f"hooked@{DOMAIN}"
    try:
        async with http_client(app, token) as client:
            hook = result_of(
                await client.call_tool(
                    "create_webhook",
                    {
                        "mailbox": address,
                        "webhook_url": receiver.url,
                        "events": ["arrival", "deletion"],
                        "secret": "s3cret",
                    },
                )
            )
            assert hook["mailbox"] == address and hook["events"] == ["arrival", "deletion"]
            assert hook["has_secret"] is True and "secret" not in hook

            listed = result_of(await client.call_tool("list_webhooks", {"mailbox": address}))
            assert listed["count"] == 1 and listed["webhooks"][0]["id"] == hook["id"]
            (content,) = (await client.read_resource(f"webhook://{hook['id']}")).contents
            assert _json(content)["url"] == receiver.url

            tested = result_of(await client.call_tool("test_webhook", {"webhook_id": hook["id"]}))
            assert tested["success"] is True and tested["status_code"] == 200
            (request,) = await receiver.wait_for(1)
            assert request.json()["event"] == "test" and request.json()["webhook_id"] == hook["id"]
            assert "X-Ephemail-Signature" in {k.title() for k in request.headers}

            code, message = error_of(
                await client.call_tool(
                    "create_webhook", {"mailbox": address, "webhook_url": "ftp://x.example"}
                )
            )
            assert code == "invalid_webhook", message

            assert result_of(await client.call_tool("delete_webhook", {"webhook_id": hook["id"]}))
            listed = result_of(await client.call_tool("list_webhooks", {"mailbox": address}))
            assert listed["count"] == 0
            code, _ = error_of(await client.call_tool("test_webhook", {"webhook_id": hook["id"]}))
            assert code == "not_found"
    finally:
        await receiver.stop()


# -- helpers ---------------------------------------------------------------------------------
def _json(content: Any) -> Any:
    return json.loads(content.text)


async def _account(app: Any, email: str) -> Any:
    account = await app.accounts.account_by_email(email)
    assert account is not None
    return account


async def test_shutdown_ends_a_wait_in_progress(app_factory: StartApp, tmp_path: Path) -> None:
    app = await start_world(
        app_factory, f"sqlite:///{tmp_path / 'stop.sqlite3'}", smtp_enabled=False
    )
    async with http_client(app) as client:
        waiting = asyncio.create_task(
            client.call_tool("wait_for_email", {"mailbox": "late", "timeout_seconds": 120})
        )
        await asyncio.sleep(0.5)
        assert app.live.open_subscriptions == 1
        async with asyncio.timeout(15):
            await app.stop()  # neither the wait nor the MCP endpoint holds shutdown up
        code, message = error_of(await asyncio.wait_for(waiting, 10))
        assert code == "unavailable" and "shutting down" in message
