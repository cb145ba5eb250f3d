"""Nothing that got 250 may be lost: SIGKILL the server mid-stream and count."""

from __future__ import annotations

import asyncio
import re
import time

import httpx

from tests.e2e.conftest import MakeServer
from tests.smtp.support import RawClient

RCPT = "durable@kill.test"
_LINES = (b"\r\n" + b"y" * 70) * 30  # about 2 KiB in lines of 72 octets


async def _deliver(port: int, body: bytes) -> int:
    """One transaction; the code of the reply to the final dot (or the first refusal)."""
    client = await RawClient.connect(port)
    try:
        await client.greet()
        for command in ("MAIL FROM:<a@b.test>", f"RCPT TO:<{RCPT}>", "DATA"):
            reply = await client.cmd(command)
            if reply.code >= 400:
                return reply.code
        await client.send(body + b"\r\n.\r\n")
        return (await client.reply()).code
    finally:
        await client.close()


async def _sender(port: int, worker: int, acked: list[str], stop: asyncio.Event) -> None:
    n = 0
    while not stop.is_set():
        token = f"w{worker}-n{n}"
        n += 1
        body = f"Subject: {token}\r\nFrom: a@b.test\r\n\r\n".encode() + b"x" * 70 + _LINES
        try:
            code = await _deliver(port, body)
        except (OSError, TimeoutError, ConnectionError):
            return  # the server died under us: this message was never acknowledged
        if code == 250:
            acked.append(token)


def _stored_subjects(api: str) -> list[str]:
    subjects: list[str] = []
    cursor = None
    with httpx.Client(base_url=api, timeout=30) as client:
        while True:
            params: dict[str, str | int] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = client.get(f"/api/v1/mailboxes/{RCPT}/messages", params=params).json()
            subjects += [m["subject"] for m in page["messages"]]
            cursor = page["next_cursor"]
            if not cursor:
                return subjects


async def test_sigkill_mid_stream_loses_no_acknowledged_message(make_server: MakeServer) -> None:
    server = make_server()
    server.start()
    acked: list[str] = []
    stop = asyncio.Event()
    workers = [asyncio.create_task(_sender(server.smtp_port, w, acked, stop)) for w in range(24)]
    deadline = time.monotonic() + 20
    while len(acked) < 300 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    server.kill()  # SIGKILL while the workers are still sending
    stop.set()
    await asyncio.gather(*workers)
    assert len(acked) >= 100, "too few messages were acknowledged before the kill"

    restarted = make_server()  # same data directory / database, new ports
    restarted.start()
    stored = _stored_subjects(restarted.api)
    counts: dict[str, int] = {}
    for subject in stored:
        counts[subject] = counts.get(subject, 0) + 1
    missing = [t for t in acked if t not in counts]
    assert missing == [], f"{len(missing)} acknowledged messages lost, e.g. {missing[:5]}"
    assert all(counts[t] == 1 for t in acked), "an acknowledged message was stored twice"
    assert all(re.fullmatch(r"w\d+-n\d+", s) for s in stored)
    restarted.stop()
