"""Every error is JSON `{"error": {"code", "message"}}` with the right status.

Each exception the services raise maps to one answer here (`error_for`), used both by
the route exception handlers and by the authentication middleware, which runs before
any route and so outside FastAPI's handlers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ephemail.domain.accounts import AccountEmailError, PasswordPolicyError
from ephemail.domain.address import AddressError
from ephemail.domain.bans import BanError
from ephemail.domain.search import SearchSyntaxError
from ephemail.domain.webhooks import WebhookError
from ephemail.ports import ConflictError, InvalidCursorError, StoreError
from ephemail.services.access import AccessDenied
from ephemail.services.accounts import (
    AccountNotFound,
    InvalidCredentials,
    RegistrationClosed,
    TokenNotFound,
)
from ephemail.services.mailboxes import AttachmentNotFound, MailboxNotAllowed, MessageNotFound
from ephemail.services.ownership import AlreadyClaimed, MailboxNotFound, NotClaimed
from ephemail.services.ratelimit import RateLimited
from ephemail.services.webhooks import DeliveryNotFound, WebhookNotFound

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

# RFC 6750 section 3: the challenge of a resource protected by bearer tokens.
BEARER_CHALLENGE = 'Bearer realm="ephemail"'
INVALID_TOKEN_CHALLENGE = 'Bearer realm="ephemail", error="invalid_token"'  # noqa: S105
# The one text for every failed sign-in, so answers never tell which part was wrong.
WRONG_CREDENTIALS = "wrong email or password"


class CsrfFailed(Exception):
    """A cookie-authenticated write without the session's `X-CSRF-Token` (HTTP 403)."""


def error_response(
    status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def retry_after_seconds(retry_after: float) -> int:
    """`Retry-After` in whole seconds, at least 1 (RFC 9110 section 10.2.3)."""
    return max(1, math.ceil(retry_after))


def _access_denied(exc: Exception) -> JSONResponse:
    if isinstance(exc, AccessDenied) and exc.needs_credentials:
        return error_response(
            401, "unauthorized", str(exc), headers={"WWW-Authenticate": BEARER_CHALLENGE}
        )
    return error_response(403, "forbidden", str(exc))


def _rate_limited(exc: Exception) -> JSONResponse:
    retry_after = exc.retry_after if isinstance(exc, RateLimited) else 60.0
    return error_response(
        429,
        "rate_limited",
        "too many requests, try again later",
        headers={"Retry-After": str(retry_after_seconds(retry_after))},
    )


def _store_error(exc: Exception) -> JSONResponse:
    log.error("store error while serving a request: %s", exc)
    return error_response(503, "unavailable", "storage unavailable, try again later")


def _fixed(status: int, code: str, message: str) -> Callable[[Exception], JSONResponse]:
    return lambda _exc: error_response(status, code, message)


def _with_text(status: int, code: str) -> Callable[[Exception], JSONResponse]:
    return lambda exc: error_response(status, code, str(exc))


# Most specific first: `error_for` takes the first class the exception is an instance of.
_MAPPINGS: list[tuple[type[Exception], Callable[[Exception], JSONResponse]]] = [
    (AddressError, _with_text(400, "invalid_address")),
    (InvalidCursorError, _fixed(400, "invalid_cursor", "invalid cursor: pass back a next_cursor")),
    (SearchSyntaxError, _with_text(400, "invalid_query")),
    (PasswordPolicyError, _with_text(400, "invalid_password")),
    (AccountEmailError, _with_text(400, "invalid_email")),
    (BanError, _with_text(400, "invalid_ban")),
    (WebhookError, _with_text(422, "invalid_webhook")),
    (WebhookNotFound, _fixed(404, "not_found", "webhook not found")),
    (DeliveryNotFound, _fixed(404, "not_found", "delivery not found")),
    (MessageNotFound, _fixed(404, "not_found", "message not found")),
    (AttachmentNotFound, _fixed(404, "not_found", "attachment not found")),
    (MailboxNotFound, _fixed(404, "not_found", "mailbox not found")),
    (AccountNotFound, _fixed(404, "not_found", "account not found")),
    (TokenNotFound, _fixed(404, "not_found", "token not found")),
    (MailboxNotAllowed, _with_text(403, "mailbox_not_allowed")),
    (RegistrationClosed, _fixed(403, "registration_closed", "registration is closed")),
    (CsrfFailed, _fixed(403, "csrf_failed", "missing or wrong X-CSRF-Token")),
    (AccessDenied, _access_denied),
    (
        InvalidCredentials,
        lambda _exc: error_response(
            401,
            "invalid_credentials",
            WRONG_CREDENTIALS,
            headers={"WWW-Authenticate": BEARER_CHALLENGE},
        ),
    ),
    (AlreadyClaimed, _fixed(409, "already_claimed", "this mailbox is claimed already")),
    (NotClaimed, _fixed(409, "not_claimed", "this mailbox is not claimed")),
    (ConflictError, _with_text(409, "conflict")),
    (RateLimited, _rate_limited),
    (StoreError, _store_error),
]


def error_for(exc: Exception) -> JSONResponse | None:
    """The JSON error answer for a known exception, else None."""
    for kind, render in _MAPPINGS:
        if isinstance(exc, kind):
            return render(exc)
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(status, _CODES.get(status, "error"), message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    async def _known(_: Request, exc: Exception) -> JSONResponse:
        response = error_for(exc)
        if response is None:  # pragma: no cover - only registered for mapped classes
            return error_response(500, "internal_error", "internal server error")
        return response

    for kind, _render in _MAPPINGS:
        app.add_exception_handler(kind, _known)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error while serving a request")
        return error_response(500, "internal_error", "internal server error")
