"""`GET /api/v1/mailboxes/{address}/wait` over real HTTP, on both stores: matchers,
stored and future matches, timeouts, validation, sender bans and disconnects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.test_events import deliver, wait_for
from tests.conftest import StartApp

WAIT = "/api/v1/mailboxes/{}/wait"


@pytest.fixture
async def ctx(app_factory: StartApp, database_url: str) -> AsyncIterator[tuple[Any, Any]]:
    app = await app_factory(database_url=database_url, smtp_enabled=False)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{app.http_port}", timeout=30
    ) as client:
        yield client, app


async def test_a_stored_match_is_returned_at_once(ctx: tuple[Any, Any]) -> None:
    client, app = ctx
    mid = await deliver(app, "w@x.test", "Your code 123")
    started = time.monotonic()
    answer = await client.get(WAIT.format("w@x.test"), params={"subject": "CODE"})
    assert answer.status_code == 200
    assert time.monotonic() - started < 2
    assert answer.json() == (await client.get(f"/api/v1/messages/{mid}")).json()


async def test_the_earliest_stored_match_wins(ctx: tuple[Any, Any]) -> None:
    client, app = ctx
    first = await deliver(app, "e@x.test", "login code 1")
    await deliver(app, "e@x.test", "newsletter")
    await deliver(app, "e@x.test", "login code 2")
    answer = await client.get(WAIT.format("E@X.test"), params={"subject": "login"})
    assert answer.json()["id"] == first


async def test_a_future_match_is_returned_when_it_arrives(ctx: tuple[Any, Any]) -> None:
    client, app = ctx
    old = await deliver(app, "f@x.test", "old code")
    request = asyncio.create_task(
        client.get(
            WAIT.format("f@x.test"),
            params={"subject": "code", "after": old, "timeout": 20},
        )
    )
    await wait_for(lambda: app.live.open_subscriptions == 1)
    await deliver(app, "f@x.test", "unrelated")
    await deliver(app, "other@x.test", "code for someone else")
    started = time.monotonic()
    new = await deliver(app, "f@x.test", "new code")
    answer = await asyncio.wait_for(request, 10)
    assert answer.status_code == 200 and answer.json()["id"] == new
    assert time.monotonic() - started < 5  # pushed by the event, not found by polling
    assert app.live.open_subscriptions == 0


async def test_timeout_answers_408(ctx: tuple[Any, Any]) -> None:
    client, app = ctx
    started = time.monotonic()
    answer = await client.get(WAIT.format("nobody"), params={"timeout": 0.3})
    assert 0.3 <= time.monotonic() - started < 5
    assert answer.status_code == 408
    body = answer.json()
    assert body["error"]["code"] == "timeout" and body["error"]["message"]
    # timeout=0 looks once and answers at once.
    assert (await client.get(WAIT.format("nobody"), params={"timeout": 0})).status_code == 408
    mid = await deliver(app, "nobody@localhost", "hi")
    zero = await client.get(WAIT.format("nobody"), params={"timeout": 0})
    assert zero.status_code == 200 and zero.json()["id"] == mid


async def test_from_matches_header_or_envelope_case_insensitively(ctx: tuple[Any, Any]) -> None:
    client, app = ctx
    mid = await deliver(app, "m@x.test", "hello", sender="bounce-77@mailer.example")
    # The From header says Alice <bounce-77@...>; match on the display name...
    by_header = await client.get(WAIT.format("m@x.test"), params={"from": "aLiCe", "timeout": 0})
    assert by_header.json()["id"] == mid
    by_envelope = await client.get(
        WAIT.format("m@x.test"), params={"from": "MAILER.example", "timeout": 0}
    )
    assert by_envelope.json()["id"] == mid
    both = await client.get(
        WAIT.format("m@x.test"), params={"from": "alice", "subject": "HELL", "timeout": 0}
    )
    assert both.json()["id"] == mid
    miss = await client.get(
        WAIT.format("m@x.test"), params={"from": "alice", "subject": "bye", "timeout": 0}
    )
    assert miss.status_code == 408


async def test_after_and_since_exclude_older_mail(ctx: tuple[Any, Any]) -> None:
    client, app = ctx
    first = await deliver(app, "t@x.test", "code")
    assert (
        await client.get(WAIT.format("t@x.test"), params={"after": first, "timeout": 0})
    ).status_code == 408
    assert (
        await client.get(WAIT.format("t@x.test"), params={"after": first.lower(), "timeout": 0})
    ).status_code == 408
    future = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    assert (
        await client.get(WAIT.format("t@x.test"), params={"since": future, "timeout": 0})
    ).status_code == 408
    past = (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None).isoformat()
    since_past = await client.get(WAIT.format("t@x.test"), params={"since": past, "timeout": 0})
    assert since_past.json()["id"] == first
    # A message arriving after `since` (in the future when asked) is returned.
    soon = (datetime.now(UTC) + timedelta(milliseconds=300)).isoformat()
    request = asyncio.create_task(
        client.get(WAIT.format("t@x.test"), params={"since": soon, "timeout": 10})
    )
    await asyncio.sleep(0.5)
    second = await deliver(app, "t@x.test", "code again")
    assert (await asyncio.wait_for(request, 10)).json()["id"] == second


@pytest.mark.parametrize(
    "params",
    [
        {"timeout": 61},
        {"timeout": -1},
        {"timeout": "soon"},
        {"after": "not-an-id"},
        {"since": "yesterday"},
    ],
)
async def test_invalid_parameters_are_422_json(ctx: tuple[Any, Any], params: Any) -> None:
    client, _ = ctx
    answer = await client.get(WAIT.format("v@x.test"), params=params)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_request"


async def test_invalid_address_is_400(ctx: tuple[Any, Any]) -> None:
    client, _ = ctx
    answer = await client.get(WAIT.format("a b@@x"), params={"timeout": 0})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_address"


async def test_sender_banned_mail_is_never_returned(ctx: tuple[Any, Any]) -> None:
    client, app = ctx
    await app.policy_admin.add_ban("sender", "spam@bad.test")
    await deliver(app, "b@x.test", "code", sender="spam@bad.test")
    assert (
        await client.get(WAIT.format("b@x.test"), params={"subject": "code", "timeout": 0})
    ).status_code == 408
    request = asyncio.create_task(
        client.get(WAIT.format("b@x.test"), params={"subject": "code", "timeout": 10})
    )
    await wait_for(lambda: app.live.open_subscriptions == 1)
    await deliver(app, "b@x.test", "code again", sender="spam@bad.test")
    good = await deliver(app, "b@x.test", "code at last", sender="friend@good.test")
    assert (await asyncio.wait_for(request, 10)).json()["id"] == good


async def test_a_disconnected_client_ends_the_wait(ctx: tuple[Any, Any]) -> None:
    client, app = ctx
    request = asyncio.create_task(client.get(WAIT.format("gone@x.test"), params={"timeout": 60}))
    await wait_for(lambda: app.live.open_subscriptions == 1)
    request.cancel()  # closes the connection
    with pytest.raises(asyncio.CancelledError):
        await request
    await wait_for(lambda: app.live.open_subscriptions == 0, timeout=5)
    assert app.bus.subscriber_count == 0
