"""Mail an IMAP client files into other folders is not "arrived mail": APPEND to Sent or
COPY to Archive must not satisfy `/wait` or reach dynip's folder-less WebSocket."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.test_events import next_frame, ws_connect
from tests.imap.conftest import MODULE_LOOP, sample_mail, smtp_deliver

pytestmark = MODULE_LOOP


async def _append_to_sent(connect: Any, address: str, subject: str) -> None:
    client = await connect()
    await client.login(address)
    assert (await client.command("CREATE Sent"))[-1].split()[1] == b"OK"
    raw = sample_mail(subject=subject)
    lines = await client.command(b"APPEND Sent (\\Seen) {%d+}\r\n" % len(raw) + raw)
    assert lines[-1].split()[1] == b"OK", lines


async def test_wait_ignores_a_message_appended_to_sent(imap_app: Any, connect: Any) -> None:
    address = "waiter@example.com"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{imap_app.http_port}") as http:
        waiting = asyncio.create_task(
            http.get(f"/api/v1/mailboxes/{address}/wait", params={"timeout": 10}, timeout=20)
        )
        await asyncio.sleep(0.3)  # the wait is subscribed
        await _append_to_sent(connect, address, "filed by me")
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the appended copy did not count
        await smtp_deliver(imap_app, sample_mail(subject="really arrived"), address)
        response = await waiting
    assert response.status_code == 200
    assert response.json()["subject"] == "really arrived"


async def test_dynip_websocket_gets_only_mail_that_arrived(imap_app: Any, connect: Any) -> None:
    address = "dynws@example.com"
    async with ws_connect(imap_app, f"/api/ws/{address}") as ws:
        assert (await next_frame(ws))["type"] == "Connected"
        await _append_to_sent(connect, address, "filed by me")
        await smtp_deliver(imap_app, sample_mail(subject="really arrived"), address)
        frame = await next_frame(ws)
    assert frame["type"] == "Email"
    assert frame["subject"] == "really arrived"


async def test_inbox_listing_and_folder_listing_agree_with_imap(
    imap_app: Any, connect: Any
) -> None:
    address = "lister@example.com"
    await smtp_deliver(imap_app, sample_mail(subject="inbox mail"), address)
    await _append_to_sent(connect, address, "sent mail")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{imap_app.http_port}") as http:
        inbox = (await http.get(f"/api/v1/mailboxes/{address}/messages")).json()
        sent = (
            await http.get(f"/api/v1/mailboxes/{address}/messages", params={"folder": "Sent"})
        ).json()
        folders = (await http.get(f"/api/v1/mailboxes/{address}/folders")).json()
    assert [m["subject"] for m in inbox["messages"]] == ["inbox mail"]
    assert [(m["subject"], m["seen"]) for m in sent["messages"]] == [("sent mail", True)]
    by_name = {f["name"]: f for f in folders["folders"]}
    assert by_name["Sent"]["special_use"] == "\\Sent"
    assert (by_name["INBOX"]["total"], by_name["Sent"]["total"]) == (1, 1)
