"""Live events: the per-client event feed (WebSocket, SSE) and "wait for a message".

Both follow one rule to be gap-free: subscribe to the bus FIRST, then read the
store, then continue with what the subscription collected meanwhile. Whatever
committed before the store read is in the store; whatever committed after it is
in the subscription; the overlap is skipped by event id.

A feed never slows ingest: the bus queues at most `queue_size` events per
client and drops a client that falls further behind (`FeedDropped`). The
client resumes with `after=<last id>` from the event table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from ephemail.domain.events import Event, EventType
from ephemail.domain.messages import MessageDetail, MessageSummary
from ephemail.ports import EventBus, EventSubscription, Store, SubscriberDropped
from ephemail.services.access import (
    Action,
    Authorizer,
    Principal,
)
from ephemail.services.mailboxes import MailboxService, MessageNotFound

log = logging.getLogger(__name__)

# Events read from the table per query while replaying.
REPLAY_PAGE: Final = 500
# The longest a wait may last (docs/api.md: timeout 0..60 s).
MAX_WAIT_SECONDS: Final = 60.0
# `since` scans stop this far before `since` (clock differences between nodes).
_SINCE_MARGIN = timedelta(minutes=1)


class Heartbeat:
    """Yielded by a feed after `heartbeat_interval` seconds without an event."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "HEARTBEAT"


HEARTBEAT: Final = Heartbeat()


class FeedDropped(Exception):
    """The client fell behind and its feed ended; it resumes after `resume_after`,
    the id through which the stream was complete for this client."""

    def __init__(self, resume_after: int) -> None:
        super().__init__("client fell behind and was dropped")
        self.resume_after = resume_after


def delivered_to_inbox(event: Event) -> bool:
    """A `message.received` of the INBOX (mail that arrived), not an IMAP COPY or
    APPEND into another folder (`Event.delivered_to_inbox`)."""
    return event.delivered_to_inbox


class LiveClosed(Exception):
    """The server is shutting down: live streams and waits end."""


class _Reader:
    """Reads a subscription with a timeout, without cancelling its iterator.

    Cancelling `anext()` of an async generator would close the generator, so the
    pending read is kept in a task across heartbeat timeouts.
    """

    def __init__(self, live: LiveService, mailboxes: frozenset[str] | None) -> None:
        self._live = live
        self.subscription = live.subscribe(mailboxes)
        self._events = aiter(self.subscription)
        self._pending: asyncio.Future[Event] | None = None

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None when `timeout` seconds passed without one.

        Raises SubscriberDropped (from the bus) and StopAsyncIteration (closed).
        """
        if self._pending is None:
            self._pending = asyncio.ensure_future(anext(self._events))
        done, _ = await asyncio.wait({self._pending}, timeout=timeout)
        if not done:
            return None
        pending, self._pending = self._pending, None
        return pending.result()

    def close(self) -> None:
        self._live.unsubscribe(self.subscription)
        if self._pending is not None:
            self._pending.add_done_callback(_retrieve)
            self._pending.cancel()
            self._pending = None


def _retrieve(future: asyncio.Future[Event]) -> None:
    """Mark an abandoned read's outcome as seen (no "exception never retrieved")."""
    if not future.cancelled():
        future.exception()


class EventFeed:
    """One client's stream: the events after `after` of the wanted mailboxes, replayed
    from the event table, then live.

    A live-only stream is the same thing resumed from the newest event at connect
    time, so a client dropped before it saw any event still knows where to resume.
    Iterate it for `Event` and `Heartbeat` items; iteration raises FeedDropped when
    the client fell behind. Always `close()` it (iteration's end does too).
    """

    def __init__(self, live: LiveService, mailboxes: frozenset[str] | None) -> None:
        self._live = live
        self.mailboxes = mailboxes
        self._reader = _Reader(live, mailboxes)  # subscribed before anything is read
        # Highest event id read from the table (or the start point): a live event at
        # or below it was replayed already (event ids become visible in id order).
        self._replayed_up_to = 0
        # The id through which the stream is complete for this client.
        self.position = 0
        self.closed = False

    def start_after(self, after: int) -> None:
        self._replayed_up_to = self.position = after

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._reader.close()

    async def __aiter__(self) -> AsyncIterator[Event | Heartbeat]:
        try:
            async for event in self._replay():
                yield event
            async for item in self._live_items():
                yield item
        finally:
            self.close()

    def _accepts(self, event: Event) -> bool:
        return self.mailboxes is None or event.mailbox in self.mailboxes

    async def _replay(self) -> AsyncIterator[Event]:
        """Every stored event after `after` of the wanted mailboxes, in id order."""
        cursor = self._replayed_up_to
        wanted = sorted(self.mailboxes) if self.mailboxes is not None else None
        while True:
            if self._reader.subscription.dropped:
                # Live events overflowed while we were still replaying. The table has
                # them all and the replay reads on, so a fresh subscription (taken
                # before the next read) is enough.
                self._reader.close()
                self._reader = _Reader(self._live, self.mailboxes)
            page = await self._live.store.events_after(cursor, REPLAY_PAGE, mailboxes=wanted)
            for event in page:
                cursor = self._replayed_up_to = event.id
                visible = self._accepts(event) and await self._live.visible(event)
                self.position = event.id
                if visible:
                    yield event
            if len(page) < REPLAY_PAGE and not self._reader.subscription.dropped:
                return

    async def _live_items(self) -> AsyncIterator[Event | Heartbeat]:
        while True:
            try:
                event = await self._reader.next(self._live.heartbeat_interval)
            except SubscriberDropped:
                raise FeedDropped(self.position) from None
            except StopAsyncIteration:
                return
            if event is None:
                yield HEARTBEAT
                continue
            if self._reader.subscription.dropped:
                # Stop at once: what is still queued may follow a gap.
                raise FeedDropped(self.position)
            if event.id <= self._replayed_up_to:
                continue  # sent during the replay
            visible = self._accepts(event) and await self._live.visible(event)
            self.position = event.id
            if visible:
                yield event


