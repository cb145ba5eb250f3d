"""/api/v1 read routes, health endpoints and JSON errors, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ephemail.domain.messages import Envelope
from tests.conftest import StartApp

RAW = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.com\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    b"Message-ID: <abc@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Your code is 123456\r\n"
)


async def _deliver(app: Any, raw: bytes, *recipients: str) -> list[str]:
    result = await app.ingest.deliver(Envelope("alice@example.org", recipients, "127.0.0.1"), raw)
    return list(result.message_ids)


@pytest.fixture
async def client_and_app(app_factory: StartApp) -> Any:
    app = await app_factory(smtp_enabled=False)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as client:
        yield client, app


async def test_list_get_raw_delete(client_and_app: Any) -> None:
    client, app = client_and_app
    (mid,) = await _deliver(app, RAW, "bob@example.com")

    page = (await client.get("/api/v1/mailboxes/Bob@Example.COM/messages")).json()
    assert page["mailbox"] == "bob@example.com"
    assert page["total"] == 1 and page["unread"] == 1 and page["next_cursor"] is None
    (item,) = page["messages"]
    assert item["id"] == mid and item["subject"] == "Grüße"
    assert item["from"] == "Alice <alice@example.org>" and "from_" not in item
    assert "text" not in item and "html" not in item  # summaries never carry bodies

    message = (await client.get(f"/api/v1/messages/{mid}")).json()
    assert message["text"].strip() == "Your code is 123456"
    assert message["message_id"] == "<abc@example.org>"
    assert ["Subject", "Grüße"] in message["headers"]

    raw = await client.get(f"/api/v1/messages/{mid}/raw")
    assert raw.status_code == 200 and raw.content == RAW
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.headers["content-disposition"] == f'attachment; filename="{mid}.eml"'

    assert (await client.delete(f"/api/v1/messages/{mid}")).status_code == 204
    gone = await client.get(f"/api/v1/messages/{mid}")
    assert gone.status_code == 404
    assert gone.json() == {"error": {"code": "not_found", "message": "message not found"}}


async def test_local_part_gets_the_default_domain(client_and_app: Any) -> None:
    client, app = client_and_app
    await _deliver(app, RAW, "carol@localhost")
    page = (await client.get("/api/v1/mailboxes/carol/messages")).json()
    assert page["mailbox"] == "carol@localhost" and page["total"] == 1


async def test_cursor_pagination_newest_first(client_and_app: Any) -> None:
    client, app = client_and_app
    ids = []
    for i in range(5):
        ids += await _deliver(app, RAW.replace(b"123456", str(i).encode()), "page@x.test")
    got: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/mailboxes/page@x.test/messages", params=params)).json()
        got += [m["id"] for m in page["messages"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert got == list(reversed(ids))


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v1/mailboxes/not%20an%20address@@x/messages", 400, "invalid_address"),
        ("GET", "/api/v1/mailboxes/a@x.test/messages?limit=0", 422, "invalid_request"),
        ("GET", "/api/v1/mailboxes/a@x.test/messages?limit=abc", 422, "invalid_request"),
        ("GET", "/api/v1/mailboxes/a@x.test/messages?cursor=zzz", 400, "invalid_cursor"),
        ("GET", "/api/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV", 404, "not_found"),
        ("GET", "/api/v1/messages/..%2F..%2Fetc%2Fpasswd/raw", 404, "not_found"),
        ("DELETE", "/api/v1/messages/nope", 404, "not_found"),
        ("GET", "/api/v1/nothing-here", 404, "not_found"),
        ("POST", "/api/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV", 405, "method_not_allowed"),
    ],
)
async def test_errors_are_json(
    client_and_app: Any, method: str, path: str, status: int, code: str
) -> None:
    client, _ = client_and_app
    response = await client.request(method, path)
    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["message"]


async def test_health_and_openapi(client_and_app: Any) -> None:
    client, _ = client_and_app
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["store"] == "ok"
    spec = (await client.get("/api/openapi.json")).json()
    assert "/api/v1/mailboxes/{address}/messages" in spec["paths"]
    assert (await client.get("/api/docs")).status_code == 200


async def test_sender_ban_hides_stored_mail(client_and_app: Any) -> None:
    client, app = client_and_app
    (mid,) = await _deliver(app, RAW, "hide@x.test")
    await app.policy_admin.add_ban("sender", "alice@example.org")
    page = (await client.get("/api/v1/mailboxes/hide@x.test/messages")).json()
    assert page["messages"] == []
    assert (await client.get(f"/api/v1/messages/{mid}")).status_code == 404
    assert (await client.get(f"/api/v1/messages/{mid}/raw")).status_code == 404
