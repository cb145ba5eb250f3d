"""Live events over real WebSocket and Server-Sent Events connections, on both stores.

`WS /api/v1/events` and `GET /api/v1/events`: per-mailbox filters, resuming from an
event id without gap or duplicate, heartbeats, the Origin check, slow clients dropped
while ingest goes on, read/delete events, and sender bans hiding mail.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ephemail.api.events import origin_allowed
from ephemail.domain.messages import Envelope
from tests.conftest import StartApp

FRAME_KEYS = {"id", "type", "mailbox", "message_id", "created_at", "data"}


def raw_mail(subject: str, sender: str = "alice@example.org") -> bytes:
    return (
        f"From: Alice <{sender}>\r\nTo: someone@x.test\r\nSubject: {subject}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
    ).encode()


async def deliver(app: Any, to: str, subject: str, sender: str = "alice@example.org") -> str:
    result = await app.ingest.deliver(Envelope(sender, (to,), "127.0.0.1"), raw_mail(subject))
    (message_id,) = result.message_ids
    return str(message_id)


async def start(app_factory: StartApp, database_url: str, **settings: Any) -> Any:
    return await app_factory(database_url=database_url, smtp_enabled=False, **settings)


def ws_url(app: Any, path: str) -> str:
    return f"ws://127.0.0.1:{app.http_port}{path}"


def ws_connect(app: Any, path: str, **kwargs: Any) -> Any:
    """A websockets client connection (no proxy from the environment)."""
    return connect(ws_url(app, path), proxy=None, open_timeout=10, **kwargs)


async def next_frame(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def frames_until(
    ws: ClientConnection, done: Any, *, skip_heartbeats: bool = True, timeout: float = 20
) -> list[dict[str, Any]]:
    """Frames until `done(frame)` is true (inclusive)."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await next_frame(ws, timeout)
            if skip_heartbeats and frame.get("type") == "heartbeat":
                continue
            frames.append(frame)
            if done(frame):
                return frames


def received(message_id: str) -> Any:
    return lambda f: f["type"] == "message.received" and f["message_id"] == message_id


async def stored_ids(app: Any, mailbox: str, after: int = 0) -> list[int]:
    """Event ids of `mailbox` in the event table, after `after`."""
    events = await app.store.events_after(after, 100_000, mailboxes=[mailbox])
    return [e.id for e in events]


