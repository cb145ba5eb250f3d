"""dynip-email's MCP REST shim, a thin layer over the same tools as MCP (mcp/tools.py).

- `GET /tools`: `{"tools": [{"name", "title", "description", "input_schema",
  "annotations"}], "count"}`.
- `POST /tools/{name}` with the arguments as a JSON object (an empty body is `{}`):
  the tool's result as JSON (200). Unknown tool `404 not_found`; arguments that do
  not fit the schema `422 invalid_arguments` naming each bad field (dynip answered
  400; 422 is this API's code for a well-formed request with invalid content).
- `GET /resources`: the resource templates `{"resources": [{"uri_template", "name",
  "title", "description", "mime_type"}]}`.
- `GET /resources/{uri}`: one resource as JSON, where `{uri}` is the resource URI as
  dynip wrote it (`/resources/email://ID`), percent-encoded
  (`/resources/email%3A%2F%2FID`), or as a path (`/resources/email/ID`,
  `/resources/mailbox/a@example.com`). Unknown scheme or empty id: `404 not_found`.

Authentication, CSRF, rate limits and the error JSON are the API's (AuthMiddleware
covers these paths): a failure the services raise (403, 404, ...) is answered by the
API's error handlers, exactly as on /api/v1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp

from ephemail.api.auth import principal_of
from ephemail.api.errors import error_response
from ephemail.mcp.tools import (
    RESOURCE_TEMPLATES,
    TOOLS,
    InvalidArguments,
    ToolServices,
    UnknownResource,
    UnknownTool,
    call_tool,
    read_resource,
)
from ephemail.services.access import Principal

# Arguments larger than this are not arguments (the longest field is 2048 characters).
_MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class McpMount:
    """What `create_api` serves when MCP is on: the streamable-HTTP app at /mcp and
    the REST shim over the same tool services."""

    services: ToolServices
    endpoint: ASGIApp


async def http_principal(request: object | None) -> Principal:
    """The caller of an MCP call over HTTP: the principal AuthMiddleware resolved for
    the HTTP request that carries it (mcp.server.PrincipalResolver)."""
    if not isinstance(request, HTTPConnection):
        # Every /mcp request passes AuthMiddleware; reaching this is a wiring bug.
        raise RuntimeError("an MCP call over HTTP arrived without its HTTP request")
    return principal_of(request)


def build_mcp_shim_router(services: ToolServices) -> APIRouter:
    router = APIRouter(tags=["mcp"])

    @router.get("/tools")
    async def list_tools() -> dict[str, Any]:
        """Every MCP tool with its description and the JSON schema of its arguments."""
        tools = [
            {
                "name": spec.name,
                "title": spec.title,
                "description": spec.description,
                "input_schema": spec.input_schema(),
                "annotations": {
                    "read_only": spec.read_only,
                    "destructive": spec.destructive,
                    "idempotent": spec.idempotent,
                    "open_world": spec.open_world,
                },
            }
            for spec in TOOLS
        ]
        return {"tools": tools, "count": len(tools)}

    @router.post("/tools/{name}")
    async def run_tool(request: Request, name: str) -> JSONResponse:
        """Call one tool with the JSON body as its arguments."""
        body = await request.body()
        if len(body) > _MAX_BODY:
            return error_response(413, "too_large", "the arguments are too large")
        try:
            arguments = json.loads(body) if body.strip() else {}
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            return error_response(
                422, "invalid_arguments", "the body must be a JSON object of the tool's arguments"
            )
        try:
            result = await call_tool(services, principal_of(request), name, arguments)
        except UnknownTool as exc:
            return error_response(404, "not_found", f"{exc}; GET /tools lists the tools")
        except InvalidArguments as exc:
            return error_response(422, "invalid_arguments", str(exc))
        return JSONResponse(result)

    @router.get("/resources")
    async def list_resources() -> dict[str, Any]:
        """The resource templates (`email://{email_id}`, ...)."""
        return {
            "resources": [
                {
                    "uri_template": t.uri_template,
                    "name": t.name,
                    "title": t.title,
                    "description": t.description,
                    "mime_type": t.mime_type,
                }
                for t in RESOURCE_TEMPLATES
            ]
        }

    @router.get("/resources/{uri:path}")
    async def get_resource(request: Request, uri: str) -> JSONResponse:
        """One resource: `email://ID` (plain or percent-encoded) or `email/ID`."""
        try:
            found = await read_resource(services, principal_of(request), uri)
        except UnknownResource as exc:
            return error_response(404, "not_found", str(exc))
        return JSONResponse(found)

    return router
