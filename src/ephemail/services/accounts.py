"""Accounts and credentials: registration, passwords, web sessions, API and IMAP
tokens, and turning any presented credential into a `Principal`.

Secrets: passwords are hashed with Argon2id (PasswordHasher port); tokens and
session secrets are 256-bit random values stored as SHA-256 digests and compared in
constant time; the key that signs cookies and CSRF tokens comes from configuration
or is generated on first start and kept in the store. Nothing here logs a secret.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ephemail.domain.accounts import (
    ALL_SCOPES,
    MAX_PASSWORD_LENGTH,
    TOKEN_PUBLIC_ID_HEX,
    Account,
    AccountEmailError,
    IssuedToken,
    Role,
    Scope,
    SubscriptionStatus,
    TokenInfo,
    TokenKind,
    check_password_policy,
    digest_matches,
    format_token,
    normalize_account_email,
    parse_token,
    secret_digest,
    subscription_allows,
    token_prefix,
)
from ephemail.domain.domains import domain_covers
from ephemail.domain.messages import Mailbox, MailboxKind
from ephemail.ports import Clock, EventBus, PasswordHasher, Store
from ephemail.services.access import (
    AccessDenied,
    Action,
    Principal,
    Via,
    authorize_account,
    authorize_admin,
    require_scope,
)
from ephemail.services.ratelimit import RateLimited, RateLimiter

SESSION_COOKIE = "ephemail_session"
CSRF_HEADER = "X-CSRF-Token"
MAILBOX_PASSWORD_HEADER = "X-Mailbox-Password"  # noqa: S105 (a header name)
MAX_TOKEN_NAME_LENGTH = 100
MAX_CONCURRENT_HASHES = 2  # Argon2 computations at once, per service

_SIGNING_KEY_NAME = "session"
_TOUCH_INTERVAL = timedelta(minutes=1)  # last_used_at is written at most this often
_SESSION_SWEEP_INTERVAL = timedelta(hours=1)
_PASSWORD_CACHE_TTL = timedelta(minutes=1)
_PASSWORD_CACHE_SIZE = 4096


class InvalidCredentials(Exception):
    """Wrong email/password, unknown/expired/revoked token or bad cookie. The
    message is for the server log (never contains the secret); clients get a
    generic text."""


class RegistrationClosed(Exception):
    """Registration is off, or the email's domain is not in `registration_domains`."""


class AccountNotFound(Exception):
    """No such account (CLI, admin routes)."""


class TokenNotFound(Exception):
    """No such token of this account (revoke)."""


@dataclass(frozen=True, slots=True)
class AccountSettings:
    registration_enabled: bool
    registration_domains: tuple[str, ...]
    enforce_subscriptions: bool
    session_secret: str | None  # None: generated once and kept in the store
    session_max_age: float  # seconds
    default_quota_bytes: int | None


@dataclass(frozen=True, slots=True)
class SessionGrant:
    """A new web session: the cookie value to set (HttpOnly, SameSite=Lax) and the
    CSRF token the page must echo in `X-CSRF-Token` on writes."""

    account: Account
    cookie_value: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SessionPrincipal:
    """A valid session cookie: the principal and the CSRF token that goes with it."""

    principal: Principal
    session_id: int
    csrf_token: str