@dataclass(frozen=True, slots=True)
class WaitQuery:
    """Matchers of a wait: every given one must match (case-insensitive substrings).

    `from_` matches the From header or the envelope sender; `after` is a message
    id (only newer messages); `since` an arrival time (at or after it).
    """

    from_: str | None = None
    subject: str | None = None
    after: str | None = None
    since: datetime | None = None

    def normalised(self) -> WaitQuery:
        since = self.since
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)  # an ISO time without offset is UTC
        return WaitQuery(
            from_=self.from_.casefold() if self.from_ else None,
            subject=self.subject.casefold() if self.subject else None,
            after=self.after.upper() if self.after else None,
            since=since,
        )

    def _text_matches(self, from_header: str, envelope_from: str, subject: str) -> bool:
        if self.from_ is not None and not (
            self.from_ in from_header.casefold() or self.from_ in envelope_from.casefold()
        ):
            return False
        return self.subject is None or self.subject in subject.casefold()

    def matches(self, summary: MessageSummary) -> bool:
        """The authoritative check, on a stored message (call on `normalised()`)."""
        if self.after is not None and summary.id <= self.after:
            return False
        if self.since is not None and summary.received_at < self.since:
            return False
        return self._text_matches(summary.from_, summary.envelope_from, summary.subject)

    def may_match(self, event: Event) -> bool:
        """A cheap pre-check on a `message.received` event before reading the message."""
        if event.message_id is None:
            return False
        if self.after is not None and event.message_id.upper() <= self.after:
            return False
        data = event.data
        return self._text_matches(
            str(data.get("from") or ""),
            str(data.get("envelope_from") or ""),
            str(data.get("subject") or ""),
        )


