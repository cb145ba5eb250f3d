"""The store contract: every Store operation, run against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ephemail.adapters.sql.store import SqlStore
from ephemail.domain.bans import normalize_ban
from ephemail.domain.events import DeletionReason, EventType
from ephemail.domain.ids import new_id
from ephemail.domain.messages import Attachment, MailboxKind, ParsedSummary
from ephemail.ports import ConflictError, Delivery, InvalidCursorError, RecipientDelivery

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def summary(subject: str = "Hello", **kw: object) -> ParsedSummary:
    fields: dict[str, object] = {
        "subject": subject,
        "from_": "Alice <alice@example.org>",
        "to": ("bob@example.com",),
        "cc": (),
        "reply_to": (),
        "date": NOW,
        "message_id": "<m1@example.org>",
        "text": "hi there",
        "html": None,
        "attachments": (),
        "headers": (("Subject", subject),),
    }
    fields.update(kw)
    return ParsedSummary(**fields)  # type: ignore[arg-type]


def delivery(
    raw: bytes, *recipients: str, subject: str = "Hello", expires_at: datetime | None = None
) -> Delivery:
    return Delivery(
        queue_id=new_id(),
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        summary=summary(subject),
        envelope_from="alice@example.org",
        recipients=tuple(
            RecipientDelivery(new_id(), r, r.rpartition("@")[2], expires_at) for r in recipients
        ),
        received_at=NOW,
        client_ip="127.0.0.1",
    )


async def test_delivery_creates_mailbox_inbox_messages_and_events(store: SqlStore) -> None:
    raw = b"Subject: Hello\r\n\r\nhi there\r\n"
    events = await store.write_deliveries([delivery(raw, "bob@example.com", "carol@example.com")])

    kinds = [e.type for e in events]
    assert kinds.count(EventType.MAILBOX_CREATED) == 2
    assert kinds.count(EventType.MESSAGE_RECEIVED) == 2
    assert [e.id for e in events] == sorted(e.id for e in events)
    mailbox = await store.get_mailbox("bob@example.com")
    assert mailbox is not None and mailbox.kind is MailboxKind.PUBLIC
    assert mailbox.domain == "example.com"
    for address in ("bob@example.com", "carol@example.com"):
        page = await store.list_messages(address, limit=10, cursor=None)
        assert page.total == 1 and page.unread == 1
        (item,) = page.items
        assert item.subject == "Hello" and item.uid == 1 and item.folder == "INBOX"
        assert item.envelope_from == "alice@example.org"
        assert await store.get_raw(item.id) == raw


async def test_raw_bytes_stored_once_and_exact(store: SqlStore) -> None:
    raw = bytes(range(256)) * 40 + b"\r\n.\r\n\x00"
    await store.write_deliveries([delivery(raw, "a@x.test", "b@x.test")])
    await store.write_deliveries([delivery(raw, "a@x.test")])
    page = await store.list_messages("a@x.test", limit=10, cursor=None)
    assert page.total == 2
    for item in page.items:
        assert await store.get_raw(item.id) == raw


async def test_uids_strictly_increase_across_batches(store: SqlStore) -> None:
    batch = [delivery(f"Subject: {i}\r\n\r\n{i}".encode(), "u@x.test") for i in range(5)]
    await store.write_deliveries(batch)
    await store.write_deliveries([delivery(b"Subject: 5\r\n\r\nlast", "u@x.test")])
    page = await store.list_messages("u@x.test", limit=100, cursor=None)
    uids = sorted(m.uid for m in page.items)
    assert uids == [1, 2, 3, 4, 5, 6]


async def test_concurrent_batches_never_reuse_a_uid(store: SqlStore) -> None:
    async def one(i: int) -> None:
        await store.write_deliveries([delivery(f"n{i}".encode(), "race@x.test")])

    await asyncio.gather(*(one(i) for i in range(20)))
    page = await store.list_messages("race@x.test", limit=100, cursor=None)
    assert sorted(m.uid for m in page.items) == list(range(1, 21))


async def test_listing_is_newest_first_with_cursor_pages(store: SqlStore) -> None:
    for i in range(7):
        await store.write_deliveries([delivery(f"m{i}".encode(), "p@x.test", subject=f"s{i}")])
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list_messages("p@x.test", limit=3, cursor=cursor)
        seen += [m.subject for m in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"s{i}" for i in reversed(range(7))]


async def test_listing_unknown_mailbox_is_empty_and_bad_cursor_rejected(store: SqlStore) -> None:
    page = await store.list_messages("nobody@x.test", limit=10, cursor=None)
    assert page.items == [] and page.total == 0 and page.next_cursor is None
    await store.write_deliveries([delivery(b"x", "c@x.test")])
    with pytest.raises(InvalidCursorError, match="invalid cursor"):
        await store.list_messages("c@x.test", limit=10, cursor="'; drop table messages")


async def test_get_message_detail_roundtrip(store: SqlStore) -> None:
    d = delivery(b"raw", "d@x.test")
    d = replace(
        d,
        summary=summary(
            "Fancy ünïcode",
            html="<p>hi</p>",
            attachments=(Attachment("a.pdf", "application/pdf", 1234, "cid1", "attachment"),),
            cc=("c@x.test",),
        ),
    )
    await store.write_deliveries([d])
    detail = await store.get_message(d.recipients[0].message_id)
    assert detail is not None
    assert detail.summary.subject == "Fancy ünïcode"
    assert detail.summary.has_attachments
    assert detail.summary.cc == ("c@x.test",)
    assert detail.html == "<p>hi</p>"
    assert detail.attachments[0].filename == "a.pdf" and detail.attachments[0].size == 1234
    assert detail.queue_id == d.queue_id
    assert detail.summary.date == NOW
    assert await store.get_message(new_id()) is None
    assert await store.get_message("not-an-id") is None


async def test_delete_messages_emits_events_and_collects_raw(store: SqlStore) -> None:
    d = delivery(b"to delete", "e@x.test", "f@x.test")
    await store.write_deliveries([d])
    first, second = (r.message_id for r in d.recipients)
    events = await store.delete_messages([first], DeletionReason.USER)
    assert [(e.type, e.data["reason"]) for e in events] == [(EventType.MESSAGE_DELETED, "user")]
    assert await store.get_message(first) is None
    assert await store.get_raw(second) == b"to delete"  # still referenced
    await store.delete_messages([second], DeletionReason.USER)
    assert await store.count_messages() == 0
    assert await store.delete_messages([first], DeletionReason.USER) == []


async def test_delete_expired(store: SqlStore) -> None:
    await store.write_deliveries([delivery(b"old", "g@x.test", expires_at=NOW - timedelta(1))])
    await store.write_deliveries([delivery(b"new", "g@x.test", expires_at=NOW + timedelta(1))])
    await store.write_deliveries([delivery(b"kept", "g@x.test", expires_at=None)])
    events = await store.delete_expired(NOW, limit=100)
    assert len(events) == 1 and events[0].data["reason"] == "retention"
    page = await store.list_messages("g@x.test", limit=10, cursor=None)
    assert page.total == 2


async def test_events_after_returns_the_log_in_order(store: SqlStore) -> None:
    events = await store.write_deliveries([delivery(b"ev", "h@x.test")])
    logged = await store.events_after(0, 100)
    assert [e.id for e in logged] == [e.id for e in events]
    assert await store.events_after(events[-1].id, 100) == []


async def test_domains_crud_bumps_policy_revision(store: SqlStore) -> None:
    r0 = await store.policy_revision()
    record = await store.add_domain("example.com", active=True, shared=False, retention_hours=2)
    assert record.name == "example.com" and record.retention_hours == 2
    assert await store.policy_revision() > r0
    with pytest.raises(ConflictError):
        await store.add_domain("example.com", active=True, shared=False, retention_hours=None)
    assert [d.name for d in await store.list_domains()] == ["example.com"]
    assert await store.remove_domain("example.com") is True
    assert await store.remove_domain("example.com") is False
    assert await store.list_domains() == []


async def test_bans_crud(store: SqlStore) -> None:
    r0 = await store.policy_revision()
    ban = await store.add_ban(normalize_ban("sender", "Spam@Bad.org", reason="spam"))
    assert ban.id is not None and ban.value == "spam@bad.org" and ban.reason == "spam"
    with pytest.raises(ConflictError):
        await store.add_ban(normalize_ban("sender", "spam@bad.org"))
    assert [b.value for b in await store.list_bans()] == ["spam@bad.org"]
    assert await store.policy_revision() > r0
    assert await store.remove_ban(ban.id) is True
    assert await store.remove_ban(ban.id) is False


async def test_ping(store: SqlStore) -> None:
    await store.ping()
