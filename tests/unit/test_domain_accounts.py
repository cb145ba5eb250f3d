"""Pure account rules: token strings, digests, the password policy, account emails,
subscriptions and token usability (SPEC: Concepts, Account; IMAP logins)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ephemail.domain.accounts import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    Account,
    AccountEmailError,
    PasswordPolicyError,
    Role,
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

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

PUBLIC_ID = st.from_regex(r"[0-9a-f]{16}", fullmatch=True)
SECRET = st.from_regex(r"[A-Za-z0-9_-]{43}", fullmatch=True)


# -- token strings ---------------------------------------------------------------------
@given(kind=st.sampled_from(TokenKind), public_id=PUBLIC_ID, secret=SECRET)
def test_token_round_trip(kind: TokenKind, public_id: str, secret: str) -> None:
    text = format_token(kind, public_id, secret)
    parsed = parse_token(text)
    assert parsed is not None
    assert (parsed.kind, parsed.public_id, parsed.secret) == (kind, public_id, secret)
    assert text.startswith(token_prefix(kind, public_id) + "_")
    # Surrounding white space (a pasted token) is tolerated.
    assert parse_token(f"  {text}\n") == parsed


def test_tokens_as_the_service_makes_them_parse() -> None:
    for kind in TokenKind:
        secret = secrets.token_urlsafe(32)
        text = format_token(kind, secrets.token_hex(8), secret)
        assert len(secret) == 43
        parsed = parse_token(text)
        assert parsed is not None and parsed.secret == secret


@pytest.mark.parametrize(
    "text",
    [
        "",
        "eph_api_",
        "eph_web_0123456789abcdef_" + "a" * 43,  # unknown kind
        "eph_api_0123456789ABCDEF_" + "a" * 43,  # upper-case hex
        "eph_api_0123456789abcde_" + "a" * 43,  # short public id
        "eph_api_0123456789abcdef_" + "a" * 42,  # short secret
        "eph_api_0123456789abcdef_" + "a" * 44,  # long secret
        "eph_api_0123456789abcdef_" + "a" * 42 + "=",  # padding is not url-safe b64
        "eph_api_0123456789abcdef_" + "a" * 42 + ".",
        "EPH_API_0123456789abcdef_" + "a" * 43,
        "Bearer eph_api_0123456789abcdef_" + "a" * 43,
        "eph_api_0123456789abcdef_" + "a" * 43 + "\x00",
    ],
)
def test_parse_token_rejects_what_is_not_ours(text: str) -> None:
    assert parse_token(text) is None


@given(st.text(max_size=120))
def test_parse_token_never_raises(text: str) -> None:
    parsed = parse_token(text)
    if parsed is not None:
        assert format_token(parsed.kind, parsed.public_id, parsed.secret) == text.strip()


@given(SECRET, SECRET)
def test_digest_matches_only_its_secret(secret: str, other: str) -> None:
    digest = secret_digest(secret)
    assert len(digest) == 64 and digest != secret
    assert digest_matches(secret, digest)
    assert digest_matches(other, digest) == (other == secret)


def test_digest_matches_tolerates_non_ascii_input() -> None:
    assert not digest_matches("sécret", secret_digest("secret"))


# -- passwords ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "password",
    [
        "a" * MIN_PASSWORD_LENGTH,
        "correct horse battery staple",
        "  spaced  ",
        "ü" * 8,
        "x" * MAX_PASSWORD_LENGTH,
    ],
)
def test_password_policy_accepts(password: str) -> None:
    check_password_policy(password)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "at least"),
        ("a" * (MIN_PASSWORD_LENGTH - 1), "at least"),
        ("x" * (MAX_PASSWORD_LENGTH + 1), "at most"),
        (" " * 12, "only spaces"),
        ("\t\n  \r\n  ", "only spaces"),
    ],
)
def test_password_policy_refuses(password: str, reason: str) -> None:
    with pytest.raises(PasswordPolicyError, match=reason):
        check_password_policy(password)


def test_password_policy_error_is_a_value_error() -> None:
    assert issubclass(PasswordPolicyError, ValueError)


# -- account emails ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  bob@example.org \n", "bob@example.org"),
        ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
    ],
)
def test_normalize_account_email(raw: str, expected: str) -> None:
    assert normalize_account_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "alice",
        "alice@",
        "@example.com",
        "alice@localhost",
        "a b@example.com",
        "a@b@example.com",
        "x" * 65 + "@example.com",
        "alice@exa mple.com",
    ],
)
def test_normalize_account_email_refuses(raw: str) -> None:
    with pytest.raises(AccountEmailError):
        normalize_account_email(raw)


@given(st.text(max_size=80))
def test_normalize_account_email_is_idempotent(raw: str) -> None:
    try:
        email = normalize_account_email(raw)
    except AccountEmailError:
        return
    assert normalize_account_email(email) == email
    assert email == email.strip().lower()


# -- subscriptions -----------------------------------------------------------------------
def account(status: SubscriptionStatus, ends_at: datetime | None = None) -> Account:
    return Account(
        id=1,
        email="a@example.com",
        role=Role.USER,
        subscription_status=status,
        subscription_ends_at=ends_at,
        quota_bytes=None,
        created_at=NOW,
    )


@pytest.mark.parametrize(
    ("status", "ends_at", "allowed"),
    [
        (SubscriptionStatus.ACTIVE, None, True),
        (SubscriptionStatus.ACTIVE, NOW - timedelta(days=1), True),
        (SubscriptionStatus.TRIALING, None, True),
        (SubscriptionStatus.PAST_DUE, NOW + timedelta(seconds=1), True),
        (SubscriptionStatus.PAST_DUE, NOW, False),
        (SubscriptionStatus.PAST_DUE, NOW - timedelta(days=1), False),
        (SubscriptionStatus.PAST_DUE, None, False),
        (SubscriptionStatus.INACTIVE, None, False),
        (SubscriptionStatus.INACTIVE, NOW + timedelta(days=30), False),
    ],
)
def test_subscription_allows(
    status: SubscriptionStatus, ends_at: datetime | None, allowed: bool
) -> None:
    assert subscription_allows(account(status, ends_at), NOW) is allowed


def test_role_admin() -> None:
    assert not account(SubscriptionStatus.ACTIVE).is_admin
    admin = Account(1, "root@example.com", Role.ADMIN, SubscriptionStatus.INACTIVE, None, None, NOW)
    assert admin.is_admin


# -- token usability -----------------------------------------------------------------------
def token(expires_at: datetime | None = None, revoked_at: datetime | None = None) -> TokenInfo:
    return TokenInfo(
        id=1,
        account_id=1,
        kind=TokenKind.IMAP,
        name="phone",
        scopes=frozenset(),
        prefix="eph_imap_0123456789abcdef",
        created_at=NOW - timedelta(days=1),
        expires_at=expires_at,
        last_used_at=None,
        revoked_at=revoked_at,
    )


@pytest.mark.parametrize(
    ("expires_at", "revoked_at", "usable"),
    [
        (None, None, True),
        (NOW + timedelta(seconds=1), None, True),
        (NOW, None, False),
        (NOW - timedelta(hours=1), None, False),
        (None, NOW - timedelta(hours=1), False),
        (NOW + timedelta(days=1), NOW - timedelta(hours=1), False),
    ],
)
def test_token_usable(
    expires_at: datetime | None, revoked_at: datetime | None, usable: bool
) -> None:
    assert token(expires_at, revoked_at).usable(NOW) is usable