def _utc(moment: datetime | None) -> datetime | None:
    """The same instant in UTC (the store keeps UTC; a naive time is taken as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


async def target_account(store: Store, principal: Principal, account_id: int | None) -> Account:
    """The caller's own account, or `account_id`'s when the caller is an admin (the CLI
    operator has no account and always names one). Raises AccessDenied, AccountNotFound."""
    own = principal.account
    if account_id is None or (own is not None and own.id == account_id):
        return authorize_account(principal)
    authorize_admin(principal)
    account = await store.get_account(account_id)
    if account is None:
        raise AccountNotFound(f"no account {account_id}")
    return account


class AccountService:
    """Everything about accounts and their credentials. Public methods that act for a
    caller take its `Principal` and check it (admin-only ones with
    `authorize_admin`, own-account ones with `authorize_account`)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        hasher: PasswordHasher,
        limiter: RateLimiter,
        settings: AccountSettings,
        *,
        bus: EventBus | None = None,
        after_quota_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._after_quota_change = after_quota_change  # PolicyService.refresh in app.py
        self._clock = clock
        self._hasher = hasher
        self._limiter = limiter
        self._settings = settings
        self._bus = bus
        self._signing_key: bytes | None = None
        self._dummy_hash: str | None = None
        # Positive mailbox-password checks: (address, keyed password digest, stored
        # hash) -> valid until. Keyed with a per-process random key, so the cache never
        # holds a plain unsalted digest of a password.
        self._cache_key = secrets.token_bytes(32)
        self._password_cache: OrderedDict[tuple[str, str, str], datetime] = OrderedDict()
        self._next_session_sweep: datetime | None = None
        # Argon2 runs in worker threads; a few at a time bound its memory (64 MiB each)
        # and leave the shared thread pool to other work (parsing at ingest) in a flood.
        self._hashing = asyncio.Semaphore(MAX_CONCURRENT_HASHES)

    async def start(self) -> None:
        """Load (or generate and store) the signing key; call once before serving."""
        configured = self._settings.session_secret
        if configured:
            key = configured
        else:
            key = await self._store.server_secret(_SIGNING_KEY_NAME, secrets.token_urlsafe(48))
        self._signing_key = key.encode("utf-8")
        # A hash with the current parameters, verified for unknown emails so that a
        # login answers in the same time whether the account exists or not.
        self._dummy_hash = await self._hash(secrets.token_urlsafe(24))
        await self._sweep_sessions()

    # -- helpers -----------------------------------------------------------------
    def _sign(self, message: str) -> str:
        """HMAC-SHA256 of `message` under the signing key, url-safe base64 without `=`."""
        if self._signing_key is None:
            raise RuntimeError("AccountService.start() was not awaited")
        mac = hmac.new(self._signing_key, message.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def _csrf_token(self, session_id: int) -> str:
        return self._sign(f"csrf:{session_id}")

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, stored_hash: str, password: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(self._hasher.verify, stored_hash, password)

    def _count_failure(self, bucket: str, *keys: str) -> None:
        """Count a failed attempt. Already over the limit: the failure itself is still
        answered as a failure; the next attempt gets RateLimited from `check`."""
        with contextlib.suppress(RateLimited):
            self._limiter.hit(bucket, *keys)

    async def _touch(self, info: TokenInfo, now: datetime) -> None:
        """Record a token's use, at most once a minute per token."""
        if info.last_used_at is None or now - info.last_used_at >= _TOUCH_INTERVAL:
            await self._store.touch_token(info.id, now)

    async def _sweep_sessions(self) -> None:
        """Delete expired sessions (at start, then at most hourly on login)."""
        now = self._clock.now()
        if self._next_session_sweep is not None and now < self._next_session_sweep:
            return
        self._next_session_sweep = now + _SESSION_SWEEP_INTERVAL
        await self._store.delete_expired_sessions(now)

    async def _target_account(self, principal: Principal, account_id: int | None) -> Account:
        return await target_account(self._store, principal, account_id)

    @staticmethod
    def _require(principal: Principal, action: Action) -> None:
        require_scope(principal, action)

    # -- accounts --------------------------------------------------------------
    async def register(self, email: str, password: str, *, ip: str) -> Account:
        """Self-service registration (role user, subscription inactive). Raises
        RegistrationClosed, AccountEmailError, PasswordPolicyError, ConflictError
        (email taken), RateLimited (bucket "login", keys ip)."""
        self._limiter.hit("login", f"ip:{ip}")
        if not self._settings.registration_enabled:
            raise RegistrationClosed("registration is closed on this server")
        normalized = normalize_account_email(email)
        allowed = self._settings.registration_domains
        domain = normalized.rpartition("@")[2]
        if allowed and not any(domain_covers(pattern, domain) for pattern in allowed):
            raise RegistrationClosed(f"registration is not open to addresses on {domain}")
        return await self.add_account(normalized, password)

    async def add_account(
        self,
        email: str,
        password: str,
        *,
        role: Role = Role.USER,
        subscription_status: SubscriptionStatus = SubscriptionStatus.INACTIVE,
        subscription_ends_at: datetime | None = None,
        quota_bytes: int | None = None,
    ) -> Account:
        """Create an account without the registration rules (CLI, admin route).
        Raises AccountEmailError, PasswordPolicyError, ConflictError."""
        normalized = normalize_account_email(email)
        check_password_policy(password)
        if quota_bytes is not None and quota_bytes < 0:
            raise ValueError("a quota cannot be negative")
        account = await self._store.create_account(
            normalized,
            await self._hash(password),
            role=role,
            subscription_status=subscription_status,
            subscription_ends_at=_utc(subscription_ends_at),
            quota_bytes=quota_bytes,
        )
        if quota_bytes is not None:
            await self._quota_changed()
        return account

    async def _quota_changed(self) -> None:
        """This node enforces a new quota at once (others within the policy poll)."""
        if self._after_quota_change is not None:
            await self._after_quota_change()

    async def login(self, email: str, password: str, *, ip: str) -> SessionGrant:
        """Check the password and open a web session. Raises RateLimited (bucket
        "login", keys ip and email; failures alone are counted) or
        InvalidCredentials (same answer for an unknown email and a wrong password;
        the hash is still computed for unknown emails so timing does not tell)."""
        try:
            normalized: str | None = normalize_account_email(email)
        except AccountEmailError:
            normalized = None
        keys = (f"ip:{ip}", f"email:{normalized or email.strip().lower()[:320]}")
        self._limiter.check("login", *keys)
        if len(password) > MAX_PASSWORD_LENGTH:
            self._count_failure("login", *keys)
            raise InvalidCredentials("login with an over-long password")
        found = await self._store.account_by_email(normalized) if normalized else None
        if found is None:
            assert self._dummy_hash is not None, "AccountService.start() was not awaited"
            await self._verify(self._dummy_hash, password)
            self._count_failure("login", *keys)
            raise InvalidCredentials("login for an unknown email")
        account, stored_hash = found
        if not await self._verify(stored_hash, password):
            self._count_failure("login", *keys)
            raise InvalidCredentials(f"wrong password for account {account.id}")
        if self._hasher.needs_rehash(stored_hash):
            await self._store.update_account(account.id, password_hash=await self._hash(password))
        await self._sweep_sessions()
        return await self._open_session(account)

    async def _open_session(self, account: Account) -> SessionGrant:
        secret = secrets.token_urlsafe(32)
        now = self._clock.now()
        session = await self._store.create_session(
            account.id,
            secret_digest(secret),
            created_at=now,
            expires_at=now + timedelta(seconds=self._settings.session_max_age),
        )
        signed = f"{session.id}.{secret}"
        return SessionGrant(
            account=account,
            cookie_value=f"{signed}.{self._sign(signed)}",
            csrf_token=self._csrf_token(session.id),
            expires_at=session.expires_at,
        )

    async def logout(self, session_id: int) -> None:
        await self._store.delete_session(session_id)

    async def account_by_email(self, email: str) -> Account | None:
        try:
            normalized = normalize_account_email(email)
        except AccountEmailError:
            return None
        found = await self._store.account_by_email(normalized)
        return found[0] if found is not None else None

    async def get_account(self, principal: Principal, account_id: int) -> Account:
        """An account by id: admins any, others their own. Raises AccountNotFound."""
        return await self._target_account(principal, account_id)

    async def list_accounts(self, principal: Principal) -> list[Account]:
        """Admins only."""
        authorize_admin(principal)
        return await self._store.list_accounts()

    async def update_account(
        self,
        principal: Principal,
        account_id: int,
        *,
        role: Role | None = None,
        subscription_status: SubscriptionStatus | None = None,
        subscription_ends_at: datetime | None = None,
        quota_bytes: int | None = None,
        password: str | None = None,
        clear_subscription_ends_at: bool = False,
        clear_quota_bytes: bool = False,
    ) -> Account:
        """Admins only (the CLI passes an admin principal). Raises AccountNotFound.

        None leaves a field as it is; `clear_subscription_ends_at` and
        `clear_quota_bytes` set those to None (no end date; the deployment default).
        Raises PasswordPolicyError, ValueError (negative quota)."""
        authorize_admin(principal)
        changes: dict[str, Any] = {}
        if role is not None:
            changes["role"] = role
        if subscription_status is not None:
            changes["subscription_status"] = subscription_status
        if clear_subscription_ends_at:
            changes["subscription_ends_at"] = None
        elif subscription_ends_at is not None:
            changes["subscription_ends_at"] = _utc(subscription_ends_at)
        if clear_quota_bytes:
            changes["quota_bytes"] = None
        elif quota_bytes is not None:
            if quota_bytes < 0:
                raise ValueError("a quota cannot be negative")
            changes["quota_bytes"] = quota_bytes
        if password is not None:
            check_password_policy(password)
            changes["password_hash"] = await self._hash(password)
        if changes:
            updated = await self._store.update_account(account_id, **changes)
        else:
            updated = await self._store.get_account(account_id)
        if updated is None:
            raise AccountNotFound(f"no account {account_id}")
        if "quota_bytes" in changes:
            await self._quota_changed()
        return updated

    async def delete_account(self, principal: Principal, account_id: int) -> None:
        """Admins, or the account itself. Deletes its owned mailboxes (events
        published). Raises AccountNotFound."""
        own = principal.account
        if own is not None and own.id == account_id:
            self._require(principal, Action.DELETE)
        else:
            authorize_admin(principal)
        events = await self._store.delete_account(account_id)
        if events is None:
            raise AccountNotFound(f"no account {account_id}")
        if self._bus is not None:
            self._bus.publish(events)

    # -- principals ----------------------------------------------------------------
    async def principal_from_bearer(self, token: str, *, ip: str) -> Principal:
        """An API token's principal (scopes of the token; admin scope only counts for
        admin accounts). Raises InvalidCredentials for anything else, RateLimited
        (bucket "login", key ip) after repeated failures. Updates `last_used_at`
        (at most once a minute per token)."""
        key = f"ip:{ip}"
        self._limiter.check("login", key)
        try:
            info, account, now = await self._valid_token(token, TokenKind.API)
        except InvalidCredentials:
            self._count_failure("login", key)
            raise
        await self._touch(info, now)
        scopes = info.scopes if account.is_admin else info.scopes - {Scope.ADMIN}
        return Principal(account=account, scopes=frozenset(scopes), via=Via.API_TOKEN)

    async def _valid_token(
        self, token: str, kind: TokenKind
    ) -> tuple[TokenInfo, Account, datetime]:
        """The usable token of `kind` that `token` is, with its account and the time
        of the check; InvalidCredentials with the reason otherwise (never the secret:
        at most the public prefix)."""
        parsed = parse_token(token)
        if parsed is None:
            raise InvalidCredentials("not an ephemail token")
        if parsed.kind is not kind:
            raise InvalidCredentials(f"a {parsed.kind.value} token where {kind.value} is needed")
        prefix = token_prefix(parsed.kind, parsed.public_id)
        found = await self._store.token_by_public_id(parsed.public_id)
        if found is None:
            raise InvalidCredentials(f"unknown token {prefix}")
        info, digest = found
        if not digest_matches(parsed.secret, digest) or info.kind is not kind:
            raise InvalidCredentials(f"wrong secret for token {prefix}")
        now = self._clock.now()
        if info.revoked_at is not None:
            raise InvalidCredentials(f"token {prefix} is revoked")
        if not info.usable(now):
            raise InvalidCredentials(f"token {prefix} has expired")
        account = await self._store.get_account(info.account_id)
        if account is None:
            raise InvalidCredentials(f"token {prefix} has no account")
        return info, account, now

    async def principal_from_session(self, cookie_value: str) -> SessionPrincipal | None:
        """The session's principal (all scopes), or None for a missing, forged,
        expired or logged-out cookie (the caller then serves it as anonymous)."""
        parts = cookie_value.strip().split(".")
        if len(parts) != 3 or not cookie_value.isascii():
            return None
        raw_id, secret, signature = parts
        if not (raw_id.isdigit() and len(raw_id) <= 18) or not secret:
            return None
        if not hmac.compare_digest(self._sign(f"{raw_id}.{secret}"), signature):
            return None
        session = await self._store.get_session(int(raw_id))
        if session is None or not digest_matches(secret, session.digest):
            return None
        if self._clock.now() >= session.expires_at:
            await self._store.delete_session(session.id)
            return None
        account = await self._store.get_account(session.account_id)
        if account is None:
            return None
        return SessionPrincipal(
            principal=Principal(account=account, scopes=ALL_SCOPES, via=Via.SESSION),
            session_id=session.id,
            csrf_token=self._csrf_token(session.id),
        )

    def csrf_matches(self, session: SessionPrincipal, presented: str | None) -> bool:
        """Constant-time check of the CSRF token echoed by a cookie-authenticated
        write."""
        if not presented:
            return False
        return hmac.compare_digest(
            session.csrf_token.encode("ascii"), presented.encode("utf-8", "surrogatepass")
        )

    async def imap_login(self, email: str, token: str) -> Principal:
        """The Cybertemp IMAP login: account email (any case) and an IMAP app token of
        that account, usable, and a subscription that allows it when
        `enforce_subscriptions`. Updates `last_used_at`. Raises InvalidCredentials
        with the exact reason (for the server log)."""
        try:
            normalized = normalize_account_email(email)
        except AccountEmailError:
            raise InvalidCredentials("the login name is not an account email") from None
        try:
            info, account, now = await self._valid_token(token, TokenKind.IMAP)
        except InvalidCredentials as exc:
            raise InvalidCredentials(f"{normalized}: {exc}") from None
        if account.email != normalized:
            raise InvalidCredentials(f"{normalized}: the token belongs to another account")
        if self._settings.enforce_subscriptions and not subscription_allows(account, now):
            raise InvalidCredentials(
                f"{normalized}: subscription {account.subscription_status.value} "
                "does not allow IMAP"
            )
        await self._touch(info, now)
        return Principal(account=account, scopes=ALL_SCOPES, via=Via.IMAP_TOKEN)

    # -- mailbox passwords ---------------------------------------------------------
    def _cache_entry(self, address: str, password: str, stored_hash: str) -> tuple[str, str, str]:
        keyed = hmac.new(
            self._cache_key, password.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).hexdigest()
        return address, keyed, stored_hash

    async def _mailbox_hash_if_valid(self, mailbox: Mailbox, password: str) -> str | None:
        """The claimed mailbox's current password hash when `password` matches it.

        Each Argon2 check (a cache miss) counts against the address in the "login"
        bucket when it fails, so presenting guesses in `X-Mailbox-Password` is no
        faster a way to brute-force a claim than the unlock route (RateLimited)."""
        if mailbox.kind is not MailboxKind.CLAIMED or len(password) > MAX_PASSWORD_LENGTH:
            return None
        stored_hash = await self._store.mailbox_password_hash(mailbox.address)
        if stored_hash is None:
            return None
        entry = self._cache_entry(mailbox.address, password, stored_hash)
        now = self._clock.now()
        valid_until = self._password_cache.get(entry)
        if valid_until is not None and now < valid_until:
            return stored_hash
        key = f"address:{mailbox.address}"
        self._limiter.check("login", key)
        if not await self._verify(stored_hash, password):
            self._count_failure("login", key)
            return None
        self._password_cache[entry] = now + _PASSWORD_CACHE_TTL
        self._password_cache.move_to_end(entry)
        while len(self._password_cache) > _PASSWORD_CACHE_SIZE:
            self._password_cache.popitem(last=False)
        return stored_hash

    async def verify_mailbox_password(self, mailbox: Mailbox, password: str) -> bool:
        """Whether `password` is the claimed mailbox's password (Argon2id; a positive
        answer is cached for a minute so each request does not pay for the hash).
        Wired into `Authorizer` as its unlocker. Raises RateLimited (bucket "login",
        key the address) after repeated wrong passwords for the mailbox."""
        return await self._mailbox_hash_if_valid(mailbox, password) is not None

    async def unlock_proof(
        self, mailbox: Mailbox, password: str, *, ip: str | None = None
    ) -> str | None:
        """A proof for the `ephemail_unlock` cookie when `password` is the claimed
        mailbox's password (HMAC of the address and the current password hash under
        the signing key), else None. Rate limited like a login: bucket "login", keys
        the address and `ip` when given; failures alone count (RateLimited)."""
        ip_keys = (f"ip:{ip}",) if ip is not None else ()
        self._limiter.check("login", *ip_keys)
        stored_hash = await self._mailbox_hash_if_valid(mailbox, password)
        if stored_hash is None:
            self._count_failure("login", *ip_keys)
            return None
        return self._sign(f"unlock:{mailbox.address}:{stored_hash}")

    async def verify_unlock_proof(self, mailbox: Mailbox, proof: str) -> bool:
        """Whether `proof` was made by `unlock_proof` for the mailbox's current claim."""
        if mailbox.kind is not MailboxKind.CLAIMED or not proof.isascii():
            return False
        stored_hash = await self._store.mailbox_password_hash(mailbox.address)
        if stored_hash is None:
            return False
        expected = self._sign(f"unlock:{mailbox.address}:{stored_hash}")
        return hmac.compare_digest(expected, proof)

    # -- tokens ----------------------------------------------------------------------
    async def create_token(
        self,
        principal: Principal,
        *,
        kind: TokenKind,
        name: str,
        scopes: frozenset[Scope] = frozenset(),
        expires_at: datetime | None = None,
        account_id: int | None = None,
    ) -> IssuedToken:
        """A new token for the caller's account (or `account_id`, admins only). API
        tokens need at least one scope and may not exceed the caller's (admin only
        for admin accounts); IMAP tokens have none. The caller needs the write scope
        (a read-only token cannot mint tokens). Raises AccessDenied, AccountNotFound,
        ValueError for an empty name, a missing scope or an expiry in the past."""
        self._require(principal, Action.WRITE)
        account = await self._target_account(principal, account_id)
        name = name.strip()
        if not name:
            raise ValueError("a token needs a name")
        if len(name) > MAX_TOKEN_NAME_LENGTH:
            raise ValueError(f"a token name has at most {MAX_TOKEN_NAME_LENGTH} characters")
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            raise ValueError("the expiry is in the past")
        scopes = frozenset(Scope(scope) for scope in scopes)
        if kind is TokenKind.API:
            if not scopes:
                raise ValueError("an API token needs at least one scope")
            if Scope.ADMIN in scopes and not account.is_admin:
                raise AccessDenied("only admin accounts get tokens with the admin scope")
            if principal.via is not Via.OPERATOR and not scopes <= principal.scopes:
                raise AccessDenied("a token cannot have scopes its creator does not hold")
        elif scopes:
            raise ValueError("IMAP app tokens have no scopes")
        public_id = secrets.token_hex(TOKEN_PUBLIC_ID_HEX // 2)
        secret = secrets.token_urlsafe(32)
        info = await self._store.create_token(
            account.id,
            kind=kind,
            name=name,
            scopes=scopes,
            public_id=public_id,
            digest=secret_digest(secret),
            expires_at=expires_at,
        )
        return IssuedToken(info=info, secret=format_token(kind, public_id, secret))

    async def list_tokens(
        self, principal: Principal, *, account_id: int | None = None
    ) -> list[TokenInfo]:
        """The account's tokens (never their secrets), newest first."""
        self._require(principal, Action.READ)
        account = await self._target_account(principal, account_id)
        return await self._store.list_tokens(account.id)

    async def revoke_token(
        self, principal: Principal, token_id: int, *, account_id: int | None = None
    ) -> None:
        """Raises TokenNotFound (also for another account's token)."""
        self._require(principal, Action.WRITE)
        account = await self._target_account(principal, account_id)
        if not await self._store.revoke_token(
            token_id, account_id=account.id, now=self._clock.now()
        ):
            raise TokenNotFound(f"no token {token_id}")
