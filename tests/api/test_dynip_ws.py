"""dynip-email's `WS /api/ws/{address}` over a real WebSocket, on both stores:
the `Connected`, `Email` and `EmailDeleted` frames, with our access rules."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from ephemail.domain.messages import Envelope
from tests.api.test_events import deliver, next_frame, wait_for, ws_connect
from tests.conftest import StartApp

EMAIL_KEYS = {"type", "id", "to", "from", "subject", "body", "timestamp", "attachments"}

WITH_ATTACHMENT = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: dyn@x.test\r\n"
    b"Subject: report\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"see attached\r\n"
    b"--b1\r\n"
    b'Content-Type: application/octet-stream; name="data.bin"\r\n'
    b'Content-Disposition: attachment; filename="data.bin"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAECAwQ=\r\n"
    b"--b1--\r\n"
)


async def test_connected_email_and_deleted_frames(app_factory: StartApp, database_url: str) -> None:
    app = await app_factory(database_url=database_url, smtp_enabled=False)
    async with ws_connect(app, "/api/ws/Dyn") as ws:
        assert await next_frame(ws) == {"type": "Connected", "address": "dyn@localhost"}
        await wait_for(lambda: app.bus.subscriber_count == 1)
        await deliver(app, "someone-else@localhost", "not for dyn")
        result = await app.ingest.deliver(
            Envelope("alice@example.org", ("dyn@localhost",)), WITH_ATTACHMENT
        )
        (mid,) = result.message_ids
        email = await next_frame(ws)
        assert set(email) == EMAIL_KEYS
        assert email["type"] == "Email" and email["id"] == mid
        assert email["to"] == "dyn@localhost"
        assert email["from"] == "Alice <alice@example.org>"
        assert email["subject"] == "report"
        assert email["body"].strip() == "see attached"
        (attachment,) = email["attachments"]
        assert attachment["filename"] == "data.bin"
        assert base64.b64decode(attachment["content"]) == b"\x00\x01\x02\x03\x04"
        assert attachment["size"] == 5

        base = f"http://127.0.0.1:{app.http_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            # The same message over the REST compatibility route has the same shape.
            rest = (await http.get(f"/api/email/{mid}")).json()
            assert {k: v for k, v in email.items() if k != "type"} == rest
            # Reading it emits no dynip frame; deleting it does.
            await http.patch(f"/api/v1/messages/{mid}", json={"seen": True})
            assert (await http.delete(f"/api/v1/messages/{mid}")).status_code == 204
        deleted = await next_frame(ws)
    assert deleted == {"type": "EmailDeleted", "id": mid, "address": "dyn@localhost"}


async def test_sender_banned_mail_is_not_sent(app_factory: StartApp, database_url: str) -> None:
    app = await app_factory(database_url=database_url, smtp_enabled=False)
    await app.policy_admin.add_ban("sender", "bad.test", match="contains")
    async with ws_connect(app, "/api/ws/hide@x.test") as ws:
        await next_frame(ws)  # Connected
        await wait_for(lambda: app.bus.subscriber_count == 1)
        await deliver(app, "hide@x.test", "spam", sender="spam@bad.test")
        good = await deliver(app, "hide@x.test", "ham", sender="friend@good.test")
        frame = await next_frame(ws)
    assert frame["type"] == "Email" and frame["id"] == good


async def test_origin_and_address_are_checked(app_factory: StartApp, database_url: str) -> None:
    app = await app_factory(database_url=database_url, smtp_enabled=False)
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(app, "/api/ws/o@x.test", origin="https://elsewhere.test"):
            pass
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as invalid:
        async with ws_connect(app, "/api/ws/a%20b@@x"):
            pass
    assert invalid.value.response.status_code == 400
    origin = f"http://127.0.0.1:{app.http_port}"
    async with ws_connect(app, "/api/ws/o@x.test", origin=origin) as ws:
        assert (await next_frame(ws))["type"] == "Connected"


async def test_mail_sent_over_smtp_arrives_as_an_email_frame(
    app_factory: StartApp, database_url: str
) -> None:
    import aiosmtplib

    app = await app_factory(database_url=database_url)
    async with ws_connect(app, "/api/ws/smtp@x.test") as ws:
        await next_frame(ws)
        await wait_for(lambda: app.bus.subscriber_count == 1)
        await aiosmtplib.send(
            b"From: bob@example.org\r\nSubject: over the wire\r\n\r\nbody text\r\n",
            sender="bob@example.org",
            recipients=["smtp@x.test"],
            hostname="127.0.0.1",
            port=app.smtp_port,
            start_tls=False,
        )
        frame = await next_frame(ws)
    assert frame["type"] == "Email" and frame["subject"] == "over the wire"
    assert frame["body"].strip() == "body text"
    assert json.dumps(frame)  # plain JSON all the way
