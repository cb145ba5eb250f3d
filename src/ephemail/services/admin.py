"""Administration of policy data: domains and bans, and the counts admins see (CLI and
the admin API; callers check that the caller is an admin)."""

from __future__ import annotations

from dataclasses import dataclass

from ephemail.domain.address import normalize_domain
from ephemail.domain.bans import Ban, normalize_ban
from ephemail.domain.messages import DomainRecord, MailboxKind
from ephemail.ports import Store
from ephemail.services.policy import PolicyService


@dataclass(frozen=True, slots=True)
class ServerStats:
    """What `GET /api/v1/admin/stats` shows."""

    accounts: int
    mailboxes: int
    messages: int
    owned_mailboxes: int
    claimed_mailboxes: int


class PolicyAdmin:
    """Validates and normalises input, writes through the store, refreshes the cache."""

    def __init__(self, store: Store, policy: PolicyService | None = None) -> None:
        self._store = store
        self._policy = policy

    async def _changed(self) -> None:
        """Make a change made here visible to this process before the call returns
        (other processes see it within the policy poll interval)."""
        if self._policy is None:
            return
        try:
            await self._policy.refresh()
        except Exception:  # the store answered the change; let the poller retry the reload
            self._policy.changed()

    async def add_domain(
        self,
        name: str,
        *,
        active: bool = True,
        shared: bool = False,
        retention_hours: float | None = None,
    ) -> DomainRecord:
        """Register `name` (normalised; `*.x` = `x`). Raises AddressError, ConflictError."""
        if retention_hours is not None and retention_hours < 0:
            raise ValueError("retention hours must be 0 (keep forever) or more")
        record = await self._store.add_domain(
            normalize_domain(name), active=active, shared=shared, retention_hours=retention_hours
        )
        await self._changed()
        return record

    async def remove_domain(self, name: str) -> bool:
        removed = await self._store.remove_domain(normalize_domain(name))
        await self._changed()
        return removed

    async def list_domains(self) -> list[DomainRecord]:
        return await self._store.list_domains()

    async def set_domain_owner(self, name: str, account_id: int | None) -> bool:
        """Give a registered domain to an account (None: to nobody). False when the
        domain is not registered. Raises AddressError for a malformed name."""
        changed = await self._store.set_domain_owner(normalize_domain(name), account_id)
        await self._changed()
        return changed

    async def add_ban(
        self,
        scope: str,
        value: str,
        *,
        match: str | None = None,
        status: str | None = None,
        reason: str = "",
    ) -> Ban:
        """Store a ban (normalised per SPEC). Raises BanError, ConflictError."""
        ban = await self._store.add_ban(normalize_ban(scope, value, match, status, reason))
        await self._changed()
        return ban

    async def remove_ban(self, ban_id: int) -> bool:
        removed = await self._store.remove_ban(ban_id)
        await self._changed()
        return removed

    async def list_bans(self) -> list[Ban]:
        return await self._store.list_bans()

    async def stats(self) -> ServerStats:
        """Counts of accounts, mailboxes (by kind) and messages."""
        kinds = await self._store.mailbox_kind_counts()
        return ServerStats(
            accounts=await self._store.count_accounts(),
            mailboxes=sum(kinds.values()),
            messages=await self._store.count_messages(),
            owned_mailboxes=kinds.get(MailboxKind.OWNED.value, 0),
            claimed_mailboxes=kinds.get(MailboxKind.CLAIMED.value, 0),
        )
