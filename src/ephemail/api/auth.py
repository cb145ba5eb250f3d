"""Who is calling: every /api request (HTTP and WebSocket) becomes one `Principal`,
resolved once by `AuthMiddleware` before any route runs and read with `principal_of`.

Credentials, in order (SPEC: HTTP authentication; docs/api.md "Authentication"):
- `Authorization: Bearer eph_api_...`: an API token. Present but invalid (unknown,
  expired, revoked, or not a bearer token at all) is 401, never anonymous.
- else the `ephemail_session` cookie: a web session. A missing, forged or expired one
  is served as anonymous, and the stale cookie is cleared in the answer.
- `X-Mailbox-Password`: a claimed mailbox's password, checked by the services against
  the mailbox the request touches (never in the URL).
- the `ephemail_unlock` cookie: proofs of mailbox passwords a browser unlocked before.

Cookie-authenticated writes (POST, PUT, PATCH, DELETE) must echo the session's CSRF
token in `X-CSRF-Token` (403 `csrf_failed`); bearer and anonymous requests need none,
because a browser never attaches either on its own. Every /api request counts against
the "api" rate limit per client IP and, when signed in, per account.

The client IP is the TCP peer (`request.client.host`): proxy headers such as
X-Forwarded-For are not trusted, so behind a reverse proxy every client shares the
proxy's address for rate limiting.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from ephemail.api.errors import (
    INVALID_TOKEN_CHALLENGE,
    CsrfFailed,
    error_for,
    error_response,
)
from ephemail.services.access import Principal
from ephemail.services.accounts import (
    CSRF_HEADER,
    MAILBOX_PASSWORD_HEADER,
    SESSION_COOKIE,
    AccountService,
    InvalidCredentials,
    SessionPrincipal,
)
from ephemail.services.ratelimit import RateLimited, RateLimiter

log = logging.getLogger(__name__)

# The paths whose requests the middleware resolves (and refuses): the API, MCP over
# streamable HTTP, and dynip's MCP REST shim. Same credentials, CSRF rule for
# cookie-authenticated writes, and rate limit on all of them.
AUTHENTICATED_PREFIXES: Final = ("/api/", "/mcp", "/tools", "/resources")
UNLOCK_COOKIE: Final = "ephemail_unlock"
# At most this many unlocked mailboxes ride in the unlock cookie (newest kept).
MAX_UNLOCKED: Final = 20
# Browsers keep cookies up to 4096 bytes (name, value and attributes): stay below.
_UNLOCK_COOKIE_BUDGET = 3600
_MAX_PROOF_CHARS = 200
_MAX_ADDRESS_CHARS = 320
_STATE_KEY = "ephemail_caller"
# RFC 9110 section 9.2.1: every other method is safe and needs no CSRF token.
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Signing in opens a new session and acts with no authority of the old cookie.
_CSRF_EXEMPT = frozenset({"/api/v1/auth/login", "/api/v1/auth/register"})
# RFC 6455 section 7.4.1: the endpoint refuses what violates its policy.
_CLOSE_POLICY_VIOLATION = 1008
_CLOSE_REASON_MAX = 123


@dataclass(frozen=True, slots=True)
class Caller:
    """What the middleware learnt about the request: who, through which session (for
    logout and the CSRF token of `me`), and from where."""

    principal: Principal
    session: SessionPrincipal | None
    ip: str


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """How our cookies are set: Secure over HTTPS, and how long sessions last."""

    secure: bool = False
    session_max_age: float = 14 * 24 * 3600


def caller_of(connection: HTTPConnection) -> Caller:
    """The resolved caller of this request or WebSocket handshake."""
    caller = connection.scope.get("state", {}).get(_STATE_KEY)
    if not isinstance(caller, Caller):
        # Every /api route runs behind AuthMiddleware; reaching this is a wiring bug.
        raise RuntimeError("the caller was not resolved: is AuthMiddleware installed?")
    return caller


def principal_of(connection: HTTPConnection) -> Principal:
    """Who is calling: the one principal every route hands to the services."""
    return caller_of(connection).principal


def client_ip(connection: HTTPConnection) -> str:
    """The TCP peer's address (no proxy headers are trusted)."""
    return connection.client.host if connection.client is not None else "unknown"


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750 section 2.1;
    the scheme is case-insensitive, RFC 9110 section 11.1), else None."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# -- the unlock cookie -----------------------------------------------------------------