class LiveService:
    """Opens event feeds and runs waits, each behind the one access check."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        mailboxes: MailboxService,
        *,
        authorizer: Authorizer,
        heartbeat_interval: float = 15.0,
        queue_size: int = 1000,
    ) -> None:
        self.store = store
        self._bus = bus
        self._mailboxes = mailboxes
        self._authorizer = authorizer
        self.heartbeat_interval = heartbeat_interval
        self.queue_size = queue_size
        self._subscriptions: set[EventSubscription] = set()
        self.closed = False

    def subscribe(self, mailboxes: Collection[str] | None = None) -> EventSubscription:
        """A bus subscription for every mailbox, or only for `mailboxes`."""
        subscription = self._bus.subscribe(max_queue=self.queue_size, mailboxes=mailboxes)
        if self.closed:
            subscription.close()  # shutting down: a stream opened now ends at once
        else:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: EventSubscription) -> None:
        subscription.close()
        self._subscriptions.discard(subscription)

    @property
    def open_subscriptions(self) -> int:
        """Live feeds and waits in progress."""
        return len(self._subscriptions)

    def close(self) -> None:
        """End every feed (their iteration stops) and every wait (LiveClosed).

        Called at shutdown so the HTTP server need not wait for streaming clients.
        """
        self.closed = True
        for subscription in list(self._subscriptions):
            self.unsubscribe(subscription)

    def address(self, raw: str) -> str:
        """Normalise an address as every other route does (raises AddressError)."""
        return self._mailboxes.address(raw)

    async def _authorize_read(self, principal: Principal, address: str) -> None:
        await self._authorizer.check(principal, Action.READ, await self.store.get_mailbox(address))

    async def open_feed(
        self, principal: Principal, raw_mailboxes: Sequence[str], *, after: int | None
    ) -> EventFeed:
        """Authorize and subscribe; the feed replays from `after` when given.

        Without mailboxes the feed carries every mailbox (a global read). Raises
        AccessDenied or AddressError before anything is subscribed.
        """
        if raw_mailboxes:
            addresses = frozenset(self.address(raw) for raw in raw_mailboxes)
            for address in sorted(addresses):
                await self._authorize_read(principal, address)
            wanted: frozenset[str] | None = addresses
        else:
            self._authorizer.check_global(principal, Action.READ)
            wanted = None
        feed = EventFeed(self, wanted)
        try:
            feed.start_after(after if after is not None else await self.store.last_event_id())
        except BaseException:
            feed.close()
            raise
        return feed

    async def visible(self, event: Event) -> bool:
        """False for the arrival of mail hidden by a sender ban (SPEC: every reader).

        The arrival event carries the envelope sender; events written before it did
        are checked against the stored message.
        """
        if event.type is not EventType.MESSAGE_RECEIVED:
            return True
        sender = event.data.get("envelope_from")
        if isinstance(sender, str):
            return not self._mailboxes.is_hidden(sender)
        if event.message_id is None:
            return True
        detail = await self.store.get_message(event.message_id)
        return detail is None or not self._mailboxes.is_hidden(detail.summary.envelope_from)

    # -- wait for a message ---------------------------------------------------
    async def wait_for_message(
        self, principal: Principal, raw_address: str, query: WaitQuery, *, timeout: float
    ) -> MessageDetail | None:
        """The earliest message of the mailbox matching `query`, stored already or
        arriving within `timeout` seconds; None when none came.

        Event-driven: subscribe, look in the store, then wait on arrival events.
        """
        if not 0 <= timeout <= MAX_WAIT_SECONDS:
            raise ValueError(f"timeout must be between 0 and {MAX_WAIT_SECONDS:g} seconds")
        address = self.address(raw_address)
        await self._authorize_read(principal, address)
        query = query.normalised()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.closed:
                raise LiveClosed("the server is shutting down")
            subscription = self.subscribe((address,))
            try:
                stored = await self._earliest_stored(principal, address, query)
                if stored is not None:
                    return stored
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                try:
                    async with asyncio.timeout(remaining):
                        return await self._next_arrival(principal, address, query, subscription)
                except TimeoutError:
                    return None
                except SubscriberDropped:
                    # Too much traffic meanwhile: subscribe again and look in the store again.
                    log.debug("wait subscription dropped; resubscribing")
                    continue
            finally:
                self.unsubscribe(subscription)

    async def _earliest_stored(
        self, principal: Principal, address: str, query: WaitQuery
    ) -> MessageDetail | None:
        """The oldest stored match (listings run newest first, so keep the last one)."""
        earliest: MessageSummary | None = None
        cursor: str | None = None
        floor = query.since - _SINCE_MARGIN if query.since is not None else None
        while True:
            page = await self._mailboxes.list_messages(
                principal, address, limit=self._mailboxes.page_size_max, cursor=cursor
            )
            cursor = page.next_cursor
            for summary in page.items:
                too_old = (query.after is not None and summary.id <= query.after) or (
                    floor is not None and summary.received_at < floor
                )
                if too_old:
                    cursor = None  # the rest of the listing is older still
                    break
                if query.matches(summary):
                    earliest = summary
            if cursor is None:
                break
        if earliest is None:
            return None
        return await self._detail(principal, earliest.id, query)

    async def _next_arrival(
        self,
        principal: Principal,
        address: str,
        query: WaitQuery,
        subscription: EventSubscription,
    ) -> MessageDetail:
        async for event in subscription:
            if subscription.dropped:
                raise SubscriberDropped("fell behind")
            if (
                event.type is EventType.MESSAGE_RECEIVED
                and event.mailbox == address
                and delivered_to_inbox(event)
                and query.may_match(event)
                and await self.visible(event)
            ):
                assert event.message_id is not None
                detail = await self._detail(principal, event.message_id, query)
                if detail is not None:
                    return detail
        raise LiveClosed("the server is shutting down")

    async def _detail(
        self, principal: Principal, message_id: str, query: WaitQuery
    ) -> MessageDetail | None:
        """The full message if it is still there, visible and really matching."""
        with contextlib.suppress(MessageNotFound):
            detail = await self._mailboxes.get_message(principal, message_id)
            if query.matches(detail.summary):
                return detail
        return None
