"""GET /api/v1/mailboxes/{address}/folders and the `folder` parameter of the message
listing, over real HTTP against a running Application."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ephemail.domain.imap import INBOX, SpecialUse
from ephemail.domain.messages import Envelope
from tests.conftest import StartApp

RAW = b"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: Hi\r\n\r\nhello\r\n"


@pytest.fixture
async def client_and_app(app_factory: StartApp) -> Any:
    app = await app_factory(smtp_enabled=False)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as client:
        yield client, app


async def test_folders_listed_with_counts(client_and_app: Any) -> None:
    client, app = client_and_app
    empty = await client.get("/api/v1/mailboxes/bob@example.com/folders")
    assert empty.status_code == 200
    assert empty.json() == {"mailbox": "bob@example.com", "folders": []}

    envelope = Envelope("alice@example.org", ("bob@example.com",), "127.0.0.1")
    await app.ingest.deliver(envelope, RAW)
    second = await app.ingest.deliver(envelope, RAW + b"again\r\n")
    mailbox = await app.store.get_mailbox("bob@example.com")
    trash = await app.store.imap_create_folder(mailbox, "Trash", SpecialUse.TRASH)
    inbox = await app.store.imap_folder(mailbox, INBOX)
    moved = await app.store.imap_copy(
        mailbox, inbox.id, [2], "Trash", move=True, hidden=lambda _sender: False
    )
    assert moved is not None and moved.pairs == [(2, 1)]

    body = (await client.get("/api/v1/mailboxes/Bob@Example.com/folders")).json()
    assert body["mailbox"] == "bob@example.com"
    assert body["folders"] == [
        {
            "name": INBOX,
            "special_use": None,
            "subscribed": True,
            "uidvalidity": inbox.uidvalidity,
            "uidnext": 3,
            "total": 1,
            "unread": 1,
        },
        {
            "name": "Trash",
            "special_use": "\\Trash",
            "subscribed": True,
            "uidvalidity": trash.uidvalidity,
            "uidnext": 2,
            "total": 1,
            "unread": 1,
        },
    ]

    page = (await client.get("/api/v1/mailboxes/bob@example.com/messages?folder=Trash")).json()
    assert [m["id"] for m in page["messages"]] == list(second.message_ids)
    assert page["messages"][0]["folder"] == "Trash" and page["messages"][0]["uid"] == 1
    assert page["total"] == 1
    default = (await client.get("/api/v1/mailboxes/bob@example.com/messages")).json()
    assert [m["folder"] for m in default["messages"]] == [INBOX]
    missing = await client.get("/api/v1/mailboxes/bob@example.com/messages?folder=Nope")
    assert missing.status_code == 200 and missing.json()["messages"] == []
    too_long = await client.get("/api/v1/mailboxes/bob@example.com/messages?folder=" + "x" * 300)
    assert too_long.status_code == 422
