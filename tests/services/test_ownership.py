"""OwnershipService over a real store (SQLite and PostgreSQL), the real policy service,
mailbox service, Argon2 hasher (cheapest parameters) and rate limiter."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from ephemail.adapters.crypto.passwords import Argon2PasswordHasher
from ephemail.adapters.events.memory import InProcessEventBus
from ephemail.adapters.sql.store import SqlStore
from ephemail.domain.accounts import Account, PasswordPolicyError, Role, Scope, SubscriptionStatus
from ephemail.domain.address import AddressError
from ephemail.domain.events import Event, EventType
from ephemail.domain.ids import new_id
from ephemail.domain.messages import MailboxKind
from ephemail.domain.policy import AcceptMode, AcceptPolicy
from ephemail.mime.summary import parse_summary
from ephemail.ports import ConflictError, Delivery, EventSubscription, RecipientDelivery
from ephemail.services.access import AccessDenied, AccessPolicy, Authorizer, Principal, Via
from ephemail.services.admin import PolicyAdmin
from ephemail.services.mailboxes import MailboxNotAllowed, MailboxService
from ephemail.services.ownership import (
    AlreadyClaimed,
    DeliveryVerdict,
    MailboxNotFound,
    NotClaimed,
    OwnershipService,
)
from ephemail.services.policy import PolicyService
from ephemail.services.ratelimit import Limit, RateLimited, RateLimiter

PASSWORD = "mailbox password"


class Clock:
    def __init__(self) -> None:
        self.mono = 0.0

    def monotonic(self) -> float:
        return self.mono


@dataclass
class World:
    store: SqlStore
    bus: InProcessEventBus
    policy: PolicyService
    admin: PolicyAdmin
    mailboxes: MailboxService
    ownership: OwnershipService
    clock: Clock
    alice: Principal
    bob: Principal
    root: Principal

    @property
    def alice_account(self) -> Account:
        assert self.alice.account is not None
        return self.alice.account

    @property
    def bob_account(self) -> Account:
        assert self.bob.account is not None
        return self.bob.account


async def build(
    store: SqlStore,
    *,
    accept: AcceptPolicy | None = None,
    open_mode: bool = False,
    public_read: bool = True,
    default_quota_bytes: int | None = None,
    default_max_messages: int | None = None,
) -> World:
    bus = InProcessEventBus()
    policy = PolicyService(store, accept=accept or AcceptPolicy(AcceptMode.ALL))
    await policy.refresh()
    admin = PolicyAdmin(store, policy)
    hasher = Argon2PasswordHasher.cheapest()
    authorizer = Authorizer(AccessPolicy(public_read=public_read, open_mode=open_mode))
    mailboxes = MailboxService(
        store, bus, policy, authorizer=authorizer, default_domain="temp.test"
    )
    clock = Clock()
    limiter = RateLimiter(
        {"login": Limit(10, 5), "claim": Limit(10, 5), "api": Limit(600, 60)},
        monotonic=clock.monotonic,
    )
    ownership = OwnershipService(
        store,
        bus,
        hasher,
        policy,
        mailboxes,
        authorizer,
        limiter,
        default_quota_bytes=default_quota_bytes,
        default_max_messages=default_max_messages,
    )
    principals = []
    for email, role in (
        ("alice@example.com", Role.USER),
        ("bob@example.com", Role.USER),
        ("root@example.com", Role.ADMIN),
    ):
        found = await store.account_by_email(email)
        account = (
            found[0]
            if found is not None
            else await store.create_account(
                email,
                hasher.hash("account password"),
                role=role,
                subscription_status=SubscriptionStatus.ACTIVE,
                subscription_ends_at=None,
                quota_bytes=None,
            )
        )
        principals.append(Principal(account=account, via=Via.SESSION))
    return World(store, bus, policy, admin, mailboxes, ownership, clock, *principals)


@pytest.fixture
async def world(store: SqlStore) -> World:
    w = await build(store)
    await w.admin.add_domain("alice.test")
    await w.admin.set_domain_owner("alice.test", w.alice_account.id)
    await w.admin.add_domain("bob.test")
    await w.admin.set_domain_owner("bob.test", w.bob_account.id)
    await w.admin.add_domain("shared.test", shared=True)
    await w.admin.add_domain("plain.test")  # registered, owned by nobody, not shared
    await w.admin.add_domain("off.test", active=False, shared=True)
    return w


async def drain(subscription: EventSubscription) -> list[Event]:
    subscription.close()
    return [e async for e in subscription]


async def deliver(world: World, address: str, size: int = 0) -> None:
    filler = "x" * size
    raw = (
        f"From: a@example.org\r\nTo: {address}\r\nSubject: hi\r\n"
        f"Message-ID: <{new_id()}@example.org>\r\n\r\nbody{filler}\r\n"
    ).encode()
    delivery = Delivery(
        queue_id=new_id(),
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        summary=parse_summary(raw),
        envelope_from="a@example.org",
        recipients=(RecipientDelivery(new_id(), address, address.partition("@")[2], None),),
        received_at=datetime.now(UTC),
    )
    world.bus.publish(await world.store.write_deliveries([delivery]))


# -- owned mailboxes ------------------------------------------------------------------------
async def test_create_owned_on_own_domain(world: World) -> None:
    subscription = world.bus.subscribe()
    mailbox = await world.ownership.create_owned(world.alice, "Inbox@Alice.test")
    assert mailbox.address == "inbox@alice.test"
    assert mailbox.kind is MailboxKind.OWNED
    assert mailbox.owner_account_id == world.alice_account.id
    events = await drain(subscription)
    assert [(e.type, e.mailbox) for e in events] == [
        (EventType.MAILBOX_CREATED, "inbox@alice.test")
    ]
    stored = await world.store.get_mailbox("inbox@alice.test")
    assert stored is not None and stored.owner_account_id == world.alice_account.id


async def test_create_owned_on_subdomains_and_shared_domains(world: World) -> None:
    await world.ownership.create_owned(world.alice, "a@deep.sub.alice.test")
    await world.ownership.create_owned(world.alice, "b@shared.test")
    await world.ownership.create_owned(world.bob, "c@x.shared.test")
    random = await world.ownership.create_owned(world.alice, None, "alice.test")
    local, _, domain = random.address.partition("@")
    assert domain == "alice.test" and len(local) == 10
    owned = await world.ownership.list_owned(world.alice)
    assert {o.mailbox.address for o in owned} == {
        "a@deep.sub.alice.test",
        "b@shared.test",
        random.address,
    }


@pytest.mark.parametrize(
    "address",
    [
        "x@bob.test",  # someone else's domain
        "x@sub.bob.test",
        "x@plain.test",  # registered, nobody's, not shared
        "x@unregistered.test",
        "x@off.test",  # shared but inactive
        "x@notalice.test",
    ],
)
async def test_create_owned_refused_on_other_domains(world: World, address: str) -> None:
    with pytest.raises(MailboxNotAllowed):
        await world.ownership.create_owned(world.alice, address)
    assert await world.store.get_mailbox(address) is None


async def test_create_owned_respects_bans(world: World) -> None:
    await world.admin.add_ban("address", "banned@alice.test")
    await world.admin.add_ban("recipient_domain", "blocked.alice.test")
    for address in ("banned@alice.test", "x@blocked.alice.test", "x@y.blocked.alice.test"):
        with pytest.raises(MailboxNotAllowed):
            await world.ownership.create_owned(world.alice, address)


async def test_create_owned_respects_the_accept_policy(store: SqlStore) -> None:
    w = await build(store, accept=AcceptPolicy(AcceptMode.SINGLE, "only.test"))
    await w.admin.add_domain("alice.test")
    await w.admin.set_domain_owner("alice.test", w.alice_account.id)
    with pytest.raises(MailboxNotAllowed):
        await w.ownership.create_owned(w.alice, "x@alice.test")  # never receives mail


async def test_create_owned_needs_an_account_and_write(world: World) -> None:
    with pytest.raises(AccessDenied) as anonymous:
        await world.ownership.create_owned(Principal.anonymous(), "x@shared.test")
    assert anonymous.value.needs_credentials
    read_only = replace(world.alice, scopes=frozenset({Scope.READ}), via=Via.API_TOKEN)
    with pytest.raises(AccessDenied):
        await world.ownership.create_owned(read_only, "x@shared.test")
    with pytest.raises(AccessDenied):
        await world.ownership.create_owned(
            world.bob, "x@alice.test", account_id=world.alice_account.id
        )
    with pytest.raises(AddressError):
        await world.ownership.create_owned(world.alice, "not an address@@alice.test")


async def test_admin_creates_for_an_account(world: World) -> None:
    mailbox = await world.ownership.create_owned(
        world.root, "given@plain.test", account_id=world.alice_account.id
    )
    assert mailbox.owner_account_id == world.alice_account.id
    operator = await world.ownership.create_owned(
        Principal.operator(), "cli@alice.test", account_id=world.alice_account.id
    )
    assert operator.owner_account_id == world.alice_account.id


async def test_taken_addresses_conflict(world: World) -> None:
    await world.ownership.create_owned(world.alice, "taken@shared.test")
    with pytest.raises(ConflictError):
        await world.ownership.create_owned(world.bob, "taken@shared.test")
    await deliver(world, "public@shared.test")  # a public mailbox on a shared domain
    with pytest.raises(ConflictError):
        await world.ownership.create_owned(world.alice, "public@shared.test")
    public = await world.store.get_mailbox("public@shared.test")
    assert public is not None and public.kind is MailboxKind.PUBLIC


async def test_public_mailbox_adopted_on_own_domain(world: World) -> None:
    await deliver(world, "old@alice.test")
    mailbox = await world.ownership.create_owned(world.alice, "old@alice.test")
    assert mailbox.kind is MailboxKind.OWNED
    [owned] = await world.ownership.list_owned(world.alice)
    assert owned.usage.messages == 1
    with pytest.raises(AccessDenied):
        await world.mailboxes.list_messages(
            Principal.anonymous(), "old@alice.test", limit=10, cursor=None
        )


async def test_list_owned_and_usage(store: SqlStore) -> None:
    w = await build(store, default_quota_bytes=10_000_000)
    await w.admin.add_domain("alice.test")
    await w.admin.set_domain_owner("alice.test", w.alice_account.id)
    await w.ownership.create_owned(w.alice, "one@alice.test")
    await w.ownership.create_owned(w.alice, "two@alice.test")
    await deliver(w, "one@alice.test", size=1000)
    await deliver(w, "one@alice.test", size=10)
    owned = await w.ownership.list_owned(w.alice)
    assert [o.mailbox.address for o in owned] == ["one@alice.test", "two@alice.test"]
    assert owned[0].usage.messages == 2 and owned[0].usage.bytes > 1010
    assert owned[1].usage.messages == 0 and owned[1].usage.bytes == 0
    usage = await w.ownership.usage(w.alice)
    assert usage.mailboxes == 2
    assert usage.used_bytes == owned[0].usage.bytes
    assert usage.quota_bytes == 10_000_000
    await w.store.update_account(w.alice_account.id, quota_bytes=5)
    alice = replace(w.alice, account=await w.store.get_account(w.alice_account.id))
    assert (await w.ownership.usage(alice)).quota_bytes == 5
    assert (await w.ownership.usage(w.bob)).mailboxes == 0
    with pytest.raises(AccessDenied):
        await w.ownership.list_owned(w.bob, account_id=w.alice_account.id)
    assert len(await w.ownership.list_owned(w.root, account_id=w.alice_account.id)) == 2


async def test_usage_without_quota(world: World) -> None:
    usage = await world.ownership.usage(world.alice)
    assert (usage.used_bytes, usage.quota_bytes, usage.mailboxes) == (0, None, 0)


# -- deleting mailboxes -------------------------------------------------------------------
async def test_owner_deletes_owned_mailbox(world: World) -> None:
    await world.ownership.create_owned(world.alice, "gone@alice.test")
    await deliver(world, "gone@alice.test")
    with pytest.raises(AccessDenied):
        await world.ownership.delete_mailbox(world.bob, "gone@alice.test")
    with pytest.raises(AccessDenied):
        await world.ownership.delete_mailbox(Principal.anonymous(), "gone@alice.test")
    read_only = replace(world.alice, scopes=frozenset({Scope.READ}), via=Via.API_TOKEN)
    with pytest.raises(AccessDenied):
        await world.ownership.delete_mailbox(read_only, "gone@alice.test")
    subscription = world.bus.subscribe()
    await world.ownership.delete_mailbox(world.alice, "GONE@alice.test")
    events = await drain(subscription)
    assert [e.type for e in events] == [EventType.MESSAGE_DELETED, EventType.MAILBOX_DELETED]
    assert events[0].data.get("reason") == "mailbox deleted"
    assert await world.store.get_mailbox("gone@alice.test") is None
    with pytest.raises(MailboxNotFound):
        await world.ownership.delete_mailbox(world.alice, "gone@alice.test")


async def test_admin_deletes_any_mailbox(world: World) -> None:
    await world.ownership.create_owned(world.alice, "a@alice.test")
    await deliver(world, "public@temp.test")
    await world.ownership.claim(Principal.anonymous(), "locked@temp.test", PASSWORD, ip="1.1.1.1")
    for address in ("a@alice.test", "public@temp.test", "locked@temp.test"):
        await world.ownership.delete_mailbox(world.root, address)
        assert await world.store.get_mailbox(address) is None


async def test_password_holder_deletes_claimed_mailbox(world: World) -> None:
    await world.ownership.claim(Principal.anonymous(), "locked@temp.test", PASSWORD, ip="1.1.1.1")
    with pytest.raises(AccessDenied):
        await world.ownership.delete_mailbox(Principal.anonymous(), "locked@temp.test")
    with pytest.raises(AccessDenied):
        await world.ownership.delete_mailbox(world.alice, "locked@temp.test")
    holder = Principal(unlocked=frozenset({"locked@temp.test"}), via=Via.MAILBOX_PASSWORD)
    await world.ownership.delete_mailbox(holder, "locked@temp.test")
    assert await world.store.get_mailbox("locked@temp.test") is None


async def test_public_mailbox_deletion_needs_open_mode_or_admin(store: SqlStore) -> None:
    closed = await build(store, open_mode=False)
    await deliver(closed, "public@temp.test")
    for who in (Principal.anonymous(), closed.alice):
        with pytest.raises(AccessDenied):
            await closed.ownership.delete_mailbox(who, "public@temp.test")
    opened = await build(store, open_mode=True)
    read_only = replace(opened.alice, scopes=frozenset({Scope.READ}), via=Via.API_TOKEN)
    with pytest.raises(AccessDenied):
        await opened.ownership.delete_mailbox(read_only, "public@temp.test")
    await opened.ownership.delete_mailbox(Principal.anonymous(), "public@temp.test")
    assert await store.get_mailbox("public@temp.test") is None


async def test_list_all(store: SqlStore) -> None:
    closed = await build(store, open_mode=False)
    await deliver(closed, "b@temp.test")
    await deliver(closed, "a@temp.test")
    await deliver(closed, "c@temp.test")
    with pytest.raises(AccessDenied) as anonymous:
        await closed.ownership.list_all(Principal.anonymous(), limit=10, after=None)
    assert anonymous.value.needs_credentials
    with pytest.raises(AccessDenied):
        await closed.ownership.list_all(closed.alice, limit=10, after=None)
    first = await closed.ownership.list_all(closed.root, limit=2, after=None)
    assert [m.address for m in first] == ["a@temp.test", "b@temp.test"]
    rest = await closed.ownership.list_all(closed.root, limit=0, after="b@temp.test")
    assert [m.address for m in rest] == ["c@temp.test"]
    opened = await build(store, open_mode=True)
    assert len(await opened.ownership.list_all(Principal.anonymous(), limit=10, after=None)) == 3


# -- claims ------------------------------------------------------------------------------------
async def test_claim_creates_and_locks(world: World) -> None:
    subscription = world.bus.subscribe()
    mailbox = await world.ownership.claim(
        Principal.anonymous(), "Fresh@Temp.test", PASSWORD, ip="1.1.1.1"
    )
    assert mailbox.address == "fresh@temp.test"
    assert mailbox.kind is MailboxKind.CLAIMED
    types = [e.type for e in await drain(subscription)]
    assert EventType.MAILBOX_CLAIMED in types
    status = await world.ownership.status(Principal.anonymous(), "fresh")
    assert (status.exists, status.kind, status.claimed) == (True, MailboxKind.CLAIMED, True)
    with pytest.raises(AccessDenied):
        await world.mailboxes.list_messages(Principal.anonymous(), "fresh", limit=5, cursor=None)
    stored_hash = await world.store.mailbox_password_hash("fresh@temp.test")
    assert stored_hash is not None and stored_hash.startswith("$argon2id$")


async def test_claim_existing_public_mailbox(world: World) -> None:
    await deliver(world, "used@temp.test")
    await world.ownership.claim(world.alice, "used@temp.test", PASSWORD, ip="1.1.1.1")
    status = await world.ownership.status(Principal.anonymous(), "used@temp.test")
    assert status.claimed


async def test_claim_refusals(world: World) -> None:
    await world.ownership.claim(Principal.anonymous(), "first@temp.test", PASSWORD, ip="1.1.1.1")
    with pytest.raises(AlreadyClaimed):
        await world.ownership.claim(
            Principal.anonymous(), "first@temp.test", "another password", ip="1.1.1.2"
        )
    await world.ownership.create_owned(world.alice, "owned@alice.test")
    with pytest.raises(AlreadyClaimed):
        await world.ownership.claim(
            Principal.anonymous(), "owned@alice.test", PASSWORD, ip="1.1.1.3"
        )
    await world.admin.add_ban("address", "banned@temp.test")
    with pytest.raises(MailboxNotAllowed):
        await world.ownership.claim(
            Principal.anonymous(), "banned@temp.test", PASSWORD, ip="1.1.1.4"
        )
    assert await world.store.get_mailbox("banned@temp.test") is None
    read_only = replace(world.alice, scopes=frozenset({Scope.READ}), via=Via.API_TOKEN)
    with pytest.raises(AccessDenied):
        await world.ownership.claim(read_only, "ro@temp.test", PASSWORD, ip="1.1.1.5")


async def test_claim_refused_where_mail_is_not_accepted(store: SqlStore) -> None:
    w = await build(store, accept=AcceptPolicy(AcceptMode.DOMAINS))
    await w.admin.add_domain("open.test")
    with pytest.raises(MailboxNotAllowed):
        await w.ownership.claim(Principal.anonymous(), "x@elsewhere.test", PASSWORD, ip="1.1.1.1")
    await w.ownership.claim(Principal.anonymous(), "x@open.test", PASSWORD, ip="1.1.1.1")


async def test_claim_password_policy_comes_first(world: World) -> None:
    for _ in range(20):  # never counted against the rate limit
        with pytest.raises(PasswordPolicyError):
            await world.ownership.claim(Principal.anonymous(), "p@temp.test", "short", ip="1.1.1.1")
    assert await world.store.get_mailbox("p@temp.test") is None
    await world.ownership.claim(Principal.anonymous(), "p@temp.test", PASSWORD, ip="1.1.1.1")


async def test_claims_are_rate_limited_per_ip_and_address(world: World) -> None:
    for n in range(5):
        await world.ownership.claim(
            Principal.anonymous(), f"m{n}@temp.test", PASSWORD, ip="9.9.9.9"
        )
    with pytest.raises(RateLimited) as limited:
        await world.ownership.claim(Principal.anonymous(), "m9@temp.test", PASSWORD, ip="9.9.9.9")
    assert limited.value.bucket == "claim"
    for n in range(4):  # guessing one mailbox's password from many IPs (its claim counted 1)
        with pytest.raises(AccessDenied):
            await world.ownership.release(
                Principal.anonymous(), "m0@temp.test", f"guess {n} guess", ip=f"8.8.8.{n}"
            )
    with pytest.raises(RateLimited):
        await world.ownership.release(Principal.anonymous(), "m0@temp.test", PASSWORD, ip="7.7.7.7")
    world.clock.mono += 60
    await world.ownership.release(Principal.anonymous(), "m0@temp.test", PASSWORD, ip="7.7.7.7")


async def test_release(world: World) -> None:
    await world.ownership.claim(Principal.anonymous(), "r@temp.test", PASSWORD, ip="1.1.1.1")
    with pytest.raises(AccessDenied) as wrong:
        await world.ownership.release(
            Principal.anonymous(), "r@temp.test", "wrong password", ip="1.1.1.2"
        )
    assert wrong.value.needs_credentials
    with pytest.raises(AccessDenied):
        await world.ownership.release(
            Principal.anonymous(), "r@temp.test", "x" * 5000, ip="1.1.1.2"
        )
    subscription = world.bus.subscribe()
    mailbox = await world.ownership.release(
        Principal.anonymous(), "r@temp.test", PASSWORD, ip="1.1.1.3"
    )
    assert mailbox.kind is MailboxKind.PUBLIC
    assert EventType.MAILBOX_RELEASED in [e.type for e in await drain(subscription)]
    assert await world.store.mailbox_password_hash("r@temp.test") is None
    with pytest.raises(NotClaimed):
        await world.ownership.release(Principal.anonymous(), "r@temp.test", PASSWORD, ip="1.1.1.4")
    with pytest.raises(NotClaimed):
        await world.ownership.release(
            Principal.anonymous(), "never@temp.test", PASSWORD, ip="1.1.1.4"
        )
    await world.ownership.create_owned(world.alice, "o@alice.test")
    with pytest.raises(NotClaimed):
        await world.ownership.release(world.alice, "o@alice.test", PASSWORD, ip="1.1.1.4")
    # Claimable again, by someone else (once the address's claim allowance is back).
    world.clock.mono += 60
    await world.ownership.claim(Principal.anonymous(), "r@temp.test", "new password!", ip="1.1.1.5")


async def test_admin_releases_without_password(world: World) -> None:
    await world.ownership.claim(Principal.anonymous(), "r@temp.test", PASSWORD, ip="1.1.1.1")
    await world.ownership.release(world.root, "r@temp.test", "", ip="1.1.1.2")
    status = await world.ownership.status(Principal.anonymous(), "r@temp.test")
    assert not status.claimed


async def test_status(world: World) -> None:
    missing = await world.ownership.status(Principal.anonymous(), "nobody")
    assert (missing.address, missing.exists, missing.kind, missing.claimed) == (
        "nobody@temp.test",
        False,
        MailboxKind.PUBLIC,
        False,
    )
    await deliver(world, "pub@temp.test")
    public = await world.ownership.status(Principal.anonymous(), "pub@temp.test")
    assert (public.exists, public.claimed) == (True, False)
    await world.ownership.create_owned(world.alice, "own@alice.test")
    owned = await world.ownership.status(Principal.anonymous(), "own@alice.test")
    assert (owned.kind, owned.claimed) == (MailboxKind.OWNED, True)


# -- quotas ------------------------------------------------------------------------------------
async def test_no_limits_no_refusals(world: World) -> None:
    assert await world.ownership.check_delivery("missing@temp.test", 10**9) is DeliveryVerdict.OK
    await world.ownership.create_owned(world.alice, "big@alice.test")
    await deliver(world, "big@alice.test", size=5000)
    assert await world.ownership.check_delivery("big@alice.test", 10**9) is DeliveryVerdict.OK


async def test_default_message_cap(store: SqlStore) -> None:
    w = await build(store, default_max_messages=2)
    await deliver(w, "cap@temp.test")
    assert await w.ownership.check_delivery("cap@temp.test", 0) is DeliveryVerdict.OK
    await deliver(w, "cap@temp.test")
    assert await w.ownership.check_delivery("cap@temp.test", 0) is DeliveryVerdict.MAILBOX_FULL
    assert await w.ownership.check_delivery("other@temp.test", 0) is DeliveryVerdict.OK
    # The mailbox's own cap wins over the default.
    await w.ownership.set_message_cap(Principal.operator(), "cap@temp.test", 3)
    assert await w.ownership.check_delivery("cap@temp.test", 0) is DeliveryVerdict.OK


async def test_own_message_cap(world: World) -> None:
    await deliver(world, "own@temp.test")
    await world.ownership.set_message_cap(Principal.operator(), "own@temp.test", 1)
    assert await world.ownership.check_delivery("own@temp.test", 0) is DeliveryVerdict.MAILBOX_FULL


async def test_account_quota(world: World) -> None:
    await world.ownership.create_owned(world.alice, "q1@alice.test")
    await world.ownership.create_owned(world.alice, "q2@alice.test")
    await deliver(world, "q1@alice.test", size=2000)
    used = (await world.store.account_usage(world.alice_account.id)).bytes
    await world.store.update_account(world.alice_account.id, quota_bytes=used + 100)
    await world.policy.refresh()  # as every node does when the policy revision moves
    # The quota counts every owned mailbox of the account together.
    assert await world.ownership.check_delivery("q2@alice.test", 100) is DeliveryVerdict.OK
    assert await world.ownership.check_delivery("q2@alice.test", 101) is DeliveryVerdict.OVER_QUOTA
    assert await world.ownership.check_delivery("q2@alice.test", 0) is DeliveryVerdict.OK
    await world.store.update_account(world.alice_account.id, quota_bytes=used)
    # Full: even a message of unknown size (RCPT without SIZE) is refused.
    assert await world.ownership.check_delivery("q2@alice.test", 0) is DeliveryVerdict.OVER_QUOTA
    # Public mailboxes are not the account's.
    await deliver(world, "pub@temp.test", size=5000)
    assert await world.ownership.check_delivery("pub@temp.test", 10**6) is DeliveryVerdict.OK


async def test_default_account_quota(store: SqlStore) -> None:
    w = await build(store, default_quota_bytes=3000)
    await w.admin.add_domain("shared.test", shared=True)
    await w.ownership.create_owned(w.bob, "b@shared.test")
    assert await w.ownership.check_delivery("b@shared.test", 2000) is DeliveryVerdict.OK
    await deliver(w, "b@shared.test", size=2000)
    assert await w.ownership.check_delivery("b@shared.test", 2000) is DeliveryVerdict.OVER_QUOTA
    # An account's own quota replaces the default.
    await w.store.update_account(w.bob_account.id, quota_bytes=10**6)
    assert await w.ownership.check_delivery("b@shared.test", 2000) is DeliveryVerdict.OK


async def test_claimed_mailbox_by_admin_role_account_is_still_checked(world: World) -> None:
    """Quota checks do not depend on who asks: SMTP has no principal."""
    root_account = world.root.account
    assert root_account is not None and root_account.role is Role.ADMIN
    await world.admin.set_domain_owner("plain.test", root_account.id)
    await world.ownership.create_owned(world.root, "r@plain.test")
    await world.store.update_account(root_account.id, quota_bytes=0)
    await world.policy.refresh()  # as every node does when the policy revision moves
    assert await world.ownership.check_delivery("r@plain.test", 1) is DeliveryVerdict.OVER_QUOTA


async def test_no_limit_anywhere_costs_no_store_read(world: World) -> None:
    """Without defaults and without any account quota or mailbox cap, the SMTP-path
    check answers from memory; the first cap set switches the reads back on."""
    await deliver(world, "free@temp.test")
    await world.policy.refresh()
    assert world.policy.quota_rules_exist is False
    assert await world.ownership.check_delivery("free@temp.test", 0) is DeliveryVerdict.OK
    await world.ownership.set_message_cap(Principal.operator(), "free@temp.test", 1)
    assert world.policy.quota_rules_exist is True
    assert await world.ownership.check_delivery("free@temp.test", 0) is DeliveryVerdict.MAILBOX_FULL
    with pytest.raises(AccessDenied):
        await world.ownership.set_message_cap(world.alice, "free@temp.test", 5)


async def test_a_private_domain_has_only_its_owners_mailboxes(world: World) -> None:
    """alice.test is Alice's and not shared: nobody creates or claims a public mailbox
    there, SMTP refuses unknown recipients, and only Alice sees it listed."""
    anonymous = Principal.anonymous()
    assert world.mailboxes.private_owner("x@alice.test") == world.alice_account.id
    assert world.mailboxes.private_owner("x@deep.sub.alice.test") == world.alice_account.id
    with pytest.raises(MailboxNotAllowed, match="created by its owner"):
        await world.mailboxes.create_mailbox(anonymous, "open@alice.test", None)
    with pytest.raises(MailboxNotAllowed, match="created by its owner"):
        await world.mailboxes.create_mailbox(world.root, "open@alice.test", None)
    with pytest.raises(MailboxNotAllowed, match="created by its owner"):
        await world.ownership.claim(anonymous, "grab@alice.test", "long enough pw", ip="t")
    assert await world.store.get_mailbox("open@alice.test") is None
    assert await world.store.get_mailbox("grab@alice.test") is None
    assert (
        await world.ownership.check_delivery("nobody@alice.test", 0)
        is DeliveryVerdict.NO_SUCH_MAILBOX
    )
    await world.ownership.create_owned(world.alice, "real@alice.test")
    assert await world.ownership.check_delivery("real@alice.test", 0) is DeliveryVerdict.OK

    def listed(principal: Principal) -> dict[str, bool]:
        return {d.name: d.owned for d in world.mailboxes.creatable_domains(principal)}

    assert "alice.test" not in listed(anonymous)
    assert "alice.test" not in listed(world.bob)
    assert listed(world.alice)["alice.test"] is True
    # Shared, the same domain takes public mailboxes again.
    await world.admin.add_domain("both.test", shared=True)
    await world.admin.set_domain_owner("both.test", world.alice_account.id)
    assert world.mailboxes.private_owner("x@both.test") is None
    await world.mailboxes.create_mailbox(anonymous, "open@both.test", None)
    assert listed(world.bob)["both.test"] is False
