"""Accounts over HTTP: sign-up, sign-in and sessions, API and IMAP tokens, owned
mailboxes, and mailbox claims (ours under /api/v1 and dynip's under /api/mailbox).

Routes only translate HTTP to service calls and back; the services authorise.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ephemail.api.auth import (
    UNLOCK_COOKIE,
    CookiePolicy,
    caller_of,
    clear_session_cookie,
    clear_unlock_cookie,
    decode_unlock_cookie,
    principal_of,
    set_session_cookie,
    set_unlock_cookie,
    with_unlocked,
)
from ephemail.api.errors import error_response
from ephemail.api.schemas import (
    AccountMailboxesOut,
    AccountOut,
    ClaimOut,
    CredentialsIn,
    DynipClaimMessage,
    DynipClaimStatus,
    MailboxCreatedOut,
    MailboxCreateIn,
    MailboxStatusOut,
    MeOut,
    OwnedMailboxOut,
    PasswordIn,
    SignedInOut,
    TokenCreatedOut,
    TokenCreateIn,
    TokenOut,
    TokensOut,
    UsageOut,
)
from ephemail.domain.accounts import Scope, TokenKind
from ephemail.domain.messages import MailboxKind
from ephemail.services.access import AccessDenied, Action, Via, authorize_account, require_scope
from ephemail.services.accounts import AccountService, InvalidCredentials, SessionGrant
from ephemail.services.mailboxes import MailboxService
from ephemail.services.ownership import NotClaimed, OwnershipService
from ephemail.services.ratelimit import RateLimiter

# API tokens created without `scopes` may read and write (never admin unless asked).
_DEFAULT_API_SCOPES = frozenset({Scope.READ, Scope.WRITE})


def _signed_in(grant: SessionGrant, cookies: CookiePolicy, *, status: int) -> JSONResponse:
    out = SignedInOut(account=AccountOut.of(grant.account), csrf_token=grant.csrf_token)
    response = JSONResponse(out.model_dump(mode="json"), status_code=status)
    set_session_cookie(response, grant.cookie_value, cookies)
    return response


def _require_write(request: Request) -> None:
    """Account changes need a credential that may write (a read-only token may not)."""
    require_scope(principal_of(request), Action.WRITE)


def build_accounts_router(
    accounts: AccountService,
    ownership: OwnershipService,
    mailboxes: MailboxService,
    limiter: RateLimiter,
    cookies: CookiePolicy,
) -> APIRouter:
    """Routes of docs/api.md "Accounts", "Tokens" and "Claims"."""
    router = APIRouter(prefix="/api/v1")

    # -- sessions ------------------------------------------------------------------
    @router.post("/auth/register", status_code=201, response_model=SignedInOut, tags=["accounts"])
    async def register(request: Request, body: CredentialsIn) -> JSONResponse:
        """Create an account and sign in (sets the session cookie)."""
        ip = caller_of(request).ip
        await accounts.register(body.email, body.password, ip=ip)
        grant = await accounts.login(body.email, body.password, ip=ip)
        return _signed_in(grant, cookies, status=201)

    @router.post("/auth/login", response_model=SignedInOut, tags=["accounts"])
    async def login(request: Request, body: CredentialsIn) -> JSONResponse:
        """Sign in with email and password (sets the session cookie)."""
        grant = await accounts.login(body.email, body.password, ip=caller_of(request).ip)
        return _signed_in(grant, cookies, status=200)

    @router.post("/auth/logout", status_code=204, response_class=Response, tags=["accounts"])
    async def logout(request: Request) -> Response:
        """End the web session; clears the session and unlock cookies."""
        session = caller_of(request).session
        if session is not None:
            await accounts.logout(session.session_id)
        response = Response(status_code=204)
        clear_session_cookie(response, cookies)
        clear_unlock_cookie(response, cookies)
        return response

    @router.get("/auth/me", response_model=MeOut, tags=["accounts"])
    async def me(request: Request) -> MeOut:
        """The signed-in account, how it signed in, and the session's CSRF token."""
        caller = caller_of(request)
        account = authorize_account(caller.principal)
        return MeOut(
            account=AccountOut.of(account),
            via=caller.principal.via.value,
            scopes=sorted(s.value for s in caller.principal.scopes),
            csrf_token=caller.session.csrf_token
            if caller.session is not None and caller.principal.via is Via.SESSION
            else None,
        )

    # -- tokens ----------------------------------------------------------------------
    @router.get("/tokens", response_model=TokensOut, tags=["tokens"])
    async def list_tokens(request: Request) -> TokensOut:
        """Your tokens, newest first, revoked ones included; never their secrets."""
        tokens = await accounts.list_tokens(principal_of(request))
        return TokensOut(tokens=[TokenOut.of(t) for t in tokens])

    @router.post("/tokens", status_code=201, response_model=TokenCreatedOut, tags=["tokens"])
    async def create_token(request: Request, body: TokenCreateIn) -> JSONResponse:
        """A new API or IMAP token; the answer carries its secret, shown this once."""
        _require_write(request)
        principal = principal_of(request)
        if body.kind is TokenKind.IMAP:
            if body.scopes:
                return error_response(400, "bad_request", "IMAP tokens have no scopes")
            scopes: frozenset[Scope] = frozenset()
        elif body.scopes is not None:
            scopes = frozenset(body.scopes)
        else:
            scopes = _DEFAULT_API_SCOPES & principal.scopes or frozenset({Scope.READ})
        expires_at = (
            datetime.now(UTC) + timedelta(days=body.expires_in_days)
            if body.expires_in_days is not None
            else None
        )
        try:
            issued = await accounts.create_token(
                principal, kind=body.kind, name=body.name, scopes=scopes, expires_at=expires_at
            )
        except ValueError as exc:  # an empty name, an expiry in the past
            return error_response(400, "bad_request", str(exc))
        out = TokenCreatedOut(token=TokenOut.of(issued.info), secret=issued.secret)
        return JSONResponse(
            out.model_dump(mode="json"),
            status_code=201,
            headers={"Cache-Control": "no-store"},
        )

    @router.delete("/tokens/{token_id}", status_code=204, response_class=Response, tags=["tokens"])
    async def revoke_token(request: Request, token_id: int) -> Response:
        """Revoke one of your tokens (404 when it is not yours)."""
        _require_write(request)
        await accounts.revoke_token(principal_of(request), token_id)
        return Response(status_code=204)

    # -- owned mailboxes -----------------------------------------------------------------
    @router.get("/account/mailboxes", response_model=AccountMailboxesOut, tags=["accounts"])
    async def account_mailboxes(request: Request) -> AccountMailboxesOut:
        """Your owned mailboxes with their sizes, and your quota."""
        principal = principal_of(request)
        owned = await ownership.list_owned(principal)
        usage = await ownership.usage(principal)
        return AccountMailboxesOut(
            mailboxes=[
                OwnedMailboxOut(
                    address=o.mailbox.address,
                    kind=o.mailbox.kind.value,
                    created_at=o.mailbox.created_at,
                    messages=o.usage.messages,
                    bytes=o.usage.bytes,
                )
                for o in owned
            ],
            usage=UsageOut(
                used_bytes=usage.used_bytes,
                quota_bytes=usage.quota_bytes,
                mailboxes=usage.mailboxes,
            ),
        )

    @router.post(
        "/account/mailboxes",
        status_code=201,
        response_model=MailboxCreatedOut,
        tags=["accounts"],
    )
    async def create_owned(request: Request, body: MailboxCreateIn) -> MailboxCreatedOut:
        """A mailbox only you (and admins) can read, at `address` or a random address on
        `domain`: the domain must be yours or shared."""
        mailbox = await ownership.create_owned(principal_of(request), body.address, body.domain)
        return MailboxCreatedOut(
            address=mailbox.address,
            kind=mailbox.kind.value,
            created_at=mailbox.created_at,
            created=True,
        )

    # -- one mailbox: delete, claims ----------------------------------------------------
    @router.delete(
        "/mailboxes/{address}", status_code=204, response_class=Response, tags=["mailboxes"]
    )
    async def delete_mailbox(request: Request, address: str) -> Response:
        """Delete the mailbox with every message."""
        await ownership.delete_mailbox(principal_of(request), address)
        return Response(status_code=204)

    @router.get("/mailboxes/{address}/status", response_model=MailboxStatusOut, tags=["claims"])
    async def mailbox_status(request: Request, address: str) -> MailboxStatusOut:
        """Whether the mailbox exists and whether reading it needs credentials."""
        status = await ownership.status(principal_of(request), address)
        return MailboxStatusOut(
            address=status.address,
            exists=status.exists,
            kind=status.kind.value,
            claimed=status.claimed,
        )

    @router.post("/mailboxes/{address}/claim", response_model=ClaimOut, tags=["claims"])
    async def claim(request: Request, address: str, body: PasswordIn) -> ClaimOut:
        """First claim: set a password on a public mailbox; reading then needs it."""
        caller = caller_of(request)
        mailbox = await ownership.claim(caller.principal, address, body.password, ip=caller.ip)
        return ClaimOut(address=mailbox.address, kind=mailbox.kind.value)

    @router.post("/mailboxes/{address}/release", response_model=ClaimOut, tags=["claims"])
    async def release(request: Request, address: str, body: PasswordIn) -> ClaimOut:
        """Make a claimed mailbox public again (needs its password)."""
        caller = caller_of(request)
        mailbox = await ownership.release(caller.principal, address, body.password, ip=caller.ip)
        return ClaimOut(address=mailbox.address, kind=mailbox.kind.value)

    @router.post(
        "/mailboxes/{address}/unlock", status_code=204, response_class=Response, tags=["claims"]
    )
    async def unlock(request: Request, address: str, body: PasswordIn) -> Response:
        """Remember a claimed mailbox's password in this browser (the unlock cookie), so
        pages, downloads and live streams need no header."""
        caller = caller_of(request)
        normalised = mailboxes.address(address)
        keys = (f"ip:{caller.ip}", f"address:{normalised}")
        limiter.check("login", *keys)
        trial = replace(caller.principal, mailbox_password=body.password, unlock_proofs=frozenset())
        try:
            info = await mailboxes.mailbox_info(trial, normalised)
        except AccessDenied as exc:
            limiter.hit("login", *keys)
            raise InvalidCredentials("wrong mailbox password") from exc
        if info.mailbox is None or info.mailbox.kind is not MailboxKind.CLAIMED:
            raise NotClaimed(normalised)
        proof = await accounts.unlock_proof(info.mailbox, body.password, ip=caller.ip)
        if proof is None:
            raise InvalidCredentials("wrong mailbox password")
        pairs = with_unlocked(
            decode_unlock_cookie(request.cookies.get(UNLOCK_COOKIE)), normalised, proof
        )
        response = Response(status_code=204)
        set_unlock_cookie(response, pairs, cookies)
        return response

    return router