def encode_unlock_cookie(pairs: Sequence[tuple[str, str]]) -> str:
    """(address, proof) pairs as one cookie value: base64url of a JSON list. The
    proofs are HMACs made by the server (AccountService.unlock_proof), so the cookie
    needs no signature of its own. Oldest pairs are dropped to stay small."""
    kept = list(pairs[:MAX_UNLOCKED])
    while True:
        text = json.dumps([list(pair) for pair in kept], separators=(",", ":"))
        value = base64.urlsafe_b64encode(text.encode()).decode("ascii").rstrip("=")
        if len(value) <= _UNLOCK_COOKIE_BUDGET or len(kept) <= 1:
            return value
        kept.pop()


def decode_unlock_cookie(value: str | None) -> list[tuple[str, str]]:
    """The pairs of an unlock cookie, newest first; anything malformed reads as none."""
    if not value or len(value) > 2 * _UNLOCK_COOKIE_BUDGET:
        return []
    try:
        decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, binascii.Error):
        return []
    if not isinstance(decoded, list):
        return []
    pairs: list[tuple[str, str]] = []
    for item in decoded[:MAX_UNLOCKED]:
        if (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], str)
            and 0 < len(item[0]) <= _MAX_ADDRESS_CHARS
            and 0 < len(item[1]) <= _MAX_PROOF_CHARS
        ):
            pairs.append((item[0], item[1]))
    return pairs


def with_unlocked(
    pairs: Iterable[tuple[str, str]], address: str, proof: str
) -> list[tuple[str, str]]:
    """`pairs` with `address` unlocked by `proof` first (replacing an older proof)."""
    return [(address, proof), *((a, p) for a, p in pairs if a != address)][:MAX_UNLOCKED]


# -- setting and clearing cookies --------------------------------------------------------
def set_session_cookie(response: Response, value: str, policy: CookiePolicy) -> None:
    """HttpOnly (scripts never see it), SameSite=Lax (not sent on cross-site writes)."""
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(policy.session_max_age),
        path="/",
        secure=policy.secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, policy: CookiePolicy) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=policy.secure, httponly=True, samesite="lax"
    )


def set_unlock_cookie(
    response: Response, pairs: Sequence[tuple[str, str]], policy: CookiePolicy
) -> None:
    """HttpOnly and SameSite=Strict: only this site's own pages ever send it."""
    response.set_cookie(
        UNLOCK_COOKIE,
        encode_unlock_cookie(pairs),
        max_age=int(policy.session_max_age),
        path="/",
        secure=policy.secure,
        httponly=True,
        samesite="strict",
    )


def clear_unlock_cookie(response: Response, policy: CookiePolicy) -> None:
    response.delete_cookie(
        UNLOCK_COOKIE, path="/", secure=policy.secure, httponly=True, samesite="strict"
    )


def _clearing_header(policy: CookiePolicy) -> tuple[bytes, bytes]:
    response = Response()
    clear_session_cookie(response, policy)
    (header,) = [(k, v) for k, v in response.raw_headers if k == b"set-cookie"]
    return header


def _sets_cookie(headers: Iterable[tuple[bytes, bytes]], name: str) -> bool:
    prefix = f"{name}=".encode()
    return any(k.lower() == b"set-cookie" and v.startswith(prefix) for k, v in headers)


# -- the middleware ------------------------------------------------------------------------
class _Refused(Exception):
    def __init__(self, response: JSONResponse) -> None:
        super().__init__("request refused")
        self.response = response


