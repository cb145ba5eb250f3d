"""The WebhookStore contract (subscriptions, the outbox written with the events, leases,
attempts, redrive, pruning) and what mailbox deletion, claiming and ownership do to
webhooks, run against SQLite and PostgreSQL through the `store` fixture."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, func, select

from ephemail.adapters.sql import tables as t
from ephemail.adapters.sql.store import SqlStore
from ephemail.domain.accounts import Account, Role, SubscriptionStatus
from ephemail.domain.events import DeletionReason, Event, EventType
from ephemail.domain.ids import new_id
from ephemail.domain.imap import SpecialUse
from ephemail.domain.webhooks import (
    DeliveryAttempt,
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookScope,
)
from ephemail.mime.summary import parse_summary
from ephemail.ports import UNSET, AttemptOutcome, Delivery, DueDelivery, RecipientDelivery

CREATED = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
BOB = "bob@example.com"
CAROL = "carol@example.com"
URL = "https://hooks.example.net/in"
LEASE = timedelta(seconds=35)


def soon() -> datetime:
    """A moment after every delivery written so far (their next attempt is the real
    time of their event), so all of them are due."""
    return datetime.now(UTC) + timedelta(seconds=1)


def raw_message(n: int) -> bytes:
    return (
        f"From: Alice <alice@example.org>\r\nTo: {BOB}\r\nSubject: message {n}\r\n"
        f"Message-ID: <w{n}@example.org>\r\n\r\nbody {n}\r\n"
    ).encode()


def delivery(raw: bytes, *recipients: str) -> Delivery:
    return Delivery(
        queue_id=new_id(),
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        summary=parse_summary(raw),
        envelope_from="alice@example.org",
        recipients=tuple(
            RecipientDelivery(new_id(), r, r.rpartition("@")[2], None) for r in recipients
        ),
        received_at=CREATED,
    )


async def deliver(store: SqlStore, *recipients: str, n: int = 1) -> list[Event]:
    """One message to each recipient; the `message.received` events, in order."""
    events = await store.write_deliveries([delivery(raw_message(n), *recipients)])
    return [e for e in events if e.type is EventType.MESSAGE_RECEIVED]


def hook(
    scope: WebhookScope,
    target: str,
    *,
    events: Sequence[str] = ("arrival",),
    enabled: bool = True,
    created_by: int | None = None,
    secret: str | None = None,
    created_at: datetime = CREATED,
) -> Webhook:
    return Webhook(
        id=new_id(),
        scope=scope,
        target=target,
        url=URL,
        events=tuple(events),
        enabled=enabled,
        created_at=created_at,
        updated_at=created_at,
        created_by=created_by,
        secret=secret,
    )


async def add(store: SqlStore, webhook: Webhook) -> Webhook:
    return await store.create_webhook(webhook)


async def new_account(store: SqlStore, email: str) -> Account:
    return await store.create_account(
        email,
        "argon2-hash",
        role=Role.USER,
        subscription_status=SubscriptionStatus.ACTIVE,
        subscription_ends_at=None,
        quota_bytes=None,
    )


async def deliveries_of(
    store: SqlStore, webhook: Webhook, status: DeliveryStatus | None = None
) -> list[WebhookDelivery]:
    return await store.list_deliveries(webhook.id, limit=1000, status=status)


async def count(store: SqlStore, table: Table) -> int:
    value = await store._read(lambda conn: conn.scalar(select(func.count()).select_from(table)))
    return int(value or 0)


def attempt_at(at: datetime, status_code: int | None, error: str | None = None) -> DeliveryAttempt:
    return DeliveryAttempt(attempted_at=at, status_code=status_code, latency_ms=12.5, error=error)


def success(at: datetime) -> AttemptOutcome:
    return AttemptOutcome(
        attempt=attempt_at(at, 200),
        status=DeliveryStatus.DELIVERED,
        next_attempt_at=None,
        payload='{"event":"arrival"}',
        success=True,
    )


def failure(
    at: datetime,
    status_code: int | None = 500,
    *,
    error: str | None = None,
    final: bool = False,
    disable_reason: str | None = None,
) -> AttemptOutcome:
    return AttemptOutcome(
        attempt=attempt_at(at, status_code, error),
        status=DeliveryStatus.FAILED if final else DeliveryStatus.PENDING,
        next_attempt_at=None if final else at + timedelta(seconds=10),
        payload='{"event":"arrival"}',
        success=False,
        disable_reason=disable_reason,
    )


async def lease(
    store: SqlStore,
    *,
    now: datetime | None = None,
    limit: int = 100,
    skip: Sequence[str] = (),
) -> list[DueDelivery]:
    at = now or soon()
    return await store.lease_due_deliveries(
        at, limit=limit, lease_until=at + LEASE, skip_webhooks=set(skip)
    )


# -- subscriptions -------------------------------------------------------------------------


async def test_create_get_round_trips_every_field(store: SqlStore) -> None:
    ann = await new_account(store, "ann@accounts.test")
    created = hook(
        WebhookScope.MAILBOX,
        BOB,
        events=("arrival", "message.flags", "mailbox.deleted"),
        created_by=ann.id,
        secret="s3cret",
    )
    assert await add(store, created) == created
    got = await store.get_webhook(created.id)
    assert got == created
    assert got is not None and got.secret == "s3cret" and got.has_secret
    assert got.created_at.tzinfo is not None and got.updated_at.tzinfo is not None
    assert got.consecutive_failures == 0 and got.disabled_reason is None
    assert await store.get_webhook(new_id()) is None

    disabled = await add(store, hook(WebhookScope.DOMAIN, "example.com", enabled=False))
    got_disabled = await store.get_webhook(disabled.id)
    assert got_disabled is not None and not got_disabled.enabled and not got_disabled.has_secret


async def test_list_by_mailbox_domain_and_account(store: SqlStore) -> None:
    ann = await new_account(store, "ann@accounts.test")
    ben = await new_account(store, "ben@accounts.test")
    times = [CREATED + timedelta(minutes=i) for i in range(6)]
    on_bob = await add(store, hook(WebhookScope.MAILBOX, BOB, created_at=times[0]))
    on_bob_by_ann = await add(
        store, hook(WebhookScope.MAILBOX, BOB, created_by=ann.id, created_at=times[1])
    )
    on_carol = await add(store, hook(WebhookScope.MAILBOX, CAROL, created_at=times[2]))
    on_domain = await add(
        store, hook(WebhookScope.DOMAIN, "example.com", created_by=ann.id, created_at=times[3])
    )
    anns = await add(store, hook(WebhookScope.ACCOUNT, str(ann.id), created_at=times[4]))
    bens = await add(
        store, hook(WebhookScope.ACCOUNT, str(ben.id), created_by=ben.id, created_at=times[5])
    )
    assert anns.account_id == ann.id

    def ids(found: list[Webhook]) -> list[str]:
        return [w.id for w in found]

    assert ids(await store.list_webhooks(mailbox=BOB)) == [on_bob.id, on_bob_by_ann.id]
    assert ids(await store.list_webhooks(mailbox=CAROL)) == [on_carol.id]
    assert ids(await store.list_webhooks(mailbox="nobody@example.com")) == []
    assert ids(await store.list_webhooks(domain="example.com")) == [on_domain.id]
    # An account's own: account-scoped ones and those it created, oldest first.
    assert ids(await store.list_webhooks(account_id=ann.id)) == [
        on_bob_by_ann.id,
        on_domain.id,
        anns.id,
    ]
    assert ids(await store.list_webhooks(account_id=ben.id)) == [bens.id]
    everything = [on_bob, on_bob_by_ann, on_carol, on_domain, anns, bens]
    assert ids(await store.list_webhooks()) == ids(everything)
    assert ids(await store.list_webhooks(limit=2)) == [on_bob.id, on_bob_by_ann.id]
    (listed,) = await store.list_webhooks(account_id=ben.id)
    assert listed == bens


async def test_update_changes_given_fields_and_secret_by_unset(store: SqlStore) -> None:
    created = await add(store, hook(WebhookScope.MAILBOX, BOB, secret="first"))
    later = CREATED + timedelta(hours=1)

    changed = await store.update_webhook(
        created.id, url="https://other.example.net/x", events=("read", "deletion"), now=later
    )
    assert changed is not None
    assert changed.url == "https://other.example.net/x"
    assert changed.events == ("read", "deletion")
    assert changed.secret == "first"  # UNSET (the default) keeps it
    assert changed.updated_at == later and changed.created_at == created.created_at
    assert await store.get_webhook(created.id) == changed

    kept = await store.update_webhook(created.id, secret=UNSET, now=later)
    assert kept is not None and kept.secret == "first"
    replaced = await store.update_webhook(created.id, secret="second", now=later)
    assert replaced is not None and replaced.secret == "second"
    cleared = await store.update_webhook(created.id, secret=None, now=later)
    assert cleared is not None and cleared.secret is None and not cleared.has_secret
    assert cleared.url == "https://other.example.net/x"  # untouched by a secret change

    assert await store.update_webhook(new_id(), enabled=False, now=later) is None


async def test_enabling_clears_failures_and_reason(store: SqlStore) -> None:
    created = await add(store, hook(WebhookScope.MAILBOX, BOB))
    (event,) = await deliver(store, BOB)
    (due,) = await lease(store)
    assert due.delivery.event_id == event.id
    after = await store.finish_attempt(
        due.delivery.id,
        failure(soon(), 410, final=True, disable_reason="the endpoint answered 410 Gone"),
        now=soon(),
        disable_after=50,
    )
    assert after is not None and not after.enabled
    assert after.disabled_reason == "the endpoint answered 410 Gone"
    assert after.consecutive_failures == 1

    enabled = await store.update_webhook(created.id, enabled=True, now=soon())
    assert enabled is not None and enabled.enabled
    assert enabled.disabled_reason is None and enabled.consecutive_failures == 0

    # Switched off by a person: no reason shown.
    off = await store.update_webhook(created.id, enabled=False, now=soon())
    assert off is not None and not off.enabled and off.disabled_reason is None


async def test_delete_cascades_to_deliveries_and_attempts(store: SqlStore) -> None:
    doomed = await add(store, hook(WebhookScope.MAILBOX, BOB))
    kept = await add(store, hook(WebhookScope.MAILBOX, BOB))
    await deliver(store, BOB)
    for due in await lease(store):
        await store.finish_attempt(due.delivery.id, failure(soon()), now=soon(), disable_after=50)
    assert await count(store, t.webhook_deliveries) == 2
    assert await count(store, t.webhook_attempts) == 2

    assert await store.delete_webhook(doomed.id) is True
    assert await store.get_webhook(doomed.id) is None
    assert await deliveries_of(store, doomed) == []
    assert await count(store, t.webhook_deliveries) == 1
    assert await count(store, t.webhook_attempts) == 1
    (left,) = await deliveries_of(store, kept)
    assert len(left.log) == 1
    assert await store.delete_webhook(doomed.id) is False


# -- the outbox, written with the events ----------------------------------------------------


async def test_outbox_rows_for_matching_enabled_subscriptions(store: SqlStore) -> None:
    owner = await new_account(store, "owner@accounts.test")
    owned_address = "mine@owned.test"
    await store.create_owned_mailbox(owned_address, owner.id, adopt_public=False)

    on_bob = await add(store, hook(WebhookScope.MAILBOX, BOB))
    aliased = await add(
        store, hook(WebhookScope.MAILBOX, BOB, events=("message.received", "arrival"))
    )
    on_domain = await add(
        store, hook(WebhookScope.DOMAIN, "example.com", events=["message.received"])
    )
    on_account = await add(store, hook(WebhookScope.ACCOUNT, str(owner.id)))
    disabled = await add(store, hook(WebhookScope.MAILBOX, BOB, enabled=False))
    wants_read_only = await add(store, hook(WebhookScope.MAILBOX, BOB, events=("read",)))
    on_carol = await add(store, hook(WebhookScope.MAILBOX, CAROL))
    on_other_domain = await add(store, hook(WebhookScope.DOMAIN, "example.org"))

    before = datetime.now(UTC)
    received = await deliver(store, BOB, owned_address)
    by_mailbox = {e.mailbox: e for e in received}
    bob_event, owned_event = by_mailbox[BOB], by_mailbox[owned_address]

    (to_bob,) = await deliveries_of(store, on_bob)
    assert to_bob.webhook_id == on_bob.id
    assert to_bob.event == "arrival"
    assert to_bob.event_id == bob_event.id
    assert to_bob.mailbox == BOB
    assert to_bob.status is DeliveryStatus.PENDING
    assert to_bob.attempts == 0 and to_bob.log == ()
    assert to_bob.next_attempt_at is not None and to_bob.next_attempt_at >= before
    assert to_bob.next_attempt_at <= soon()
    assert to_bob.last_attempt_at is None and to_bob.delivered_at is None

    # An alias wins over the dotted name it stands for.
    (to_aliased,) = await deliveries_of(store, aliased)
    assert to_aliased.event == "arrival" and to_aliased.event_id == bob_event.id

    # The domain's webhook sees bob (its domain), not the owned mailbox elsewhere.
    (to_domain,) = await deliveries_of(store, on_domain)
    assert to_domain.event == "message.received" and to_domain.event_id == bob_event.id

    # The account's webhook sees its owned mailbox only.
    (to_account,) = await deliveries_of(store, on_account)
    assert to_account.event == "arrival" and to_account.mailbox == owned_address
    assert to_account.event_id == owned_event.id

    for silent in (disabled, wants_read_only, on_carol, on_other_domain):
        assert await deliveries_of(store, silent) == [], silent


async def test_arrival_is_only_mail_into_the_inbox(store: SqlStore) -> None:
    await deliver(store, BOB)
    mailbox = await store.get_mailbox(BOB)
    assert mailbox is not None
    await store.imap_create_folder(mailbox, "Drafts", SpecialUse.DRAFTS)
    arrivals = await add(store, hook(WebhookScope.MAILBOX, BOB, events=("arrival",)))
    received = await add(store, hook(WebhookScope.MAILBOX, BOB, events=("message.received",)))

    appended = await store.imap_append(
        mailbox, "Drafts", delivery(raw_message(2), BOB), seen=False, flags=frozenset()
    )
    assert appended is not None
    (event,) = appended[2]
    assert event.type is EventType.MESSAGE_RECEIVED and event.data["folder"] == "Drafts"

    assert await deliveries_of(store, arrivals) == []
    (row,) = await deliveries_of(store, received)
    assert row.event == "message.received" and row.event_id == event.id

    # Mail into the INBOX is an arrival for both.
    (inbox_event,) = await deliver(store, BOB, n=3)
    (arrival,) = await deliveries_of(store, arrivals)
    assert arrival.event == "arrival" and arrival.event_id == inbox_event.id
    assert len(await deliveries_of(store, received)) == 2


async def test_read_and_deletion_events(store: SqlStore) -> None:
    (received,) = await deliver(store, BOB)
    assert received.message_id is not None
    watcher = await add(store, hook(WebhookScope.MAILBOX, BOB, events=("read", "deletion")))
    flags = await add(store, hook(WebhookScope.MAILBOX, BOB, events=("message.read",)))

    (read_event,) = await store.set_seen([received.message_id], True)
    assert await store.set_seen([received.message_id], True) == []  # no change, no event
    (deleted_event,) = await store.delete_messages([received.message_id], DeletionReason.USER)

    rows = await deliveries_of(store, watcher)  # newest first
    assert [(d.event, d.event_id) for d in rows] == [
        ("deletion", deleted_event.id),
        ("read", read_event.id),
    ]
    (dotted,) = await deliveries_of(store, flags)
    assert dotted.event == "message.read" and dotted.event_id == read_event.id


async def test_a_new_subscription_gets_no_earlier_events(store: SqlStore) -> None:
    """Deliveries are written with the events only: a subscription created later gets
    nothing for what happened before it."""
    await deliver(store, BOB)
    late = await add(store, hook(WebhookScope.MAILBOX, BOB))
    assert await deliveries_of(store, late) == []
    assert await count(store, t.webhook_deliveries) == 0


# -- leasing ---------------------------------------------------------------------------------


async def test_lease_oldest_first_with_limit_event_and_webhook(store: SqlStore) -> None:
    first = await add(store, hook(WebhookScope.MAILBOX, BOB, secret="k"))
    events = [(await deliver(store, BOB, n=n))[0] for n in range(3)]

    # Nothing is due before its next attempt.
    assert await lease(store, now=CREATED) == []

    now = soon()
    got = await lease(store, now=now, limit=2)
    assert [d.delivery.event_id for d in got] == [events[0].id, events[1].id]
    for due, event in zip(got, events, strict=False):
        assert due.webhook.id == first.id and due.webhook.secret == "k"
        assert due.event is not None
        assert due.event.id == event.id and due.event.type is EventType.MESSAGE_RECEIVED
        assert due.event.message_id == event.message_id and due.event.mailbox == BOB
        assert due.payload is None  # built at the first attempt
        assert due.delivery.status is DeliveryStatus.PENDING

    # The leased ones are held: a second call gets only the rest, a third nothing.
    again = await lease(store, now=now, limit=2)
    assert [d.delivery.event_id for d in again] == [events[2].id]
    assert await lease(store, now=now) == []

    # Once the lease has run out (the node died mid-attempt), they are due again.
    expired = await lease(store, now=now + LEASE + timedelta(seconds=1))
    assert [d.delivery.event_id for d in expired] == [e.id for e in events]
    assert await lease(store, limit=0, now=now + 2 * LEASE) == []


async def test_lease_skips_given_and_disabled_webhooks(store: SqlStore) -> None:
    busy = await add(store, hook(WebhookScope.MAILBOX, BOB))
    free = await add(store, hook(WebhookScope.MAILBOX, BOB))
    switched_off = await add(store, hook(WebhookScope.MAILBOX, BOB))
    await deliver(store, BOB)
    await store.update_webhook(switched_off.id, enabled=False, now=soon())

    got = await lease(store, skip=[busy.id])
    assert [d.webhook.id for d in got] == [free.id]
    got = await lease(store)
    assert [d.webhook.id for d in got] == [busy.id]
    assert await lease(store) == []

    # Enabled again: its waiting delivery is due.
    await store.update_webhook(switched_off.id, enabled=True, now=soon())
    got = await lease(store)
    assert [d.webhook.id for d in got] == [switched_off.id]


async def test_concurrent_leases_get_disjoint_deliveries(store: SqlStore) -> None:
    """Dispatchers leasing at the same moment (FOR UPDATE SKIP LOCKED on PostgreSQL,
    the single writer on SQLite) never get the same delivery."""
    for _ in range(3):
        await add(store, hook(WebhookScope.MAILBOX, BOB))
    for n in range(8):
        await deliver(store, BOB, n=n)
    total = 24
    now = soon()
    for round_ in range(3):
        at = now + round_ * (LEASE + timedelta(seconds=1))  # the previous leases ran out
        results = await asyncio.gather(*(lease(store, now=at, limit=7) for _ in range(4)))
        ids = [d.delivery.id for result in results for d in result]
        assert len(ids) == len(set(ids)), f"a delivery was leased twice: {sorted(ids)}"
        assert len(ids) == min(total, 4 * 7)


async def test_release_leases(store: SqlStore) -> None:
    await add(store, hook(WebhookScope.MAILBOX, BOB))
    await deliver(store, BOB)
    await deliver(store, BOB, n=2)
    now = soon()
    assert len(await lease(store, now=now)) == 2
    assert await lease(store, now=now) == []
    assert await store.release_leases() == 2
    assert len(await lease(store, now=now)) == 2


async def test_test_delivery_is_never_leased(store: SqlStore) -> None:
    created = await add(store, hook(WebhookScope.MAILBOX, BOB))
    delivery_id = await store.add_test_delivery(created.id, BOB, soon())
    assert await lease(store, now=soon() + timedelta(days=2)) == []
    (row,) = await deliveries_of(store, created)
    assert row.id == delivery_id and row.event == "test" and row.event_id is None
    assert row.status is DeliveryStatus.PENDING and row.next_attempt_at is None
    assert await store.outbox_stats() == (0, None)

    after = await store.finish_attempt(delivery_id, success(soon()), now=soon(), disable_after=50)
    assert after is not None and after.enabled
    (row,) = await deliveries_of(store, created)
    assert row.status is DeliveryStatus.DELIVERED and row.attempts == 1


# -- attempts --------------------------------------------------------------------------------


async def test_finish_attempt_records_log_status_and_failure_count(store: SqlStore) -> None:
    created = await add(store, hook(WebhookScope.MAILBOX, BOB))
    (event,) = await deliver(store, BOB)
    (due,) = await lease(store)
    t1 = soon()
    after = await store.finish_attempt(due.delivery.id, failure(t1, 503), now=t1, disable_after=3)
    assert after is not None and after.enabled and after.consecutive_failures == 1

    # Pending again, lease dropped, due at its next attempt (not before).
    assert await lease(store, now=t1) == []
    (due,) = await lease(store, now=t1 + timedelta(seconds=10))
    assert due.payload == '{"event":"arrival"}'  # kept for every retry
    assert due.delivery.attempts == 1 and due.delivery.last_status_code == 503
    t2 = t1 + timedelta(seconds=11)
    after = await store.finish_attempt(
        due.delivery.id, failure(t2, None, error="connection refused"), now=t2, disable_after=3
    )
    assert after is not None and after.consecutive_failures == 2

    (due,) = await lease(store, now=t2 + timedelta(seconds=10))
    t3 = t2 + timedelta(seconds=11)
    after = await store.finish_attempt(due.delivery.id, success(t3), now=t3, disable_after=3)
    assert after is not None and after.consecutive_failures == 0 and after.enabled

    (row,) = await deliveries_of(store, created)
    assert row.event_id == event.id
    assert row.status is DeliveryStatus.DELIVERED and row.attempts == 3
    assert row.delivered_at == t3 and row.last_attempt_at == t3
    assert row.last_status_code == 200 and row.last_error is None
    assert row.next_attempt_at is None
    # The log, newest first.
    assert [(a.attempted_at, a.status_code, a.error) for a in row.log] == [
        (t3, 200, None),
        (t2, None, "connection refused"),
        (t1, 503, None),
    ]
    assert all(a.latency_ms == 12.5 for a in row.log)
    assert await lease(store, now=t3 + timedelta(days=1)) == []
    assert await store.finish_attempt(10**9, success(t3), now=t3, disable_after=3) is None


async def test_failures_in_a_row_disable_with_the_last_status(store: SqlStore) -> None:
    created = await add(store, hook(WebhookScope.MAILBOX, BOB))
    for n in range(3):
        await deliver(store, BOB, n=n)
    dues = await lease(store)
    at = soon()
    states = []
    for due in dues:
        after = await store.finish_attempt(
            due.delivery.id, failure(at, 500), now=at, disable_after=3
        )
        assert after is not None
        states.append((after.enabled, after.consecutive_failures))
    assert states == [(True, 1), (True, 2), (False, 3)]
    got = await store.get_webhook(created.id)
    assert got is not None and not got.enabled
    assert got.disabled_reason is not None
    assert "3" in got.disabled_reason and "HTTP 500" in got.disabled_reason
    # Disabled: its pending deliveries wait.
    assert await lease(store, now=at + timedelta(minutes=5)) == []


async def test_a_short_streak_of_failures_does_not_disable(store: SqlStore) -> None:
    """Many failures within minutes (a short outage while retries pile up) keep the
    webhook on; the same count spanning the streak duration disables it."""
    created = await add(store, hook(WebhookScope.MAILBOX, BOB))
    for n in range(3):
        await deliver(store, BOB, n=n)
    first, second, third = await lease(store)
    start = soon()
    streak = timedelta(hours=24)
    for due, at in ((first, start), (second, start + timedelta(minutes=10))):
        after = await store.finish_attempt(
            due.delivery.id, failure(at, 503), now=at, disable_after=2, disable_streak=streak
        )
        assert after is not None and after.enabled, "2 failures in 10 minutes: still on"
    late = start + timedelta(hours=24, minutes=1)
    after = await store.finish_attempt(
        third.delivery.id, failure(late, 503), now=late, disable_after=2, disable_streak=streak
    )
    assert after is not None and not after.enabled
    assert after.consecutive_failures == 3 and after.disabled_reason is not None
    # Enabling starts a new streak.
    enabled = await store.update_webhook(created.id, enabled=True, now=late)
    assert enabled is not None and enabled.consecutive_failures == 0


async def test_failure_by_error_names_the_error(store: SqlStore) -> None:
    created = await add(store, hook(WebhookScope.MAILBOX, BOB))
    await deliver(store, BOB)
    (due,) = await lease(store)
    after = await store.finish_attempt(
        due.delivery.id,
        failure(soon(), None, error="connection timed out"),
        now=soon(),
        disable_after=1,
    )
    assert after is not None and after.id == created.id and not after.enabled
    assert after.disabled_reason is not None and "connection timed out" in after.disabled_reason


async def test_disable_reason_disables_at_once(store: SqlStore) -> None:
    created = await add(store, hook(WebhookScope.MAILBOX, BOB))
    other = await add(store, hook(WebhookScope.MAILBOX, BOB))
    await deliver(store, BOB)
    dues = {d.webhook.id: d for d in await lease(store)}
    at = soon()
    after = await store.finish_attempt(
        dues[created.id].delivery.id,
        failure(at, 410, final=True, disable_reason="the endpoint answered 410 Gone"),
        now=at,
        disable_after=50,
    )
    assert after is not None and not after.enabled
    assert after.disabled_reason == "the endpoint answered 410 Gone"
    assert after.updated_at == at
    (row,) = await deliveries_of(store, created)
    assert row.status is DeliveryStatus.FAILED and row.last_status_code == 410
    still = await store.get_webhook(other.id)
    assert still is not None and still.enabled


async def test_list_deliveries_newest_first_limit_and_status(store: SqlStore) -> None:
    created = await add(store, hook(WebhookScope.MAILBOX, BOB))
    events = [(await deliver(store, BOB, n=n))[0] for n in range(4)]
    at = soon()
    dues = await lease(store, now=at)
    await store.finish_attempt(dues[0].delivery.id, success(at), now=at, disable_after=50)
    await store.finish_attempt(
        dues[1].delivery.id, failure(at, 500, final=True), now=at, disable_after=50
    )
    rows = await deliveries_of(store, created)
    assert [r.event_id for r in rows] == [e.id for e in reversed(events)]
    assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)
    limited = await store.list_deliveries(created.id, limit=2)
    assert [r.event_id for r in limited] == [events[3].id, events[2].id]

    delivered = await deliveries_of(store, created, DeliveryStatus.DELIVERED)
    assert [r.event_id for r in delivered] == [events[0].id]
    failed = await deliveries_of(store, created, DeliveryStatus.FAILED)
    assert [r.event_id for r in failed] == [events[1].id]
    pending = await deliveries_of(store, created, DeliveryStatus.PENDING)
    assert [r.event_id for r in pending] == [events[3].id, events[2].id]
    assert await store.list_deliveries(new_id(), limit=10) == []


# -- redrive, stats, pruning -----------------------------------------------------------------


async def test_redrive_one_in_any_status_or_every_failed(store: SqlStore) -> None:
    created = await add(store, hook(WebhookScope.MAILBOX, BOB))
    other = await add(store, hook(WebhookScope.MAILBOX, CAROL))
    for n in range(4):
        await deliver(store, BOB, n=n)
    await deliver(store, CAROL)
    at = soon()
    dues = [d for d in await lease(store, now=at) if d.webhook.id == created.id]
    failed_a, failed_b, done, waiting = (d.delivery.id for d in dues)
    for failed in (failed_a, failed_b):
        await store.finish_attempt(failed, failure(at, 500, final=True), now=at, disable_after=50)
    await store.finish_attempt(done, success(at), now=at, disable_after=50)
    test_id = await store.add_test_delivery(created.id, BOB, at)
    await store.finish_attempt(test_id, failure(at, 500, final=True), now=at, disable_after=50)
    (other_row,) = await deliveries_of(store, other)
    await store.finish_attempt(other_row.id, failure(at, 500, final=True), now=at, disable_after=50)

    now = at + timedelta(seconds=10)  # `waiting` is still leased (LEASE is 35 s)
    give_up = now + timedelta(hours=24)
    # Every failed one of this webhook; not the test, not another webhook's.
    assert (
        await store.redrive_deliveries(created.id, delivery_id=None, now=now, give_up_at=give_up)
        == 2
    )
    rows = {r.id: r for r in await deliveries_of(store, created)}
    for redriven in (failed_a, failed_b):
        assert rows[redriven].status is DeliveryStatus.PENDING
        assert rows[redriven].next_attempt_at == now and rows[redriven].give_up_at == give_up
    assert rows[done].status is DeliveryStatus.DELIVERED
    assert rows[test_id].status is DeliveryStatus.FAILED
    (other_again,) = await deliveries_of(store, other)
    assert other_again.status is DeliveryStatus.FAILED

    # The redriven ones are due now (their old lease is gone); the one still leased is not.
    got = await lease(store, now=now)
    assert sorted(d.delivery.id for d in got) == sorted([failed_a, failed_b])
    assert all(d.delivery.give_up_at == give_up for d in got)

    # One by id, in any status: a delivered one is sent again.
    later = now + timedelta(seconds=10)
    assert (
        await store.redrive_deliveries(
            created.id, delivery_id=done, now=later, give_up_at=later + timedelta(hours=24)
        )
        == 1
    )
    rows = {r.id: r for r in await deliveries_of(store, created)}
    assert rows[done].status is DeliveryStatus.PENDING and rows[done].delivered_at is None
    assert rows[done].next_attempt_at == later
    # A pending (still leased) one by id: due at once, the lease dropped.
    assert (
        await store.redrive_deliveries(created.id, delivery_id=waiting, now=later, give_up_at=later)
        == 1
    )
    got = await lease(store, now=later)
    assert sorted(d.delivery.id for d in got) == sorted([done, waiting])
    # Not a test delivery, not another webhook's, not an unknown id.
    for delivery_id in (test_id, other_row.id, 10**9):
        assert (
            await store.redrive_deliveries(
                created.id, delivery_id=delivery_id, now=later, give_up_at=later
            )
            == 0
        )


async def test_outbox_stats_counts_pending_and_oldest(store: SqlStore) -> None:
    assert await store.outbox_stats() == (0, None)
    created = await add(store, hook(WebhookScope.MAILBOX, BOB))
    await deliver(store, BOB)
    await deliver(store, BOB, n=2)
    rows = sorted(await deliveries_of(store, created), key=lambda r: r.id)
    pending, oldest = await store.outbox_stats()
    assert pending == 2
    assert oldest is not None and oldest.tzinfo is not None
    assert oldest == rows[0].created_at
    # Age can be computed against an aware clock (the dispatcher's queue-age gauge).
    assert (soon() - oldest).total_seconds() >= 0

    at = soon()
    first = (await lease(store, now=at))[0]
    await store.finish_attempt(first.delivery.id, success(at), now=at, disable_after=50)
    pending, oldest = await store.outbox_stats()
    assert pending == 1 and oldest == rows[1].created_at


async def test_prune_removes_only_old_finished_deliveries(store: SqlStore) -> None:
    created = await add(store, hook(WebhookScope.MAILBOX, BOB))
    for n in range(3):
        await deliver(store, BOB, n=n)
    await asyncio.sleep(0.01)
    await deliver(store, BOB, n=3)
    old_done, old_failed, old_pending, new_done = sorted(
        await deliveries_of(store, created), key=lambda r: r.id
    )
    # The old ones were last attempted when they were created; the new one later.
    early, at = old_done.created_at, soon()
    await store.finish_attempt(old_done.id, success(early), now=early, disable_after=50)
    await store.finish_attempt(new_done.id, success(at), now=at, disable_after=50)
    await store.finish_attempt(
        old_failed.id, failure(early, 500, final=True), now=early, disable_after=50
    )
    assert await count(store, t.webhook_attempts) == 3

    # The cut is by the last attempt: new_done was created after the cut too, but an
    # old delivery finished (e.g. redriven) after the cut would stay just the same.
    assert await store.prune_deliveries(new_done.created_at) == 2
    left = await deliveries_of(store, created)
    assert sorted(r.id for r in left) == [old_pending.id, new_done.id]
    assert await count(store, t.webhook_attempts) == 1  # the old ones' log went too
    assert await store.prune_deliveries(CREATED) == 0


# -- mailboxes changing hands or going away -------------------------------------------------


async def test_delete_mailbox_drops_its_webhooks(store: SqlStore) -> None:
    await deliver(store, BOB)
    await deliver(store, CAROL)
    on_bob = await add(store, hook(WebhookScope.MAILBOX, BOB, events=("deletion",)))
    on_carol = await add(store, hook(WebhookScope.MAILBOX, CAROL))
    on_domain = await add(
        store, hook(WebhookScope.DOMAIN, "example.com", events=("deletion", "mailbox.deleted"))
    )

    events = await store.delete_mailbox(BOB)
    assert events is not None
    deleted = [e for e in events if e.type is EventType.MAILBOX_DELETED]
    removed = [e for e in events if e.type is EventType.MESSAGE_DELETED]
    assert len(deleted) == 1 and len(removed) == 1

    assert await store.get_webhook(on_bob.id) is None
    assert await deliveries_of(store, on_bob) == []
    assert await store.get_webhook(on_carol.id) is not None
    # The domain's webhook outlives the mailbox and hears of its end.
    rows = await deliveries_of(store, on_domain)
    assert sorted((r.event, r.event_id) for r in rows) == sorted(
        [("deletion", removed[0].id), ("mailbox.deleted", deleted[0].id)]
    )

    # Whoever gets the address next does not feed the old subscriber.
    await deliver(store, BOB, n=2)
    assert await count(store, t.webhook_deliveries) == len(rows)


async def test_account_webhook_hears_of_its_mailbox_deletion(store: SqlStore) -> None:
    owner = await new_account(store, "owner@accounts.test")
    address = "mine@owned.test"
    await store.create_owned_mailbox(address, owner.id, adopt_public=False)
    await deliver(store, address)
    watcher = await add(
        store,
        hook(WebhookScope.ACCOUNT, str(owner.id), events=("deletion", "mailbox.deleted")),
    )
    events = await store.delete_mailbox(address)
    assert events is not None
    by_type = {e.type: e for e in events}
    rows = await deliveries_of(store, watcher)
    assert sorted((r.event, r.event_id) for r in rows) == sorted(
        [
            ("deletion", by_type[EventType.MESSAGE_DELETED].id),
            ("mailbox.deleted", by_type[EventType.MAILBOX_DELETED].id),
        ]
    )


async def test_claim_disables_the_mailbox_webhooks(store: SqlStore) -> None:
    await deliver(store, BOB)
    on_bob = await add(store, hook(WebhookScope.MAILBOX, BOB, events=("mailbox.claimed",)))
    on_carol = await add(store, hook(WebhookScope.MAILBOX, CAROL))
    on_domain = await add(store, hook(WebhookScope.DOMAIN, "example.com"))

    await store.claim_mailbox(BOB, "argon2-hash-of-the-claim")

    got = await store.get_webhook(on_bob.id)
    assert got is not None and not got.enabled
    assert got.disabled_reason is not None and "claimed" in got.disabled_reason
    assert await deliveries_of(store, on_bob) == []  # disabled before the claim's event
    for untouched in (on_carol, on_domain):
        still = await store.get_webhook(untouched.id)
        assert still is not None and still.enabled and still.disabled_reason is None
    await deliver(store, BOB, n=2)
    assert await deliveries_of(store, on_bob) == []
    assert len(await deliveries_of(store, on_domain)) == 1

    # Whoever holds the password may enable it again.
    enabled = await store.update_webhook(on_bob.id, enabled=True, now=soon())
    assert enabled is not None and enabled.enabled and enabled.disabled_reason is None


async def test_owning_a_mailbox_disables_others_webhooks_keeps_the_owners(store: SqlStore) -> None:
    owner = await new_account(store, "owner@accounts.test")
    stranger = await new_account(store, "stranger@accounts.test")
    await deliver(store, BOB)
    anonymous = await add(store, hook(WebhookScope.MAILBOX, BOB))
    strangers = await add(store, hook(WebhookScope.MAILBOX, BOB, created_by=stranger.id))
    owners = await add(store, hook(WebhookScope.MAILBOX, BOB, created_by=owner.id))
    # One watching an address that does not exist yet.
    early = await add(store, hook(WebhookScope.MAILBOX, "new@example.com"))
    early_by_owner = await add(
        store, hook(WebhookScope.MAILBOX, "new@example.com", created_by=owner.id)
    )

    await store.create_owned_mailbox(BOB, owner.id, adopt_public=True)
    await store.create_owned_mailbox("new@example.com", owner.id, adopt_public=False)

    for off in (anonymous, strangers, early):
        got = await store.get_webhook(off.id)
        assert got is not None and not got.enabled, off
        assert got.disabled_reason is not None and "account" in got.disabled_reason
    for on in (owners, early_by_owner):
        got = await store.get_webhook(on.id)
        assert got is not None and got.enabled and got.disabled_reason is None

    (arrival,) = await deliver(store, BOB, n=2)
    (row,) = await deliveries_of(store, owners)
    assert row.event_id == arrival.id
    for off in (anonymous, strangers):
        assert await deliveries_of(store, off) == []
