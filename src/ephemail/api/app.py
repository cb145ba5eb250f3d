"""The FastAPI application: routes, JSON errors, health endpoints, OpenAPI at /api/docs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ephemail import __version__
from ephemail.api.accounts import build_accounts_router, build_dynip_claims_router
from ephemail.api.admin import build_admin_router
from ephemail.api.auth import AuthMiddleware, CookiePolicy
from ephemail.api.compat import build_compat_router
from ephemail.api.errors import error_response, install_error_handlers
from ephemail.api.events import build_events_router, origin_allowed
from ephemail.api.mcp_shim import McpMount, build_mcp_shim_router
from ephemail.api.metrics import build_metrics_router
from ephemail.api.v1 import build_router
from ephemail.api.web import mount_web
from ephemail.api.webhooks import build_dynip_webhooks_router, build_webhooks_router
from ephemail.services.accounts import AccountService
from ephemail.services.admin import PolicyAdmin
from ephemail.services.live import LiveService
from ephemail.services.mailboxes import MailboxService
from ephemail.services.ownership import OwnershipService
from ephemail.services.ratelimit import RateLimiter
from ephemail.services.webhooks import WebhookService

ReadinessCheck = Callable[[], Awaitable[dict[str, str]]]


class _SameOriginOnly:
    """MCP transports must check Origin (MCP spec, streamable HTTP, security warning):
    a browser page of another site gets 403; clients that send no Origin pass. (A class:
    Starlette routes hand a plain function a Request, an ASGI object the raw call.)"""

    def __init__(self, app: ASGIApp, allowed_origins: Sequence[str]) -> None:
        self._app = app
        self._allowed = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if not origin_allowed(headers.get("origin"), headers.get("host"), self._allowed):
            refusal = error_response(403, "origin_not_allowed", "this Origin may not use MCP here")
            await refusal(scope, receive, send)
            return
        await self._app(scope, receive, send)


def create_api(
    mailboxes: MailboxService,
    readiness: ReadinessCheck,
    *,
    live: LiveService | None = None,
    allowed_origins: Sequence[str] = (),
    accounts: AccountService,
    ownership: OwnershipService,
    policy_admin: PolicyAdmin,
    limiter: RateLimiter,
    secure_cookies: bool = False,
    session_max_age: float = 14 * 24 * 3600,
    webhooks: WebhookService | None = None,
    metrics: Callable[[], tuple[bytes, str]] | None = None,
    mcp: McpMount | None = None,
) -> FastAPI:
    """Build the HTTP application over the services (wired by ephemail.app).

    Every /api request passes `AuthMiddleware` first: it resolves the caller once
    (bearer token, session cookie, mailbox password, unlock cookie), enforces CSRF on
    cookie-authenticated writes and counts the request against the API rate limit.
    """
    cookies = CookiePolicy(secure=secure_cookies, session_max_age=session_max_age)
    api = FastAPI(
        title="ephemail",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    install_error_handlers(api)
    api.include_router(build_accounts_router(accounts, ownership, mailboxes, limiter, cookies))
    api.include_router(build_admin_router(accounts, ownership, policy_admin))
    api.include_router(build_router(mailboxes))
    api.include_router(build_dynip_claims_router(ownership))
    api.include_router(build_compat_router(mailboxes))
    if live is not None:
        api.include_router(build_events_router(live, mailboxes, allowed_origins=allowed_origins))
    if webhooks is not None:
        api.include_router(build_webhooks_router(webhooks))
        api.include_router(build_dynip_webhooks_router(webhooks))
    if metrics is not None:
        api.include_router(build_metrics_router(metrics))
    if mcp is not None:
        # MCP over streamable HTTP (an ASGI app of the SDK), and dynip's REST shim over
        # the same tools; both behind AuthMiddleware like /api.
        endpoint = _SameOriginOnly(mcp.endpoint, allowed_origins)
        api.router.routes.append(Route("/mcp", endpoint, methods=["GET", "POST", "DELETE"]))
        api.include_router(build_mcp_shim_router(mcp.services))

    @api.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @api.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """Readiness: the store answers and every enabled listener is up."""
        checks = await readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )

    mount_web(api)
    api.add_middleware(AuthMiddleware, accounts=accounts, limiter=limiter, cookies=cookies)
    return api
