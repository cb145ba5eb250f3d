"""`ephemail mcp` over stdio, spawned as a real subprocess on the store of a running
server (SQLite and PostgreSQL), driven by the SDK's stdio client: the agent flow with
the mail accepted by the server over SMTP and seen by the child's wait (the SQLite
event poller, the PostgreSQL relay), and the token from the environment."""

from __future__ import annotations

import asyncio

from ephemail.services.access import Principal
from tests.api.test_auth_api import deliver
from tests.conftest import StartApp
from tests.mcp.support import (
    AGENT,
    CODE,
    DOMAIN,
    EPHEMAIL,
    OTHER,
    TOOL_NAMES,
    account_token,
    error_of,
    result_of,
    send_smtp,
    start_world,
    stdio_client,
    stdio_environment,
    verification_mail,
)


async def test_agent_flow_over_stdio(app_factory: StartApp, database_url: str) -> None:
    app = await start_world(app_factory, database_url)
    token = await account_token(app, AGENT)
    async with stdio_client(database_url, token) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == TOOL_NAMES
        created = result_of(await client.call_tool("create_mailbox", {"private": True}))
        address = created["address"]
        assert created["kind"] == "owned" and address.endswith(f"@{DOMAIN}")
        # The server sees the mailbox the child created: one store.
        info = await app.mailboxes.mailbox_info(Principal.operator(), address)
        assert info.mailbox is not None and info.mailbox.kind.value == "owned"

        waiting = asyncio.create_task(
            client.call_tool(
                "wait_for_email",
                {"mailbox": address, "subject": "verify", "timeout_seconds": 30},
            )
        )
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await send_smtp(app, address, verification_mail(address))  # to the server
        arrived = result_of(await asyncio.wait_for(waiting, 20))
        assert arrived["found"] is True
        email_id = arrived["email"]["id"]

        read = result_of(await client.call_tool("read_email", {"email_id": email_id}))
        assert CODE in read["text"]
        found = result_of(await client.call_tool("extract_codes_and_links", {"email_id": email_id}))
        assert found["code"] == CODE


async def test_stdio_acts_for_the_environment_token(
    app_factory: StartApp, database_url: str
) -> None:
    app = await start_world(app_factory, database_url, smtp_enabled=False)
    await account_token(app, AGENT)
    other = await account_token(app, OTHER)
    owner = await app.accounts.account_by_email(AGENT)
    owned = f"mine@{DOMAIN}"
    await app.ownership.create_owned(Principal(account=owner), owned)
    private_id = await deliver(app, owned, "Private")

    async with stdio_client(database_url, other) as client:
        code, message = error_of(await client.call_tool("read_email", {"email_id": private_id}))
        assert code == "forbidden" and "access denied" in message
    async with stdio_client(database_url, None) as anonymous:
        code, _ = error_of(await anonymous.call_tool("list_emails", {"mailbox": owned}))
        assert code == "unauthorized"
        public = result_of(await anonymous.call_tool("create_mailbox", {"address": "open"}))
        assert public["address"] == f"open@{DOMAIN}" and public["kind"] == "public"

    # A token that is not a valid API token stops the command at once (exit 2).
    child = await asyncio.create_subprocess_exec(
        EPHEMAIL,
        "mcp",
        env=stdio_environment(database_url, "eph_api_unknown_token"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 2
    assert b"EPHEMAIL_TOKEN" in stderr and stdout == b""
