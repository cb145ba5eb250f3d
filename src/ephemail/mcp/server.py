"""The MCP server, on the official MCP Python SDK: the only module importing `mcp`.

The tools and resources of mcp/tools.py, served
- over streamable HTTP at /mcp inside `ephemail serve` (`McpHttpEndpoint`): the
  caller is the principal the API's AuthMiddleware resolved for that HTTP request
  (bearer API token, session cookie with CSRF, X-Mailbox-Password), so MCP is
  authorised exactly like the REST API;
- over stdio for `ephemail mcp` (`run_stdio`): the caller is the API token of the
  environment (`token_principal`), checked again on every call so a revoked token
  stops working at once.

The low-level SDK `Server` is used rather than the decorator API so that the tool
registry of mcp/tools.py, with its pydantic argument models, is the one source of
every schema and every answer (the REST shim serves the same). A tool that fails
answers a tool error (`isError`) with a message for the agent, never a protocol
crash; a bug is logged and reported as an internal error.

The HTTP endpoint is stateless (no MCP session is kept between requests): every
request carries its credentials, and several nodes behind one load balancer serve
any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import (
    StreamableHTTPASGIApp,
    StreamableHTTPSessionManager,
)
from mcp.shared.exceptions import MCPError
from starlette.types import ASGIApp

from ephemail import __version__
from ephemail.mcp.tools import (
    RESOURCE_TEMPLATES,
    TOOLS,
    Failure,
    ToolResult,
    ToolServices,
    ToolSpec,
    call_tool,
    failure_of,
    read_resource,
)
from ephemail.services.access import Principal
from ephemail.services.accounts import AccountService

__all__ = [
    "INSTRUCTIONS",
    "McpHttpEndpoint",
    "PrincipalResolver",
    "build_server",
    "run_stdio",
    "token_principal",
]

log = logging.getLogger(__name__)

PrincipalResolver = Callable[[object | None], Awaitable[Principal]]
"""Who makes a call, given the HTTP request that carries it (None over stdio)."""

SERVER_NAME: Final = "ephemail"
INSTRUCTIONS: Final = (
    "ephemail is a temporary-mail server: it gives you email addresses that receive "
    "mail. Typical flow: create_mailbox (or use an address you know), hand the address "
    "to the website or person that should write to it, wait_for_email on that mailbox, "
    "then extract_codes_and_links (verification codes, confirmation links) or "
    "read_email. Public mailboxes can be read by anyone who knows the address; pass "
    "private=true to create_mailbox for one only your account can read."
)
# The stdio client's address for rate-limit keys and logs.
_STDIO_CLIENT: Final = "stdio"


def _annotations(spec: ToolSpec[Any]) -> types.ToolAnnotations:
    return types.ToolAnnotations(
        title=spec.title,
        read_only_hint=spec.read_only,
        destructive_hint=spec.destructive,
        idempotent_hint=spec.idempotent,
        open_world_hint=spec.open_world,
    )


def _tool_list() -> list[types.Tool]:
    return [
        types.Tool(
            name=spec.name,
            title=spec.title,
            description=spec.description,
            input_schema=spec.input_schema(),
            annotations=_annotations(spec),
        )
        for spec in TOOLS
    ]


def _success(result: ToolResult) -> types.CallToolResult:
    """The result as JSON text (for every client) and as structured content."""
    text = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=result
    )


def _error(failure: Failure) -> types.CallToolResult:
    """A tool error the agent reads and may act on (MCP: errors in the result, not
    protocol errors, so the model sees them)."""
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=failure.message)],
        structured_content={"error": {"code": failure.code, "message": failure.message}},
        is_error=True,
    )


def _failure(exc: Exception, what: str) -> Failure:
    failure = failure_of(exc)
    if failure is None:
        log.exception("MCP %s failed", what)
        failure = Failure("internal_error", "internal error; the server log has the details")
    return failure


def build_server(services: ToolServices, principal_for: PrincipalResolver) -> Server[Any]:
    """The SDK server: tools/list, tools/call, resource templates and resources/read,
    each call made by the principal `principal_for` resolves for it."""

    async def list_tools(
        _ctx: ServerRequestContext[Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=_tool_list())

    async def call(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            principal = await principal_for(ctx.request)
            result = await call_tool(services, principal, params.name, params.arguments)
        except Exception as exc:
            return _error(_failure(exc, f"tool {params.name!r}"))
        return _success(result)

    async def list_templates(
        _ctx: ServerRequestContext[Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    name=t.name,
                    title=t.title,
                    uri_template=t.uri_template,
                    description=t.description,
                    mime_type=t.mime_type,
                )
                for t in RESOURCE_TEMPLATES
            ]
        )

    async def list_resources(
        _ctx: ServerRequestContext[Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        # Every resource is reached through a template (an id or an address).
        return types.ListResourcesResult(resources=[])

    async def read(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        try:
            principal = await principal_for(ctx.request)
            found = await read_resource(services, principal, params.uri)
        except Exception as exc:
            failure = _failure(exc, f"resource read {params.uri[:200]!r}")
            raise MCPError(
                types.INVALID_PARAMS if failure.code != "internal_error" else types.INTERNAL_ERROR,
                failure.message,
                data={"uri": params.uri, "code": failure.code},
            ) from exc
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(
                    uri=params.uri,
                    mime_type="application/json",
                    text=json.dumps(found, ensure_ascii=False, separators=(",", ":")),
                )
            ]
        )

    return Server(
        SERVER_NAME,
        version=__version__,
        title="ephemail",
        description="Temporary email addresses for agents: create, wait, read, extract.",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call,
        on_list_resource_templates=list_templates,
        on_list_resources=list_resources,
        on_read_resource=read,
    )


class McpHttpEndpoint:
    """MCP over streamable HTTP: `asgi_app` (mounted at /mcp by the API) and the SDK
    session manager's lifetime (`start` before serving, `stop` at shutdown).

    The manager runs in its own task: its task group is entered and left there, so
    `start` and `stop` may be called from different tasks.
    """

    def __init__(self, services: ToolServices, principal_for: PrincipalResolver) -> None:
        self.services = services
        self._manager = StreamableHTTPSessionManager(
            app=build_server(services, principal_for), stateless=True
        )
        self.asgi_app: ASGIApp = StreamableHTTPASGIApp(self._manager)
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        ready = asyncio.Event()

        async def run() -> None:
            async with self._manager.run():
                ready.set()
                await self._stop.wait()

        self._task = asyncio.create_task(run(), name="mcp-http")
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({self._task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if self._task.done():
            await self._task  # re-raise why it could not start
            raise RuntimeError("the MCP session manager stopped during start-up")

    async def stop(self) -> None:
        """End the manager: calls still running are cancelled."""
        if self._task is None:
            return
        self._stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None


def token_principal(accounts: AccountService, token: str | None) -> PrincipalResolver:
    """The principal of API token `token` (anonymous without one), checked on every
    call: a revoked or expired token fails the next call (InvalidCredentials)."""

    async def resolve(_request: object | None) -> Principal:
        if token is None:
            return Principal.anonymous()
        return await accounts.principal_from_bearer(token, ip=_STDIO_CLIENT)

    return resolve


async def run_stdio(services: ToolServices, principal_for: PrincipalResolver) -> None:
    """Serve MCP on this process's stdin and stdout until the client closes stdin.
    Nothing else may write to stdout meanwhile (logs go to stderr)."""
    server = build_server(services, principal_for)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
