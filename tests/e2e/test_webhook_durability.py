"""No webhook event is lost across a SIGKILL: the outbox is written with the event,
and a restarted server delivers what the dead one had not (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import aiosmtplib
import httpx

from tests.e2e.conftest import MakeServer
from tests.support.receiver import Receiver

MAILBOX = "hooked@kill.test"
COUNT = 30
ENV = {
    "EPHEMAIL_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
    "EPHEMAIL_WEBHOOK_BACKOFF_BASE": "0.2",
    "EPHEMAIL_WEBHOOK_BACKOFF_MAX": "0.5",
    # A short attempt timeout keeps the lease a killed node held short (PostgreSQL:
    # another node, or this one restarted, takes the delivery over when it expires).
    "EPHEMAIL_WEBHOOK_TIMEOUT": "1",
}


async def test_sigkill_with_undelivered_events_then_restart_delivers_them_all(
    make_server: MakeServer,
) -> None:
    accepting = {"on": False}
    answered_ok: list[int] = []

    def status(number: int) -> int:
        if accepting["on"]:
            answered_ok.append(number)
            return 200
        return 500

    receiver = await Receiver(status=status).start()
    try:
        server = make_server(**ENV)
        server.start()
        async with httpx.AsyncClient(base_url=server.api, timeout=10) as client:
            created = await client.post(
                f"/api/v1/mailboxes/{MAILBOX}/webhooks", json={"url": receiver.url}
            )
            assert created.status_code == 201, created.text
        for n in range(COUNT):
            await aiosmtplib.send(
                f"From: a@b.test\r\nSubject: kill {n}\r\n\r\nbody {n}\r\n".encode(),
                sender="a@b.test",
                recipients=[MAILBOX],
                hostname="127.0.0.1",
                port=server.smtp_port,
                timeout=10,
            )
        await receiver.wait_for(3)  # attempts are failing and being retried
        server.kill()  # SIGKILL: nothing is flushed, leases stay behind

        accepting["on"] = True
        restarted = make_server(**ENV)
        restarted.start()
        async with httpx.AsyncClient(base_url=restarted.api, timeout=10) as client:
            page = (await client.get(f"/api/v1/mailboxes/{MAILBOX}/messages?limit=100")).json()
            stored = {m["id"] for m in page["messages"]}
            assert len(stored) == COUNT

            def delivered_ids() -> set[str]:
                return {receiver.requests[n].json()["email"]["id"] for n in answered_ok}

            deadline = asyncio.get_running_loop().time() + 60
            while delivered_ids() != stored:
                assert asyncio.get_running_loop().time() < deadline, (
                    f"{len(stored - delivered_ids())} arrivals never delivered after restart"
                )
                await asyncio.sleep(0.2)
            # Every delivery of the log ended delivered; retries reused the event id.
            (hook,) = (await client.get(f"/api/v1/mailboxes/{MAILBOX}/webhooks")).json()["webhooks"]
            log = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries?limit=100")).json()[
                "deliveries"
            ]
            assert len(log) == COUNT
            assert {d["status"] for d in log} == {"delivered"}
            by_message: dict[str, set[str]] = {}
            for request in receiver.requests:
                payload = request.json()
                by_message.setdefault(payload["email"]["id"], set()).add(payload["event_id"])
            assert all(len(ids) == 1 for ids in by_message.values())
    finally:
        await receiver.stop()
