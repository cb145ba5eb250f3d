"""The PostgreSQL event relay between two nodes (two stores, two relays, one real
database): other nodes' events reach a node's bus once each and in id order, a
local publish never overtakes an earlier event, and a killed LISTEN connection
comes back with the events written meanwhile."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from ephemail.adapters.sql.engine import create_engines
from ephemail.adapters.sql.migrate import upgrade
from ephemail.adapters.sql.relay import PostgresEventRelay, event_relay_for
from ephemail.adapters.sql.store import SqlStore
from ephemail.ports import EventSubscription

pytestmark = pytest.mark.postgres

_names = itertools.count(1)
# Long enough that every delivery in these tests is due to LISTEN/NOTIFY or to a
# reconnect's catch-up, never to the safety poll.
NO_POLL = 60.0


@dataclass
class Node:
    store: SqlStore
    relay: PostgresEventRelay

    async def write(self, count: int, *, publish: bool = True) -> list[int]:
        """Commit `count` events (new mailboxes); publish them like the services do."""
        ids: list[int] = []
        for _ in range(count):
            _, events = await self.store.create_mailbox(f"n{next(_names)}@relay.test")
            if publish:
                self.relay.bus.publish(events)
            ids.extend(e.id for e in events)
        return ids


def asyncpg_dsn(pg_url: str) -> str:
    return pg_url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
async def nodes(pg_url: str) -> AsyncIterator[tuple[Node, Node]]:
    made: list[Node] = []
    for _ in range(2):
        engines = create_engines(pg_url)
        await upgrade(engines)
        store = SqlStore(engines)
        relay = PostgresEventRelay(
            store, asyncpg_dsn(pg_url), poll_interval=NO_POLL, reconnect_initial=1.0
        )
        await relay.start()
        made.append(Node(store, relay))
    try:
        yield made[0], made[1]
    finally:
        for node in made:
            await node.relay.close()
            await node.store.close()


async def collect(subscription: EventSubscription, count: int, timeout: float = 5) -> list[int]:
    """The ids of the next `count` events of the subscription."""
    ids: list[int] = []
    async with asyncio.timeout(timeout):
        async for event in subscription:
            ids.append(event.id)
            if len(ids) == count:
                break
    return ids


async def nothing_more(subscription: EventSubscription, wait: float = 0.3) -> None:
    events = aiter(subscription)
    try:
        async with asyncio.timeout(wait):
            event = await anext(events)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected event {event.id}")


async def test_event_relay_is_only_for_postgresql(pg_url: str, tmp_path: object) -> None:
    engines = create_engines(pg_url)
    store = SqlStore(engines)
    try:
        assert event_relay_for(f"sqlite:///{tmp_path}/x.sqlite3", store) is None
        relay = event_relay_for(pg_url, store)
        assert isinstance(relay, PostgresEventRelay)
    finally:
        await store.close()


async def test_other_nodes_events_arrive_once_in_id_order(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    watch_a, watch_b = a.relay.bus.subscribe(), b.relay.bus.subscribe()
    # Both nodes write at once: their ids interleave in the table.
    written = await asyncio.gather(*(node.write(1) for node in (a, b) for _ in range(40)))
    table = [e.id for e in await a.store.events_after(0, 10_000)]
    assert sorted(i for ids in written for i in ids) == table
    assert await collect(watch_a, len(table)) == table
    assert await collect(watch_b, len(table)) == table
    await nothing_more(watch_a)
    await nothing_more(watch_b)
    # Carried by notifications (the poll is a minute away).
    assert a.relay.notifications > 0 and b.relay.notifications > 0


async def test_a_local_publish_never_overtakes_an_earlier_event(
    nodes: tuple[Node, Node],
) -> None:
    a, _ = nodes
    watch = a.relay.bus.subscribe()
    # Another writer's event that no notification announced (as if its node died
    # between commit and NOTIFY), then a local one right after it.
    (silent,) = await a.write(1, publish=False)
    (local,) = await a.write(1)
    assert a.relay.bus.held == 1  # not published before the earlier one
    assert await collect(watch, 2, timeout=2) == [silent, local]
    (next_local,) = await a.write(1)
    # Continuing the watermark, a local publish goes out at once, without a read.
    assert await collect(watch, 1, timeout=0.01) == [next_local]
    await nothing_more(watch)


async def test_killed_listener_reconnects_and_delivers_what_was_missed(
    nodes: tuple[Node, Node], pg_url: str
) -> None:
    a, b = nodes
    watch = b.relay.bus.subscribe()
    first = await a.write(1)
    assert await collect(watch, 1) == first
    old_pid = b.relay.listener_pid
    assert old_pid is not None
    admin = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", old_pid)
    finally:
        await admin.close()
    async with asyncio.timeout(5):
        while b.relay.listener_pid is not None:
            await asyncio.sleep(0.01)
    # Written while B is not listening (it waits 1 s before reconnecting): A's
    # NOTIFY reaches nobody on B's side.
    missed = await a.write(3)
    await nothing_more(watch, 0.2)
    assert b.relay.listener_pid is None
    # After the reconnect, B reads them from the table: once each, in order.
    assert await collect(watch, 3, timeout=5) == missed
    assert b.relay.connections == 2
    assert b.relay.listener_pid not in (None, old_pid)
    # And notifications flow again.
    after = await a.write(1)
    assert await collect(watch, 1, timeout=2) == after
    await nothing_more(watch)


async def test_a_broken_notify_connection_is_replaced_not_fatal(
    nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg can leave a connection in a broken protocol state ("another operation is
    in progress", seen when a NOTIFY timed out while its database went away). The
    notifier must not die of it: the connection is dropped, the listener reconnects,
    NOTIFY works again, and closing the relay raises nothing."""
    a, b = nodes
    conn = a.relay._conn
    assert conn is not None
    real_execute = asyncpg.connection.Connection.execute
    broken_once = [conn]

    async def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self in broken_once:
            broken_once.clear()
            raise asyncpg.InternalClientError("cannot switch to state 12; another operation")
        return await real_execute(self, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "execute", execute)
    watch = b.relay.bus.subscribe()
    first = await a.write(1)  # its NOTIFY hits the broken connection
    async with asyncio.timeout(5):
        while a.relay.connections < 2 or a.relay.listener_pid is None:
            await asyncio.sleep(0.01)
    assert not broken_once and conn.is_closed()
    # B still gets the first event (NOTIFY sent again after the reconnect), then the next.
    assert await collect(watch, 1, timeout=5) == first
    second = await a.write(1)
    assert await collect(watch, 1, timeout=5) == second
    await a.relay.close()  # raises nothing
