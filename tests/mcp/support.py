"""Helpers of the MCP tests: the SDK's own client over streamable HTTP and stdio, a
world with accounts, tokens and a shared domain, and mail sent over real SMTP."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx2
import mcp_types as types
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from ephemail.domain.accounts import Role, Scope
from tests.api.test_auth_api import add_account, api_token
from tests.conftest import StartApp

DOMAIN = "agents.test"
AGENT = "agent@example.org"
OTHER = "other@example.org"
SENDER = "noreply@service.example"
CODE = "482913"
EPHEMAIL = str(Path(sys.executable).with_name("ephemail"))

# Every tool of the issue, by the names agents know.
TOOL_NAMES = {
    "create_mailbox",
    "list_emails",
    "read_email",
    "wait_for_email",
    "extract_codes_and_links",
    "search_emails",
    "delete_email",
    "create_webhook",
    "list_webhooks",
    "delete_webhook",
    "test_webhook",
}


async def start_world(app_factory: StartApp, database_url: str, **settings: Any) -> Any:
    """A running app (SMTP on, IMAP off) whose default domain is registered and shared,
    so accounts may own mailboxes on it."""
    app = await app_factory(
        database_url=database_url,
        imap_enabled=False,
        default_domain=DOMAIN,
        **settings,
    )
    await app.policy_admin.add_domain(DOMAIN, active=True, shared=True, retention_hours=None)
    await app.policy.refresh()
    return app


async def account_token(
    app: Any, email: str, scopes: frozenset[Scope] = frozenset({Scope.READ, Scope.WRITE})
) -> str:
    account = await add_account(app, email, role=Role.USER)
    return await api_token(app, account, scopes)


def verification_mail(to: str, *, subject: str = "Verify your account", code: str = CODE) -> bytes:
    return (
        f"From: Service <{SENDER}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        "Message-ID: <verify@service.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Your verification code is {code}.\r\n"
        "Or open https://service.example/verify?token=abc\r\n"
        "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"<p>Your verification code is <b>{code}</b>.</p>"
        '<p><a href="https://service.example/verify?token=abc">Verify</a></p>\r\n'
        "--alt--\r\n"
    ).encode()


async def send_smtp(app: Any, to: str, raw: bytes) -> None:
    """Deliver over real SMTP, as a website's mailer would."""
    await aiosmtplib.send(
        raw,
        sender=SENDER,
        recipients=[to],
        hostname="127.0.0.1",
        port=app.smtp_port,
        start_tls=False,
        timeout=10,
    )


@contextlib.asynccontextmanager
async def http_client(
    app: Any, token: str | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """The SDK client over streamable HTTP at /mcp, with a bearer token (or none)."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with (
        httpx2.AsyncClient(headers=sent, timeout=httpx2.Timeout(30, read=120)) as http,
        Client(
            streamable_http_client(f"http://127.0.0.1:{app.http_port}/mcp", http_client=http)
        ) as client,
    ):
        yield client


def stdio_environment(database_url: str, token: str | None) -> dict[str, str]:
    """The environment of an `ephemail mcp` child on the same store as the app."""
    env = {
        key: value for key, value in os.environ.items() if key.startswith("EPHEMAIL_PASSWORD_HASH_")
    }
    env["EPHEMAIL_DATABASE_URL"] = database_url
    env["EPHEMAIL_DEFAULT_DOMAIN"] = DOMAIN
    env["EPHEMAIL_LOG_LEVEL"] = "WARNING"
    if token is not None:
        env["EPHEMAIL_TOKEN"] = token
    return env


@contextlib.asynccontextmanager
async def stdio_client(database_url: str, token: str | None) -> AsyncIterator[Client]:
    """The SDK client over stdio of a spawned `ephemail mcp`."""
    params = StdioServerParameters(
        command=EPHEMAIL, args=["mcp"], env=stdio_environment(database_url, token)
    )
    async with Client(params) as client:
        yield client


def result_of(answer: types.CallToolResult) -> dict[str, Any]:
    """The structured result of a successful call (fails on a tool error)."""
    assert not answer.is_error, answer.content
    found = answer.structured_content
    assert isinstance(found, dict)
    return found


def error_of(answer: types.CallToolResult) -> tuple[str, str]:
    """(code, message) of a tool error (fails on a success)."""
    assert answer.is_error, answer.structured_content
    (content,) = answer.content
    assert isinstance(content, types.TextContent)
    error = answer.structured_content["error"] if answer.structured_content else {}
    return str(error.get("code")), content.text
