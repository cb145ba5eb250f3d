"""IDLE (RFC 2177) and live updates: mail delivered over SMTP and deletions through the
HTTP API reach an idling client at once, whichever protocol made the change."""

from __future__ import annotations

import asyncio
import imaplib
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from ephemail.adapters.events.memory import InProcessEventBus
from ephemail.domain.events import DeletionReason, Event, EventType
from tests.imap.conftest import (
    MODULE_LOOP,
    RawClient,
    imaplib_client,
    in_thread,
    sample_mail,
    smtp_deliver,
)

pytestmark = MODULE_LOOP


async def _idle(client: RawClient, tag: str = "i1") -> None:
    await client.send(tag.encode() + b" IDLE\r\n")
    assert await client.read_line() == b"+ idling\r\n"


async def test_idle_gets_exists_after_smtp_delivery_fast(imap_app: Any, connect: Any) -> None:
    client: RawClient = await connect()
    await client.login("idle@example.com")
    await client.command("SELECT INBOX")
    await _idle(client)
    latencies = []
    for i in range(5):
        started = time.perf_counter()
        await smtp_deliver(imap_app, sample_mail(subject=f"idle {i}"), "idle@example.com")
        accepted = time.perf_counter()
        assert await client.read_line() == b"* %d EXISTS\r\n" % (i + 1)
        latencies.append(time.perf_counter() - accepted)
        assert await client.read_line() == b"* %d RECENT\r\n" % (i + 1)
        assert accepted - started < 5
    # SMTP accept → `* n EXISTS`: milliseconds, not a polling interval.
    assert max(latencies) < 0.5, latencies
    await client.send(b"DONE\r\n")
    assert await client.read_line() == b"i1 OK IDLE terminated\r\n"
    fetched = await client.command("FETCH 5 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Subject: idle 4" in fetched[0]


async def test_idle_gets_expunge_after_api_delete(imap_app: Any, connect: Any) -> None:
    for i in range(3):
        await smtp_deliver(imap_app, sample_mail(subject=f"del {i}"), "gone@example.com")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{imap_app.http_port}") as http:
        page = (await http.get("/api/v1/mailboxes/gone@example.com/messages")).json()
        ids = [m["id"] for m in page["messages"]]  # newest first
        client: RawClient = await connect()
        await client.login("gone@example.com")
        await client.command("SELECT INBOX")
        await _idle(client)
        assert (await http.delete(f"/api/v1/messages/{ids[1]}")).status_code == 204
        assert await client.read_line() == b"* 2 EXPUNGE\r\n"
        assert await client.read_line() == b"* 2 RECENT\r\n"
        patched = await http.patch(f"/api/v1/messages/{ids[0]}", json={"seen": True})
        assert patched.status_code == 200
        assert await client.read_line() == b"* 2 FETCH (UID 3 FLAGS (\\Seen \\Recent))\r\n"
    await client.send(b"DONE\r\n")
    assert await client.read_line() == b"i1 OK IDLE terminated\r\n"
    assert (await client.command("UID SEARCH ALL"))[0] == b"* SEARCH 1 3\r\n"


async def test_no_expunge_during_fetch_but_after_noop(imap_app: Any, connect: Any) -> None:
    for i in range(2):
        await smtp_deliver(imap_app, sample_mail(subject=f"x {i}"), "rule@example.com")
    watcher: RawClient = await connect()
    actor: RawClient = await connect()
    for client in (watcher, actor):
        await client.login("rule@example.com")
        await client.command("SELECT INBOX")
    await actor.command("STORE 1 +FLAGS.SILENT (\\Deleted)")
    await actor.command("EXPUNGE")
    await smtp_deliver(imap_app, sample_mail(subject="x 2"), "rule@example.com")
    await asyncio.sleep(0.2)  # let the events reach the watcher's session
    # RFC 3501 7.4.1: no EXPUNGE while answering FETCH; EXISTS may come.
    fetched = await watcher.command("FETCH 1:* (UID)")
    assert not any(b"EXPUNGE" in line for line in fetched)
    assert b"* 3 EXISTS\r\n" in fetched
    noop = await watcher.command("NOOP")
    assert noop[0] == b"* 1 EXPUNGE\r\n"
    assert (await watcher.command("UID SEARCH ALL"))[0] == b"* SEARCH 2 3\r\n"


async def test_imaplib_sees_new_mail_on_noop(imap_app: Any) -> None:
    def first() -> imaplib.IMAP4:
        imap = imaplib_client(imap_app)
        imap.login("lib@example.com", "x")
        imap.select("INBOX")
        return imap

    imap = await in_thread(first)
    try:
        await smtp_deliver(imap_app, sample_mail(subject="lib"), "lib@example.com")
        await asyncio.sleep(0.1)

        def poll() -> list[Any]:
            imap.noop()
            return imap.response("EXISTS")[1]

        assert (await in_thread(poll))[-1] == b"1"
    finally:
        await in_thread(imap.logout)


async def test_dropped_subscription_resynchronises(imap_app: Any, connect: Any) -> None:
    """A session that falls behind the bus is dropped; it subscribes again and re-reads
    the folder, so a change it never got an event for still reaches the client."""
    for i in range(2):
        await smtp_deliver(imap_app, sample_mail(subject=f"r {i}"), "resync@example.com")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{imap_app.http_port}") as http:
        page = (await http.get("/api/v1/mailboxes/resync@example.com/messages")).json()
    newest = page["messages"][0]["id"]
    client: RawClient = await connect()
    await client.login("resync@example.com")
    await client.command("SELECT INBOX")
    await _idle(client)
    # Removed behind the bus's back (no event), then a flood that overflows every queue.
    await imap_app.store.delete_messages([newest], DeletionReason.USER)
    junk = Event(0, EventType.MESSAGE_FLAGS, "resync@example.com", "X", datetime.now(UTC))
    # Straight onto the in-process queues: these are not committed events, so they must not
    # go through a relay's ordering (PostgreSQL).
    InProcessEventBus.publish(imap_app.bus, [junk] * 1500)
    assert await client.read_line() == b"* 2 EXPUNGE\r\n"
    assert await client.read_line() == b"* 1 RECENT\r\n"
    # The new subscription works: the next delivery arrives as usual.
    await smtp_deliver(imap_app, sample_mail(subject="after"), "resync@example.com")
    assert await client.read_line() == b"* 2 EXISTS\r\n"
    await client.send(b"DONE\r\n")
    assert (await client.until_tagged("i1"))[-1] == b"i1 OK IDLE terminated\r\n"
