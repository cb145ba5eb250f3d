"""The IMAP listener: the only asyncio/socket code of IMAP.

`ImapServer` accepts connections (`asyncio.start_server`) up to a cap; each connection
reads bytes into the sans-IO parser, hands the commands to its `ImapSession`, sends
`+ ` continuations for synchronising literals, enforces the idle timeout (30 minutes by
default, RFC 3501 section 5.4; each IDLE re-arms it, RFC 2177), wakes IDLE when the
event bus reports a change, and says `* BYE` on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from ephemail.ports import SubscriberDropped
from ephemail.protocols.imap.ops.base import ClientGone, Step
from ephemail.protocols.imap.proto import responses
from ephemail.protocols.imap.proto.commands import Command
from ephemail.protocols.imap.proto.parser import (
    ContinuationRequest,
    Event,
    IdleDone,
    ImapParser,
    NeedData,
    ParseError,
    ParserLimits,
    RawLine,
)
from ephemail.protocols.imap.session import ImapSession, SessionConfig
from ephemail.services.imap import ImapService

__all__ = ["ImapConfig", "ImapServer"]

log = logging.getLogger("ephemail.protocols.imap")

_READ_SIZE = 64 * 1024


@dataclass(frozen=True, slots=True)
class ImapConfig:
    """What the IMAP listener needs to know (filled from Settings by app.py)."""

    hostname: str = "localhost"
    max_connections: int = 500
    idle_timeout: float = 1800.0
    login_failure_delay: float = 1.0
    max_line: int = 64 * 1024
    max_literal: int = 64 * 1024  # any literal but APPEND's message
    max_append: int = 50 * 1024 * 1024


class _Connection:
    """One client: the read loop, IDLE and the event pump."""

    def __init__(
        self,
        server: ImapServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"
        ip = str(peer[0]) if isinstance(peer, tuple) else "?"
        config = server.config
        self.session = ImapSession(
            server.service,
            SessionConfig(
                hostname=config.hostname,
                login_failure_delay=config.login_failure_delay,
                sleep=asyncio.sleep,
            ),
            self._send,
            self.peer,
            ip=ip,
        )
        self.parser = ImapParser(
            ParserLimits(
                max_line_length=config.max_line,
                max_literal_size=config.max_literal,
                max_append_size=config.max_append,
                max_command_size=config.max_append + config.max_line * 4,
            )
        )
        self._read_task: asyncio.Task[bytes] | None = None
        self._wake = asyncio.Event()
        self._shutdown = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._pumped: object = None
        self._idling = False

    async def _send(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise ClientGone
        self.writer.write(data)
        try:
            # A client that stops reading is as idle as one that stops writing.
            async with asyncio.timeout(self.server.config.idle_timeout):
                await self.writer.drain()
        except (ConnectionError, OSError, TimeoutError) as exc:
            self.writer.transport.abort()
            raise ClientGone from exc

    # -- reading ---------------------------------------------------------------------
    async def _read(self, timeout: float) -> bytes | None:
        """Bytes from the peer; None when the timeout passed or shutdown began (the read
        stays pending for the next call); `ClientGone` on EOF."""
        if self._read_task is None:
            self._read_task = asyncio.ensure_future(self.reader.read(_READ_SIZE))
        shutdown = asyncio.ensure_future(self._shutdown.wait())
        waiters: set[asyncio.Future[Any]] = {self._read_task, shutdown}
        wake: asyncio.Future[Any] | None = None
        if self._idling:
            wake = asyncio.ensure_future(self._wake.wait())
            waiters.add(wake)
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=max(timeout, 0), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            shutdown.cancel()
            if wake is not None:
                wake.cancel()
        if self._read_task in done:
            task, self._read_task = self._read_task, None
            try:
                data = task.result()
            except (ConnectionError, OSError) as exc:
                raise ClientGone from exc
            if not data:
                raise ClientGone
            return data
        return None

    # -- events --------------------------------------------------------------------
    def _ensure_pump(self) -> None:
        subscription = self.session.subscription
        if subscription is self._pumped:
            return
        if self._pump is not None:
            self._pump.cancel()
        self._pumped = subscription
        self._pump = (
            asyncio.create_task(self._run_pump(), name=f"imap-events {self.peer}")
            if subscription is not None
            else None
        )

    async def _run_pump(self) -> None:
        while True:
            subscription = self.session.subscription
            if subscription is None:
                return
            try:
                async for event in subscription:
                    if self.session.note_event(event):
                        self._wake.set()
                return
            except SubscriberDropped:
                log.info("IMAP client %s fell behind the event bus; resynchronising", self.peer)
                self.session.resubscribe()
                self._pumped = self.session.subscription
                self._wake.set()

    # -- the connection -------------------------------------------------------------------
    async def run(self) -> None:
        log.debug("IMAP connection from %s", self.peer)
        try:
            await self._send(self.session.greeting())
            await self._serve()
        except ClientGone:
            pass
        except Exception:
            log.exception("IMAP connection from %s failed", self.peer)
        finally:
            await self._finish()
            log.debug("IMAP connection from %s closed", self.peer)

    async def _finish(self) -> None:
        self.session.close()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._read_task
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()

    async def _bye(self, text: str) -> None:
        with contextlib.suppress(ClientGone):
            await self.session.flush()
            await self._send(self.session.bye(text))

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        timeout = self.server.config.idle_timeout
        deadline = loop.time() + timeout
        while True:
            if self._shutdown.is_set():
                await self._bye("Server shutting down")
                return
            event = self.parser.next_event()
            if isinstance(event, NeedData):
                data = await self._read(deadline - loop.time())
                if data is None:
                    if self._shutdown.is_set():
                        continue
                    await self._bye("Autologout; idle for too long")
                    return
                self.parser.receive_data(data)
                continue
            if isinstance(event, ContinuationRequest):
                await self._send(responses.continuation())
                continue
            if isinstance(event, ParseError):
                if not await self._parse_error(event):
                    return
                continue
            assert isinstance(event, Command)
            step = await self.session.handle(event)
            # The client is idle from the end of our answer, however long the command took.
            deadline = loop.time() + timeout
            self._ensure_pump()
            if step is Step.CLOSE:
                return
            if step is Step.AUTHENTICATE:
                if not await self._authenticate(deadline):
                    return
            elif step is Step.IDLE:
                if not await self._idle(loop.time() + timeout):
                    return
                deadline = loop.time() + timeout
            self._ensure_pump()

    async def _parse_error(self, error: ParseError) -> bool:
        """Answer a protocol error; False when the connection must close."""
        await self.session.flush()
        if error.tag and (error.code or "").startswith("BADCHARSET"):
            # RFC 3501 section 6.4.4: an unsupported SEARCH charset is a NO, not a BAD.
            await self._send(responses.no(error.tag, error.message, error.code))
        else:
            await self._send(responses.bad(error.tag, error.message, error.code))
        if error.fatal:
            log.info("IMAP client %s: closing after protocol error: %s", self.peer, error.message)
            return False
        return True

    async def _next_line_event(self, deadline: float) -> Event | None:
        """The next parser event in a special mode, reading as needed; None on timeout."""
        loop = asyncio.get_running_loop()
        while True:
            event = self.parser.next_event()
            if not isinstance(event, NeedData):
                return event
            data = await self._read(deadline - loop.time())
            if data is None:
                return None
            self.parser.receive_data(data)

    async def _authenticate(self, deadline: float) -> bool:
        self.parser.expect_raw_line()
        event = await self._next_line_event(deadline)
        if event is None:
            shutting_down = self._shutdown.is_set()
            await self._bye(
                "Server shutting down" if shutting_down else "Autologout; idle for too long"
            )
            return False
        if isinstance(event, ParseError):
            self.session.pending_tag = None
            return await self._parse_error(event)
        line = event.data if isinstance(event, RawLine) else b"*"
        await self.session.sasl_response(line)
        return True

    async def _idle(self, deadline: float) -> bool:
        """IDLE until DONE: updates go out as soon as the bus reports them."""
        loop = asyncio.get_running_loop()
        self.parser.expect_idle_done()
        self._idling = True
        try:
            while True:
                event = self.parser.next_event()
                if isinstance(event, NeedData):
                    if self._wake.is_set():
                        self._wake.clear()
                        await self.session.idle_updates()
                        continue
                    data = await self._read(deadline - loop.time())
                    if data is not None:
                        self.parser.receive_data(data)
                        continue
                    if self._wake.is_set():
                        continue
                    if self._shutdown.is_set():
                        await self._bye("Server shutting down")
                        return False
                    await self._bye("Autologout; idle for too long")
                    return False
                if isinstance(event, IdleDone):
                    await self.session.end_idle()
                    return True
                await self.session.end_idle(done=False)
                return not (isinstance(event, ParseError) and event.fatal)
        finally:
            self._idling = False

    def shutdown(self) -> None:
        self._shutdown.set()


class ImapServer:
    """The IMAP listener: `start`, `stop`, `active_connections`."""

    def __init__(self, config: ImapConfig, service: ImapService) -> None:
        self.config = config
        self.service = service
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def active_connections(self) -> int:
        return len(self._connections)

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port; return the bound port (0 = ephemeral)."""
        self._stopping = False
        self._server = await asyncio.start_server(self._accept, host, port, limit=_READ_SIZE)
        bound = int(self._server.sockets[0].getsockname()[1])
        log.info("IMAP listening on %s:%d", host, bound)
        return bound

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stopping or len(self._connections) >= self.config.max_connections:
            with contextlib.suppress(Exception):
                writer.write(b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n")
                await writer.drain()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return
        connection = _Connection(self, reader, writer)
        self._connections.add(connection)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
            if task is not None:
                self._tasks.discard(task)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting; every client gets `* BYE` after its current command."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.shutdown()
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
