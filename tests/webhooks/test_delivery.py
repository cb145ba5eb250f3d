"""Webhooks end to end, on SQLite and PostgreSQL: a real app, a real HTTP receiver on
127.0.0.1, mail through the ingest path (and SMTP), subscriptions through the API.

Delivery, the payload and its signature, retries after 500s with the same event_id,
410 Gone, auto-disable, give-up and redrive, the test endpoint, per-endpoint
concurrency with a hanging endpoint, the SSRF refusal and dynip's routes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import aiosmtplib
import httpx
import pytest

from tests.api.test_auth_api import client_for, deliver
from tests.conftest import StartApp
from tests.support.receiver import Receiver

FAST = {
    "smtp_enabled": False,
    "imap_enabled": False,
    "webhook_allow_networks": ["127.0.0.1/32"],
    "webhook_backoff_base": 0.2,
    "webhook_backoff_max": 0.4,
    "webhook_timeout": 2.0,
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def _app(app_factory: StartApp, database_url: str, **settings: Any) -> Any:
    return await app_factory(database_url=database_url, **{**FAST, **settings})


async def _hook(client: httpx.AsyncClient, address: str, url: str, **fields: Any) -> dict[str, Any]:
    answer = await client.post(f"/api/v1/mailboxes/{address}/webhooks", json={"url": url, **fields})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _deliveries(client: httpx.AsyncClient, hook_id: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/api/v1/webhooks/{hook_id}/deliveries")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


async def _until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_arrival_is_delivered_signed_and_logged(
    app_factory: StartApp, database_url: str, receiver: Receiver
) -> None:
    app = await _app(app_factory, database_url)
    async with client_for(app) as client:
        hook = await _hook(client, "box@hooks.test", receiver.url, secret="s3cret")
        assert hook["has_secret"] is True and "secret" not in hook
        assert hook["events"] == ["arrival"] and hook["enabled"] is True
        message_id = await deliver(app, "box@hooks.test", "Your code")
        (request,) = await receiver.wait_for(1)
        payload = request.json()
        assert payload["event"] == "arrival" and payload["type"] == "message.received"
        assert payload["mailbox"] == "box@hooks.test" and payload["webhook_id"] == hook["id"]
        email = payload["email"]
        assert email["id"] == message_id and email["to"] == "box@hooks.test"
        assert email["subject"] == "Your code" and "123456" in email["body"]
        assert email["from"] and email["attachments"] == 0
        assert payload["event_id"] and request.headers["x-ephemail-event-id"] == payload["event_id"]
        # Signature: HMAC-SHA256 over "<timestamp>.<body>", computed independently.
        timestamp = request.headers["x-ephemail-timestamp"]
        expected = hmac.new(
            b"s3cret", timestamp.encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()
        assert request.headers["x-ephemail-signature"] == f"sha256={expected}"
        assert request.headers["content-type"] == "application/json"

        async def logged() -> bool:
            found = await _deliveries(client, hook["id"])
            return bool(found) and found[0]["status"] == "delivered"

        await _until(logged)
        (entry,) = await _deliveries(client, hook["id"])
        assert entry["event"] == "arrival" and entry["attempts"] == 1
        assert entry["log"][0]["status_code"] == 200 and entry["log"][0]["latency_ms"] >= 0


async def test_retries_after_500s_resend_the_same_event(
    app_factory: StartApp, database_url: str
) -> None:
    receiver = await Receiver(status=lambda n: 500 if n < 2 else 204).start()
    try:
        app = await _app(app_factory, database_url)
        async with client_for(app) as client:
            hook = await _hook(client, "retry@hooks.test", receiver.url)
            await deliver(app, "retry@hooks.test")
            requests = await receiver.wait_for(3)
            assert len({r.body for r in requests}) == 1, "every retry sends the same body"
            assert len({r.headers["x-ephemail-event-id"] for r in requests}) == 1

            async def delivered() -> bool:
                found = await _deliveries(client, hook["id"])
                return bool(found) and found[0]["status"] == "delivered"

            await _until(delivered)
            (entry,) = await _deliveries(client, hook["id"])
            assert entry["attempts"] == 3
            assert [a["status_code"] for a in entry["log"]] == [204, 500, 500]
            webhook = (await client.get(f"/api/v1/webhooks/{hook['id']}")).json()
            assert webhook["consecutive_failures"] == 0 and webhook["enabled"] is True
            metrics = (await client.get("/metrics")).text
            assert 'ephemail_webhook_attempts_total{outcome="retry"} 2.0' in metrics
            assert 'ephemail_webhook_attempts_total{outcome="delivered"} 1.0' in metrics
    finally:
        await receiver.stop()


async def test_410_gone_disables_and_later_events_are_not_queued(
    app_factory: StartApp, database_url: str
) -> None:
    receiver = await Receiver(status=410).start()
    try:
        app = await _app(app_factory, database_url)
        async with client_for(app) as client:
            hook = await _hook(client, "gone@hooks.test", receiver.url)
            await deliver(app, "gone@hooks.test")
            await receiver.wait_for(1)

            async def disabled() -> bool:
                found = (await client.get(f"/api/v1/webhooks/{hook['id']}")).json()
                return found["enabled"] is False

            await _until(disabled)
            found = (await client.get(f"/api/v1/webhooks/{hook['id']}")).json()
            assert "410" in found["disabled_reason"]
            await deliver(app, "gone@hooks.test")
            await asyncio.sleep(0.5)
            assert len(receiver.requests) == 1
            assert len(await _deliveries(client, hook["id"])) == 1
            # Enabling again clears the reason.
            enabled = await client.patch(f"/api/v1/webhooks/{hook['id']}", json={"enabled": True})
            assert enabled.json()["enabled"] is True and enabled.json()["disabled_reason"] is None
    finally:
        await receiver.stop()


async def test_repeated_failure_disables_then_give_up_and_redrive(
    app_factory: StartApp, database_url: str
) -> None:
    state = {"status": 500}
    receiver = await Receiver(status=lambda _n: state["status"]).start()
    try:
        # A 1.8 s retry window: the delivery is given up after a few attempts.
        app = await _app(
            app_factory, database_url, webhook_retry_hours=0.0005, webhook_disable_after=50
        )
        async with client_for(app) as client:
            hook = await _hook(client, "fail@hooks.test", receiver.url)
            await deliver(app, "fail@hooks.test")

            async def failed() -> bool:
                found = await _deliveries(client, hook["id"])
                return bool(found) and found[0]["status"] == "failed"

            await _until(failed)
            (entry,) = await _deliveries(client, hook["id"])
            assert entry["attempts"] >= 2 and entry["last_status_code"] == 500
            state["status"] = 200
            before = len(receiver.requests)
            answer = await client.post(f"/api/v1/webhooks/{hook['id']}/redrive")
            assert answer.json() == {"redriven": 1}
            await receiver.wait_for(before + 1)

            async def delivered() -> bool:
                found = await _deliveries(client, hook["id"])
                return found[0]["status"] == "delivered"

            await _until(delivered)
            # One delivery again by id, and an unknown id.
            one = await client.post(
                f"/api/v1/webhooks/{hook['id']}/deliveries/{entry['id']}/redrive"
            )
            assert one.json() == {"redriven": 1}
            await receiver.wait_for(before + 2)
            missing = await client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/999999/redrive")
            assert missing.status_code == 404
    finally:
        await receiver.stop()


async def test_consecutive_failures_disable_the_webhook(
    app_factory: StartApp, database_url: str
) -> None:
    receiver = await Receiver(status=503).start()
    try:
        app = await _app(
            app_factory, database_url, webhook_disable_after=3, webhook_disable_after_hours=0
        )
        async with client_for(app) as client:
            hook = await _hook(client, "flaky@hooks.test", receiver.url)
            await deliver(app, "flaky@hooks.test")

            async def disabled() -> bool:
                found = (await client.get(f"/api/v1/webhooks/{hook['id']}")).json()
                return found["enabled"] is False

            await _until(disabled)
            found = (await client.get(f"/api/v1/webhooks/{hook['id']}")).json()
            assert "3 failed attempts" in found["disabled_reason"]
            assert "HTTP 503" in found["disabled_reason"]
            await asyncio.sleep(0.6)
            assert len(receiver.requests) == 3, "a disabled webhook gets no more attempts"
    finally:
        await receiver.stop()


async def test_test_endpoint_and_event_filters(
    app_factory: StartApp, database_url: str, receiver: Receiver
) -> None:
    app = await _app(app_factory, database_url)
    async with client_for(app) as client:
        hook = await _hook(client, "filter@hooks.test", receiver.url, events=["deletion", "read"])
        result = (await client.post(f"/api/v1/webhooks/{hook['id']}/test")).json()
        assert result["delivered"] is True and result["status_code"] == 200
        (test_request,) = await receiver.wait_for(1)
        assert test_request.json()["event"] == "test"
        message_id = await deliver(app, "filter@hooks.test")
        await asyncio.sleep(0.3)
        assert len(receiver.requests) == 1, "arrival was not subscribed"
        marked = await client.patch(f"/api/v1/messages/{message_id}", json={"seen": True})
        assert marked.status_code == 200, marked.text
        deleted = await client.delete(f"/api/v1/messages/{message_id}")
        assert deleted.status_code == 204
        requests = await receiver.wait_for(3)
        events = sorted(r.json()["event"] for r in requests[1:])
        assert events == ["deletion", "read"]
        deletion = next(r.json() for r in requests[1:] if r.json()["event"] == "deletion")
        assert deletion["type"] == "message.deleted" and deletion["email"]["id"] == message_id
        logged = await _deliveries(client, hook["id"])
        assert [d["event"] for d in logged][-1] == "test"


async def test_a_hanging_endpoint_delays_only_its_own_deliveries(
    app_factory: StartApp, database_url: str
) -> None:
    slow = await Receiver(delay=30).start()
    fast = await Receiver().start()
    in_flight = 0
    try:
        app = await _app(
            app_factory,
            database_url,
            smtp_enabled=True,
            webhook_concurrency_per_endpoint=2,
            webhook_timeout=5.0,
        )
        async with client_for(app) as client:
            await _hook(client, "slow@hooks.test", slow.url)
            await _hook(client, "fast@hooks.test", fast.url)
            for n in range(5):
                await deliver(app, "slow@hooks.test", f"slow {n}")
            await slow.wait_for(2)
            # Real SMTP still answers while the slow endpoint hangs, and the fast
            # endpoint gets its delivery.
            for n in range(3):
                await aiosmtplib.send(
                    f"From: a@b.test\r\nSubject: fast {n}\r\n\r\nhi\r\n".encode(),
                    sender="a@b.test",
                    recipients=["fast@hooks.test"],
                    hostname="127.0.0.1",
                    port=app.smtp_port,
                    timeout=10,
                )
            await fast.wait_for(3)
            await asyncio.sleep(0.3)
            in_flight = len(slow.requests)
            assert in_flight == 2, "at most webhook_concurrency_per_endpoint at once"
    finally:
        await slow.stop()
        await fast.stop()


async def test_ssrf_targets_are_refused(app_factory: StartApp, database_url: str) -> None:
    app = await app_factory(database_url=database_url, smtp_enabled=False, imap_enabled=False)
    async with client_for(app) as client:
        for url in (
            "http://127.0.0.1:8080/hook",
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://192.168.1.10/hook",
            "http://0x7f000001/hook",
        ):
            answer = await client.post(
                "/api/v1/mailboxes/ssrf@hooks.test/webhooks", json={"url": url}
            )
            assert answer.status_code == 422, (url, answer.text)
            body = answer.json()["error"]
            assert body["code"] == "invalid_webhook"
            assert "EPHEMAIL_WEBHOOK_ALLOW_NETWORKS" in body["message"], body
        for url in ("ftp://example.org/x", "http://user:pw@example.org/", "not a url"):
            answer = await client.post(
                "/api/v1/mailboxes/ssrf@hooks.test/webhooks", json={"url": url}
            )
            assert answer.status_code == 422, (url, answer.text)
        listed = await client.get("/api/v1/mailboxes/ssrf@hooks.test/webhooks")
        assert listed.json() == {"webhooks": []}


async def test_dynip_routes(app_factory: StartApp, database_url: str, receiver: Receiver) -> None:
    app = await _app(app_factory, database_url)
    async with client_for(app) as client:
        created = await client.post(
            "/api/webhooks",
            json={
                "mailbox_address": "dyn@hooks.test",
                "webhook_url": f"127.0.0.1:{receiver.port}/hook",
                "events": ["arrival", "deletion"],
            },
        )
        assert created.status_code == 200, created.text
        hook = created.json()
        assert set(hook) == {
            "id",
            "mailbox_address",
            "webhook_url",
            "events",
            "created_at",
            "enabled",
        }
        assert hook["webhook_url"] == f"http://127.0.0.1:{receiver.port}/hook"
        listed = (await client.get("/api/webhooks/dyn@hooks.test")).json()
        assert [w["id"] for w in listed] == [hook["id"]]
        assert (await client.get(f"/api/webhook/{hook['id']}")).json()["enabled"] is True
        put = await client.put(f"/api/webhook/{hook['id']}", json={"enabled": False})
        assert put.json()["enabled"] is False
        tested = (await client.post(f"/api/webhook/{hook['id']}/test")).json()
        assert tested["success"] is True
        assert (await client.delete(f"/api/webhook/{hook['id']}")).status_code == 200
        assert (await client.get(f"/api/webhook/{hook['id']}")).status_code == 404


async def test_patch_sets_keeps_and_removes_the_secret(
    app_factory: StartApp, database_url: str
) -> None:
    app = await _app(app_factory, database_url)
    async with client_for(app) as client:
        hook = await _hook(client, "secret@hooks.test", "http://127.0.0.1:9/hook")
        path = f"/api/v1/webhooks/{hook['id']}"
        assert hook["has_secret"] is False
        for body, has_secret in (
            ({"secret": "one"}, True),
            ({"enabled": False}, True),  # not given: kept
            ({"secret": ""}, False),  # empty: removed
            ({"secret": "two"}, True),
            ({"secret": None}, False),  # null: removed
        ):
            answer = await client.patch(path, json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["has_secret"] is has_secret, body
