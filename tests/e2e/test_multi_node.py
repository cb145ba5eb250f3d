"""Several nodes on one PostgreSQL: events written by any node reach the live readers
of every node (SPEC: events feed WebSocket/SSE, IMAP IDLE and other nodes;
docs/decisions/005). Two real Applications share one database; the safety poll is
set a minute away, so what arrives quickly came through LISTEN/NOTIFY (or a
reconnect's catch-up)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiosmtplib
import asyncpg
import httpx
import pytest

from tests.api.test_events import frames_until, received, wait_for, ws_connect
from tests.conftest import StartApp

pytestmark = pytest.mark.postgres

NO_POLL = 60.0
SENDER = "alice@example.org"


def mail(subject: str) -> bytes:
    return (
        f"From: Alice <{SENDER}>\r\nTo: someone@x.test\r\nSubject: {subject}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
    ).encode()


async def smtp_deliver(app: Any, to: str, subject: str) -> None:
    await aiosmtplib.send(
        mail(subject),
        sender=SENDER,
        recipients=[to],
        hostname="127.0.0.1",
        port=app.smtp_port,
        start_tls=False,
        timeout=10,
    )


async def two_nodes(app_factory: StartApp, pg_url: str, **settings: Any) -> tuple[Any, Any]:
    options = {"database_url": pg_url, "events_relay_poll_interval": NO_POLL, **settings}
    return await app_factory(**options), await app_factory(**options)


async def newest_id(app: Any, address: str) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        page = (await http.get(f"/api/v1/mailboxes/{address}/messages")).json()
    return str(page["messages"][0]["id"])


async def test_smtp_delivery_on_one_node_reaches_a_websocket_on_another(
    app_factory: StartApp, pg_url: str
) -> None:
    a, b = await two_nodes(app_factory, pg_url)
    box = "bob@x.test"
    async with ws_connect(b, f"/api/v1/events?mailbox={box}") as ws:
        await wait_for(lambda: b.bus.subscriber_count == 1)
        started = asyncio.get_running_loop().time()
        await smtp_deliver(a, box, "across nodes")
        message_id = await newest_id(a, box)
        frames = await frames_until(ws, received(message_id), timeout=5)
        latency = asyncio.get_running_loop().time() - started
    assert [f["type"] for f in frames] == ["mailbox.created", "message.received"]
    assert frames[1]["data"]["subject"] == "across nodes"
    assert latency < 2, latency  # NOTIFY, not the poll a minute away


async def test_api_deletion_on_one_node_reaches_a_stream_on_another(
    app_factory: StartApp, pg_url: str
) -> None:
    a, b = await two_nodes(app_factory, pg_url, smtp_enabled=False)
    box = "carol@x.test"
    await smtp_deliver_in_process(a, box, "to delete")
    message_id = await newest_id(a, box)
    async with ws_connect(a, f"/api/v1/events?mailbox={box}") as ws:
        await wait_for(lambda: a.bus.subscriber_count == 1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{b.http_port}") as http:
            assert (await http.delete(f"/api/v1/messages/{message_id}")).status_code == 204
        frames = await frames_until(ws, lambda f: f["type"] == "message.deleted", timeout=5)
    assert [(f["type"], f["message_id"]) for f in frames] == [("message.deleted", message_id)]
    assert frames[0]["data"]["reason"] == "user"


async def smtp_deliver_in_process(app: Any, to: str, subject: str) -> str:
    from ephemail.domain.messages import Envelope

    result = await app.ingest.deliver(Envelope(SENDER, (to,), "127.0.0.1"), mail(subject))
    return str(result.message_ids[0])


async def collect_until(ws: Any, last_id: int, timeout: float = 10) -> list[int]:
    """Event ids of a stream until `last_id` (heartbeats skipped)."""
    ids: list[int] = []
    async with asyncio.timeout(timeout):
        while not ids or ids[-1] < last_id:
            frame = json.loads(await ws.recv())
            if frame.get("type") != "heartbeat":
                ids.append(frame["id"])
    return ids


async def test_concurrent_deliveries_on_both_nodes_reach_both_streams_once_in_order(
    app_factory: StartApp, pg_url: str
) -> None:
    a, b = await two_nodes(app_factory, pg_url, smtp_enabled=False)
    start = await a.store.last_event_id()
    async with ws_connect(a, "/api/v1/events") as ws_a, ws_connect(b, "/api/v1/events") as ws_b:
        await wait_for(lambda: a.bus.subscriber_count == 1 and b.bus.subscriber_count == 1)
        await asyncio.gather(
            *(
                smtp_deliver_in_process(node, f"box{i % 5}@x.test", f"m{i}")
                for i in range(60)
                for node in ((a, b)[i % 2],)
            )
        )
        table = [e.id for e in await a.store.events_after(start, 100_000)]
        ids_a = await collect_until(ws_a, table[-1])
        ids_b = await collect_until(ws_b, table[-1])
    assert len(table) == 60 + 5  # every arrival, and the five mailboxes created
    assert ids_a == table  # no duplicate, no gap, in id order
    assert ids_b == table
    # Both nodes wrote, and each heard of the other's events.
    assert a._relay.notifications > 0 and b._relay.notifications > 0


async def test_stream_survives_a_killed_listener_without_loss_or_duplicate(
    app_factory: StartApp, pg_url: str
) -> None:
    a, b = await two_nodes(app_factory, pg_url)
    box = "dave@x.test"
    relay = b._relay  # the node's PostgresEventRelay
    old_pid = relay.listener_pid
    assert old_pid is not None
    start = await a.store.last_event_id()
    async with ws_connect(b, f"/api/v1/events?mailbox={box}") as ws:
        await wait_for(lambda: b.bus.subscriber_count == 1)

        async def deliver_around_the_kill() -> None:
            for i in range(6):
                await smtp_deliver(a, box, f"k{i}")
                await asyncio.sleep(0.05)

        delivering = asyncio.create_task(deliver_around_the_kill())
        await asyncio.sleep(0.1)
        admin = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", old_pid)
        finally:
            await admin.close()
        await delivering
        table = [e.id for e in await a.store.events_after(start, 1000, mailboxes=[box])]
        ids = await collect_until(ws, table[-1], timeout=10)
    assert ids == table
    assert relay.connections == 2
    assert relay.listener_pid not in (None, old_pid)


async def test_imap_idle_on_one_node_hears_mail_delivered_to_another(
    app_factory: StartApp, pg_url: str
) -> None:
    from tests.imap.conftest import RawClient

    a, b = await two_nodes(app_factory, pg_url, imap_login_failure_delay=0.05)
    box = "erin@x.test"
    client = await RawClient.connect(b.imap_port)
    try:
        await client.login(box)
        await client.command("SELECT INBOX")
        await client.send(b"i1 IDLE\r\n")
        assert await client.read_line() == b"+ idling\r\n"
        await smtp_deliver(a, box, "idle across nodes")
        assert await client.read_line(timeout=5) == b"* 1 EXISTS\r\n"
        await client.send(b"DONE\r\n")
        assert (await client.until_tagged("i1"))[-1] == b"i1 OK IDLE terminated\r\n"
    finally:
        await client.close()
