"""/api/v1/admin: users, domains, bans, counts and every mailbox, for admins only.

Each route first checks `authorize_admin` (401 without credentials, 403 for other
accounts and for tokens without the admin scope), then calls the services.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.exceptions import HTTPException

from ephemail.api.auth import principal_of
from ephemail.api.schemas import (
    AccountOut,
    AdminBanIn,
    AdminBanOut,
    AdminBansOut,
    AdminDomainIn,
    AdminDomainOut,
    AdminDomainsOut,
    AdminMailboxCapIn,
    AdminMailboxesOut,
    AdminMailboxOut,
    AdminStatsOut,
    AdminUserCreateIn,
    AdminUserOut,
    AdminUsersOut,
    AdminUserUpdateIn,
)
from ephemail.domain.accounts import normalize_account_email
from ephemail.domain.messages import DomainRecord
from ephemail.services.access import Principal, authorize_admin
from ephemail.services.accounts import AccountNotFound, AccountService
from ephemail.services.admin import PolicyAdmin
from ephemail.services.ownership import OwnershipService


def build_admin_router(
    accounts: AccountService, ownership: OwnershipService, policy_admin: PolicyAdmin
) -> APIRouter:
    router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

    def admin(request: Request) -> Principal:
        principal = principal_of(request)
        authorize_admin(principal)
        return principal

    async def owner_emails(principal: Principal) -> dict[int, str]:
        return {a.id: a.email for a in await accounts.list_accounts(principal)}

    def domain_out(record: DomainRecord, owners: dict[int, str]) -> AdminDomainOut:
        owner = record.owner_account_id
        return AdminDomainOut(
            name=record.name,
            active=record.active,
            shared=record.shared,
            owner=owners.get(owner) if owner is not None else None,
            retention_hours=record.retention_hours,
        )

    # -- users ---------------------------------------------------------------------
    @router.get("/users", response_model=AdminUsersOut)
    async def list_users(request: Request) -> AdminUsersOut:
        """Every account, oldest first, with its owned mailboxes and bytes used."""
        principal = admin(request)
        users = []
        for account in await accounts.list_accounts(principal):
            usage = await ownership.usage(principal, account_id=account.id)
            users.append(
                AdminUserOut(
                    **AccountOut.of(account).model_dump(),
                    mailboxes=usage.mailboxes,
                    used_bytes=usage.used_bytes,
                )
            )
        return AdminUsersOut(users=users)

    @router.post("/users", status_code=201, response_model=AccountOut)
    async def create_user(request: Request, body: AdminUserCreateIn) -> AccountOut:
        """Create an account (registration rules do not apply)."""
        admin(request)
        account = await accounts.add_account(
            body.email,
            body.password,
            role=body.role,
            subscription_status=body.subscription_status,
            subscription_ends_at=body.subscription_ends_at,
            quota_bytes=body.quota_bytes,
        )
        return AccountOut.of(account)

    @router.patch("/users/{account_id}", response_model=AccountOut)
    async def update_user(request: Request, account_id: int, body: AdminUserUpdateIn) -> AccountOut:
        """Change role, subscription, quota or password; fields left out stay, and an
        explicit null clears `subscription_ends_at` (no end) or `quota_bytes` (the
        deployment default)."""
        given = body.model_fields_set
        account = await accounts.update_account(
            admin(request),
            account_id,
            role=body.role,
            subscription_status=body.subscription_status,
            subscription_ends_at=body.subscription_ends_at,
            quota_bytes=body.quota_bytes,
            password=body.password,
            clear_subscription_ends_at="subscription_ends_at" in given
            and body.subscription_ends_at is None,
            clear_quota_bytes="quota_bytes" in given and body.quota_bytes is None,
        )
        return AccountOut.of(account)

    @router.delete("/users/{account_id}", status_code=204, response_class=Response)
    async def delete_user(request: Request, account_id: int) -> Response:
        """Delete the account, its tokens, sessions and owned mailboxes."""
        await accounts.delete_account(admin(request), account_id)
        return Response(status_code=204)

    # -- domains ----------------------------------------------------------------------
    @router.get("/domains", response_model=AdminDomainsOut)
    async def list_domains(request: Request) -> AdminDomainsOut:
        """Registered domains with their owner's email."""
        owners = await owner_emails(admin(request))
        return AdminDomainsOut(
            domains=[domain_out(d, owners) for d in await policy_admin.list_domains()]
        )

    @router.post("/domains", status_code=201, response_model=AdminDomainOut)
    async def add_domain(request: Request, body: AdminDomainIn) -> AdminDomainOut:
        """Register a domain (it covers its subdomains), optionally owned by an account."""
        admin(request)
        owner_id: int | None = None
        owner_email: str | None = None
        if body.owner is not None and body.owner.strip():
            owner = await accounts.account_by_email(normalize_account_email(body.owner))
            if owner is None:
                raise AccountNotFound(body.owner)
            owner_id, owner_email = owner.id, owner.email
        record = await policy_admin.add_domain(
            body.name,
            active=body.active,
            shared=body.shared,
            retention_hours=body.retention_hours,
        )
        if owner_id is not None:
            await policy_admin.set_domain_owner(record.name, owner_id)
        return AdminDomainOut(
            name=record.name,
            active=record.active,
            shared=record.shared,
            owner=owner_email,
            retention_hours=record.retention_hours,
        )

    @router.delete("/domains/{name}", status_code=204, response_class=Response)
    async def remove_domain(request: Request, name: str) -> Response:
        admin(request)
        if not await policy_admin.remove_domain(name):
            raise HTTPException(404, "domain not found")
        return Response(status_code=204)

    # -- bans ---------------------------------------------------------------------------
    @router.get("/bans", response_model=AdminBansOut)
    async def list_bans(request: Request) -> AdminBansOut:
        admin(request)
        return AdminBansOut(bans=[AdminBanOut.of(b) for b in await policy_admin.list_bans()])

    @router.post("/bans", status_code=201, response_model=AdminBanOut)
    async def add_ban(request: Request, body: AdminBanIn) -> AdminBanOut:
        """Store a ban (normalised as SPEC "Ban" says)."""
        admin(request)
        ban = await policy_admin.add_ban(
            body.scope, body.value, match=body.match, status=body.status, reason=body.reason
        )
        return AdminBanOut.of(ban)

    @router.delete("/bans/{ban_id}", status_code=204, response_class=Response)
    async def remove_ban(request: Request, ban_id: int) -> Response:
        admin(request)
        if not await policy_admin.remove_ban(ban_id):
            raise HTTPException(404, "ban not found")
        return Response(status_code=204)

    # -- counts and mailboxes --------------------------------------------------------------
    @router.get("/stats", response_model=AdminStatsOut)
    async def stats(request: Request) -> AdminStatsOut:
        admin(request)
        counts = await policy_admin.stats()
        return AdminStatsOut(
            accounts=counts.accounts,
            mailboxes=counts.mailboxes,
            messages=counts.messages,
            owned_mailboxes=counts.owned_mailboxes,
            claimed_mailboxes=counts.claimed_mailboxes,
        )

    @router.get("/mailboxes", response_model=AdminMailboxesOut)
    async def list_mailboxes(
        request: Request,
        after: Annotated[str | None, Query(max_length=320)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> AdminMailboxesOut:
        """Every mailbox by address; pass `next_after` back as `after` for the next page."""
        found = await ownership.list_all(admin(request), limit=limit, after=after or None)
        return AdminMailboxesOut(
            mailboxes=[
                AdminMailboxOut(
                    address=m.address,
                    kind=m.kind.value,
                    domain=m.domain,
                    created_at=m.created_at,
                    owner_account_id=m.owner_account_id,
                    max_messages=m.max_messages,
                )
                for m in found
            ],
            next_after=found[-1].address if len(found) == limit else None,
        )

    @router.put("/mailboxes/{address}/cap", response_model=AdminMailboxCapIn)
    async def set_cap(request: Request, address: str, body: AdminMailboxCapIn) -> AdminMailboxCapIn:
        """Set the mailbox's own message cap, or null for the deployment default."""
        await ownership.set_message_cap(admin(request), address, body.max_messages)
        return AdminMailboxCapIn(max_messages=body.max_messages)

    return router
