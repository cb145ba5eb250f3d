"""The SQLite event poller of `ephemail mcp`: events another process commits to the
same SQLite file reach this process's bus, in id order, each once, also when this
process publishes its own events in between."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ephemail.adapters.events.polling import PollingEventRelay
from ephemail.adapters.sql.engine import create_engines
from ephemail.adapters.sql.migrate import upgrade
from ephemail.adapters.sql.store import SqlStore
from ephemail.domain.events import Event


async def _store(url: str) -> SqlStore:
    engines = create_engines(url)
    await upgrade(engines)
    return SqlStore(engines)


async def test_events_of_another_writer_reach_the_bus_once_in_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    server, child = await _store(url), await _store(url)  # two "processes", one file
    relay = PollingEventRelay(child, interval=0.05)
    try:
        _, before = await server.create_mailbox("before@poll.test")
        await relay.start()  # watermark: events before this are not replayed
        subscription = relay.bus.subscribe()
        seen: list[Event] = []

        async def collect(count: int) -> None:
            async for event in subscription:
                seen.append(event)
                if len(seen) >= count:
                    return

        _, first = await server.create_mailbox("one@poll.test")
        _, local = await child.create_mailbox("local@poll.test")
        relay.bus.publish(local)  # this process's own publish, as the services do
        _, second = await server.create_mailbox("two@poll.test")
        expected = [*first, *local, *second]
        await asyncio.wait_for(collect(len(expected)), 5)
        assert [e.id for e in seen] == [e.id for e in expected]
        assert all(e.id > before[-1].id for e in seen)
        # Later polls publish nothing again.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(collect(len(expected) + 1), 0.3)
        assert relay.polls > 2 and len(seen) == len(expected)
        subscription.close()
    finally:
        await relay.close()
        await child.close()
        await server.close()
