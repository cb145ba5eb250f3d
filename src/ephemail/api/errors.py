"""Every error is JSON `{"error": {"code", "message"}}` with the right status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ephemail.domain.address import AddressError
from ephemail.domain.search import SearchSyntaxError
from ephemail.ports import InvalidCursorError, StoreError
from ephemail.services.access import AccessDenied
from ephemail.services.mailboxes import AttachmentNotFound, MailboxNotAllowed, MessageNotFound

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


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(status, _CODES.get(status, "error"), message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(AddressError)
    async def _address(_: Request, exc: AddressError) -> JSONResponse:
        return error_response(400, "invalid_address", str(exc))

    @app.exception_handler(InvalidCursorError)
    async def _cursor(_: Request, exc: InvalidCursorError) -> JSONResponse:
        return error_response(400, "invalid_cursor", "invalid cursor: pass back a next_cursor")

    @app.exception_handler(MessageNotFound)
    async def _missing(_: Request, exc: MessageNotFound) -> JSONResponse:
        return error_response(404, "not_found", "message not found")

    @app.exception_handler(AttachmentNotFound)
    async def _no_attachment(_: Request, exc: AttachmentNotFound) -> JSONResponse:
        return error_response(404, "not_found", "attachment not found")

    @app.exception_handler(SearchSyntaxError)
    async def _query(_: Request, exc: SearchSyntaxError) -> JSONResponse:
        return error_response(400, "invalid_query", str(exc))

    @app.exception_handler(MailboxNotAllowed)
    async def _not_allowed(_: Request, exc: MailboxNotAllowed) -> JSONResponse:
        return error_response(403, "mailbox_not_allowed", str(exc))

    @app.exception_handler(AccessDenied)
    async def _denied(_: Request, exc: AccessDenied) -> JSONResponse:
        return error_response(403, "forbidden", "not allowed")

    @app.exception_handler(StoreError)
    async def _store(_: Request, exc: StoreError) -> JSONResponse:
        log.error("store error while serving a request: %s", exc)
        return error_response(503, "unavailable", "storage unavailable, try again later")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error while serving a request")
        return error_response(500, "internal_error", "internal server error")