def build_dynip_claims_router(ownership: OwnershipService) -> APIRouter:
    """dynip-email's claim routes: its paths and JSON shapes, our rules and errors."""
    router = APIRouter(prefix="/api/mailbox", tags=["dynip compatibility"])

    @router.get("/{address}/status", response_model=DynipClaimStatus)
    async def dynip_status(request: Request, address: str) -> DynipClaimStatus:
        """Whether the mailbox is claimed (owned counts as claimed: it is not open)."""
        status = await ownership.status(principal_of(request), address)
        return DynipClaimStatus(address=status.address, is_claimed=status.claimed)

    @router.post("/{address}/claim", response_model=DynipClaimMessage)
    async def dynip_claim(request: Request, address: str, body: PasswordIn) -> DynipClaimMessage:
        caller = caller_of(request)
        mailbox = await ownership.claim(caller.principal, address, body.password, ip=caller.ip)
        return DynipClaimMessage(message="Mailbox claimed successfully", address=mailbox.address)

    @router.post("/{address}/release", response_model=DynipClaimMessage)
    async def dynip_release(request: Request, address: str, body: PasswordIn) -> DynipClaimMessage:
        caller = caller_of(request)
        mailbox = await ownership.release(caller.principal, address, body.password, ip=caller.ip)
        return DynipClaimMessage(message="Mailbox released successfully", address=mailbox.address)

    return router
