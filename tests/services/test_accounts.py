"""AccountService over a real store (SQLite and PostgreSQL), the real Argon2 hasher (at
its cheapest parameters) and the real rate limiter on a hand-moved clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ephemail.adapters.crypto.passwords import Argon2PasswordHasher
from ephemail.adapters.events.memory import InProcessEventBus
from ephemail.adapters.sql.store import SqlStore
from ephemail.domain.accounts import (
    ALL_SCOPES,
    AccountEmailError,
    PasswordPolicyError,
    Role,
    Scope,
    SubscriptionStatus,
    TokenKind,
    parse_token,
    token_prefix,
)
from ephemail.domain.events import Event, EventType
from ephemail.domain.messages import MailboxKind
from ephemail.domain.policy import AcceptMode, AcceptPolicy
from ephemail.ports import ConflictError
from ephemail.services.access import (
    AccessDenied,
    AccessPolicy,
    Action,
    Authorizer,
    Principal,
    Via,
)
from ephemail.services.accounts import (
    AccountNotFound,
    AccountService,
    AccountSettings,
    InvalidCredentials,
    RegistrationClosed,
    SessionGrant,
    TokenNotFound,
)
from ephemail.services.mailboxes import MailboxService
from ephemail.services.policy import PolicyService
from ephemail.services.ratelimit import Limit, RateLimited, RateLimiter

PASSWORD = "correct horse battery"
START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class ManualClock:
    """Wall clock and monotonic clock the test moves together."""

    def __init__(self) -> None:
        self.current = START
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        self.mono += seconds


class CountingHasher:
    """The real hasher, counting how often the slow functions run."""

    def __init__(self, inner: Argon2PasswordHasher) -> None:
        self.inner = inner
        self.hashes = 0
        self.verifies = 0

    def hash(self, password: str) -> str:
        self.hashes += 1
        return self.inner.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        self.verifies += 1
        return self.inner.verify(stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self.inner.needs_rehash(stored_hash)


def settings(**overrides: object) -> AccountSettings:
    values: dict[str, object] = {
        "registration_enabled": True,
        "registration_domains": (),
        "enforce_subscriptions": False,
        "session_secret": None,
        "session_max_age": 3600.0,
        "default_quota_bytes": None,
    }
    values.update(overrides)
    return AccountSettings(**values)  # type: ignore[arg-type]


@dataclass
class World:
    store: SqlStore
    clock: ManualClock
    hasher: CountingHasher
    limiter: RateLimiter
    bus: InProcessEventBus
    accounts: AccountService


async def build(
    store: SqlStore,
    *,
    hasher: Argon2PasswordHasher | None = None,
    login_burst: int = 5,
    **overrides: object,
) -> World:
    clock = ManualClock()
    counting = CountingHasher(hasher or Argon2PasswordHasher.cheapest())
    limiter = RateLimiter(
        {"login": Limit(10, login_burst), "claim": Limit(10, 5), "api": Limit(600, 60)},
        monotonic=clock.monotonic,
    )
    bus = InProcessEventBus()
    service = AccountService(store, clock, counting, limiter, settings(**overrides), bus=bus)
    await service.start()
    return World(store, clock, counting, limiter, bus, service)


@pytest.fixture
async def world(store: SqlStore) -> World:
    return await build(store)


async def signed_in(world: World, email: str = "alice@example.com") -> Principal:
    account = await world.accounts.add_account(email, PASSWORD)
    return Principal(account=account, via=Via.SESSION)


async def admin(world: World) -> Principal:
    account = await world.accounts.add_account("root@example.com", PASSWORD, role=Role.ADMIN)
    return Principal(account=account, via=Via.SESSION)


# -- signing key -----------------------------------------------------------------------------
async def test_generated_signing_key_is_shared_through_the_store(world: World) -> None:
    await world.accounts.add_account("alice@example.com", PASSWORD)
    grant = await world.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")
    other_node = await build(world.store)
    session = await other_node.accounts.principal_from_session(grant.cookie_value)
    assert session is not None
    assert session.csrf_token == grant.csrf_token


async def test_configured_signing_key_is_used(world: World) -> None:
    configured = await build(world.store, session_secret="k" * 48)
    await configured.accounts.add_account("alice@example.com", PASSWORD)
    grant = await configured.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")
    assert await configured.accounts.principal_from_session(grant.cookie_value) is not None
    # A node with the stored (generated) key does not accept that signature.
    assert await world.accounts.principal_from_session(grant.cookie_value) is None


# -- registration ----------------------------------------------------------------------------
async def test_register_creates_a_plain_user(world: World) -> None:
    account = await world.accounts.register(" Alice@Example.COM ", PASSWORD, ip="10.0.0.1")
    assert account.email == "alice@example.com"
    assert account.role is Role.USER
    assert account.subscription_status is SubscriptionStatus.INACTIVE
    assert account.quota_bytes is None
    assert await world.accounts.account_by_email("ALICE@example.com") == account
    found = await world.store.account_by_email("alice@example.com")
    assert found is not None and found[1].startswith("$argon2id$")
    assert PASSWORD not in found[1]


async def test_register_refusals(world: World) -> None:
    with pytest.raises(AccountEmailError):
        await world.accounts.register("not an email", PASSWORD, ip="10.0.0.1")
    with pytest.raises(PasswordPolicyError):
        await world.accounts.register("bob@example.com", "short", ip="10.0.0.2")
    await world.accounts.register("bob@example.com", PASSWORD, ip="10.0.0.3")
    with pytest.raises(ConflictError):
        await world.accounts.register("BOB@example.com", PASSWORD, ip="10.0.0.4")


async def test_registration_closed(store: SqlStore) -> None:
    closed = await build(store, registration_enabled=False)
    with pytest.raises(RegistrationClosed):
        await closed.accounts.register("alice@example.com", PASSWORD, ip="10.0.0.1")
    # The operator still adds accounts.
    await closed.accounts.add_account("alice@example.com", PASSWORD)


async def test_registration_limited_to_domains(store: SqlStore) -> None:
    limited = await build(store, registration_domains=("example.com", "corp.test"))
    await limited.accounts.register("a@example.com", PASSWORD, ip="10.0.0.1")
    await limited.accounts.register("b@eu.example.com", PASSWORD, ip="10.0.0.2")
    await limited.accounts.register("c@CORP.test", PASSWORD, ip="10.0.0.3")
    for email in ("d@notexample.com", "e@example.com.evil.test", "f@other.test"):
        with pytest.raises(RegistrationClosed):
            await limited.accounts.register(email, PASSWORD, ip="10.0.0.4")
    assert await limited.accounts.account_by_email("d@notexample.com") is None


async def test_register_is_rate_limited_per_ip(world: World) -> None:
    for n in range(5):
        await world.accounts.register(f"user{n}@example.com", PASSWORD, ip="10.0.0.9")
    with pytest.raises(RateLimited) as limited:
        await world.accounts.register("user9@example.com", PASSWORD, ip="10.0.0.9")
    assert limited.value.bucket == "login"
    assert await world.accounts.account_by_email("user9@example.com") is None
    await world.accounts.register("user9@example.com", PASSWORD, ip="10.0.0.10")


# -- login and sessions --------------------------------------------------------------------
async def test_login_opens_a_session(world: World) -> None:
    account = await world.accounts.add_account("alice@example.com", PASSWORD)
    grant = await world.accounts.login("ALICE@example.com ", PASSWORD, ip="10.0.0.1")
    assert isinstance(grant, SessionGrant)
    assert grant.account == account
    assert grant.expires_at == START + timedelta(seconds=3600)
    assert PASSWORD not in grant.cookie_value
    session = await world.accounts.principal_from_session(grant.cookie_value)
    assert session is not None
    assert session.principal.account == account
    assert session.principal.via is Via.SESSION
    assert session.principal.scopes == ALL_SCOPES
    assert world.accounts.csrf_matches(session, grant.csrf_token)
    assert not world.accounts.csrf_matches(session, None)
    assert not world.accounts.csrf_matches(session, "")
    assert not world.accounts.csrf_matches(session, grant.csrf_token + "x")
    assert not world.accounts.csrf_matches(session, "é" * len(grant.csrf_token))


async def test_each_login_gets_its_own_session_and_csrf(world: World) -> None:
    await world.accounts.add_account("alice@example.com", PASSWORD)
    first = await world.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")
    second = await world.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")
    assert first.cookie_value != second.cookie_value
    assert first.csrf_token != second.csrf_token
    session = await world.accounts.principal_from_session(second.cookie_value)
    assert session is not None and not world.accounts.csrf_matches(session, first.csrf_token)


async def test_login_failures_are_the_same_for_unknown_and_wrong(world: World) -> None:
    await world.accounts.add_account("alice@example.com", PASSWORD)
    before = world.hasher.verifies
    with pytest.raises(InvalidCredentials) as wrong:
        await world.accounts.login("alice@example.com", "not the password", ip="10.0.0.1")
    with pytest.raises(InvalidCredentials) as unknown:
        await world.accounts.login("nobody@example.com", PASSWORD, ip="10.0.0.2")
    with pytest.raises(InvalidCredentials):
        await world.accounts.login("not an email", PASSWORD, ip="10.0.0.3")
    # Every attempt paid for one Argon2 verification, known email or not.
    assert world.hasher.verifies - before == 3
    for exc in (wrong.value, unknown.value):
        assert PASSWORD not in str(exc) and "not the password" not in str(exc)


async def test_failed_logins_are_rate_limited_per_email_and_ip(world: World) -> None:
    await world.accounts.add_account("alice@example.com", PASSWORD)
    for n in range(5):
        with pytest.raises(InvalidCredentials):
            await world.accounts.login("alice@example.com", f"guess-number-{n}", ip=f"10.1.0.{n}")
    # The email is locked for a while, even with the right password from a fresh IP.
    with pytest.raises(RateLimited) as limited:
        await world.accounts.login("alice@example.com", PASSWORD, ip="10.2.0.1")
    assert limited.value.retry_after > 0
    world.clock.advance(6.0)
    await world.accounts.login("alice@example.com", PASSWORD, ip="10.2.0.1")


async def test_successful_logins_are_not_counted(world: World) -> None:
    await world.accounts.add_account("alice@example.com", PASSWORD)
    for _ in range(12):
        await world.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")


async def test_over_long_password_fails_without_hashing(world: World) -> None:
    await world.accounts.add_account("alice@example.com", PASSWORD)
    before = world.hasher.verifies
    with pytest.raises(InvalidCredentials):
        await world.accounts.login("alice@example.com", "x" * 5000, ip="10.0.0.1")
    assert world.hasher.verifies == before


async def test_login_rehashes_old_parameters(store: SqlStore) -> None:
    old = await build(store)  # cheapest parameters
    await old.accounts.add_account("alice@example.com", PASSWORD)
    found = await store.account_by_email("alice@example.com")
    assert found is not None and "m=8,t=1,p=1" in found[1]
    stronger = await build(
        store, hasher=Argon2PasswordHasher(time_cost=2, memory_cost_kib=64, parallelism=1)
    )
    await stronger.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")
    found = await store.account_by_email("alice@example.com")
    assert found is not None and "m=64,t=2,p=1" in found[1]
    await stronger.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")


async def test_logout_ends_the_session(world: World) -> None:
    await world.accounts.add_account("alice@example.com", PASSWORD)
    grant = await world.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")
    session = await world.accounts.principal_from_session(grant.cookie_value)
    assert session is not None
    await world.accounts.logout(session.session_id)
    assert await world.accounts.principal_from_session(grant.cookie_value) is None


async def test_session_expires(world: World) -> None:
    await world.accounts.add_account("alice@example.com", PASSWORD)
    grant = await world.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")
    world.clock.advance(3599)
    assert await world.accounts.principal_from_session(grant.cookie_value) is not None
    world.clock.advance(2)
    assert await world.accounts.principal_from_session(grant.cookie_value) is None


async def test_forged_cookies_are_anonymous(world: World) -> None:
    await world.accounts.add_account("alice@example.com", PASSWORD)
    grant = await world.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")
    session_id, secret, signature = grant.cookie_value.split(".")
    other_secret = ("A" if secret[0] != "A" else "B") + secret[1:]
    forged = [
        "",
        "garbage",
        "1.2",
        "a.b.c",
        f"{session_id}.{secret}",
        f"{session_id}.{secret}.{signature}x",
        f"{session_id}.{other_secret}.{signature}",
        f"{int(session_id) + 1}.{secret}.{signature}",
        f"{session_id}.{secret}.{signature}.extra",
        f"{session_id}.{secret}.{'é' * len(signature)}",
        f"-{session_id}.{secret}.{signature}",
        f"{'9' * 40}.{secret}.{signature}",
    ]
    for value in forged:
        assert await world.accounts.principal_from_session(value) is None, value
    assert await world.accounts.principal_from_session(grant.cookie_value) is not None


async def test_session_with_valid_signature_but_wrong_secret_is_refused(world: World) -> None:
    """The signature alone is not enough: the secret must match the stored digest
    (a leaked signing key does not open sessions)."""
    accounts = world.accounts
    await accounts.add_account("alice@example.com", PASSWORD)
    grant = await accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")
    session_id = grant.cookie_value.split(".")[0]
    fake_secret = "x" * 43
    signed = f"{session_id}.{fake_secret}"
    forged = f"{signed}.{accounts._sign(signed)}"
    assert await accounts.principal_from_session(forged) is None


async def test_session_of_deleted_account_is_anonymous(world: World) -> None:
    account = await world.accounts.add_account("alice@example.com", PASSWORD)
    grant = await world.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")
    await world.accounts.delete_account(Principal(account=account, via=Via.SESSION), account.id)
    assert await world.accounts.principal_from_session(grant.cookie_value) is None


# -- API tokens --------------------------------------------------------------------------------
async def test_api_token_round_trip(world: World) -> None:
    alice = await signed_in(world)
    issued = await world.accounts.create_token(
        alice, kind=TokenKind.API, name=" ci ", scopes=frozenset({Scope.READ})
    )
    parsed = parse_token(issued.secret)
    assert parsed is not None and parsed.kind is TokenKind.API and len(parsed.secret) == 43
    assert issued.info.prefix == token_prefix(TokenKind.API, parsed.public_id)
    assert issued.info.name == "ci"
    assert issued.info.scopes == frozenset({Scope.READ})
    principal = await world.accounts.principal_from_bearer(issued.secret, ip="10.0.0.1")
    assert principal.account == alice.account
    assert principal.scopes == frozenset({Scope.READ})
    assert principal.via is Via.API_TOKEN
    listed = await world.accounts.list_tokens(alice)
    assert [t.id for t in listed] == [issued.info.id]
    assert parsed.secret not in repr(listed)


async def test_last_used_is_written_at_most_once_a_minute(world: World) -> None:
    alice = await signed_in(world)
    issued = await world.accounts.create_token(
        alice, kind=TokenKind.API, name="ci", scopes=frozenset({Scope.READ})
    )
    assert issued.info.last_used_at is None
    await world.accounts.principal_from_bearer(issued.secret, ip="10.0.0.1")
    [info] = await world.accounts.list_tokens(alice)
    assert info.last_used_at == START
    world.clock.advance(30)
    await world.accounts.principal_from_bearer(issued.secret, ip="10.0.0.1")
    [info] = await world.accounts.list_tokens(alice)
    assert info.last_used_at == START
    world.clock.advance(31)
    await world.accounts.principal_from_bearer(issued.secret, ip="10.0.0.1")
    [info] = await world.accounts.list_tokens(alice)
    assert info.last_used_at == START + timedelta(seconds=61)


async def test_bad_bearer_tokens_are_refused(world: World) -> None:
    alice = await signed_in(world)
    api = await world.accounts.create_token(
        alice, kind=TokenKind.API, name="ci", scopes=frozenset({Scope.WRITE})
    )
    imap = await world.accounts.create_token(alice, kind=TokenKind.IMAP, name="phone")
    parsed = parse_token(api.secret)
    assert parsed is not None
    wrong_secret = api.secret[:-1] + ("A" if api.secret[-1] != "A" else "B")
    unknown_id = f"eph_api_{'0' * 16}_{parsed.secret}"
    for n, token in enumerate(
        ["", "Bearer x", "eph_api_nothing", wrong_secret, unknown_id, imap.secret]
    ):
        with pytest.raises(InvalidCredentials) as refused:
            await world.accounts.principal_from_bearer(token, ip=f"10.0.1.{n}")
        assert parsed.secret not in str(refused.value)


async def test_revoked_and_expired_tokens_are_refused(world: World) -> None:
    alice = await signed_in(world)
    revoked = await world.accounts.create_token(
        alice, kind=TokenKind.API, name="old", scopes=frozenset({Scope.READ})
    )
    expiring = await world.accounts.create_token(
        alice,
        kind=TokenKind.API,
        name="short",
        scopes=frozenset({Scope.READ}),
        expires_at=START + timedelta(hours=1),
    )
    await world.accounts.revoke_token(alice, revoked.info.id)
    with pytest.raises(InvalidCredentials, match="revoked"):
        await world.accounts.principal_from_bearer(revoked.secret, ip="10.0.0.1")
    await world.accounts.principal_from_bearer(expiring.secret, ip="10.0.0.2")
    world.clock.advance(3600)
    with pytest.raises(InvalidCredentials, match="expired"):
        await world.accounts.principal_from_bearer(expiring.secret, ip="10.0.0.3")
    listed = {t.id: t for t in await world.accounts.list_tokens(alice)}
    assert listed[revoked.info.id].revoked_at is not None


async def test_bearer_failures_are_rate_limited_per_ip(world: World) -> None:
    alice = await signed_in(world)
    good = await world.accounts.create_token(
        alice, kind=TokenKind.API, name="ci", scopes=frozenset({Scope.READ})
    )
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await world.accounts.principal_from_bearer("eph_api_bad", ip="10.0.0.66")
    with pytest.raises(RateLimited):
        await world.accounts.principal_from_bearer(good.secret, ip="10.0.0.66")
    # Other callers are not affected; good tokens are never counted.
    for _ in range(20):
        await world.accounts.principal_from_bearer(good.secret, ip="10.0.0.7")


async def test_admin_scope_counts_only_for_admin_accounts(world: World) -> None:
    root = await admin(world)
    issued = await world.accounts.create_token(
        root, kind=TokenKind.API, name="ops", scopes=frozenset({Scope.ADMIN, Scope.READ})
    )
    principal = await world.accounts.principal_from_bearer(issued.secret, ip="10.0.0.1")
    assert principal.is_admin
    assert root.account is not None
    await world.accounts.update_account(root, root.account.id, role=Role.USER)
    demoted = await world.accounts.principal_from_bearer(issued.secret, ip="10.0.0.1")
    assert not demoted.is_admin
    assert demoted.scopes == frozenset({Scope.READ})


async def test_create_token_rules(world: World) -> None:
    alice = await signed_in(world)
    assert alice.account is not None
    with pytest.raises(ValueError, match="scope"):
        await world.accounts.create_token(alice, kind=TokenKind.API, name="none")
    with pytest.raises(AccessDenied):
        await world.accounts.create_token(
            alice, kind=TokenKind.API, name="admin", scopes=frozenset({Scope.ADMIN})
        )
    with pytest.raises(ValueError, match="name"):
        await world.accounts.create_token(
            alice, kind=TokenKind.API, name="  ", scopes=frozenset({Scope.READ})
        )
    with pytest.raises(ValueError, match="name"):
        await world.accounts.create_token(
            alice, kind=TokenKind.API, name="n" * 101, scopes=frozenset({Scope.READ})
        )
    with pytest.raises(ValueError, match="past"):
        await world.accounts.create_token(
            alice,
            kind=TokenKind.IMAP,
            name="phone",
            expires_at=START - timedelta(seconds=1),
        )
    with pytest.raises(ValueError, match="scopes"):
        await world.accounts.create_token(
            alice, kind=TokenKind.IMAP, name="phone", scopes=frozenset({Scope.READ})
        )
    # A read-only token cannot mint tokens, not even read-only ones.
    read_only = replace(alice, scopes=frozenset({Scope.READ}), via=Via.API_TOKEN)
    with pytest.raises(AccessDenied):
        await world.accounts.create_token(
            read_only, kind=TokenKind.API, name="copy", scopes=frozenset({Scope.READ})
        )
    with pytest.raises(AccessDenied):
        await world.accounts.create_token(read_only, kind=TokenKind.IMAP, name="phone")
    with pytest.raises(AccessDenied) as anonymous:
        await world.accounts.create_token(Principal.anonymous(), kind=TokenKind.IMAP, name="phone")
    assert anonymous.value.needs_credentials
    assert await world.accounts.list_tokens(alice) == []


async def test_token_scopes_do_not_exceed_the_callers(world: World) -> None:
    root = await admin(world)
    writer = replace(root, scopes=frozenset({Scope.READ, Scope.WRITE}), via=Via.API_TOKEN)
    with pytest.raises(AccessDenied):
        await world.accounts.create_token(
            writer, kind=TokenKind.API, name="escalate", scopes=frozenset({Scope.ADMIN})
        )
    issued = await world.accounts.create_token(
        writer, kind=TokenKind.API, name="same", scopes=frozenset({Scope.WRITE})
    )
    assert issued.info.scopes == frozenset({Scope.WRITE})


async def test_tokens_of_other_accounts(world: World) -> None:
    alice = await signed_in(world)
    bob = await signed_in(world, "bob@example.com")
    root = await admin(world)
    assert alice.account is not None and bob.account is not None
    issued = await world.accounts.create_token(alice, kind=TokenKind.IMAP, name="phone")
    with pytest.raises(AccessDenied):
        await world.accounts.list_tokens(bob, account_id=alice.account.id)
    with pytest.raises(AccessDenied):
        await world.accounts.create_token(
            bob, kind=TokenKind.IMAP, name="x", account_id=alice.account.id
        )
    with pytest.raises(TokenNotFound):
        await world.accounts.revoke_token(bob, issued.info.id)
    with pytest.raises(TokenNotFound):
        await world.accounts.revoke_token(alice, 999_999)
    assert [t.id for t in await world.accounts.list_tokens(root, account_id=alice.account.id)] == [
        issued.info.id
    ]
    # The CLI operator (no account) acts on a named account.
    by_operator = await world.accounts.create_token(
        Principal.operator(), kind=TokenKind.IMAP, name="cli", account_id=bob.account.id
    )
    assert by_operator.info.account_id == bob.account.id
    with pytest.raises(AccountNotFound):
        await world.accounts.create_token(
            Principal.operator(), kind=TokenKind.IMAP, name="cli", account_id=999_999
        )
    await world.accounts.revoke_token(root, issued.info.id, account_id=alice.account.id)
    [revoked] = await world.accounts.list_tokens(alice)
    assert revoked.revoked_at is not None


# -- IMAP logins -------------------------------------------------------------------------------
async def test_imap_login(world: World) -> None:
    alice = await signed_in(world)
    issued = await world.accounts.create_token(alice, kind=TokenKind.IMAP, name="phone")
    principal = await world.accounts.imap_login("Alice@EXAMPLE.com", issued.secret)
    assert principal.account == alice.account
    assert principal.via is Via.IMAP_TOKEN
    assert principal.scopes == ALL_SCOPES
    [info] = await world.accounts.list_tokens(alice)
    assert info.last_used_at == START


async def test_imap_login_refusals_say_why(world: World) -> None:
    alice = await signed_in(world)
    await signed_in(world, "bob@example.com")
    imap = await world.accounts.create_token(
        alice, kind=TokenKind.IMAP, name="phone", expires_at=START + timedelta(days=1)
    )
    api = await world.accounts.create_token(
        alice, kind=TokenKind.API, name="ci", scopes=frozenset({Scope.READ})
    )
    cases = [
        ("bob@example.com", imap.secret, "another account"),
        ("alice@example.com", api.secret, "api"),
        ("alice@example.com", "hunter2hunter2", "not an ephemail token"),
        ("alice", imap.secret, "not an account email"),
        ("alice@example.com", imap.secret[:-2] + "zz", "wrong secret"),
    ]
    for email, token, reason in cases:
        with pytest.raises(InvalidCredentials, match=reason) as refused:
            await world.accounts.imap_login(email, token)
        assert token not in str(refused.value)
    world.clock.advance(86400)
    with pytest.raises(InvalidCredentials, match="expired"):
        await world.accounts.imap_login("alice@example.com", imap.secret)


async def test_imap_login_of_revoked_token(world: World) -> None:
    alice = await signed_in(world)
    imap = await world.accounts.create_token(alice, kind=TokenKind.IMAP, name="phone")
    await world.accounts.revoke_token(alice, imap.info.id)
    with pytest.raises(InvalidCredentials, match="revoked"):
        await world.accounts.imap_login("alice@example.com", imap.secret)


@pytest.mark.parametrize(
    ("status", "ends_in_days", "allowed"),
    [
        (SubscriptionStatus.ACTIVE, None, True),
        (SubscriptionStatus.TRIALING, None, True),
        (SubscriptionStatus.PAST_DUE, 3, True),
        (SubscriptionStatus.PAST_DUE, -1, False),
        (SubscriptionStatus.INACTIVE, None, False),
    ],
)
async def test_imap_login_with_enforced_subscriptions(
    store: SqlStore, status: SubscriptionStatus, ends_in_days: int | None, allowed: bool
) -> None:
    enforcing = await build(store, enforce_subscriptions=True)
    ends_at = START + timedelta(days=ends_in_days) if ends_in_days is not None else None
    account = await enforcing.accounts.add_account(
        "alice@example.com", PASSWORD, subscription_status=status, subscription_ends_at=ends_at
    )
    issued = await enforcing.accounts.create_token(
        Principal(account=account, via=Via.SESSION), kind=TokenKind.IMAP, name="phone"
    )
    if allowed:
        await enforcing.accounts.imap_login("alice@example.com", issued.secret)
    else:
        with pytest.raises(InvalidCredentials, match="subscription"):
            await enforcing.accounts.imap_login("alice@example.com", issued.secret)


async def test_subscriptions_not_enforced_by_default(world: World) -> None:
    alice = await signed_in(world)  # inactive subscription
    issued = await world.accounts.create_token(alice, kind=TokenKind.IMAP, name="phone")
    await world.accounts.imap_login("alice@example.com", issued.secret)


# -- accounts administration -------------------------------------------------------------------
async def test_admin_manages_accounts(world: World) -> None:
    root = await admin(world)
    alice = await signed_in(world)
    assert alice.account is not None
    with pytest.raises(AccessDenied):
        await world.accounts.list_accounts(alice)
    with pytest.raises(AccessDenied):
        await world.accounts.update_account(alice, alice.account.id, role=Role.ADMIN)
    emails = [a.email for a in await world.accounts.list_accounts(root)]
    assert emails == ["root@example.com", "alice@example.com"]
    ends = START + timedelta(days=30)
    updated = await world.accounts.update_account(
        root,
        alice.account.id,
        subscription_status=SubscriptionStatus.PAST_DUE,
        subscription_ends_at=ends,
        quota_bytes=1000,
    )
    assert (updated.subscription_status, updated.subscription_ends_at, updated.quota_bytes) == (
        SubscriptionStatus.PAST_DUE,
        ends,
        1000,
    )
    untouched = await world.accounts.update_account(root, alice.account.id)
    assert untouched == updated
    cleared = await world.accounts.update_account(
        root, alice.account.id, clear_quota_bytes=True, clear_subscription_ends_at=True
    )
    assert cleared.quota_bytes is None and cleared.subscription_ends_at is None
    with pytest.raises(ValueError, match="negative"):
        await world.accounts.update_account(root, alice.account.id, quota_bytes=-1)
    with pytest.raises(AccountNotFound):
        await world.accounts.update_account(root, 999_999, role=Role.USER)
    with pytest.raises(PasswordPolicyError):
        await world.accounts.update_account(root, alice.account.id, password="short")


async def test_operator_changes_a_password(world: World) -> None:
    alice = await signed_in(world)
    assert alice.account is not None
    await world.accounts.update_account(
        Principal.operator(), alice.account.id, password="a brand new password"
    )
    with pytest.raises(InvalidCredentials):
        await world.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")
    await world.accounts.login("alice@example.com", "a brand new password", ip="10.0.0.1")


async def test_delete_account(world: World) -> None:
    root = await admin(world)
    alice = await signed_in(world)
    bob = await signed_in(world, "bob@example.com")
    assert alice.account is not None and bob.account is not None
    await world.store.create_owned_mailbox("mine@alice.test", alice.account.id, adopt_public=False)
    with pytest.raises(AccessDenied):
        await world.accounts.delete_account(bob, alice.account.id)
    read_only = replace(alice, scopes=frozenset({Scope.READ}), via=Via.API_TOKEN)
    with pytest.raises(AccessDenied):
        await world.accounts.delete_account(read_only, alice.account.id)
    subscription = world.bus.subscribe()
    await world.accounts.delete_account(alice, alice.account.id)
    subscription.close()
    events: list[Event] = [e async for e in subscription]
    assert (EventType.MAILBOX_DELETED, "mine@alice.test") in [(e.type, e.mailbox) for e in events]
    assert await world.store.get_mailbox("mine@alice.test") is None
    assert await world.accounts.account_by_email("alice@example.com") is None
    with pytest.raises(AccountNotFound):
        await world.accounts.delete_account(root, alice.account.id)
    await world.accounts.delete_account(root, bob.account.id)
    assert root.account is not None
    assert await world.accounts.get_account(root, root.account.id) == root.account
    with pytest.raises(AccountNotFound):
        await world.accounts.get_account(root, bob.account.id)


async def test_add_account_validates(world: World) -> None:
    with pytest.raises(AccountEmailError):
        await world.accounts.add_account("nope", PASSWORD)
    with pytest.raises(PasswordPolicyError):
        await world.accounts.add_account("a@example.com", " " * 10)
    admin_account = await world.accounts.add_account(
        "Root@Example.com", PASSWORD, role=Role.ADMIN, quota_bytes=5
    )
    assert admin_account.is_admin and admin_account.quota_bytes == 5
    with pytest.raises(ConflictError):
        await world.accounts.add_account("root@example.com", PASSWORD)


# -- mailbox passwords and unlock proofs -------------------------------------------------------
async def claimed_mailbox(world: World, address: str, password: str) -> None:
    await world.store.claim_mailbox(address, world.hasher.inner.hash(password))


async def test_verify_mailbox_password(world: World) -> None:
    await claimed_mailbox(world, "locked@temp.test", "mailbox secret")
    _, _ = await world.store.create_mailbox("open@temp.test")
    locked = await world.store.get_mailbox("locked@temp.test")
    public = await world.store.get_mailbox("open@temp.test")
    assert locked is not None and locked.kind is MailboxKind.CLAIMED
    assert public is not None
    assert await world.accounts.verify_mailbox_password(locked, "mailbox secret")
    assert not await world.accounts.verify_mailbox_password(locked, "wrong secret")
    assert not await world.accounts.verify_mailbox_password(locked, "x" * 5000)
    assert not await world.accounts.verify_mailbox_password(public, "mailbox secret")


async def test_positive_password_checks_are_cached_for_a_minute(world: World) -> None:
    await claimed_mailbox(world, "locked@temp.test", "mailbox secret")
    locked = await world.store.get_mailbox("locked@temp.test")
    assert locked is not None
    assert await world.accounts.verify_mailbox_password(locked, "mailbox secret")
    verifies = world.hasher.verifies
    for _ in range(5):
        assert await world.accounts.verify_mailbox_password(locked, "mailbox secret")
    assert world.hasher.verifies == verifies
    # Wrong passwords are never cached as right, and always pay.
    assert not await world.accounts.verify_mailbox_password(locked, "mailbox secreT")
    assert world.hasher.verifies == verifies + 1
    world.clock.advance(61)
    assert await world.accounts.verify_mailbox_password(locked, "mailbox secret")
    assert world.hasher.verifies == verifies + 2


async def test_presented_password_guesses_are_rate_limited(world: World) -> None:
    """X-Mailbox-Password on every request is no brute-force oracle: wrong guesses
    count against the address; a password already proven (cached) still works."""
    await claimed_mailbox(world, "locked@temp.test", "mailbox secret")
    locked = await world.store.get_mailbox("locked@temp.test")
    assert locked is not None
    assert await world.accounts.verify_mailbox_password(locked, "mailbox secret")
    for n in range(5):
        assert not await world.accounts.verify_mailbox_password(locked, f"guess {n} guess")
    verifies = world.hasher.verifies
    with pytest.raises(RateLimited):
        await world.accounts.verify_mailbox_password(locked, "another guess")
    assert world.hasher.verifies == verifies  # refused before any Argon2 work
    assert await world.accounts.verify_mailbox_password(locked, "mailbox secret")
    world.clock.advance(6)
    assert not await world.accounts.verify_mailbox_password(locked, "another guess")


async def test_cache_dies_with_the_claim(world: World) -> None:
    await claimed_mailbox(world, "locked@temp.test", "first password")
    locked = await world.store.get_mailbox("locked@temp.test")
    assert locked is not None
    assert await world.accounts.verify_mailbox_password(locked, "first password")
    await world.store.release_mailbox("locked@temp.test")
    await claimed_mailbox(world, "locked@temp.test", "second password")
    assert not await world.accounts.verify_mailbox_password(locked, "first password")
    assert await world.accounts.verify_mailbox_password(locked, "second password")


async def test_unlock_proofs(world: World) -> None:
    await claimed_mailbox(world, "locked@temp.test", "mailbox secret")
    await claimed_mailbox(world, "other@temp.test", "mailbox secret")
    locked = await world.store.get_mailbox("locked@temp.test")
    other = await world.store.get_mailbox("other@temp.test")
    assert locked is not None and other is not None
    assert await world.accounts.unlock_proof(locked, "wrong secret") is None
    proof = await world.accounts.unlock_proof(locked, "mailbox secret", ip="10.0.0.1")
    assert proof is not None and "mailbox secret" not in proof
    assert await world.accounts.verify_unlock_proof(locked, proof)
    assert not await world.accounts.verify_unlock_proof(other, proof)
    assert not await world.accounts.verify_unlock_proof(locked, proof + "x")
    assert not await world.accounts.verify_unlock_proof(locked, "é")
    # Re-claimed with the same password: the old proof is dead (new hash, new salt).
    await world.store.release_mailbox("locked@temp.test")
    assert not await world.accounts.verify_unlock_proof(locked, proof)
    await claimed_mailbox(world, "locked@temp.test", "mailbox secret")
    relocked = await world.store.get_mailbox("locked@temp.test")
    assert relocked is not None
    assert not await world.accounts.verify_unlock_proof(relocked, proof)


async def test_unlock_attempts_are_rate_limited(world: World) -> None:
    await claimed_mailbox(world, "locked@temp.test", "mailbox secret")
    locked = await world.store.get_mailbox("locked@temp.test")
    assert locked is not None
    for _ in range(5):
        assert await world.accounts.unlock_proof(locked, "guess guess", ip="10.0.0.1") is None
    with pytest.raises(RateLimited):
        await world.accounts.unlock_proof(locked, "mailbox secret", ip="10.0.0.2")


async def test_authorizer_with_account_service_as_unlocker(world: World) -> None:
    """The wiring of app.py: the Authorizer verifies a presented mailbox password or
    unlock proof through AccountService, for every service that reads mailboxes."""
    policy = PolicyService(world.store, accept=AcceptPolicy(AcceptMode.ALL))
    await policy.refresh()
    authorizer = Authorizer(AccessPolicy(public_read=True, open_mode=False))
    authorizer.set_unlocker(world.accounts)
    mailboxes = MailboxService(
        world.store, world.bus, policy, authorizer=authorizer, default_domain="temp.test"
    )
    await claimed_mailbox(world, "locked@temp.test", "mailbox secret")
    locked = await world.store.get_mailbox("locked@temp.test")
    assert locked is not None
    with pytest.raises(AccessDenied) as denied:
        await mailboxes.list_messages(Principal.anonymous(), "locked", limit=10, cursor=None)
    assert denied.value.needs_credentials
    with pytest.raises(AccessDenied):
        await mailboxes.list_messages(
            Principal(mailbox_password="wrong secret"), "locked", limit=10, cursor=None
        )
    page = await mailboxes.list_messages(
        Principal(mailbox_password="mailbox secret"), "locked", limit=10, cursor=None
    )
    assert page.items == []
    proof = await world.accounts.unlock_proof(locked, "mailbox secret")
    assert proof is not None
    await mailboxes.mailbox_info(
        Principal(unlock_proofs=frozenset({("locked@temp.test", proof)})), "locked"
    )
    await authorizer.check(Principal(mailbox_password="mailbox secret"), Action.DELETE, locked)


async def test_hashing_runs_off_the_event_loop(store: SqlStore) -> None:
    """A login's Argon2 work runs in a worker thread: the loop keeps ticking meanwhile."""
    slow = await build(
        store, hasher=Argon2PasswordHasher(time_cost=3, memory_cost_kib=32768, parallelism=1)
    )
    await slow.accounts.add_account("alice@example.com", PASSWORD)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await slow.accounts.login("alice@example.com", PASSWORD, ip="10.0.0.1")
    finally:
        task.cancel()
    assert ticks >= 3


async def test_subscription_end_keeps_its_instant_whatever_the_offset(world: World) -> None:
    """An end date given with an offset is the same instant after a round trip through
    the store (which keeps UTC)."""
    plus_two = timezone(timedelta(hours=2))
    ends = datetime(2027, 3, 1, 9, 0, tzinfo=plus_two)
    account = await world.accounts.add_account(
        "offset@example.com", PASSWORD, subscription_ends_at=ends
    )
    stored = await world.store.get_account(account.id)
    assert stored is not None and stored.subscription_ends_at == ends
    assert stored.subscription_ends_at.utcoffset() == timedelta(0)
    later = datetime(2027, 6, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    updated = await world.accounts.update_account(
        Principal.operator(), account.id, subscription_ends_at=later
    )
    assert updated.subscription_ends_at == later
    fetched = await world.store.get_account(account.id)
    assert fetched is not None and fetched.subscription_ends_at == later