async def wait_for(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


# -- WebSocket -------------------------------------------------------------------
async def test_ws_carries_only_the_requested_mailboxes(
    app_factory: StartApp, database_url: str
) -> None:
    app = await start(app_factory, database_url)
    async with ws_connect(app, "/api/v1/events?mailbox=Alice&mailbox=carol@x.test") as ws:
        await wait_for(lambda: app.bus.subscriber_count == 1)
        await deliver(app, "bob@x.test", "not yours")
        alice = await deliver(app, "alice@localhost", "for alice")
        carol = await deliver(app, "carol@x.test", "for carol")
        frames = await frames_until(ws, received(carol))
    assert all(set(f) == FRAME_KEYS for f in frames)
    assert {f["mailbox"] for f in frames} == {"alice@localhost", "carol@x.test"}
    assert [f["type"] for f in frames] == [
        "mailbox.created",
        "message.received",
        "mailbox.created",
        "message.received",
    ]
    arrival = frames[1]
    assert arrival["message_id"] == alice
    assert arrival["data"]["subject"] == "for alice"
    assert arrival["data"]["from"] == "Alice <alice@example.org>"
    assert {"uid", "size", "has_attachments"} <= set(arrival["data"])
    ids = [f["id"] for f in frames]
    assert ids == sorted(ids)


async def test_ws_without_mailbox_carries_everything_in_open_mode(
    app_factory: StartApp, database_url: str
) -> None:
    app = await start(app_factory, database_url)
    async with ws_connect(app, "/api/v1/events") as ws:
        await wait_for(lambda: app.bus.subscriber_count == 1)
        await deliver(app, "one@x.test", "1")
        last = await deliver(app, "two@y.test", "2")
        frames = await frames_until(ws, received(last))
    assert {f["mailbox"] for f in frames} == {"one@x.test", "two@y.test"}


async def test_ws_refuses_an_invalid_address(app_factory: StartApp, database_url: str) -> None:
    app = await start(app_factory, database_url)
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(app, "/api/v1/events?mailbox=a%20b@@x"):
            pass
    assert refused.value.response.status_code == 400
    assert json.loads(refused.value.response.body)["error"]["code"] == "invalid_address"


async def test_ws_resume_has_no_gap_and_no_duplicate_at_the_seam(
    app_factory: StartApp, database_url: str
) -> None:
    """Mail keeps arriving while clients resume: replay and live meet exactly."""
    app = await start(app_factory, database_url)
    box = "seam@x.test"
    for i in range(5):
        await deliver(app, box, f"before {i}")
    stop = asyncio.Event()
    sent: list[str] = []

    async def keep_delivering(lane: int) -> None:
        i = 0
        while not stop.is_set():
            sent.append(await deliver(app, box, f"during {lane}.{i}"))
            i += 1
            await asyncio.sleep(0.001)

    producers = [asyncio.create_task(keep_delivering(lane)) for lane in range(3)]
    try:
        for attempt in range(6):
            await asyncio.sleep(0.02)
            known = await stored_ids(app, box)
            resume_from = known[len(known) // 2]  # half replayed, then live
            path = f"/api/v1/events?mailbox={box}&after={resume_from}"
            async with ws_connect(app, path) as ws:
                await asyncio.sleep(0.05)
                target = sent[-1]  # delivered while this client was connected
                frames = await frames_until(ws, received(target))
            got = [f["id"] for f in frames]
            expected = await stored_ids(app, box, after=resume_from)
            assert got == expected[: len(got)], f"attempt {attempt}"
            assert len(got) == len(set(got))
    finally:
        stop.set()
        await asyncio.gather(*producers)


async def test_ws_replay_only_returns_then_goes_live(
    app_factory: StartApp, database_url: str
) -> None:
    app = await start(app_factory, database_url)
    first = await deliver(app, "r@x.test", "stored")
    async with ws_connect(app, "/api/v1/events?mailbox=r@x.test&after=0") as ws:
        replayed = await frames_until(ws, received(first))
        live = await deliver(app, "r@x.test", "live")
        more = await frames_until(ws, received(live))
    assert [f["type"] for f in replayed] == ["mailbox.created", "message.received"]
    assert [f["message_id"] for f in more] == [live]


async def test_ws_heartbeats(app_factory: StartApp, database_url: str) -> None:
    app = await start(app_factory, database_url, events_heartbeat_interval=0.2)
    async with ws_connect(app, "/api/v1/events?mailbox=quiet@x.test") as ws:
        started = time.monotonic()
        assert await next_frame(ws, 5) == {"type": "heartbeat"}
        assert await next_frame(ws, 5) == {"type": "heartbeat"}
        assert time.monotonic() - started >= 0.3


async def test_ws_read_and_delete_events(app_factory: StartApp, database_url: str) -> None:
    app = await start(app_factory, database_url)
    base = f"http://127.0.0.1:{app.http_port}"
    async with ws_connect(app, "/api/v1/events?mailbox=rd@x.test") as ws:
        await wait_for(lambda: app.bus.subscriber_count == 1)
        mid = await deliver(app, "rd@x.test", "read me")
        await frames_until(ws, received(mid))
        async with httpx.AsyncClient(base_url=base) as http:
            marked = await http.patch(f"/api/v1/messages/{mid}", json={"seen": True})
            assert marked.status_code == 200
            read = await frames_until(ws, lambda f: f["type"] == "message.read")
            assert (await http.delete(f"/api/v1/messages/{mid}")).status_code == 204
            deleted = await frames_until(ws, lambda f: f["type"] == "message.deleted")
    assert read[-1]["message_id"] == mid and read[-1]["data"]["seen"] is True
    assert deleted[-1]["message_id"] == mid and deleted[-1]["data"]["reason"] == "user"


async def test_sender_banned_mail_is_not_streamed(app_factory: StartApp, database_url: str) -> None:
    app = await start(app_factory, database_url)
    box = "ban@x.test"
    early_banned = await deliver(app, box, "stored spam", sender="spam@bad.test")
    await app.policy_admin.add_ban("sender", "spam@bad.test")
    async with ws_connect(app, f"/api/v1/events?mailbox={box}&after=0") as ws:
        replay_good = await deliver(app, box, "fine", sender="friend@good.test")
        await deliver(app, box, "live spam", sender="spam@bad.test")
        last = await deliver(app, box, "also fine", sender="friend@good.test")
        frames = await frames_until(ws, received(last))
    arrivals = [f["message_id"] for f in frames if f["type"] == "message.received"]
    assert early_banned not in arrivals
    assert arrivals == [replay_good, last]
    assert all("spam" not in f["data"].get("subject", "") for f in frames)


# -- Origin ------------------------------------------------------------------------
async def test_ws_origin_check(app_factory: StartApp, database_url: str) -> None:
    app = await start(app_factory, database_url, allowed_origins=["https://ui.example.test"])
    path = "/api/v1/events?mailbox=o@x.test"
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(app, path, origin="http://evil.example.test"):
            pass
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body)["error"]["code"] == "origin_not_allowed"
    for origin in (f"http://127.0.0.1:{app.http_port}", "https://ui.example.test", None):
        async with ws_connect(app, path, origin=origin) as ws:
            await ws.ping()
    with pytest.raises(InvalidStatus):  # same host, another port: another origin
        async with ws_connect(app, path, origin="http://127.0.0.1:1"):
            pass


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "ok"),
    [
        (None, "h.test", [], True),
        ("https://h.test", "h.test", [], True),
        ("https://h.test:443", "h.test", [], True),
        ("http://H.test:8025", "h.test:8025", [], True),
        ("http://h.test:8025", "h.test:8026", [], False),
        ("http://other.test", "h.test", [], False),
        ("http://[::1]:8025", "[::1]:8025", [], True),
        ("null", "h.test", [], False),
        ("null", "h.test", ["null"], True),
        ("https://ui.test", "h.test", ["https://ui.test"], True),
        ("http://ui.test", "h.test", ["https://ui.test"], False),
        ("https://ui.test:8443", "h.test", ["ui.test:8443"], True),
        ("https://any.test", "h.test", ["*"], True),
        ("http://h.test:99999", "h.test", [], False),
        ("garbage", "h.test", [], False),
    ],
)
def test_origin_rules(origin: str | None, host: str, allowed: list[str], ok: bool) -> None:
    assert origin_allowed(origin, host, allowed) is ok


