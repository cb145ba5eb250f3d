"""In-process event bus (bounded, drops slow readers) and the connection gate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ephemail.adapters.events.memory import InProcessEventBus, SubscriberDropped
from ephemail.domain.events import Event, EventType
from ephemail.services.connections import Admission, ConnectionGate


def _event(i: int) -> Event:
    return Event(i, EventType.MESSAGE_RECEIVED, "a@x.test", None, datetime.now(UTC))


async def test_subscribers_get_every_event_in_order() -> None:
    bus = InProcessEventBus()
    sub = bus.subscribe()
    bus.publish([_event(1), _event(2)])
    bus.publish([_event(3)])
    sub.close()
    assert [e.id async for e in sub] == [1, 2, 3]
    assert bus.subscriber_count == 0


async def test_a_slow_subscriber_is_dropped_without_blocking_publish() -> None:
    bus = InProcessEventBus()
    slow = bus.subscribe(max_queue=3)
    fast = bus.subscribe(max_queue=100)
    bus.publish([_event(i) for i in range(10)])  # returns at once
    assert bus.subscriber_count == 1
    received: list[int] = []

    async def read_all() -> None:
        async for event in slow:
            received.append(event.id)

    with pytest.raises(SubscriberDropped):
        await read_all()
    # Everything queued before the drop is still delivered: the reader resumes after 2.
    assert received == [0, 1, 2]
    fast.close()
    assert len([e async for e in fast]) == 10


async def test_mailbox_subscribers_get_only_their_mailboxes_in_order() -> None:
    bus = InProcessEventBus()
    alice = bus.subscribe(mailboxes=["a@x.test"])
    both = bus.subscribe(mailboxes=["a@x.test", "b@x.test"])
    everything = bus.subscribe()
    events = [
        Event(i, EventType.MESSAGE_RECEIVED, mailbox, None, datetime.now(UTC))
        for i, mailbox in enumerate(["a@x.test", "b@x.test", "c@x.test", "a@x.test"], 1)
    ]
    bus.publish(events)
    assert bus.subscriber_count == 3
    for sub in (alice, both, everything):
        sub.close()
    assert [e.id async for e in alice] == [1, 4]
    assert [e.id async for e in both] == [1, 2, 4]
    assert [e.id async for e in everything] == [1, 2, 3, 4]
    assert bus.subscriber_count == 0
    bus.publish(events)  # nobody left: nothing to offer, nothing raised


async def test_a_slow_mailbox_subscriber_is_dropped_and_unsubscribed() -> None:
    bus = InProcessEventBus()
    slow = bus.subscribe(max_queue=2, mailboxes=["a@x.test"])
    bus.publish([_event(i) for i in range(5)])
    assert bus.subscriber_count == 0
    with pytest.raises(SubscriberDropped):
        _ = [e async for e in slow]


def test_listeners_hear_every_batch_and_are_not_subscribers() -> None:
    bus = InProcessEventBus()
    heard: list[list[int]] = []
    remove = bus.add_listener(lambda events: heard.append([e.id for e in events]))
    bus.publish([_event(1), _event(2)])
    bus.publish([])  # nothing to say: not called
    bus.publish([_event(3)])
    assert heard == [[1, 2], [3]]
    assert bus.subscriber_count == 0
    remove()
    bus.publish([_event(4)])
    assert heard == [[1, 2], [3]]


async def test_waiting_reader_wakes_on_publish() -> None:
    bus = InProcessEventBus()
    sub = bus.subscribe()

    async def first() -> int:
        async for event in sub:
            return event.id
        return -1

    task = asyncio.create_task(first())
    await asyncio.sleep(0.01)
    bus.publish([_event(7)])
    assert await asyncio.wait_for(task, 1) == 7


def test_gate_caps_total_and_per_ip_and_releases() -> None:
    gate = ConnectionGate(max_connections=3, max_per_ip=2)
    assert gate.admit("1.1.1.1") is Admission.OK
    assert gate.admit("1.1.1.1") is Admission.OK
    assert gate.admit("1.1.1.1") is Admission.TOO_MANY_FROM_IP
    assert gate.admit("2.2.2.2") is Admission.OK
    assert gate.admit("3.3.3.3") is Admission.SERVER_FULL
    gate.release("1.1.1.1")
    assert gate.admit("3.3.3.3") is Admission.OK
    assert gate.active == 3


def test_gate_rate_limits_per_ip_per_minute() -> None:
    now = [0.0]
    gate = ConnectionGate(
        max_connections=100, max_per_ip=100, rate_per_minute=2, monotonic=lambda: now[0]
    )
    for _ in range(2):
        assert gate.admit("9.9.9.9") is Admission.OK
        gate.release("9.9.9.9")
    assert gate.admit("9.9.9.9") is Admission.RATE_LIMITED
    assert gate.admit("8.8.8.8") is Admission.OK
    now[0] = 61.0
    assert gate.admit("9.9.9.9") is Admission.OK
