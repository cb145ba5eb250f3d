"""Accounts, their credentials and the rules on them (SPEC: Concepts, Account).

Pure: no I/O. Password hashing (Argon2id) lives in an adapter behind the
`PasswordHasher` port; tokens are random secrets whose SHA-256 is stored, so
this module only formats and parses them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"


class SubscriptionStatus(StrEnum):
    """The Cybertemp subscription states."""

    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    INACTIVE = "inactive"


class Scope(StrEnum):
    """What an API token may do: `read` reads, `write` also changes and deletes,
    `admin` also uses the admin routes (only for accounts with the admin role)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)


class TokenKind(StrEnum):
    """API tokens authenticate HTTP (and MCP); IMAP app tokens only IMAP logins."""

    API = "api"
    IMAP = "imap"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str  # normalised: trimmed, lowercased (compared case-insensitively)
    role: Role
    subscription_status: SubscriptionStatus
    subscription_ends_at: datetime | None
    quota_bytes: int | None  # None: the deployment default (settings.account_quota_bytes)
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def subscription_allows(account: Account, now: datetime) -> bool:
    """SPEC IMAP logins: `active` or `trialing`, or `past_due` before its end date."""
    status = account.subscription_status
    if status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
        return True
    if status is SubscriptionStatus.PAST_DUE:
        return account.subscription_ends_at is not None and now < account.subscription_ends_at
    return False


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never its secret."""

    id: int
    account_id: int
    kind: TokenKind
    name: str
    scopes: frozenset[Scope]  # empty for IMAP tokens
    prefix: str  # the public part, e.g. "eph_api_3f9c2a1b", to recognise it in a list
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def usable(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: `secret` is the whole token string, shown once."""

    info: TokenInfo
    secret: str


# -- token strings -------------------------------------------------------------------
# eph_<kind>_<public id>_<secret>: the public id (16 hex) finds the row, the secret
# (43 url-safe base64 chars = 256 bits) is checked against its stored SHA-256 in
# constant time. Random 256-bit secrets need no slow hash; passwords do (Argon2id).
TOKEN_PUBLIC_ID_HEX = 16
_TOKEN_RE = re.compile(r"^eph_(api|imap)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class ParsedToken:
    kind: TokenKind
    public_id: str
    secret: str


def format_token(kind: TokenKind, public_id: str, secret: str) -> str:
    return f"eph_{kind.value}_{public_id}_{secret}"


def token_prefix(kind: TokenKind, public_id: str) -> str:
    return f"eph_{kind.value}_{public_id}"


def parse_token(text: str) -> ParsedToken | None:
    """The parts of a token string, or None when it is not one of ours."""
    match = _TOKEN_RE.match(text.strip())
    if match is None:
        return None
    return ParsedToken(TokenKind(match.group(1)), match.group(2), match.group(3))


def secret_digest(secret: str) -> str:
    """What is stored for a token or session secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


def digest_matches(secret: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented secret with a stored digest."""
    return hmac.compare_digest(secret_digest(secret), stored_digest)


# -- passwords -----------------------------------------------------------------------
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


class PasswordPolicyError(ValueError):
    """The password does not meet the policy; the message says why."""


def check_password_policy(password: str) -> None:
    """One policy for account and mailbox passwords: 8 to 1024 characters, not only
    spaces. (Length beats composition rules: NIST SP 800-63B section 5.1.1.2.)"""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise PasswordPolicyError("the password cannot be only spaces")


_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")


class AccountEmailError(ValueError):
    """Not a usable account email."""


def normalize_account_email(raw: str) -> str:
    """Account emails are trimmed and lowercased; compared case-insensitively (SPEC)."""
    email = raw.strip().lower()
    if not _EMAIL_RE.match(email) or "." not in email.rpartition("@")[2]:
        raise AccountEmailError(f"not an email address: {raw.strip()[:80]!r}")
    return email
