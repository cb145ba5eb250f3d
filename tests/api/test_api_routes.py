"""/api/v1 mailboxes, read state, bulk delete, search, downloads, extraction and the
dynip-compatible routes: over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ephemail.domain.events import EventType
from ephemail.domain.messages import Envelope
from tests.conftest import StartApp

PLAIN = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.com\r\n"
    b"Subject: Your sign-in code\r\n"
    b"Message-ID: <code@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Your verification code is 482913.\r\n"
    b"Or open https://example.org/verify?t=abc&u=1 to continue.\r\n"
)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n% fake but bytes are bytes\n\x00\x01\x02\xff"

RICH = (
    b"From: Shop <news@shop.test>\r\n"
    b"To: bob@example.com\r\n"
    b"Subject: Your invoice\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/related; boundary="rel"\r\n'
    b"\r\n"
    b"--rel\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b'<html><head><title>x</title></head><body><p>Invoice attached</p><img src="cid:logo@shop">'
    b'<a href="https://shop.test/orders/1">Order</a><img src="https://tracker.test/p.gif">'
    b"<script>document.title='pwned'</script></body></html>\r\n"
    b"--rel\r\n"
    b"Content-Type: image/png\r\n"
    b"Content-ID: <logo@shop>\r\n"
    b"Content-Disposition: inline\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.encodebytes(PNG).replace(b"\n", b"\r\n") + b"--rel--\r\n"
    b"--outer\r\n"
    b'Content-Type: application/pdf; name="../../etc/inv\xc3\xb6ice.pdf"\r\n'
    b'Content-Disposition: attachment; filename="../../etc/inv\xc3\xb6ice.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.encodebytes(PDF).replace(b"\n", b"\r\n") + b"--outer--\r\n"
)


async def deliver(
    app: Any, raw: bytes, *recipients: str, sender: str = "alice@example.org"
) -> list[str]:
    result = await app.ingest.deliver(Envelope(sender, recipients, "127.0.0.1"), raw)
    return list(result.message_ids)


@pytest.fixture
async def api(
    app_factory: StartApp, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = await app_factory(database_url=database_url, smtp_enabled=False)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as client:
        yield client, app


async def test_domains_and_create_mailbox(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = api
    domains = (await client.get("/api/v1/domains")).json()["domains"]
    default = app.settings.default_domain
    assert domains[0] == {"name": default, "shared": False, "default": True, "owned": False}

    random = await client.post("/api/v1/mailboxes", json={})
    assert random.status_code == 201
    body = random.json()
    local, _, domain = body["address"].partition("@")
    assert domain == default and len(local) == 10 and body["created"] is True

    given = await client.post("/api/v1/mailboxes", json={"address": " Agent@Example.COM "})
    assert given.status_code == 201 and given.json()["address"] == "agent@example.com"
    again = await client.post("/api/v1/mailboxes", json={"address": "agent@example.com"})
    assert again.status_code == 200 and again.json()["created"] is False

    on_domain = await client.post("/api/v1/mailboxes", json={"domain": "Mail.Example.NET"})
    assert on_domain.json()["address"].endswith("@mail.example.net")

    info = (await client.get("/api/v1/mailboxes/agent@example.com")).json()
    assert info["exists"] is True and info["total"] == 0 and info["kind"] == "public"
    missing = (await client.get("/api/v1/mailboxes/nobody@example.com")).json()
    assert missing["exists"] is False and missing["created_at"] is None

    created = [
        e for e in await app.store.events_after(0, 100) if e.type is EventType.MAILBOX_CREATED
    ]
    assert {e.mailbox for e in created} >= {"agent@example.com", body["address"]}


async def test_create_mailbox_refusals(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = api
    await app.policy_admin.add_ban("address", "blocked@example.com")
    await app.policy_admin.add_ban("recipient_domain", "bad.test")
    for payload, status, code in [
        ({"address": "blocked@example.com"}, 403, "mailbox_not_allowed"),
        ({"domain": "sub.bad.test"}, 403, "mailbox_not_allowed"),
        ({"address": "no spaces@@example.com"}, 400, "invalid_address"),
        ({"address": "x@example.com", "unknown": 1}, 422, "invalid_request"),
        ({"address": "a" * 400}, 422, "invalid_request"),
    ]:
        response = await client.post("/api/v1/mailboxes", json=payload)
        assert response.status_code == status, (payload, response.text)
        assert response.json()["error"]["code"] == code
    assert await app.store.get_mailbox("blocked@example.com") is None


async def test_domains_mode_limits_creation(app_factory: StartApp) -> None:
    app = await app_factory(smtp_enabled=False, accept_policy="domains")
    await app.policy_admin.add_domain("mail.test", shared=True)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as client:
        domains = (await client.get("/api/v1/domains")).json()["domains"]
        assert domains == [{"name": "mail.test", "shared": True, "default": False, "owned": False}]
        refused = await client.post("/api/v1/mailboxes", json={"address": "a@other.test"})
        assert refused.status_code == 403
        ok = await client.post("/api/v1/mailboxes", json={"address": "a@x.mail.test"})
        assert ok.status_code == 201


async def test_mark_read_and_unread(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = api
    (mid,) = await deliver(app, PLAIN, "bob@example.com")
    after = (await app.store.events_after(0, 100))[-1].id

    read = await client.patch(f"/api/v1/messages/{mid}", json={"seen": True})
    assert read.status_code == 200 and read.json()["seen"] is True
    page = (await client.get("/api/v1/mailboxes/bob@example.com/messages")).json()
    assert page["unread"] == 0 and page["messages"][0]["seen"] is True
    await client.patch(f"/api/v1/messages/{mid}", json={"seen": True})  # no change
    await client.patch(f"/api/v1/messages/{mid}", json={"seen": False})
    events = [e for e in await app.store.events_after(after, 100)]
    assert [(e.type, e.message_id, e.data["seen"]) for e in events] == [
        (EventType.MESSAGE_READ, mid, True),
        (EventType.MESSAGE_READ, mid, False),
    ]
    bad = await client.patch(f"/api/v1/messages/{mid}", json={"seen": "maybe"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    gone = await client.patch("/api/v1/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV", json={"seen": True})
    assert gone.status_code == 404


async def test_delete_all_and_delete_by_search(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = api
    for i in range(3):
        await deliver(app, PLAIN.replace(b"sign-in code", f"code {i}".encode()), "bob@example.com")
    await deliver(app, RICH, "bob@example.com", sender="news@shop.test")
    await deliver(app, PLAIN, "carol@example.com")

    by_search = await client.delete(
        "/api/v1/mailboxes/bob@example.com/messages", params={"q": "subject:invoice"}
    )
    assert by_search.json() == {"deleted": 1}
    everything = await client.delete("/api/v1/mailboxes/bob@example.com/messages")
    assert everything.json() == {"deleted": 3}
    assert (await client.get("/api/v1/mailboxes/bob@example.com/messages")).json()["total"] == 0
    assert (await client.get("/api/v1/mailboxes/carol@example.com/messages")).json()["total"] == 1
    none = await client.delete("/api/v1/mailboxes/nobody@example.com/messages")
    assert none.json() == {"deleted": 0}
    bad = await client.delete("/api/v1/mailboxes/bob@example.com/messages", params={"q": '"open'})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_query"


async def test_search_routes(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = api
    (plain,) = await deliver(app, PLAIN, "bob@example.com")
    (rich,) = await deliver(app, RICH, "bob@example.com", sender="news@shop.test")
    (other,) = await deliver(app, PLAIN, "carol@example.com")

    def ids(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["messages"]]

    listing = "/api/v1/mailboxes/bob@example.com/messages"
    assert ids(await client.get(listing, params={"q": "verification"})) == [plain]
    assert ids(await client.get(listing, params={"q": "has:attachment"})) == [rich]
    assert ids(await client.get(listing, params={"q": "-has:attachment"})) == [plain]
    assert ids(await client.get(listing, params={"q": "from:shop.test"})) == [rich]
    assert ids(await client.get("/api/v1/search", params={"q": "verification"})) == [other, plain]
    scoped = await client.get("/api/v1/search", params={"q": "verification", "mailbox": "carol"})
    assert ids(scoped) == [] or scoped.json()["mailbox"].startswith("carol@")
    bad = await client.get("/api/v1/search", params={"q": "larger:lots"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_query"
    assert (await client.get("/api/v1/search")).status_code == 422


async def test_html_body_is_locked_down(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = api
    (mid,) = await deliver(app, RICH, "bob@example.com")
    message = (await client.get(f"/api/v1/messages/{mid}")).json()
    assert message["remote_content"] is True

    response = await client.get(f"/api/v1/messages/{mid}/html")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp
    assert "https:" not in csp
    html = response.text
    assert f'src="/api/v1/messages/{mid}/attachments/0"' in html  # cid: rewritten
    assert '<head><base target="_blank">' in html
    remote = await client.get(f"/api/v1/messages/{mid}/html", params={"remote": 1})
    assert "img-src 'self' data: https: http:" in remote.headers["content-security-policy"]

    (plain,) = await deliver(app, PLAIN, "bob@example.com")
    assert (await client.get(f"/api/v1/messages/{plain}")).json()["remote_content"] is False
    missing = await client.get(f"/api/v1/messages/{plain}/html")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_attachment_downloads(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = api
    (mid,) = await deliver(app, RICH, "bob@example.com")
    listed = (await client.get(f"/api/v1/messages/{mid}")).json()["attachments"]
    assert [a["content_type"] for a in listed] == ["image/png", "application/pdf"]

    image = await client.get(f"/api/v1/messages/{mid}/attachments/0")
    assert image.content == PNG and image.headers["content-type"] == "image/png"
    pdf = await client.get(f"/api/v1/messages/{mid}/attachments/1")
    assert pdf.content == PDF
    disposition = pdf.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="invoice.pdf"')
    assert "filename*=UTF-8''inv%C3%B6ice.pdf" in disposition
    assert ".." not in disposition and "/" not in disposition.split("filename*")[0]
    assert pdf.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in pdf.headers["content-security-policy"]
    for index in ("2", "-1", "x"):
        missing = await client.get(f"/api/v1/messages/{mid}/attachments/{index}")
        assert missing.status_code in (404, 422) and "error" in missing.json()

    raw = await client.get(f"/api/v1/messages/{mid}/raw")
    assert raw.content == RICH and raw.headers["content-type"] == "message/rfc822"


async def test_extract_codes_and_links(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = api
    (mid,) = await deliver(app, PLAIN, "bob@example.com")
    found = (await client.get(f"/api/v1/messages/{mid}/extract")).json()
    assert [c["value"] for c in found["codes"]] == ["482913"]
    assert [link["url"] for link in found["links"]] == ["https://example.org/verify?t=abc&u=1"]
    (rich,) = await deliver(app, RICH, "bob@example.com")
    links = (await client.get(f"/api/v1/messages/{rich}/extract")).json()["links"]
    assert {"url": "https://shop.test/orders/1", "text": "Order"} in links


async def test_sender_ban_hides_from_search_and_compat(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = api
    (mid,) = await deliver(app, PLAIN, "bob@example.com", sender="spam@bad.test")
    await app.policy_admin.add_ban("sender", "spam@bad.test")
    assert (await client.get("/api/v1/search", params={"q": "verification"})).json()[
        "messages"
    ] == []
    assert (await client.get("/api/emails/bob@example.com")).json() == {"emails": []}
    assert (await client.get(f"/api/email/{mid}")).status_code == 404
    assert (await client.get(f"/api/v1/messages/{mid}/attachments/0")).status_code == 404
    # Hidden mail is not found by any action, reads or writes alike.
    assert (await client.patch(f"/api/v1/messages/{mid}", json={"seen": True})).status_code == 404
    assert (await client.delete(f"/api/v1/messages/{mid}")).status_code == 404


async def test_dynip_compatible_routes(api: tuple[httpx.AsyncClient, Any]) -> None:
    client, app = api
    (rich,) = await deliver(app, RICH, "bob@example.com", sender="news@shop.test")
    (plain,) = await deliver(app, PLAIN, "bob@example.com")

    emails = (await client.get("/api/emails/bob")).json()  # local part: default domain
    assert emails == {"emails": []}
    listing = (await client.get("/api/emails/bob@example.com")).json()["emails"]
    assert [e["id"] for e in listing] == [plain, rich]
    first = listing[0]
    assert set(first) == {"id", "to", "from", "subject", "body", "timestamp", "attachments"}
    assert first["to"] == "bob@example.com" and first["from"] == "Alice <alice@example.org>"
    assert first["body"].startswith("Your verification code is 482913.")
    pdf = listing[1]["attachments"][1]
    assert set(pdf) == {"filename", "content_type", "size", "content"}
    assert base64.b64decode(pdf["content"]) == PDF and pdf["size"] == len(PDF)

    one = (await client.get(f"/api/email/{rich}")).json()
    assert one == listing[1]
    assert (await client.get("/api/email/not-an-id")).status_code == 404

    found = (await client.get("/api/search", params={"query": "verification"})).json()
    assert found["count"] == 1
    (result,) = found["results"]
    assert set(result) == {"id", "to", "from", "subject", "snippet", "timestamp", "rank"}
    assert result["id"] == plain and "482913" in result["snippet"]
    assert (await client.get("/api/search")).status_code == 400

    deleted = await client.delete(f"/api/email/{plain}")
    assert deleted.json() == {"message": "Email deleted successfully"}
    assert (await client.get(f"/api/email/{plain}")).status_code == 404
    assert (await client.delete(f"/api/email/{plain}")).status_code == 404
