"""The ImapStore contract (folders, UIDs, flags, \\Recent, expunge, copy/move/append),
run against SQLite and PostgreSQL through the `store` fixture."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from ephemail.adapters.sql import tables as t
from ephemail.adapters.sql.imap_store import uid_ranges
from ephemail.adapters.sql.store import SqlStore
from ephemail.domain.events import EventType
from ephemail.domain.ids import new_id
from ephemail.domain.imap import (
    DELETED,
    EMPTY_STRUCTURE,
    FLAGGED,
    INBOX,
    SEEN,
    FlagMode,
    SpecialUse,
)
from ephemail.domain.messages import Mailbox
from ephemail.mime.imap import imap_structure_of
from ephemail.mime.summary import parse_summary
from ephemail.ports import ConflictError, Delivery, RecipientDelivery

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
BOB = "bob@example.com"


def raw_message(n: int, sender: str = "alice@example.org") -> bytes:
    return (
        f"From: Alice <{sender}>\r\nTo: {BOB}\r\nSubject: message {n}\r\n"
        f"Message-ID: <m{n}@example.org>\r\n\r\nbody {n}\r\n"
    ).encode()


def delivery(raw: bytes, *recipients: str, envelope_from: str = "alice@example.org") -> Delivery:
    return Delivery(
        queue_id=new_id(),
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        summary=parse_summary(raw),
        envelope_from=envelope_from,
        recipients=tuple(
            RecipientDelivery(new_id(), r, r.rpartition("@")[2], None) for r in recipients
        ),
        received_at=NOW,
    )


def never(_: str) -> bool:
    return False


async def deliver(store: SqlStore, count: int, address: str = BOB, start: int = 1) -> Mailbox:
    await store.write_deliveries(
        [delivery(raw_message(n), address) for n in range(start, start + count)]
    )
    mailbox = await store.get_mailbox(address)
    assert mailbox is not None
    return mailbox


async def inbox_id(store: SqlStore, mailbox: Mailbox) -> int:
    folder = await store.imap_folder(mailbox, INBOX)
    assert folder is not None
    return folder.id


def test_uid_ranges_fold_runs() -> None:
    assert uid_ranges([5, 1, 2, 3, 9, 10, 3]) == [(1, 3), (5, 5), (9, 10)]
    assert uid_ranges(range(1, 10_001)) == [(1, 10_000)]


async def test_delivery_writes_structure_and_folder_in_events(store: SqlStore) -> None:
    raw = raw_message(1)
    events = await store.write_deliveries([delivery(raw, BOB)])
    received = [e for e in events if e.type is EventType.MESSAGE_RECEIVED]
    assert received[0].data["folder"] == INBOX and received[0].data["uid"] == 1
    mailbox = await store.get_mailbox(BOB)
    assert mailbox is not None
    contents = await store.imap_contents(mailbox, [received[0].message_id or ""], raw=False)
    fetched = contents[received[0].message_id or ""]
    assert fetched.content.structure == imap_structure_of(raw)
    assert fetched.content.raw is None and fetched.envelope_from == "alice@example.org"
    stored = await store._read(
        lambda conn: conn.execute(
            select(t.message_contents.c.imap_envelope, t.message_contents.c.imap_sections)
        ).one()
    )
    assert bytes(stored.imap_envelope) == imap_structure_of(raw).envelope
    assert stored.imap_sections == imap_structure_of(raw).sections
    with_raw = await store.imap_contents(mailbox, [received[0].message_id or ""], raw=True)
    assert with_raw[received[0].message_id or ""].content.raw == raw
    # Whole-message FETCH: only the raw bytes are read.
    only_raw = await store.imap_contents(
        mailbox, [received[0].message_id or ""], raw=True, structure=False
    )
    assert only_raw[received[0].message_id or ""].content.raw == raw
    assert only_raw[received[0].message_id or ""].content.structure == EMPTY_STRUCTURE
    assert only_raw[received[0].message_id or ""].envelope_from == "alice@example.org"
    carol = await deliver(store, 1, "carol@example.com", start=7)
    other = await store.imap_contents(
        carol, [received[0].message_id or ""], raw=True, structure=False
    )
    assert other == {}  # only the mailbox's own messages


async def test_structure_of_old_rows_is_computed_from_raw(store: SqlStore) -> None:
    mailbox = await deliver(store, 1)
    await store._write(
        lambda conn: conn.execute(
            update(t.message_contents).values(
                imap_envelope=None, imap_body=None, imap_bodystructure=None, imap_sections=None
            )
        )
    )
    selection = await store.imap_select(mailbox, INBOX, claim_recent=False)
    assert selection is not None
    (message,) = selection.messages
    fetched = await store.imap_contents(mailbox, [message.message_id], raw=False)
    assert fetched[message.message_id].content.structure == imap_structure_of(raw_message(1))
    assert fetched[message.message_id].content.raw is None


async def test_contents_and_texts_only_of_the_mailbox(store: SqlStore) -> None:
    bob = await deliver(store, 1)
    carol = await deliver(store, 1, "carol@example.com", start=7)
    selection = await store.imap_select(carol, INBOX, claim_recent=False)
    assert selection is not None
    carol_id = selection.messages[0].message_id
    assert await store.imap_contents(bob, [carol_id], raw=True) == {}
    assert await store.imap_texts(bob, [carol_id]) == {}
    texts = await store.imap_texts(carol, [carol_id, "bad"])
    assert ("Subject", "message 7") in texts[carol_id].headers
    assert "body 7" in texts[carol_id].body


async def test_folders_inbox_first_and_create_with_parents(store: SqlStore) -> None:
    mailbox = await deliver(store, 1)
    inbox = await store.imap_folder(mailbox, INBOX)
    assert inbox is not None and inbox.uidnext == 2 and inbox.recent_uid == 0
    created = await store.imap_create_folder(
        mailbox, "Archive/2026", None, parents=[("Archive", SpecialUse.ARCHIVE)]
    )
    assert created.name == "Archive/2026" and created.uidnext == 1 and created.subscribed
    await store.imap_create_folder(mailbox, "Sent", SpecialUse.SENT)
    folders = await store.imap_folders(mailbox)
    assert [f.name for f in folders] == [INBOX, "Archive", "Archive/2026", "Sent"]
    assert folders[1].special_use is SpecialUse.ARCHIVE
    assert folders[3].special_use is SpecialUse.SENT
    validities = [f.uidvalidity for f in folders]
    assert len(set(validities)) == 4 and all(0 < v <= 0xFFFFFFFF for v in validities)
    with pytest.raises(ConflictError):
        await store.imap_create_folder(mailbox, "Sent", None)


async def test_uidvalidity_grows_for_a_folder_created_again(store: SqlStore) -> None:
    mailbox = await deliver(store, 1)
    first = await store.imap_create_folder(mailbox, "Work", None)
    assert await store.imap_delete_folder(mailbox, "Work") == []
    second = await store.imap_create_folder(mailbox, "Work", None)
    assert second.uidvalidity > first.uidvalidity
    assert await store.imap_delete_folder(mailbox, "Missing") is None


async def test_delete_folder_deletes_messages_refuses_parents(store: SqlStore) -> None:
    mailbox = await deliver(store, 2)
    await store.imap_create_folder(mailbox, "a/b", None, parents=[("a", None)])
    folder_id = await inbox_id(store, mailbox)
    copied = await store.imap_copy(mailbox, folder_id, [1, 2], "a", move=False, hidden=never)
    assert copied is not None
    with pytest.raises(ConflictError):
        await store.imap_delete_folder(mailbox, "a")
    assert await store.imap_delete_folder(mailbox, "a/b") == []
    events = await store.imap_delete_folder(mailbox, "a")
    assert events is not None and len(events) == 2
    assert {e.type for e in events} == {EventType.MESSAGE_DELETED}
    assert {e.data["folder"] for e in events} == {"a"}
    assert {e.data["reason"] for e in events} == {"user"}
    # The INBOX originals share the content rows and still have them.
    selection = await store.imap_select(mailbox, INBOX, claim_recent=False)
    assert selection is not None and len(selection.messages) == 2
    ids = [m.message_id for m in selection.messages]
    assert len(await store.imap_contents(mailbox, ids, raw=True)) == 2


async def test_rename_moves_children_and_refuses_clashes(store: SqlStore) -> None:
    mailbox = await deliver(store, 1)
    await store.imap_create_folder(mailbox, "a/b", None, parents=[("a", None)])
    await store.imap_create_folder(mailbox, "c", None)
    before = await store.imap_folder(mailbox, "a/b")
    with pytest.raises(ConflictError):
        await store.imap_rename_folder(mailbox, "a", "c")
    assert await store.imap_rename_folder(mailbox, "a", "x/y", parents=[("x", None)])
    names = [f.name for f in await store.imap_folders(mailbox)]
    assert names == [INBOX, "c", "x", "x/y", "x/y/b"]
    after = await store.imap_folder(mailbox, "x/y/b")
    assert before is not None and after is not None and after.id == before.id
    assert after.uidvalidity == before.uidvalidity
    assert not await store.imap_rename_folder(mailbox, "nothing", "else")


async def test_subscribed_state(store: SqlStore) -> None:
    mailbox = await deliver(store, 1)
    await store.imap_create_folder(mailbox, "News", None)
    assert await store.imap_set_subscribed(mailbox, "News", False)
    folder = await store.imap_folder(mailbox, "News")
    assert folder is not None and not folder.subscribed
    assert not await store.imap_set_subscribed(mailbox, "Gone", True)


async def test_select_claims_recent_once_examine_never(store: SqlStore) -> None:
    mailbox = await deliver(store, 3)
    examined = await store.imap_select(mailbox, INBOX, claim_recent=False)
    assert examined is not None and examined.recent_above == 3
    assert [m.uid for m in examined.messages] == [1, 2, 3]
    first = await store.imap_select(mailbox, INBOX, claim_recent=True)
    assert first is not None and first.recent_above == 0 and first.folder.recent_uid == 3
    second = await store.imap_select(mailbox, INBOX, claim_recent=True)
    assert second is not None and second.recent_above == 3
    await deliver(store, 1, start=4)
    status = await store.imap_status(mailbox, INBOX)
    assert status is not None and status[1].recent == 1 and status[1].messages == 4
    third = await store.imap_select(mailbox, INBOX, claim_recent=True)
    assert third is not None and third.recent_above == 3
    assert [m.uid for m in third.messages if m.uid > third.recent_above] == [4]
    assert await store.imap_select(mailbox, "Nope", claim_recent=True) is None


async def test_status_counts_and_hidden_senders(store: SqlStore) -> None:
    mailbox = await deliver(store, 2)
    await store.write_deliveries([delivery(raw_message(9), BOB, envelope_from="spam@bad.test")])
    status = await store.imap_status(mailbox, INBOX)
    assert status is not None
    folder, counts = status
    assert (counts.messages, counts.unseen, counts.recent) == (3, 3, 3)
    assert folder.uidnext == 4
    hidden = await store.imap_status(mailbox, INBOX, hidden=lambda s: s.endswith("@bad.test"))
    assert hidden is not None and hidden[1].messages == 2
    assert await store.imap_status(mailbox, "Nope") is None


async def test_messages_after_and_by_id(store: SqlStore) -> None:
    mailbox = await deliver(store, 3)
    folder_id = await inbox_id(store, mailbox)
    after = await store.imap_messages_after(mailbox, folder_id, 1)
    assert [m.uid for m in after] == [2, 3]
    assert after[0].internal_date == NOW and after[0].flags == frozenset()
    assert after[0].size == len(raw_message(2))
    found = await store.imap_messages(mailbox, folder_id, [after[0].message_id, "x"])
    assert list(found) == [after[0].message_id]
    other = await deliver(store, 1, "carol@example.com")
    assert await store.imap_messages_after(other, folder_id, 0) == []


async def test_store_flags_modes_and_events(store: SqlStore) -> None:
    mailbox = await deliver(store, 3)
    folder_id = await inbox_id(store, mailbox)
    result, events = await store.imap_store_flags(
        mailbox, folder_id, [1, 2], FlagMode.ADD, frozenset({SEEN, FLAGGED}), hidden=never
    )
    assert result == {1: frozenset({SEEN, FLAGGED}), 2: frozenset({SEEN, FLAGGED})}
    kinds = sorted((e.type.value, e.data["uid"]) for e in events)
    assert kinds == [
        ("message.flags", 1),
        ("message.flags", 2),
        ("message.read", 1),
        ("message.read", 2),
    ]
    read = next(e for e in events if e.type is EventType.MESSAGE_READ)
    assert read.data == {"seen": True, "uid": read.data["uid"], "folder": INBOX}
    flagged = next(e for e in events if e.type is EventType.MESSAGE_FLAGS)
    assert flagged.data["flags"] == [FLAGGED] and flagged.data["folder"] == INBOX
    # \Seen is the API's read state.
    page = await store.list_messages(BOB, limit=10, cursor=None)
    assert page.unread == 1
    result, events = await store.imap_store_flags(
        mailbox, folder_id, [1], FlagMode.REMOVE, frozenset({FLAGGED}), hidden=never
    )
    assert result == {1: frozenset({SEEN})}
    assert [e.type for e in events] == [EventType.MESSAGE_FLAGS]
    result, events = await store.imap_store_flags(
        mailbox, folder_id, [1, 2, 3, 99], FlagMode.REPLACE, frozenset({"$Label"}), hidden=never
    )
    assert result == {u: frozenset({"$Label"}) for u in (1, 2, 3)}
    # Unchanged messages write no event.
    _, again = await store.imap_store_flags(
        mailbox, folder_id, [1, 2, 3], FlagMode.ADD, frozenset({"$Label"}), hidden=never
    )
    assert again == []
    # Another mailbox's folder id changes nothing.
    other = await deliver(store, 1, "carol@example.com")
    assert await store.imap_store_flags(
        other, folder_id, [1], FlagMode.ADD, frozenset({SEEN}), hidden=never
    ) == ({}, [])


async def test_store_flags_skip_hidden_senders(store: SqlStore) -> None:
    mailbox = await deliver(store, 1)
    await store.write_deliveries([delivery(raw_message(2), BOB, envelope_from="spam@bad.test")])
    folder_id = await inbox_id(store, mailbox)
    result, _ = await store.imap_store_flags(
        mailbox,
        folder_id,
        [1, 2],
        FlagMode.ADD,
        frozenset({SEEN}),
        hidden=lambda s: s == "spam@bad.test",
    )
    assert set(result) == {1}
    status = await store.imap_status(mailbox, INBOX)
    assert status is not None and status[1].unseen == 1


async def test_store_flags_over_a_large_folder(store: SqlStore) -> None:
    mailbox = await deliver(store, 1200)
    folder_id = await inbox_id(store, mailbox)
    uids = [u for u in range(1, 1201) if u % 3]  # 800 UIDs in 400 ranges
    result, events = await store.imap_store_flags(
        mailbox, folder_id, uids, FlagMode.ADD, frozenset({SEEN}), hidden=never
    )
    assert len(result) == 800 and len(events) == 800
    selection = await store.imap_select(mailbox, INBOX, claim_recent=False)
    assert selection is not None
    seen = {m.uid for m in selection.messages if SEEN in m.flags}
    assert seen == set(uids)
    ids = [m.message_id for m in selection.messages]
    assert len(await store.imap_messages(mailbox, folder_id, ids)) == 1200
    assert len(await store.imap_contents(mailbox, ids, raw=False)) == 1200


async def test_expunge_only_deleted_and_uids_never_reused(store: SqlStore) -> None:
    mailbox = await deliver(store, 4)
    folder_id = await inbox_id(store, mailbox)
    await store.imap_store_flags(
        mailbox, folder_id, [1, 2, 4], FlagMode.ADD, frozenset({DELETED}), hidden=never
    )
    removed, events = await store.imap_expunge(mailbox, folder_id, [2, 3, 4], hidden=never)
    assert removed == [2, 4]
    assert sorted(e.data["uid"] for e in events) == [2, 4]
    assert {(e.type, e.data["folder"], e.data["reason"]) for e in events} == {
        (EventType.MESSAGE_DELETED, INBOX, "user")
    }
    removed, _ = await store.imap_expunge(mailbox, folder_id, None, hidden=never)
    assert removed == [1]
    await deliver(store, 1, start=10)
    selection = await store.imap_select(mailbox, INBOX, claim_recent=False)
    assert selection is not None
    assert [m.uid for m in selection.messages] == [3, 5]
    assert selection.folder.uidnext == 6


async def test_copy_new_rows_same_content(store: SqlStore) -> None:
    mailbox = await deliver(store, 3)
    folder_id = await inbox_id(store, mailbox)
    await store.imap_create_folder(mailbox, "Keep", None)
    await store.imap_store_flags(
        mailbox, folder_id, [2], FlagMode.ADD, frozenset({SEEN, FLAGGED}), hidden=never
    )
    copied = await store.imap_copy(mailbox, folder_id, [3, 2], "Keep", move=False, hidden=never)
    assert copied is not None
    assert copied.pairs == [(2, 1), (3, 2)] and copied.folder.uidnext == 3
    assert [e.type for e in copied.events] == [EventType.MESSAGE_RECEIVED] * 2
    assert [e.data["uid"] for e in copied.events] == [1, 2]
    assert copied.events[0].data["folder"] == "Keep"
    assert copied.events[0].data["subject"] == "message 2"
    target = await store.imap_select(mailbox, "Keep", claim_recent=False)
    source = await store.imap_select(mailbox, INBOX, claim_recent=False)
    assert target is not None and source is not None
    assert target.messages[0].flags == frozenset({SEEN, FLAGGED})
    assert target.messages[0].internal_date == source.messages[1].internal_date
    new_ids = {m.message_id for m in target.messages}
    assert not new_ids & {m.message_id for m in source.messages}
    assert {e.message_id for e in copied.events} == new_ids
    raw = await store.imap_contents(mailbox, sorted(new_ids), raw=True)
    assert {f.content.raw for f in raw.values()} == {raw_message(2), raw_message(3)}
    assert await store.imap_copy(mailbox, folder_id, [1], "Nope", move=False, hidden=never) is None


async def test_move_keeps_id_new_uid(store: SqlStore) -> None:
    mailbox = await deliver(store, 3)
    folder_id = await inbox_id(store, mailbox)
    await store.imap_create_folder(mailbox, "Trash", SpecialUse.TRASH)
    before = await store.imap_select(mailbox, INBOX, claim_recent=False)
    assert before is not None
    moved = await store.imap_copy(mailbox, folder_id, [1, 3], "Trash", move=True, hidden=never)
    assert moved is not None and moved.pairs == [(1, 1), (3, 2)]
    assert [e.type for e in moved.events] == [EventType.MESSAGE_MOVED] * 2
    assert moved.events[1].data == {
        "from_folder": INBOX,
        "from_uid": 3,
        "folder": "Trash",
        "uid": 2,
    }
    assert moved.events[1].message_id == before.messages[2].message_id
    after = await store.imap_select(mailbox, INBOX, claim_recent=False)
    trash = await store.imap_select(mailbox, "Trash", claim_recent=False)
    assert after is not None and trash is not None
    assert [m.uid for m in after.messages] == [2]
    assert [m.message_id for m in trash.messages] == [
        before.messages[0].message_id,
        before.messages[2].message_id,
    ]
    page = await store.list_messages(BOB, limit=10, cursor=None, folder="Trash")
    assert page.total == 2


async def test_append_stores_with_flags_and_date(store: SqlStore) -> None:
    mailbox = await deliver(store, 1)
    await store.imap_create_folder(mailbox, "Drafts", SpecialUse.DRAFTS)
    raw = raw_message(5)
    appended = delivery(raw, BOB, envelope_from="")
    stored = await store.imap_append(
        mailbox, "Drafts", appended, seen=True, flags=frozenset({SEEN, "\\Draft"})
    )
    assert stored is not None
    folder, uid, events = stored
    assert uid == 1 and folder.uidnext == 2
    assert events[0].type is EventType.MESSAGE_RECEIVED
    assert events[0].data["folder"] == "Drafts" and events[0].data["uid"] == 1
    assert events[0].data["subject"] == "message 5"
    selection = await store.imap_select(mailbox, "Drafts", claim_recent=False)
    assert selection is not None
    (message,) = selection.messages
    assert message.flags == frozenset({SEEN, "\\Draft"}) and message.internal_date == NOW
    contents = await store.imap_contents(mailbox, [message.message_id], raw=True)
    assert contents[message.message_id].content.raw == raw
    missing = await store.imap_append(
        mailbox, "Nope", delivery(raw, BOB), seen=False, flags=frozenset()
    )
    assert missing is None
