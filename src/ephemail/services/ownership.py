"""Who a mailbox belongs to: owned (private) mailboxes, first-claim passwords on
public ones, and the quotas enforced at ingest (SPEC: Concepts, Mailbox kinds;
issue "Accounts, ownership and one access check everywhere").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from ephemail.domain.accounts import MAX_PASSWORD_LENGTH, Account, check_password_policy
from ephemail.domain.address import domain_of
from ephemail.domain.messages import Mailbox, MailboxKind
from ephemail.ports import ConflictError, EventBus, MailboxUsage, PasswordHasher, Store
from ephemail.services.access import (
    AccessDenied,
    Action,
    Authorizer,
    Principal,
    authorize_admin,
    require_scope,
)
from ephemail.services.accounts import MAX_CONCURRENT_HASHES, target_account
from ephemail.services.mailboxes import MailboxNotAllowed, MailboxService
from ephemail.services.policy import PolicyService
from ephemail.services.ratelimit import RateLimiter

MAX_LIST_LIMIT = 1000


class MailboxNotFound(Exception):
    """No such mailbox (or not visible to this principal)."""


class AlreadyClaimed(Exception):
    """Claim of a mailbox that is claimed or owned already (HTTP 409)."""


class NotClaimed(Exception):
    """Release of a mailbox that is not claimed (HTTP 409)."""


@dataclass(frozen=True, slots=True)
class ClaimStatus:
    """The dynip `GET /api/mailbox/{address}/status` answer, and ours."""

    address: str
    exists: bool
    kind: MailboxKind
    claimed: bool  # claimed or owned: reading needs credentials


@dataclass(frozen=True, slots=True)
class OwnedMailbox:
    mailbox: Mailbox
    usage: MailboxUsage


@dataclass(frozen=True, slots=True)
class AccountUsage:
    """What the UI shows beside the owned mailboxes."""

    used_bytes: int
    quota_bytes: int | None  # None: no quota
    mailboxes: int


class DeliveryVerdict(StrEnum):
    OK = "ok"
    MAILBOX_FULL = "mailbox_full"  # the per-mailbox message cap
    OVER_QUOTA = "over_quota"  # the owning account's size quota
    # A private domain (MailboxService.private_owner) without this owned mailbox.
    NO_SUCH_MAILBOX = "no_such_mailbox"


class OwnershipService:
    """Owned mailboxes (create, list, delete), claims (claim, release, status) and
    quota checks. Every call authorises through the shared `Authorizer` or, for
    account-only actions, `authorize_account`; events go to the bus."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        hasher: PasswordHasher,
        policy: PolicyService,
        mailboxes: MailboxService,
        authorizer: Authorizer,
        limiter: RateLimiter,
        *,
        default_quota_bytes: int | None,
        default_max_messages: int | None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._hasher = hasher
        self._policy = policy
        self._mailboxes = mailboxes
        self._authorizer = authorizer
        self._limiter = limiter
        self._default_quota_bytes = default_quota_bytes
        self._default_max_messages = default_max_messages
        self._hashing = asyncio.Semaphore(MAX_CONCURRENT_HASHES)  # see AccountService

    async def _target_account(
        self, principal: Principal, account_id: int | None, action: Action
    ) -> Account:
        """The caller's account, or `account_id`'s for an admin; the caller's scopes
        must allow `action`."""
        require_scope(principal, action)
        return await target_account(self._store, principal, account_id)

    # -- owned mailboxes ------------------------------------------------------------
    async def create_owned(
        self,
        principal: Principal,
        raw_address: str | None,
        domain: str | None = None,
        *,
        account_id: int | None = None,
    ) -> Mailbox:
        """Create a mailbox owned by the caller's account (or `account_id`, admins
        only) at `raw_address` or a random address on `domain`. Allowed when the
        address's domain, or a parent of it, is a registered active domain owned by the
        account or shared, and no address or recipient-domain ban applies. An existing
        public mailbox is adopted only on a domain the account owns. Raises
        AccessDenied, MailboxNotAllowed (domain not owned/shared, banned), AddressError,
        ConflictError (the address is taken).

        The most specific registered entry covering the domain decides (an inactive
        one closes its subtree, as for SMTP). Admins may create on any domain that
        accepts mail, owned by anyone or no one; bans and the accept policy still
        apply to them."""
        account = await self._target_account(principal, account_id, Action.WRITE)
        if raw_address is not None and raw_address.strip():
            address = self._mailboxes.address(raw_address)
        else:
            address = self._mailboxes.random_address(domain)
        self._mailboxes.check_creatable(address)
        record = self._policy.snapshot.domains.lookup_active(domain_of(address))
        owns_domain = record is not None and record.owner_account_id == account.id
        if not principal.is_admin and not (owns_domain or (record is not None and record.shared)):
            raise MailboxNotAllowed(
                f"{domain_of(address)} is not a domain of this account or a shared one"
            )
        mailbox, events = await self._store.create_owned_mailbox(
            address, account.id, adopt_public=owns_domain
        )
        self._bus.publish(events)
        return mailbox

    async def list_owned(
        self, principal: Principal, *, account_id: int | None = None
    ) -> list[OwnedMailbox]:
        """The account's mailboxes, oldest first, each with its message count and size."""
        account = await self._target_account(principal, account_id, Action.READ)
        owned = await self._store.list_owned_mailboxes(account.id)
        return [OwnedMailbox(m, await self._store.mailbox_usage(m.address)) for m in owned]

    async def usage(self, principal: Principal, *, account_id: int | None = None) -> AccountUsage:
        """Bytes stored across the account's mailboxes, its quota (its own, else the
        deployment default) and how many mailboxes it owns."""
        account = await self._target_account(principal, account_id, Action.READ)
        used = await self._store.account_usage(account.id)
        owned = await self._store.list_owned_mailboxes(account.id)
        return AccountUsage(
            used_bytes=used.bytes, quota_bytes=self._quota_of(account), mailboxes=len(owned)
        )

    def _quota_of(self, account: Account) -> int | None:
        return account.quota_bytes if account.quota_bytes is not None else self._default_quota_bytes

    async def delete_mailbox(self, principal: Principal, raw_address: str) -> None:
        """Delete a mailbox with every message (`message.deleted` reason `mailbox
        deleted`, `mailbox.deleted`). Owners delete their owned mailboxes; admins any;
        the password holder a claimed one; anyone a public one in the open mode.
        Raises MailboxNotFound, AccessDenied.

        A public mailbox is deleted only by admins or in the open mode, even when
        public reading lets anyone delete its messages: the address itself (and so
        whatever arrives next) belongs to everyone who uses it."""
        address = self._mailboxes.address(raw_address)
        mailbox = await self._store.get_mailbox(address)
        if mailbox is None:
            raise MailboxNotFound(address)
        if (
            mailbox.kind is MailboxKind.PUBLIC
            and not principal.is_admin
            and not self._authorizer.policy.open_mode
        ):
            require_scope(principal, Action.DELETE)
            raise AccessDenied(
                "deleting a public mailbox is for admins on this server",
                needs_credentials=principal.account is None,
            )
        await self._authorizer.check(principal, Action.DELETE, mailbox)
        events = await self._store.delete_mailbox(address)
        if events is None:
            raise MailboxNotFound(address)
        self._bus.publish(events)

    async def list_all(
        self, principal: Principal, *, limit: int, after: str | None
    ) -> list[Mailbox]:
        """Every mailbox (admins, or anyone in the open mode: `check_global`), ordered
        by address after `after`; `limit` is clamped to 1..1000."""
        self._authorizer.check_global(principal, Action.READ)
        limit = max(1, min(limit, MAX_LIST_LIMIT))
        return await self._store.list_mailboxes(limit=limit, after=after)

    # -- claims -----------------------------------------------------------------------
    async def claim(
        self, principal: Principal, raw_address: str, password: str, *, ip: str
    ) -> Mailbox:
        """First claim: a public mailbox (created if absent, after the same domain and
        ban checks as `MailboxService.create_mailbox`) gets a password. Raises
        PasswordPolicyError, AlreadyClaimed, MailboxNotAllowed, RateLimited (bucket
        "claim", keys ip and address).

        Claiming an existing public mailbox reads its mail from then on, so it needs
        what reading it needs (`Action.WRITE` through the Authorizer: public reading
        on, or an admin); an address with no mailbox yet may be claimed by anyone
        whose scopes allow writing."""
        check_password_policy(password)
        address = self._mailboxes.address(raw_address)
        self._limiter.hit("claim", f"ip:{ip}", f"address:{address}")
        require_scope(principal, Action.WRITE)
        existing = await self._store.get_mailbox(address)
        if existing is not None and existing.kind is not MailboxKind.PUBLIC:
            raise AlreadyClaimed(address)
        if existing is None:
            self._mailboxes.check_public_creatable(address)
        else:
            self._mailboxes.check_creatable(address)
            await self._authorizer.check(principal, Action.WRITE, existing)
        async with self._hashing:
            password_hash = await asyncio.to_thread(self._hasher.hash, password)
        try:
            mailbox, events = await self._store.claim_mailbox(address, password_hash)
        except ConflictError:
            raise AlreadyClaimed(address) from None
        self._bus.publish(events)
        return mailbox

    async def release(
        self, principal: Principal, raw_address: str, password: str, *, ip: str
    ) -> Mailbox:
        """Make a claimed mailbox public again; needs its password (or an admin).
        Raises NotClaimed, AccessDenied (wrong password), RateLimited."""
        address = self._mailboxes.address(raw_address)
        self._limiter.hit("claim", f"ip:{ip}", f"address:{address}")
        require_scope(principal, Action.WRITE)
        mailbox = await self._store.get_mailbox(address)
        if mailbox is None or mailbox.kind is not MailboxKind.CLAIMED:
            raise NotClaimed(address)
        if not principal.is_admin:
            stored_hash = await self._store.mailbox_password_hash(address)
            if stored_hash is None or not await self._verify(stored_hash, password):
                raise AccessDenied("wrong mailbox password", needs_credentials=True)
        released = await self._store.release_mailbox(address)
        if released is None:
            raise NotClaimed(address)
        mailbox, events = released
        self._bus.publish(events)
        return mailbox

    async def set_message_cap(
        self, principal: Principal, raw_address: str, max_messages: int | None
    ) -> None:
        """Set (or with None clear) the mailbox's own message cap; admins only. Applies at
        once on this node and within the policy poll interval on the others. Raises
        MailboxNotFound, ValueError for a cap below 1."""
        authorize_admin(principal)
        if max_messages is not None and max_messages < 1:
            raise ValueError("a message cap must be at least 1")
        address = self._mailboxes.address(raw_address)
        if not await self._store.set_mailbox_cap(address, max_messages):
            raise MailboxNotFound(address)
        await self._policy.refresh()

    async def status(self, principal: Principal, raw_address: str) -> ClaimStatus:
        """Whether the address exists and is claimed; readable by anyone (dynip)."""
        address = self._mailboxes.address(raw_address)
        mailbox = await self._store.get_mailbox(address)
        kind = mailbox.kind if mailbox is not None else MailboxKind.PUBLIC
        return ClaimStatus(
            address=address,
            exists=mailbox is not None,
            kind=kind,
            claimed=kind is not MailboxKind.PUBLIC,
        )

    async def _verify(self, stored_hash: str, password: str) -> bool:
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        async with self._hashing:
            return await asyncio.to_thread(self._hasher.verify, stored_hash, password)

    # -- quotas -----------------------------------------------------------------------
    async def check_delivery(self, address: str, size: int) -> DeliveryVerdict:
        """Whether one more message of `size` bytes may be stored at `address`: on a
        private domain only an existing owned mailbox receives (NO_SUCH_MAILBOX); then
        the mailbox's message cap (its own, else the default) and, for an owned
        mailbox, the account's size quota (its own, else the default). Called by SMTP
        at RCPT (size from the SIZE parameter, else 0) and at end of DATA.

        No read at all for an address off private domains when no default is
        configured and no account or mailbox has its own limit
        (PolicyService.quota_rules_exist: a limit set on another node applies within
        the policy poll interval); else one read (the mailbox) when no cap or quota
        applies. A message counts at least one byte, so a full quota refuses even at
        RCPT without SIZE."""
        private = self._mailboxes.private_owner(address) is not None
        if (
            not private
            and self._default_max_messages is None
            and self._default_quota_bytes is None
            and not self._policy.quota_rules_exist
        ):
            return DeliveryVerdict.OK
        mailbox = await self._store.get_mailbox(address)
        if private and (mailbox is None or mailbox.kind is not MailboxKind.OWNED):
            return DeliveryVerdict.NO_SUCH_MAILBOX
        if mailbox is None:
            return DeliveryVerdict.OK  # created by this message: empty, owned by no one
        cap = (
            mailbox.max_messages
            if mailbox.max_messages is not None
            else (self._default_max_messages)
        )
        if cap is not None:
            usage = await self._store.mailbox_usage(address)
            if usage.messages >= cap:
                return DeliveryVerdict.MAILBOX_FULL
        if mailbox.kind is MailboxKind.OWNED and mailbox.owner_account_id is not None:
            account = await self._store.get_account(mailbox.owner_account_id)
            quota = self._quota_of(account) if account is not None else None
            if quota is not None:
                used = await self._store.account_usage(mailbox.owner_account_id)
                if used.bytes + max(size, 1) > quota:
                    return DeliveryVerdict.OVER_QUOTA
        return DeliveryVerdict.OK
