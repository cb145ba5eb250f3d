"""The FastAPI application: routes, JSON errors, health endpoints, OpenAPI at /api/docs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from ephemail import __version__
from ephemail.api.accounts import build_accounts_router, build_dynip_claims_router
from ephemail.api.admin import build_admin_router
from ephemail.api.auth import AuthMiddleware, CookiePolicy
from ephemail.api.compat import build_compat_router
from ephemail.api.errors import install_error_handlers
from ephemail.api.events import build_events_router
from ephemail.api.v1 import build_router
from ephemail.api.web import mount_web
from ephemail.services.accounts import AccountService
from ephemail.services.admin import PolicyAdmin
from ephemail.services.live import LiveService
from ephemail.services.mailboxes import MailboxService
from ephemail.services.ownership import OwnershipService
from ephemail.services.ratelimit import RateLimiter

ReadinessCheck = Callable[[], Awaitable[dict[str, str]]]


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