class AuthMiddleware:
    """Pure ASGI middleware (it must not buffer SSE or touch WebSocket frames): resolves
    the caller of every /api request before routing, refuses bad credentials, missing
    CSRF tokens and rate-limited clients, and clears a stale session cookie."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        accounts: AccountService,
        limiter: RateLimiter,
        cookies: CookiePolicy,
    ) -> None:
        self.app = app
        self._accounts = accounts
        self._limiter = limiter
        self._clear_session = _clearing_header(cookies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not str(scope["path"]).startswith(
            AUTHENTICATED_PREFIXES
        ):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        method = str(scope.get("method", "GET")).upper()
        try:
            caller, stale_cookie = await self._resolve(connection, method)
        except _Refused as refused:
            await self._refuse(scope, receive, send, refused.response)
            return
        scope.setdefault("state", {})[_STATE_KEY] = caller
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        presented_password = caller.principal.mailbox_password is not None

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if stale_cookie and not _sets_cookie(headers, SESSION_COOKIE):
                    message = {**message, "headers": [*headers, self._clear_session]}
                if presented_password and message["status"] in (401, 403):
                    self._count_password_failure(caller.ip)
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    async def _resolve(self, connection: HTTPConnection, method: str) -> tuple[Caller, bool]:
        """The caller, and whether its session cookie is stale (to clear)."""
        ip = client_ip(connection)
        headers = connection.headers
        try:
            self._limiter.hit("api", f"ip:{ip}")
            password = headers.get(MAILBOX_PASSWORD_HEADER) or None
            if password is not None:
                # Wrong mailbox passwords count like failed logins (see __call__).
                self._limiter.check("login", f"ip:{ip}")
            session: SessionPrincipal | None = None
            stale_cookie = False
            authorization = headers.get("authorization")
            if authorization is not None:
                principal = await self._bearer(authorization, ip)
            else:
                principal = Principal.anonymous()
                cookie = connection.cookies.get(SESSION_COOKIE)
                if cookie:
                    session = await self._accounts.principal_from_session(cookie)
                    if session is None:
                        stale_cookie = True
                    else:
                        principal = session.principal
            if principal.account is not None:
                self._limiter.hit("api", f"principal:{principal.account.id}")
            if (
                session is not None
                and method in _UNSAFE_METHODS
                and connection.url.path not in _CSRF_EXEMPT
                and not self._accounts.csrf_matches(session, headers.get(CSRF_HEADER))
            ):
                raise CsrfFailed
        except _Refused:
            raise
        except Exception as exc:
            response = error_for(exc)
            if response is None:
                raise
            raise _Refused(response) from exc
        principal = replace(
            principal,
            mailbox_password=password,
            unlock_proofs=frozenset(decode_unlock_cookie(connection.cookies.get(UNLOCK_COOKIE))),
        )
        return Caller(principal, session, ip), stale_cookie

    async def _bearer(self, authorization: str, ip: str) -> Principal:
        token = bearer_token(authorization)
        try:
            if token is None:
                raise InvalidCredentials("the Authorization header is not a bearer token")
            return await self._accounts.principal_from_bearer(token, ip=ip)
        except InvalidCredentials as exc:
            log.info("refused a bearer credential from %s: %s", ip, exc)
            raise _Refused(
                error_response(
                    401,
                    "invalid_credentials",
                    "invalid, expired or revoked token",
                    headers={"WWW-Authenticate": INVALID_TOKEN_CHALLENGE},
                )
            ) from exc

    def _count_password_failure(self, ip: str) -> None:
        # Already over the limit: the next request with a password gets 429.
        with contextlib.suppress(RateLimited):
            self._limiter.hit("login", f"ip:{ip}")

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, response: JSONResponse) -> None:
        if scope["type"] == "http":
            await response(scope, receive, send)
            return
        await refuse_websocket(WebSocket(scope, receive, send), response)


async def refuse_websocket(websocket: WebSocket, response: JSONResponse) -> None:
    """Refuse a WebSocket handshake with an HTTP error and our JSON body when the
    server supports it (ASGI "websocket.http.response"), else with a close, which the
    server turns into 403."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
        return
    reason = json.loads(bytes(response.body)).get("error", {}).get("message", "refused")
    await websocket.close(code=_CLOSE_POLICY_VIOLATION, reason=str(reason)[:_CLOSE_REASON_MAX])
