"""Retention sweep (with deletion events) and heartbeat pings, in a running app."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ephemail.domain.events import EventType
from ephemail.domain.messages import Envelope
from tests.conftest import StartApp

RAW = b"Subject: short-lived\r\n\r\nbody\r\n"


async def test_retention_deletes_expired_mail_with_events(app_factory: StartApp) -> None:
    app = await app_factory(smtp_enabled=False, retention_hours=0.0002, retention_interval=0.1)
    await app.policy_admin.add_domain("keep.test", retention_hours=0)  # 0 = keep forever
    subscription = app.bus.subscribe()
    short = await app.ingest.deliver(Envelope("a@b.test", ("x@gone.test",)), RAW)
    kept = await app.ingest.deliver(Envelope("a@b.test", ("x@keep.test",)), RAW)

    deleted = []

    async def watch() -> None:
        async for event in subscription:
            if event.type is EventType.MESSAGE_DELETED:
                deleted.append(event)
                return

    await asyncio.wait_for(watch(), 10)
    assert deleted[0].message_id == short.message_ids[0]
    assert deleted[0].data["reason"] == "retention"
    assert await app.store.get_message(short.message_ids[0]) is None
    assert await app.store.get_message(kept.message_ids[0]) is not None
    (event,) = [
        e for e in await app.store.events_after(0, 100) if e.type is EventType.MESSAGE_DELETED
    ]
    assert event.message_id == short.message_ids[0]


@pytest.fixture
def heartbeat_sink() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping?k=1", hits
    server.shutdown()


async def test_heartbeat_pings_the_url(
    app_factory: StartApp, heartbeat_sink: tuple[str, list[str]]
) -> None:
    url, hits = heartbeat_sink
    await app_factory(smtp_enabled=False, heartbeat_url=url, heartbeat_interval=0.1)
    for _ in range(100):
        if len(hits) >= 2:
            break
        await asyncio.sleep(0.05)
    assert hits[:2] == ["/ping?k=1", "/ping?k=1"]


async def test_received_events_reach_the_bus_after_commit(app_factory: StartApp) -> None:
    app = await app_factory(smtp_enabled=False)
    subscription = app.bus.subscribe()
    result = await app.ingest.deliver(Envelope("a@b.test", ("one@x.test", "two@x.test")), RAW)
    seen = []
    async for event in subscription:
        seen.append(event)
        if len([e for e in seen if e.type is EventType.MESSAGE_RECEIVED]) == 2:
            break
    received = [e for e in seen if e.type is EventType.MESSAGE_RECEIVED]
    assert sorted(e.message_id for e in received) == sorted(result.message_ids)
    assert {e.mailbox for e in seen if e.type is EventType.MAILBOX_CREATED} == {
        "one@x.test",
        "two@x.test",
    }
    for event in received:  # committed before publication: the store already has it
        assert event.message_id is not None
        assert await app.store.get_message(event.message_id) is not None
    assert [e.id for e in await app.store.events_after(0, 10)] == [e.id for e in seen]
