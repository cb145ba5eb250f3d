"""The one access check: every read or write of a mailbox goes through `authorize`.

Every surface (REST v1 and compatibility routes, WebSocket and SSE, wait, search,
downloads, IMAP commands, later MCP tools and webhooks) first turns its
credentials into a `Principal` (services/accounts.py: `AccountService.principal_*`)
and then asks this module. Nothing else decides who may do what.

Rules (SPEC: Concepts, Mailbox kinds; HTTP authentication):
- Admins (role admin, through a session or a token with the admin scope) may do
  everything.
- A token's scopes bound everything its request does, public mailboxes included:
  `read` reads only; `write` also changes and deletes; `admin` also the admin routes.
- public: anyone, as long as the deployment leaves public reading on.
- claimed: whoever proved the mailbox password in this request or IMAP login.
- owned: the owning account.
- A mailbox that does not exist yet reads as an empty public one (anyone may watch
  an address before its first message), so answers never reveal whether it exists.
- Global reads (all mailboxes, global search, the all-mailbox event stream): admins,
  or anyone in the open dev mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from ephemail.domain.accounts import ALL_SCOPES, Account, Scope
from ephemail.domain.messages import Mailbox, MailboxKind


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    DELETE = "delete"


class Via(StrEnum):
    """How the principal proved who it is (for logs and rate-limit keys)."""

    ANONYMOUS = "anonymous"
    # Names of credential kinds, not secrets (S105).
    API_TOKEN = "api_token"  # noqa: S105
    SESSION = "session"
    IMAP_TOKEN = "imap_token"  # noqa: S105
    MAILBOX_PASSWORD = "mailbox_password"  # noqa: S105
    OPERATOR = "operator"  # the `ephemail` CLI on the server itself: an admin


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking.

    - `account`: the signed-in account (session, API token or IMAP app token), or None.
    - `scopes`: what this request may do. Sessions and anonymous callers have all
      scopes; the admin scope counts only for admin accounts.
    - `unlocked`: normalised addresses whose mailbox password this request proved.
    - `mailbox_password`: a mailbox password presented but not checked yet (HTTP
      header `X-Mailbox-Password`); `Authorizer.check` verifies it against the
      mailbox the request turns out to touch. Never logged (repr=False).
    - `unlock_proofs`: (address, proof) pairs from the signed `ephemail_unlock`
      cookie a browser got from `POST /api/v1/mailboxes/{address}/unlock`; checked
      like a password (a proof dies when the claim is released or re-claimed).
    """

    account: Account | None = None
    scopes: frozenset[Scope] = ALL_SCOPES
    unlocked: frozenset[str] = field(default_factory=frozenset)
    via: Via = Via.ANONYMOUS
    mailbox_password: str | None = field(default=None, repr=False)
    unlock_proofs: frozenset[tuple[str, str]] = field(default_factory=frozenset, repr=False)

    @classmethod
    def anonymous(cls) -> Principal:
        return cls()

    @classmethod
    def operator(cls) -> Principal:
        """The person at the server's console (`ephemail user ...`): an admin."""
        return cls(via=Via.OPERATOR)

    @property
    def is_anonymous(self) -> bool:
        return self.account is None and not self.unlocked and self.via is not Via.OPERATOR

    @property
    def is_admin(self) -> bool:
        if self.via is Via.OPERATOR:
            return True
        return self.account is not None and self.account.is_admin and Scope.ADMIN in self.scopes

    def may(self, action: Action) -> bool:
        """Whether the scopes allow `action` at all (write implies read; admin both)."""
        if action is Action.READ:
            return bool(self.scopes & {Scope.READ, Scope.WRITE, Scope.ADMIN})
        return bool(self.scopes & {Scope.WRITE, Scope.ADMIN})

    def with_unlocked(self, address: str) -> Principal:
        return replace(self, unlocked=self.unlocked | {address})


class AccessDenied(Exception):
    """The principal may not do this. `needs_credentials` is True when the caller
    sent none that could help (HTTP 401 instead of 403)."""

    def __init__(self, message: str, *, needs_credentials: bool = False) -> None:
        super().__init__(message)
        self.needs_credentials = needs_credentials


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The deployment's switches.

    - `public_read`: public mailboxes are readable by anyone who knows the address.
    - `open_mode`: the open dev mode: global listing, global search and the
      all-mailbox event stream for everyone; IMAP accepts any password for a public
      mailbox.
    """

    public_read: bool = True
    open_mode: bool = True


def require_scope(principal: Principal, action: Action) -> None:
    """Raise AccessDenied unless the principal's scopes allow `action` at all."""
    if not principal.may(action):
        raise AccessDenied(f"this token's scopes do not allow {action.value}")