# -- slow clients ------------------------------------------------------------------
def tiny_receive_buffer_socket(port: int) -> socket.socket:
    """A client socket that takes little from the network while its owner sleeps."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_ws_slow_client_is_dropped_and_ingest_goes_on(
    app_factory: StartApp, database_url: str
) -> None:
    """A client that reads nothing while thousands of events are published: ingest
    finishes at its own pace, the client is closed with 4008 and where to resume,
    and resuming from there misses nothing."""
    app = await start(app_factory, database_url, events_queue_size=50)
    box = "slow@x.test"
    total = 1200
    sock = tiny_receive_buffer_socket(app.http_port)
    async with ws_connect(
        app, f"/api/v1/events?mailbox={box}", sock=sock, max_queue=1, compression=None
    ) as ws:
        await wait_for(lambda: app.bus.subscriber_count == 1)
        started = time.monotonic()
        # Big frames fill the socket buffers sooner. The padding rides in the envelope
        # sender (part of every arrival event), which the search index does not fold:
        # indexing megabytes of subjects would make this test slow on PostgreSQL.
        sender = "x" * 12_000 + "@bulk.test"
        # Small groups: every publish fits the client's queue, so only the client's
        # not reading can make it fall behind.
        for chunk in range(0, total, 20):
            await asyncio.gather(
                *(deliver(app, box, f"m{i}", sender=sender) for i in range(chunk, chunk + 20))
            )
        elapsed = time.monotonic() - started
        assert await app.store.count_messages() == total
        # The bus let go of the client (nothing queues for it any more).
        await wait_for(lambda: app.bus.subscriber_count == 0)

        # Now read: what was in flight, then the close frame.
        seen: list[int] = []

        async def read_all() -> None:
            while True:
                seen.append((await next_frame(ws))["id"])

        with pytest.raises(ConnectionClosed) as closed:
            await read_all()
    assert elapsed < 120
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
    reason = closed.value.rcvd.reason
    assert reason.startswith("too slow: reconnect with after=")
    resume = int(reason.rsplit("=", 1)[1])
    all_ids = await stored_ids(app, box)
    # The server buffered little: far fewer frames than events reached the client.
    assert len(seen) < len(all_ids) / 2
    print(f"frames before the drop: {len(seen)} of {len(all_ids)}")
    assert seen and seen == all_ids[: len(seen)]  # in order, without a gap
    assert resume == seen[-1]

    # Resuming from the hint delivers exactly the rest.
    async with ws_connect(app, f"/api/v1/events?mailbox={box}&after={resume}") as ws:
        rest = await frames_until(ws, lambda f: f["id"] == all_ids[-1], timeout=60)
    assert [f["id"] for f in rest] == [i for i in all_ids if i > resume]


# -- Server-Sent Events ------------------------------------------------------------
async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parse a text/event-stream (WHATWG HTML, "Server-sent events") into dicts."""
    fields: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if fields:
                yield fields
            fields = {}
        elif line.startswith(":"):
            fields.setdefault("comment", line[1:].strip())
        else:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


