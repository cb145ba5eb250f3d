"""The AccountStore contract (accounts, tokens, sessions, server secrets, owned and
claimed mailboxes, usage, domain owners, statistics), run against SQLite and
PostgreSQL through the `store` fixture."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Table, func, select

from ephemail.adapters.sql import tables as t
from ephemail.adapters.sql.store import SqlStore
from ephemail.domain.accounts import (
    Account,
    Role,
    Scope,
    SubscriptionStatus,
    TokenKind,
    secret_digest,
)
from ephemail.domain.events import DeletionReason, EventType
from ephemail.domain.ids import new_id
from ephemail.domain.messages import MailboxKind
from ephemail.mime.summary import parse_summary
from ephemail.ports import ConflictError, Delivery, MailboxUsage, RecipientDelivery

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=24)


def raw_message(n: int, padding: int = 0) -> bytes:
    return (
        f"From: Alice <alice@example.org>\r\nTo: someone@example.com\r\nSubject: m{n}\r\n"
        f"Message-ID: <m{n}@example.org>\r\n\r\nbody {n}{'x' * padding}\r\n"
    ).encode()


def delivery(raw: bytes, *recipients: str, expires_at: datetime | None = LATER) -> Delivery:
    return Delivery(
        queue_id=new_id(),
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        summary=parse_summary(raw),
        envelope_from="alice@example.org",
        recipients=tuple(
            RecipientDelivery(new_id(), r, r.rpartition("@")[2], expires_at) for r in recipients
        ),
        received_at=NOW,
    )


async def deliver(store: SqlStore, address: str, count: int, start: int = 1) -> list[str]:
    """Deliver `count` distinct messages to `address`; their ids."""
    events = await store.write_deliveries(
        [delivery(raw_message(n), address) for n in range(start, start + count)]
    )
    return [e.message_id or "" for e in events if e.type is EventType.MESSAGE_RECEIVED]


async def new_account(
    store: SqlStore, email: str = "ann@example.com", role: Role = Role.USER
) -> Account:
    return await store.create_account(
        email,
        "argon2-hash-of-ann",
        role=role,
        subscription_status=SubscriptionStatus.ACTIVE,
        subscription_ends_at=None,
        quota_bytes=None,
    )


async def count_rows(store: SqlStore, table: Table) -> int:
    value = await store._read(lambda conn: conn.scalar(select(func.count()).select_from(table)))
    return int(value or 0)


# -- accounts --------------------------------------------------------------------------
async def test_account_create_read_list_update(store: SqlStore) -> None:
    ends = NOW + timedelta(days=30)
    ann = await store.create_account(
        "ann@example.com",
        "hash-1",
        role=Role.ADMIN,
        subscription_status=SubscriptionStatus.PAST_DUE,
        subscription_ends_at=ends,
        quota_bytes=1_000_000,
    )
    assert ann.email == "ann@example.com" and ann.role is Role.ADMIN and ann.is_admin
    assert ann.subscription_status is SubscriptionStatus.PAST_DUE
    assert ann.subscription_ends_at == ends and ann.quota_bytes == 1_000_000
    assert ann.created_at.tzinfo is not None
    bob = await new_account(store, "bob@example.com")

    assert await store.get_account(ann.id) == ann
    assert await store.get_account(bob.id + 1000) is None
    assert await store.account_by_email("ann@example.com") == (ann, "hash-1")
    assert await store.account_by_email("nobody@example.com") is None
    assert [a.id for a in await store.list_accounts()] == [ann.id, bob.id]
    assert await store.count_accounts() == 2

    changed = await store.update_account(
        ann.id,
        role=Role.USER,
        subscription_status=SubscriptionStatus.ACTIVE,
        subscription_ends_at=None,
        quota_bytes=None,
    )
    assert changed is not None and changed.role is Role.USER
    assert changed.subscription_status is SubscriptionStatus.ACTIVE
    assert changed.subscription_ends_at is None and changed.quota_bytes is None
    assert changed.email == ann.email and changed.created_at == ann.created_at
    # Only the fields given change: the password hash stays until it is given.
    assert await store.account_by_email("ann@example.com") == (changed, "hash-1")
    await store.update_account(ann.id, password_hash="hash-2")
    assert await store.account_by_email("ann@example.com") == (changed, "hash-2")
    assert await store.update_account(ann.id) == changed
    assert await store.update_account(bob.id + 1000, role=Role.ADMIN) is None


async def test_duplicate_email_is_a_conflict(store: SqlStore) -> None:
    await new_account(store)
    with pytest.raises(ConflictError):
        await new_account(store)
    assert await store.count_accounts() == 1


# -- tokens ----------------------------------------------------------------------------
async def test_tokens_lookup_list_touch_and_revoke(store: SqlStore) -> None:
    ann = await new_account(store)
    bob = await new_account(store, "bob@example.com")
    expires = NOW + timedelta(days=90)
    api = await store.create_token(
        ann.id,
        kind=TokenKind.API,
        name="ci",
        scopes=frozenset({Scope.READ, Scope.WRITE}),
        public_id="0123456789abcdef",
        digest=secret_digest("secret-1"),
        expires_at=expires,
    )
    assert api.account_id == ann.id and api.kind is TokenKind.API and api.name == "ci"
    assert api.scopes == {Scope.READ, Scope.WRITE}
    assert api.prefix == "eph_api_0123456789abcdef"
    assert api.expires_at == expires and api.last_used_at is None and api.revoked_at is None
    imap = await store.create_token(
        ann.id,
        kind=TokenKind.IMAP,
        name="phone",
        scopes=frozenset(),
        public_id="fedcba9876543210",
        digest=secret_digest("secret-2"),
        expires_at=None,
    )
    assert imap.scopes == frozenset() and imap.prefix == "eph_imap_fedcba9876543210"
    with pytest.raises(ConflictError):  # the public id is unique
        await store.create_token(
            bob.id,
            kind=TokenKind.API,
            name="dup",
            scopes=frozenset({Scope.READ}),
            public_id="0123456789abcdef",
            digest=secret_digest("x"),
            expires_at=None,
        )

    assert await store.token_by_public_id("0123456789abcdef") == (api, secret_digest("secret-1"))
    assert await store.token_by_public_id("0000000000000000") is None
    assert [tok.id for tok in await store.list_tokens(ann.id)] == [imap.id, api.id]
    assert await store.list_tokens(bob.id) == []

    used = NOW + timedelta(minutes=5)
    await store.touch_token(api.id, used)
    found = await store.token_by_public_id("0123456789abcdef")
    assert found is not None and found[0].last_used_at == used

    # Another account cannot revoke it; its own account can; revoking twice keeps
    # the first time and still answers True; unknown ids answer False.
    assert not await store.revoke_token(api.id, account_id=bob.id, now=used)
    assert await store.revoke_token(api.id, account_id=ann.id, now=used)
    assert await store.revoke_token(api.id, account_id=None, now=used + timedelta(hours=1))
    assert not await store.revoke_token(imap.id + 1000, account_id=None, now=used)
    found = await store.token_by_public_id("0123456789abcdef")
    assert found is not None and found[0].revoked_at == used
    assert not found[0].usable(used)
    # Revoked tokens are still listed; the admin (account None) revokes any.
    assert [tok.id for tok in await store.list_tokens(ann.id)] == [imap.id, api.id]
    assert await store.revoke_token(imap.id, account_id=None, now=used)


# -- sessions --------------------------------------------------------------------------
async def test_sessions_create_get_delete_and_expire(store: SqlStore) -> None:
    ann = await new_account(store)
    short = await store.create_session(
        ann.id, secret_digest("a"), created_at=NOW, expires_at=NOW + timedelta(hours=1)
    )
    long = await store.create_session(
        ann.id, secret_digest("b"), created_at=NOW, expires_at=NOW + timedelta(days=7)
    )
    gone = await store.create_session(
        ann.id, secret_digest("c"), created_at=NOW, expires_at=NOW + timedelta(days=7)
    )
    assert short.account_id == ann.id and short.digest == secret_digest("a")
    assert short.expires_at == NOW + timedelta(hours=1) and short.created_at == NOW
    assert await store.get_session(short.id) == short
    assert await store.get_session(gone.id + 1000) is None

    await store.delete_session(gone.id)
    assert await store.get_session(gone.id) is None
    assert await store.delete_expired_sessions(NOW) == 0
    assert await store.delete_expired_sessions(NOW + timedelta(hours=2)) == 1
    assert await store.get_session(short.id) is None
    assert await store.get_session(long.id) == long


# -- server secrets -------------------------------------------------------------------
async def test_server_secret_keeps_the_first_value(store: SqlStore) -> None:
    assert await store.server_secret("session_key", "first") == "first"
    assert await store.server_secret("session_key", "second") == "first"
    assert await store.server_secret("other", "x") == "x"


async def test_server_secret_races_end_with_one_value(store: SqlStore) -> None:
    values = await asyncio.gather(*(store.server_secret("raced", f"v{i}") for i in range(8)))
    assert len(set(values)) == 1 and values[0] in {f"v{i}" for i in range(8)}


# -- claims ----------------------------------------------------------------------------
async def test_claim_creates_the_mailbox_and_a_second_claim_conflicts(store: SqlStore) -> None:
    mailbox, events = await store.claim_mailbox("c@example.com", "claim-hash")
    assert mailbox.kind is MailboxKind.CLAIMED and mailbox.owner_account_id is None
    assert [e.type for e in events] == [EventType.MAILBOX_CREATED, EventType.MAILBOX_CLAIMED]
    assert events[0].data == {"kind": "public"}
    assert all(e.mailbox == "c@example.com" for e in events)
    assert await store.mailbox_password_hash("c@example.com") == "claim-hash"
    # It has an INBOX like any mailbox: mail is delivered to it.
    await deliver(store, "c@example.com", 1)
    assert (await store.list_messages("c@example.com", limit=5, cursor=None)).total == 1

    with pytest.raises(ConflictError):
        await store.claim_mailbox("c@example.com", "other-hash")
    assert await store.mailbox_password_hash("c@example.com") == "claim-hash"


async def test_claim_of_an_existing_public_mailbox_keeps_its_messages(store: SqlStore) -> None:
    await deliver(store, "p@example.com", 2)
    mailbox, events = await store.claim_mailbox("p@example.com", "h")
    assert [e.type for e in events] == [EventType.MAILBOX_CLAIMED]
    assert mailbox.kind is MailboxKind.CLAIMED
    assert (await store.list_messages("p@example.com", limit=5, cursor=None)).total == 2


async def test_release_makes_a_claimed_mailbox_public(store: SqlStore) -> None:
    assert await store.release_mailbox("nobody@example.com") is None
    await deliver(store, "p@example.com", 1)
    assert await store.release_mailbox("p@example.com") is None  # public: not claimed
    await store.claim_mailbox("p@example.com", "h")
    released = await store.release_mailbox("p@example.com")
    assert released is not None
    mailbox, events = released
    assert mailbox.kind is MailboxKind.PUBLIC
    assert [e.type for e in events] == [EventType.MAILBOX_RELEASED]
    assert await store.mailbox_password_hash("p@example.com") is None
    assert await store.release_mailbox("p@example.com") is None
    # Public again: it can be claimed again, with a new password.
    mailbox, _ = await store.claim_mailbox("p@example.com", "h2")
    assert await store.mailbox_password_hash("p@example.com") == "h2"


# -- owned mailboxes ------------------------------------------------------------------
async def test_owned_mailbox_create_list_and_conflicts(store: SqlStore) -> None:
    ann = await new_account(store)
    mailbox, events = await store.create_owned_mailbox("o@ann.test", ann.id, adopt_public=False)
    assert mailbox.kind is MailboxKind.OWNED and mailbox.owner_account_id == ann.id
    assert mailbox.domain == "ann.test" and mailbox.max_messages is None
    assert [(e.type, e.mailbox, e.data) for e in events] == [
        (EventType.MAILBOX_CREATED, "o@ann.test", {"kind": "owned"})
    ]
    assert await store.get_mailbox("o@ann.test") == mailbox
    inbox = await store.imap_folder(mailbox, "INBOX")
    assert inbox is not None and inbox.uidnext == 1 and inbox.uidvalidity > 0

    await store.create_owned_mailbox("p@ann.test", ann.id, adopt_public=False)
    assert [m.address for m in await store.list_owned_mailboxes(ann.id)] == [
        "o@ann.test",
        "p@ann.test",
    ]
    bob = await new_account(store, "bob@example.com")
    assert await store.list_owned_mailboxes(bob.id) == []

    # Taken addresses: owned (even with adopt_public), claimed, public without adopt.
    with pytest.raises(ConflictError):
        await store.create_owned_mailbox("o@ann.test", bob.id, adopt_public=True)
    await store.claim_mailbox("c@ann.test", "h")
    with pytest.raises(ConflictError):
        await store.create_owned_mailbox("c@ann.test", ann.id, adopt_public=True)
    await deliver(store, "pub@ann.test", 1)
    with pytest.raises(ConflictError):
        await store.create_owned_mailbox("pub@ann.test", ann.id, adopt_public=False)
    public = await store.get_mailbox("pub@ann.test")
    assert public is not None and public.kind is MailboxKind.PUBLIC
    # No account, no mailbox.
    with pytest.raises(ConflictError):
        await store.create_owned_mailbox("x@ann.test", bob.id + 1000, adopt_public=False)
    assert await store.get_mailbox("x@ann.test") is None


async def test_adopting_a_public_mailbox_keeps_messages_without_expiry(store: SqlStore) -> None:
    ann = await new_account(store)
    ids = await deliver(store, "pub@ann.test", 2)
    page = await store.list_messages("pub@ann.test", limit=5, cursor=None)
    assert all(m.expires_at == LATER for m in page.items)

    mailbox, events = await store.create_owned_mailbox("pub@ann.test", ann.id, adopt_public=True)
    assert mailbox.kind is MailboxKind.OWNED and mailbox.owner_account_id == ann.id
    assert [(e.type, e.data) for e in events] == [
        (EventType.MAILBOX_CREATED, {"kind": "owned", "adopted": True})
    ]
    page = await store.list_messages("pub@ann.test", limit=5, cursor=None)
    assert sorted(m.id for m in page.items) == sorted(ids)
    assert all(m.expires_at is None for m in page.items)
    # Retention no longer touches them.
    assert await store.delete_expired(LATER + timedelta(days=1), 100) == []


async def test_deliveries_to_owned_mailboxes_never_expire(store: SqlStore) -> None:
    ann = await new_account(store)
    await store.create_owned_mailbox("o@ann.test", ann.id, adopt_public=False)
    await store.write_deliveries([delivery(raw_message(1), "o@ann.test", "pub@ann.test")])
    owned = await store.list_messages("o@ann.test", limit=5, cursor=None)
    public = await store.list_messages("pub@ann.test", limit=5, cursor=None)
    assert [m.expires_at for m in owned.items] == [None]
    assert [m.expires_at for m in public.items] == [LATER]
    assert owned.items[0].uid == 1
    deleted = await store.delete_expired(LATER + timedelta(seconds=1), 100)
    assert [e.mailbox for e in deleted] == ["pub@ann.test"]
    assert (await store.list_messages("o@ann.test", limit=5, cursor=None)).total == 1


async def test_list_mailboxes_pages_by_address(store: SqlStore) -> None:
    ann = await new_account(store)
    for address in ("d@x.test", "a@x.test", "c@x.test"):
        await deliver(store, address, 1)
    await store.create_owned_mailbox("b@x.test", ann.id, adopt_public=False)
    first = await store.list_mailboxes(limit=2, after=None)
    assert [m.address for m in first] == ["a@x.test", "b@x.test"]
    assert first[1].kind is MailboxKind.OWNED and first[1].owner_account_id == ann.id
    rest = await store.list_mailboxes(limit=2, after="b@x.test")
    assert [m.address for m in rest] == ["c@x.test", "d@x.test"]
    assert await store.list_mailboxes(limit=2, after="d@x.test") == []


async def test_mailbox_cap(store: SqlStore) -> None:
    await deliver(store, "p@x.test", 1)
    assert await store.set_mailbox_cap("p@x.test", 50)
    mailbox = await store.get_mailbox("p@x.test")
    assert mailbox is not None and mailbox.max_messages == 50
    assert await store.set_mailbox_cap("p@x.test", None)
    mailbox = await store.get_mailbox("p@x.test")
    assert mailbox is not None and mailbox.max_messages is None
    assert not await store.set_mailbox_cap("nobody@x.test", 5)


# -- deleting --------------------------------------------------------------------------
async def test_delete_mailbox_writes_events_and_removes_everything(store: SqlStore) -> None:
    ids = await deliver(store, "p@x.test", 3)
    keep = await deliver(store, "q@x.test", 1, start=1)  # shares content with message 1
    mailbox = await store.get_mailbox("p@x.test")
    assert mailbox is not None
    await store.imap_create_folder(mailbox, "Archive", None)
    moved = await store.imap_copy(
        mailbox,
        (await store.imap_folders(mailbox))[0].id,
        [3],
        "Archive",
        move=True,
        hidden=lambda _: False,
    )
    assert moved is not None and len(moved.pairs) == 1

    assert await store.delete_mailbox("nobody@x.test") is None
    events = await store.delete_mailbox("p@x.test")
    assert events is not None
    assert [e.type for e in events] == [EventType.MESSAGE_DELETED] * 3 + [EventType.MAILBOX_DELETED]
    assert sorted(e.message_id or "" for e in events[:3]) == sorted(ids)
    assert {e.data["reason"] for e in events[:3]} == {DeletionReason.MAILBOX_DELETED.value}
    assert {e.data["folder"] for e in events[:3]} == {"INBOX", "Archive"}
    assert events[-1].mailbox == "p@x.test" and events[-1].message_id is None
    assert events[-1].data == {"kind": "public"}
    assert [e.id for e in events] == sorted(e.id for e in events)
    # The events are in the log, in the same order.
    assert [e.id for e in await store.events_after(events[0].id - 1, 10)] == [e.id for e in events]

    assert await store.get_mailbox("p@x.test") is None
    for message_id in ids:
        assert await store.get_message(message_id) is None
    folders = await store._read(
        lambda conn: conn.scalar(select(func.count()).where(t.folders.c.mailbox_id == mailbox.id))
    )
    assert folders == 0
    # Raw bytes only q@ still uses survive; the others are collected.
    assert await count_rows(store, t.message_contents) == 1
    assert await store.get_raw(keep[0]) is not None
    assert await store.delete_mailbox("p@x.test") is None
    # The address can be used again: a new public mailbox.
    await deliver(store, "p@x.test", 1, start=9)
    again = await store.get_mailbox("p@x.test")
    assert again is not None and again.kind is MailboxKind.PUBLIC


async def test_delete_mailbox_of_an_owned_or_claimed_mailbox(store: SqlStore) -> None:
    ann = await new_account(store)
    await store.create_owned_mailbox("o@x.test", ann.id, adopt_public=False)
    await store.claim_mailbox("c@x.test", "h")
    owned = await store.delete_mailbox("o@x.test")
    claimed = await store.delete_mailbox("c@x.test")
    assert owned is not None and claimed is not None
    assert [(e.type, e.data) for e in owned] == [(EventType.MAILBOX_DELETED, {"kind": "owned"})]
    assert [(e.type, e.data) for e in claimed] == [(EventType.MAILBOX_DELETED, {"kind": "claimed"})]
    assert await store.list_owned_mailboxes(ann.id) == []


async def test_delete_account_removes_everything_it_owns(store: SqlStore) -> None:
    ann = await new_account(store)
    bob = await new_account(store, "bob@example.com")
    await store.add_domain("ann.test", active=True, shared=False, retention_hours=None)
    await store.add_domain("bob.test", active=True, shared=False, retention_hours=None)
    assert await store.set_domain_owner("ann.test", ann.id)
    assert await store.set_domain_owner("bob.test", bob.id)
    await store.create_owned_mailbox("b@ann.test", ann.id, adopt_public=False)
    await store.create_owned_mailbox("a@ann.test", ann.id, adopt_public=False)
    await store.create_owned_mailbox("keep@bob.test", bob.id, adopt_public=False)
    a_ids = await deliver(store, "a@ann.test", 2)
    b_ids = await deliver(store, "b@ann.test", 1, start=5)
    await deliver(store, "keep@bob.test", 1, start=7)
    await deliver(store, "public@ann.test", 1, start=8)
    for account in (ann, bob):
        await store.create_token(
            account.id,
            kind=TokenKind.API,
            name="t",
            scopes=frozenset({Scope.READ}),
            public_id=f"{account.id:016x}",
            digest=secret_digest("s"),
            expires_at=None,
        )
        await store.create_session(account.id, secret_digest("s"), created_at=NOW, expires_at=LATER)
    revision = await store.policy_revision()

    assert await store.delete_account(bob.id + ann.id + 1000) is None
    events = await store.delete_account(ann.id)
    assert events is not None
    # Mailbox by mailbox (address order): its messages, then the mailbox.
    assert [(e.type, e.mailbox) for e in events] == [
        (EventType.MESSAGE_DELETED, "a@ann.test"),
        (EventType.MESSAGE_DELETED, "a@ann.test"),
        (EventType.MAILBOX_DELETED, "a@ann.test"),
        (EventType.MESSAGE_DELETED, "b@ann.test"),
        (EventType.MAILBOX_DELETED, "b@ann.test"),
    ]
    assert sorted(e.message_id or "" for e in events[:2]) == sorted(a_ids)
    assert events[3].message_id == b_ids[0]
    assert all(
        e.data["reason"] == "mailbox deleted" for e in events if e.type is EventType.MESSAGE_DELETED
    )
    assert [e.id for e in events] == sorted(e.id for e in events)

    assert await store.get_account(ann.id) is None
    assert await store.account_by_email("ann@example.com") is None
    assert await store.list_tokens(ann.id) == []
    assert await store.token_by_public_id(f"{ann.id:016x}") is None
    assert await count_rows(store, t.web_sessions) == 1  # bob's
    assert await store.get_mailbox("a@ann.test") is None
    assert await store.get_mailbox("b@ann.test") is None
    assert await store.account_usage(ann.id) == MailboxUsage(0, 0)
    # Others' things stay; ann's domain is unowned, and the policy moved.
    domains = {d.name: d.owner_account_id for d in await store.list_domains()}
    assert domains == {"ann.test": None, "bob.test": bob.id}
    assert await store.policy_revision() > revision
    assert (await store.list_messages("keep@bob.test", limit=5, cursor=None)).total == 1
    assert (await store.list_messages("public@ann.test", limit=5, cursor=None)).total == 1
    assert [a.id for a in await store.list_accounts()] == [bob.id]
    assert len(await store.list_tokens(bob.id)) == 1
    # The email can register again (a new id).
    again = await new_account(store)
    assert again.id != ann.id


# -- usage, domains, statistics ---------------------------------------------------------
async def test_mailbox_and_account_usage(store: SqlStore) -> None:
    ann = await new_account(store)
    assert await store.mailbox_usage("nobody@x.test") == MailboxUsage(0, 0)
    assert await store.account_usage(ann.id) == MailboxUsage(0, 0)
    mailbox, _ = await store.create_owned_mailbox("o@x.test", ann.id, adopt_public=False)
    await store.create_owned_mailbox("p@x.test", ann.id, adopt_public=False)
    assert await store.mailbox_usage("o@x.test") == MailboxUsage(0, 0)

    sizes = [len(raw_message(n, padding=100 * n)) for n in (1, 2, 3)]
    await store.write_deliveries(
        [delivery(raw_message(n, padding=100 * n), "o@x.test") for n in (1, 2)]
    )
    await store.write_deliveries([delivery(raw_message(3, padding=300), "p@x.test", "q@x.test")])
    # A message in another folder counts too.
    await store.imap_create_folder(mailbox, "Archive", None)
    inbox = await store.imap_folder(mailbox, "INBOX")
    assert inbox is not None
    await store.imap_copy(mailbox, inbox.id, [1], "Archive", move=False, hidden=lambda _: False)

    assert await store.mailbox_usage("o@x.test") == MailboxUsage(3, 2 * sizes[0] + sizes[1])
    assert await store.mailbox_usage("q@x.test") == MailboxUsage(1, sizes[2])
    assert await store.account_usage(ann.id) == MailboxUsage(4, 2 * sizes[0] + sizes[1] + sizes[2])


async def test_set_domain_owner_moves_the_policy_revision(store: SqlStore) -> None:
    ann = await new_account(store)
    await store.add_domain("ann.test", active=True, shared=False, retention_hours=None)
    revision = await store.policy_revision()
    assert not await store.set_domain_owner("missing.test", ann.id)
    assert await store.policy_revision() == revision

    assert await store.set_domain_owner("ann.test", ann.id)
    (domain,) = await store.list_domains()
    assert domain.owner_account_id == ann.id
    owned_revision = await store.policy_revision()
    assert owned_revision > revision
    assert await store.set_domain_owner("ann.test", ann.id)  # no change, no new revision
    assert await store.policy_revision() == owned_revision

    assert await store.set_domain_owner("ann.test", None)
    (domain,) = await store.list_domains()
    assert domain.owner_account_id is None
    assert await store.policy_revision() > owned_revision


async def test_statistics(store: SqlStore) -> None:
    assert await store.mailbox_kind_counts() == {"public": 0, "claimed": 0, "owned": 0}
    assert await store.count_accounts() == 0
    ann = await new_account(store)
    await deliver(store, "p1@x.test", 1)
    await deliver(store, "p2@x.test", 1)
    await store.claim_mailbox("c@x.test", "h")
    await store.create_owned_mailbox("o@x.test", ann.id, adopt_public=False)
    assert await store.mailbox_kind_counts() == {"public": 2, "claimed": 1, "owned": 1}
    assert await store.count_accounts() == 1


async def test_retention_skips_owned_mailboxes_even_with_an_expiry(store: SqlStore) -> None:
    """A message that kept an expiry (adopted while its delivery was in flight, or
    appended over IMAP) is still never removed by the public retention."""
    ann = await new_account(store)
    await store.create_owned_mailbox("o@ann.test", ann.id, adopt_public=False)
    await deliver(store, "o@ann.test", 1)
    await store._write(lambda conn: conn.execute(t.messages.update().values(expires_at=LATER)))
    assert await store.delete_expired(LATER + timedelta(days=1), 100) == []
    assert (await store.list_messages("o@ann.test", limit=5, cursor=None)).total == 1
