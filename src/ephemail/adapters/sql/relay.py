"""Events across nodes on one PostgreSQL: LISTEN/NOTIFY carrying event ids only.

Every node keeps a dedicated asyncpg connection that LISTENs on one channel. After a
node publishes events it committed, it sends `NOTIFY <channel>, '<highest id>'`; the
other nodes then read the event table after their watermark and publish what they
have not published yet on their own bus (adapters/events/relayed.py keeps the
exactly-once, id-order rule). Notifications only say "look now": a slow safety poll
and a catch-up after every reconnect make delivery independent of them, so a lost
NOTIFY (a node crashed between commit and notify, the listener was down) costs at
most one poll interval. Payloads carry no mail data (ARCHITECTURE: "ids only").

SQLite is one node: no relay there (`event_relay_for` returns None).
docs/decisions/005-events-across-nodes.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]  # no stubs shipped

from ephemail.adapters.events.relayed import EventSource, RelayedEventBus
from ephemail.adapters.sql.engine import parse_url

__all__ = ["CHANNEL", "PostgresEventRelay", "event_relay_for"]

log = logging.getLogger(__name__)

CHANNEL: Final = "ephemail_events"
# How often the listener looks whether its connection was closed under it (a local check).
_CLOSED_CHECK_INTERVAL: Final = 0.2
# Errors of a dead or unreachable connection (asyncpg wraps socket errors only partly).
# InternalClientError ("another operation is in progress") means the protocol state is
# broken, e.g. after an operation timed out while the server went away: the connection
# is terminated and the listener reconnects.
_CONNECTION_ERRORS: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def _describe(exc: BaseException) -> str:
    """An error for the log: its type and first line (asyncpg messages hold no password)."""
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class PostgresEventRelay:
    """Feeds `bus` (this node's bus) with the events other nodes commit, and tells
    the other nodes about the events this node publishes.

    Three tasks: the listener (connect, LISTEN, watch the connection, reconnect with
    backoff), the catch-up loop (on a notification, a local hole, a reconnect, or
    every `poll_interval` seconds) and the notifier (coalesces local publishes into
    one NOTIFY at a time, over the listener's connection).
    """

    def __init__(
        self,
        source: EventSource,
        dsn: str,
        *,
        channel: str = CHANNEL,
        poll_interval: float = 1.0,
        health_interval: float = 10.0,
        connect_timeout: float = 10.0,
        reconnect_initial: float = 0.1,
        reconnect_max: float = 10.0,
    ) -> None:
        self.bus = RelayedEventBus(source)
        self._dsn = dsn
        self._channel = channel
        self._poll_interval = poll_interval
        self._health_interval = health_interval
        self._connect_timeout = connect_timeout
        self._reconnect_initial = reconnect_initial
        self._reconnect_max = reconnect_max
        self._conn: Any = None  # asyncpg.Connection while listening
        self._conn_lock = asyncio.Lock()  # one operation at a time on the connection
        self._listening = asyncio.Event()
        self._notify_wanted = asyncio.Event()
        self._notify_up_to = 0
        self._notified_up_to = 0
        self._tasks: list[asyncio.Task[None]] = []
        # Counters for tests and diagnostics.
        self.connections = 0  # successful LISTEN connections (1 + reconnects)
        self.notifications = 0  # notifications received from other nodes
        self.bus.on_local_publish(self._local_published)

    # -- lifecycle --------------------------------------------------------------
    async def start(self, *, wait_listening: float = 5.0) -> None:
        """Take the watermark, start the tasks, and give the listener up to
        `wait_listening` seconds to connect (it keeps trying in the background)."""
        await self.bus.start()
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="event-relay-listen"),
            asyncio.create_task(self._catch_up_forever(), name="event-relay-catch-up"),
            asyncio.create_task(self._notify_forever(), name="event-relay-notify"),
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_listening):
                await self._listening.wait()

    async def close(self) -> None:
        """Stop the tasks, send the last pending NOTIFY (best effort), disconnect."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        with contextlib.suppress(*_CONNECTION_ERRORS):
            await self._send_notify(timeout=1.0)
        await self._disconnect()

    @property
    def listener_pid(self) -> int | None:
        """The PostgreSQL backend pid of the LISTEN connection (None while down)."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return None
        pid: int = conn.get_server_pid()
        return pid

    # -- listener ---------------------------------------------------------------
    async def _listen_forever(self) -> None:
        delay = self._reconnect_initial
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
            except _CONNECTION_ERRORS as exc:
                log.warning(
                    "event relay: cannot connect to PostgreSQL (%s); retrying in %.1f s",
                    _describe(exc),
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max)
                continue
            conn.add_termination_listener(lambda _conn, ended=lost: ended.set())
            try:
                await conn.add_listener(self._channel, self._notified)
            except _CONNECTION_ERRORS as exc:
                log.warning("event relay: LISTEN failed (%s)", _describe(exc))
                conn.terminate()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max)
                continue
            except BaseException:  # cancelled (shutting down): do not leak the connection
                conn.terminate()
                raise
            self._conn = conn
            self.connections += 1
            delay = self._reconnect_initial
            if self.connections > 1:
                log.info("event relay: listening again on %s", self._channel)
            # Events committed while nobody listened: read them now, not at the next poll.
            self.bus.catch_up_wanted.set()
            self._notify_wanted.set()  # a NOTIFY skipped while down goes out now
            self._listening.set()
            await self._watch(conn, lost)
            self._listening.clear()
            self._conn = None
            if not conn.is_closed():
                conn.terminate()
            log.warning("event relay: LISTEN connection lost; reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)  # a restarting server refuses at first anyway

    async def _watch(self, conn: Any, lost: asyncio.Event) -> None:
        """Return when the connection is gone: reported by asyncpg's termination
        callback or by `is_closed()` (a cheap local check, in case a close path skips
        the callback), or silent to a health query (a half-open TCP connection never
        reports its own death)."""
        loop = asyncio.get_running_loop()
        next_health = loop.time() + self._health_interval
        while not lost.is_set() and not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSED_CHECK_INTERVAL):
                    await lost.wait()
            if lost.is_set() or conn.is_closed() or loop.time() < next_health:
                continue
            try:
                async with self._conn_lock:
                    await conn.fetchval("SELECT 1", timeout=self._connect_timeout)
            except _CONNECTION_ERRORS as exc:
                log.warning("event relay: LISTEN connection unhealthy (%s)", _describe(exc))
                conn.terminate()
                return
            next_health = loop.time() + self._health_interval

    def _notified(self, _conn: Any, pid: int, _channel: str, payload: str) -> None:
        """A node published events up to id `payload`: catch up if that is news."""
        try:
            up_to = int(payload)
        except ValueError:
            log.warning("event relay: ignoring a notification with a malformed payload")
            return
        if up_to > self.bus.watermark:
            self.notifications += 1
            self.bus.catch_up_wanted.set()

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 2.0)
            except (*_CONNECTION_ERRORS, asyncio.CancelledError):
                conn.terminate()

    # -- catch-up -----------------------------------------------------------------
    async def _catch_up_forever(self) -> None:
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await self.bus.catch_up_wanted.wait()
            self.bus.catch_up_wanted.clear()
            try:
                await self.bus.catch_up()
                failures = 0
            except Exception as exc:  # the store is unreachable: retry with backoff
                failures += 1
                delay = min(self._reconnect_initial * 2**failures, self._reconnect_max)
                log.warning(
                    "event relay: cannot read new events (%s); retrying in %.1f s",
                    _describe(exc),
                    delay,
                )
                await asyncio.sleep(delay)
                self.bus.catch_up_wanted.set()

    # -- notifier -----------------------------------------------------------------
    def _local_published(self, up_to: int) -> None:
        if up_to > self._notify_up_to:
            self._notify_up_to = up_to
            self._notify_wanted.set()

    async def _notify_forever(self) -> None:
        while True:
            await self._notify_wanted.wait()
            self._notify_wanted.clear()
            try:
                await self._send_notify(timeout=self._connect_timeout)
            except _CONNECTION_ERRORS as exc:
                # The listener notices a dead connection and reconnects; the other
                # nodes find these events at their next poll anyway.
                log.debug("event relay: NOTIFY failed (%s)", _describe(exc))

    async def _send_notify(self, *, timeout: float) -> None:
        """NOTIFY the highest id published locally, unless sent already or offline."""
        up_to = self._notify_up_to
        conn = self._conn
        if up_to <= self._notified_up_to or conn is None or conn.is_closed():
            return
        async with self._conn_lock:
            try:
                await conn.execute(
                    "SELECT pg_notify($1, $2)", self._channel, str(up_to), timeout=timeout
                )
            except (asyncpg.InternalClientError, TimeoutError):
                conn.terminate()  # unusable now: the listener sees it closed and reconnects
                raise
        self._notified_up_to = max(self._notified_up_to, up_to)


def event_relay_for(
    database_url: str, source: EventSource, *, poll_interval: float = 1.0
) -> PostgresEventRelay | None:
    """The relay for a PostgreSQL store; None for SQLite (a single node)."""
    url = parse_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresEventRelay(source, dsn, poll_interval=poll_interval)
