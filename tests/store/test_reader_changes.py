"""Store contract for changes made by readers: create a mailbox, read state, ids to delete.

Run against SQLite and PostgreSQL like the rest of the contract suite.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from ephemail.adapters.sql.store import SqlStore
from ephemail.domain.events import DeletionReason, EventType
from ephemail.domain.messages import MailboxKind
from tests.store.test_store_contract import delivery


async def test_create_mailbox_once_with_inbox_and_event(store: SqlStore) -> None:
    mailbox, created = await store.create_mailbox("new@example.com")
    assert [e.type for e in created] == [EventType.MAILBOX_CREATED]
    assert mailbox.address == "new@example.com"
    assert mailbox.kind is MailboxKind.PUBLIC and mailbox.domain == "example.com"
    again, created_again = await store.create_mailbox("new@example.com")
    assert created_again == [] and again.id == mailbox.id

    events = await store.events_after(0, 100)
    assert [(e.type, e.mailbox) for e in events] == [(EventType.MAILBOX_CREATED, "new@example.com")]
    # Mail delivered afterwards lands in the INBOX created here, starting at UID 1.
    await store.write_deliveries([delivery(b"Subject: x\r\n\r\nx\r\n", "new@example.com")])
    page = await store.list_messages("new@example.com", limit=5, cursor=None)
    assert [m.uid for m in page.items] == [1]


async def test_set_seen_emits_read_events_only_on_change(store: SqlStore) -> None:
    await store.write_deliveries(
        [delivery(b"Subject: a\r\n\r\na\r\n", "bob@example.com", "carol@example.com")]
    )
    bob = (await store.list_messages("bob@example.com", limit=5, cursor=None)).items[0]
    carol = (await store.list_messages("carol@example.com", limit=5, cursor=None)).items[0]

    events = await store.set_seen([bob.id, carol.id.lower(), "not-an-id"], True)
    assert sorted((e.type, e.mailbox, e.message_id) for e in events) == sorted(
        [
            (EventType.MESSAGE_READ, "bob@example.com", bob.id),
            (EventType.MESSAGE_READ, "carol@example.com", carol.id),
        ]
    )
    assert all(e.data == {"seen": True, "uid": 1, "folder": "INBOX"} for e in events)
    page = await store.list_messages("bob@example.com", limit=5, cursor=None)
    assert page.items[0].seen and page.unread == 0

    assert await store.set_seen([bob.id], True) == []  # no change, no event
    (unread,) = await store.set_seen([bob.id], False)
    assert unread.data["seen"] is False
    assert (await store.list_messages("bob@example.com", limit=5, cursor=None)).unread == 1


async def test_mailbox_message_ids_oldest_first_in_batches(store: SqlStore) -> None:
    for i in range(5):
        await store.write_deliveries([delivery(f"Subject: {i}\r\n\r\n".encode(), "a@example.com")])
    await store.write_deliveries([delivery(b"Subject: other\r\n\r\n", "b@example.com")])
    listed = [
        m.id for m in (await store.list_messages("a@example.com", limit=10, cursor=None)).items
    ]

    first = await store.mailbox_message_ids("a@example.com", limit=3)
    assert first == sorted(listed)[:3]
    await store.delete_messages(first, DeletionReason.USER)
    assert await store.mailbox_message_ids("a@example.com", limit=10) == sorted(listed)[3:]
    assert await store.mailbox_message_ids("nobody@example.com", limit=10) == []


async def test_message_received_event_names_the_envelope_sender(store: SqlStore) -> None:
    events = await store.write_deliveries([delivery(b"Subject: s\r\n\r\n", "bob@example.com")])
    received = [e for e in events if e.type is EventType.MESSAGE_RECEIVED]
    assert received[0].data["envelope_from"] == "alice@example.org"


async def test_event_ids_become_visible_in_id_order(store: SqlStore) -> None:
    """A reader that saw event N never later finds a new event with an id below N.

    On PostgreSQL several transactions write at once. Here one transaction takes its
    event id and then stalls before committing while another writes; the second must
    not become visible first (else a client resuming "after N" would skip the first).
    """
    stalled_id: list[int] = []

    def slow_tx(conn: Any) -> None:
        (event,) = store._add_events(
            conn,
            [
                {
                    "type": EventType.MAILBOX_CREATED.value,
                    "mailbox": "slow@example.com",
                    "message_id": None,
                    "data": {},
                    "created_at": datetime.now(UTC),
                }
            ],
        )
        stalled_id.append(event.id)
        # The transaction stays open (asyncpg runs it on the event loop: sleep in SQL).
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_sleep(0.5)"))
        else:
            time.sleep(0.5)  # SQLite runs it in the writer thread

    slow = asyncio.create_task(store._engines.run_write(slow_tx))
    while not stalled_id:
        await asyncio.sleep(0.01)
    fast = asyncio.create_task(
        store.write_deliveries([delivery(b"Subject: f\r\n\r\n", "fast@example.com")])
    )
    await asyncio.sleep(0.2)
    visible = [e.id for e in await store.events_after(0, 100)]
    await asyncio.gather(slow, fast)
    ids = [e.id for e in await store.events_after(0, 100)]
    assert ids == sorted(ids) and stalled_id[0] == min(ids) and len(ids) == 3
    # What a reader saw meanwhile is a prefix of the final log: no id was skipped.
    assert visible == ids[: len(visible)]