async def sse_until(
    events: AsyncIterator[dict[str, Any]], done: Any, timeout: float = 20
) -> list[dict[str, Any]]:
    """Events from `sse_events(response)` until `done(event)` (inclusive)."""
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        async for event in events:
            out.append(event)
            if done(event):
                return out
    raise AssertionError("stream ended early")


def sse_received(message_id: str) -> Any:
    return lambda e: e.get("event") == "message.received" and message_id in e.get("data", "")


async def test_sse_streams_and_resumes_with_last_event_id(
    app_factory: StartApp, database_url: str
) -> None:
    app = await start(app_factory, database_url)
    box = "sse@x.test"
    first = await deliver(app, box, "one")
    second = await deliver(app, box, "two")
    ids = await stored_ids(app, box)
    # Last-Event-ID wins over `after` (a reconnecting EventSource sends both).
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http,
        http.stream(
            "GET",
            "/api/v1/events",
            params={"mailbox": box, "after": 0},
            headers={"Last-Event-ID": str(ids[1])},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
        replayed = await sse_until(events, sse_received(second))
        live = await deliver(app, box, "three")
        more = await sse_until(events, sse_received(live))
    assert [int(e["id"]) for e in replayed] == ids[2:]
    for event in replayed + more:
        payload = json.loads(event["data"])
        assert set(payload) == FRAME_KEYS
        assert event["event"] == payload["type"] and int(event["id"]) == payload["id"]
    assert first not in "".join(e["data"] for e in replayed)
    assert json.loads(more[-1]["data"])["message_id"] == live


async def test_sse_after_query_and_heartbeat_comments(
    app_factory: StartApp, database_url: str
) -> None:
    app = await start(app_factory, database_url, events_heartbeat_interval=0.2)
    box = "hb@x.test"
    mid = await deliver(app, box, "one")
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http,
        http.stream("GET", "/api/v1/events", params={"mailbox": box, "after": 0}) as response,
    ):
        frames = await sse_until(sse_events(response), lambda e: e.get("comment") == "heartbeat")
    assert any(sse_received(mid)(e) for e in frames)


async def test_sse_slow_client_gets_a_dropped_event(
    app_factory: StartApp, database_url: str
) -> None:
    app = await start(app_factory, database_url, events_queue_size=5)
    box = "burst@x.test"
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http,
        http.stream("GET", "/api/v1/events", params={"mailbox": box}) as response,
    ):
        await wait_for(lambda: app.bus.subscriber_count == 1)
        # One group commit publishes far more than 5 events at once.
        await asyncio.gather(*(deliver(app, box, f"m{i}") for i in range(60)))
        events = sse_events(response)
        frames = await sse_until(events, lambda e: e.get("event") == "dropped")
        tail = [e async for e in events]  # the stream then ends
    dropped = json.loads(frames[-1]["data"])
    assert "too slow" in dropped["reason"] and "after" in dropped
    assert tail == []
    assert app.bus.subscriber_count == 0


async def test_sse_refusals_are_json(app_factory: StartApp, database_url: str) -> None:
    app = await start(app_factory, database_url)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        bad = await http.get("/api/v1/events", params={"mailbox": "a b@@x"})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_address"
        bad_id = await http.get("/api/v1/events", headers={"Last-Event-ID": "abc"})
        assert bad_id.status_code == 422
        assert bad_id.json()["error"]["code"] == "invalid_request"


# -- real SMTP ---------------------------------------------------------------------
async def test_smtp_mail_reaches_an_open_websocket(
    app_factory: StartApp, database_url: str
) -> None:
    import aiosmtplib

    app = await app_factory(database_url=database_url)
    async with ws_connect(app, "/api/v1/events?mailbox=live@x.test") as ws:
        await wait_for(lambda: app.bus.subscriber_count == 1)
        await aiosmtplib.send(
            raw_mail("over smtp"),
            sender="alice@example.org",
            recipients=["live@x.test"],
            hostname="127.0.0.1",
            port=app.smtp_port,
            start_tls=False,
        )
        frames = await frames_until(ws, lambda f: f["type"] == "message.received")
    assert frames[-1]["data"]["subject"] == "over smtp"
    assert frames[-1]["mailbox"] == "live@x.test"


async def test_shutdown_ends_open_streams(app_factory: StartApp, database_url: str) -> None:
    app = await start(app_factory, database_url)
    async with ws_connect(app, "/api/v1/events?mailbox=s@x.test") as ws:
        await wait_for(lambda: app.bus.subscriber_count == 1)
        async with asyncio.timeout(15):
            await app.stop()
        with pytest.raises(ConnectionClosed) as closed:
            await next_frame(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code in (1001, 1012)