def authorize(
    policy: AccessPolicy, principal: Principal, action: Action, mailbox: Mailbox | None
) -> None:
    """Raise AccessDenied unless `principal` may do `action` on `mailbox`."""
    require_scope(principal, action)
    if principal.is_admin:
        return
    kind = mailbox.kind if mailbox is not None else MailboxKind.PUBLIC
    if kind is MailboxKind.PUBLIC:
        if policy.public_read:
            return
        raise AccessDenied(
            "public mailboxes are not readable on this server",
            needs_credentials=principal.account is None,
        )
    assert mailbox is not None
    if kind is MailboxKind.CLAIMED:
        if mailbox.address in principal.unlocked:
            return
        raise AccessDenied(
            "this mailbox is claimed: its password is needed", needs_credentials=True
        )
    # OWNED
    if principal.account is not None and principal.account.id == mailbox.owner_account_id:
        return
    raise AccessDenied(
        "this mailbox belongs to an account", needs_credentials=principal.account is None
    )


def authorize_global(policy: AccessPolicy, principal: Principal, action: Action) -> None:
    """Raise AccessDenied unless `principal` may `action` across every mailbox at once
    (global search, listing all mailboxes, the all-mailbox event stream)."""
    require_scope(principal, action)
    if principal.is_admin or policy.open_mode:
        return
    raise AccessDenied(
        f"{action.value} across all mailboxes is for admins",
        needs_credentials=principal.account is None,
    )


def authorize_admin(principal: Principal) -> None:
    """Raise AccessDenied unless `principal` is an admin (admin routes and pages)."""
    if principal.is_admin:
        return
    raise AccessDenied("admins only", needs_credentials=principal.account is None)


def authorize_account(principal: Principal) -> Account:
    """The principal's account, or AccessDenied (401) when there is none
    (account routes: me, tokens, owned mailboxes)."""
    if principal.account is None:
        raise AccessDenied("sign in first", needs_credentials=True)
    return principal.account


class MailboxUnlocker(Protocol):
    """Checks mailbox passwords and unlock proofs (AccountService implements it)."""

    async def verify_mailbox_password(self, mailbox: Mailbox, password: str) -> bool: ...

    async def verify_unlock_proof(self, mailbox: Mailbox, proof: str) -> bool: ...


class Authorizer:
    """`authorize` with the one asynchronous step it needs: a mailbox password (or
    unlock proof) the principal presented is verified against the claimed mailbox
    the request touches. Services hold one and call `check`."""

    def __init__(self, policy: AccessPolicy, unlocker: MailboxUnlocker | None = None) -> None:
        self.policy = policy
        self._unlocker = unlocker

    def set_unlocker(self, unlocker: MailboxUnlocker) -> None:
        """Wire the verifier once the account service exists (app.py)."""
        self._unlocker = unlocker

    async def unlock(self, principal: Principal, mailbox: Mailbox | None) -> Principal:
        """`principal`, with `mailbox` unlocked when it presented that mailbox's
        password or a valid unlock proof. A wrong one is not an error here:
        `authorize` then denies."""
        if (
            mailbox is None
            or mailbox.kind is not MailboxKind.CLAIMED
            or mailbox.address in principal.unlocked
            or self._unlocker is None
        ):
            return principal
        if principal.mailbox_password is not None and await self._unlocker.verify_mailbox_password(
            mailbox, principal.mailbox_password
        ):
            return principal.with_unlocked(mailbox.address)
        for address, proof in principal.unlock_proofs:
            if address == mailbox.address and await self._unlocker.verify_unlock_proof(
                mailbox, proof
            ):
                return principal.with_unlocked(mailbox.address)
        return principal

    async def check(self, principal: Principal, action: Action, mailbox: Mailbox | None) -> None:
        """Raise AccessDenied unless `principal` may do `action` on `mailbox`."""
        authorize(self.policy, await self.unlock(principal, mailbox), action, mailbox)

    def check_global(self, principal: Principal, action: Action) -> None:
        authorize_global(self.policy, principal, action)
