"""One IMAP connection's state machine (RFC 3501 section 3): not authenticated →
authenticated → selected → logout.

No sockets here: the server feeds parsed commands to `handle` and gives the session an
async `send` for its output. The session dispatches each command to its handler in
`ops/`, maps service errors to precise tagged replies, and sends the pending untagged
updates of the selected folder (EXISTS, EXPUNGE, FETCH FLAGS) where RFC 3501 section
7.4.1 allows them. Events from the bus reach `note_event`; the server wakes an IDLE
when it returns True.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from ephemail import __version__
from ephemail.domain.events import Event
from ephemail.ports import EventSubscription, StoreError
from ephemail.protocols.imap.fetch_render import flags_list
from ephemail.protocols.imap.ops import HANDLERS
from ephemail.protocols.imap.ops.base import ClientGone, Reply, State, Step
from ephemail.protocols.imap.proto import responses
from ephemail.protocols.imap.proto.commands import Command, Fetch, Search, Store
from ephemail.protocols.imap.selected import (
    ExistsUpdate,
    ExpungeUpdate,
    FlagsUpdate,
    InvalidSequence,
    RecentUpdate,
    SelectedView,
)
from ephemail.services.access import AccessDenied
from ephemail.services.imap import (
    FolderExists,
    FolderNotAllowed,
    FolderNotFound,
    ImapLogin,
    ImapService,
    MessageTooLarge,
    OverQuota,
)

__all__ = ["ImapSession", "SessionConfig", "Step"]

log = logging.getLogger("ephemail.protocols.imap")

Send = Callable[[bytes], Awaitable[None]]

# RFC 3501 section 7.4.1: no EXPUNGE while answering these.
_NO_EXPUNGE = (Fetch, Store, Search)
# Commands where a missing folder means "create it first" (RFC 3501 section 7.1, TRYCREATE).
_TRYCREATE = frozenset({"Copy", "Move", "Append"})

_FLUSH_AT = 64 * 1024


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What a session needs to know besides the service."""

    hostname: str = "localhost"
    version: str = __version__
    login_failure_delay: float = 1.0
    # How to wait out `login_failure_delay`: server.py passes asyncio.sleep, so this
    # module stays free of asyncio (the import contracts in pyproject.toml).
    sleep: Callable[[float], Awaitable[None]] | None = None


# Capabilities (only what works). RFC 4959: SASL-IR; RFC 2088/7888: LITERAL+.
_BASE_CAPABILITIES = (
    "IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE"
)
_PRE_AUTH_CAPABILITIES = _BASE_CAPABILITIES + " SASL-IR AUTH=PLAIN"


class ImapSession:
    """The state of one IMAP connection; see the module docstring."""

    def __init__(
        self,
        service: ImapService,
        config: SessionConfig,
        send: Send,
        peer: str = "?",
        *,
        ip: str | None = None,
    ) -> None:
        self.service = service
        self.config = config
        self.peer = peer
        # The client's IP alone: the key failed logins are rate limited by.
        self.ip = ip if ip is not None else (peer.rpartition(":")[0] or peer)
        self._send = send
        self._buffer: list[bytes] = []
        self._buffered = 0
        self.state = State.NOT_AUTHENTICATED
        self.login: ImapLogin | None = None
        self.view: SelectedView | None = None
        self.subscription: EventSubscription | None = None
        self.watched: str | None = None  # the mailbox whose events `subscription` carries
        self.pending_tag: str | None = None  # AUTHENTICATE / IDLE waiting for more input

    # -- output ----------------------------------------------------------------
    async def emit(self, data: bytes) -> None:
        """Queue one response; flush once enough is queued (large FETCH stays bounded)."""
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= _FLUSH_AT:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._buffered = 0
            await self._send(data)

    async def untagged(self, text: str) -> None:
        await self.emit(b"* " + text.encode("utf-8") + b"\r\n")

    async def continuation(self, text: str = "") -> None:
        await self.emit(responses.continuation(text))
        await self.flush()

    async def tagged(self, tag: str, reply: Reply) -> None:
        status: Literal["OK", "NO", "BAD"] = (
            "OK" if reply.status == "OK" else "NO" if reply.status == "NO" else "BAD"
        )
        await self.emit(responses.tagged(tag, status, reply.text, reply.code))

    # -- capabilities ------------------------------------------------------------
    @property
    def capabilities(self) -> str:
        if self.state is State.NOT_AUTHENTICATED:
            return _PRE_AUTH_CAPABILITIES
        return _BASE_CAPABILITIES

    def greeting(self) -> bytes:
        return f"* OK [CAPABILITY {self.capabilities}] ephemail IMAP4rev1 ready\r\n".encode()

    @staticmethod
    def bye(text: str) -> bytes:
        return responses.bye(text)

    # -- events ------------------------------------------------------------------
    def note_event(self, event: Event) -> bool:
        """Record a bus event; True when the client may have something to learn."""
        view = self.view
        if view is None or self.login is None or event.mailbox != view.folder.mailbox:
            return False
        return view.note_event(event)

    def watch_mailbox(self, address: str | None) -> bool:
        """Follow the events of `address` (the mailbox of the folder being selected;
        an account login sees several) instead of the previous one. True when the
        subscription changed. The server starts pumping a new subscription after the
        command; events in between wait in its queue."""
        address = address or None
        if address == self.watched:
            return False
        if self.subscription is not None:
            self.subscription.close()
            self.subscription = None
        self.watched = address
        if address is not None and self.state is not State.LOGOUT:
            self.subscription = self.service.watch(address)
        return True

    def resubscribe(self) -> None:
        """The bus dropped our subscription (we fell behind): subscribe again and
        re-read the selected folder at the next update."""
        if self.subscription is not None:
            self.subscription.close()
            self.subscription = None
        if self.watched is not None and self.state is not State.LOGOUT:
            self.subscription = self.service.watch(self.watched)
        if self.view is not None:
            self.view.note_dropped()

    def close(self) -> None:
        """The connection is gone: release the subscription."""
        self.state = State.LOGOUT
        if self.subscription is not None:
            self.subscription.close()
            self.subscription = None

    # -- commands ------------------------------------------------------------------
    async def handle(self, command: Command) -> Step:
        """Run one command: its responses, pending updates and the tagged reply."""
        reply = await self._run(command)
        if reply.status is not None:
            await self.send_updates(allow_expunge=not isinstance(command, _NO_EXPUNGE))
            await self.tagged(command.tag, reply)
        await self.flush()
        return reply.step

    async def _run(self, command: Command) -> Reply:
        entry = HANDLERS.get(type(command))
        if entry is None:
            return Reply.bad("Command not supported")
        states, handler = entry
        if self.state not in states:
            if State.NOT_AUTHENTICATED in states and self.state is not State.LOGOUT:
                return Reply.bad("Already authenticated")
            return Reply.bad(_state_error(self.state))
        name = type(command).__name__
        try:
            return await handler(self, command)
        except ClientGone:
            raise
        except InvalidSequence as exc:
            return Reply.bad(str(exc))
        except FolderNotFound:
            if name in _TRYCREATE:
                return Reply.no("Folder does not exist", "TRYCREATE")
            return Reply.no("Folder does not exist", "NONEXISTENT")
        except FolderExists:
            return Reply.no("Folder already exists", "ALREADYEXISTS")
        except FolderNotAllowed as exc:
            return Reply.no(str(exc) or "Not allowed", "CANNOT")
        except MessageTooLarge:
            return Reply.no("Message too large", "TOOBIG")
        except OverQuota as exc:
            return Reply.no(str(exc) or "Quota exceeded", "OVERQUOTA")
        except AccessDenied:
            return Reply.no("Access denied")
        except StoreError:
            log.warning("IMAP %s from %s: store unavailable", name.upper(), self.peer)
            return Reply.no("Storage temporarily unavailable, try again", "UNAVAILABLE")
        except ValueError as exc:
            return Reply.bad(str(exc) or "Invalid arguments")
        except Exception:
            log.exception("IMAP %s from %s failed", name.upper(), self.peer)
            return Reply.bad("Internal error")

    async def sasl_response(self, line: bytes) -> Step:
        """The client's answer to AUTHENTICATE's continuation (one base64 line)."""
        from ephemail.protocols.imap.ops.auth import finish_authenticate

        tag = self.pending_tag or "*"
        self.pending_tag = None
        reply = await finish_authenticate(self, line)
        await self.tagged(tag, reply)
        await self.flush()
        return reply.step

    async def idle_updates(self) -> None:
        """In IDLE: send whatever changed, at once (RFC 2177)."""
        await self.send_updates(allow_expunge=True)
        await self.flush()

    async def end_idle(self, *, done: bool = True) -> None:
        """DONE received (or the client sent garbage): complete the IDLE command."""
        tag = self.pending_tag or "*"
        self.pending_tag = None
        await self.send_updates(allow_expunge=True)
        if done:
            await self.tagged(tag, Reply.ok("IDLE terminated"))
        else:
            await self.tagged(tag, Reply.bad("Expected DONE"))
        await self.flush()

    async def send_updates(self, *, allow_expunge: bool) -> None:
        """Refresh the selected folder and send the untagged updates allowed now."""
        view = self.view
        if view is None or self.login is None or not view.has_pending:
            return
        try:
            await view.refresh(self.service, self.login)
        except StoreError:
            log.warning("IMAP update for %s: store unavailable", self.peer)
            return
        except Exception:
            # A failed refresh must not end the session: the marks stay for the next try.
            log.exception("IMAP update for %s failed", self.peer)
            return
        for update in view.take_updates(allow_expunge=allow_expunge):
            if isinstance(update, ExpungeUpdate):
                await self.emit(b"* %d EXPUNGE\r\n" % update.seq)
            elif isinstance(update, ExistsUpdate):
                await self.emit(b"* %d EXISTS\r\n" % update.count)
            elif isinstance(update, RecentUpdate):
                await self.emit(b"* %d RECENT\r\n" % update.count)
            elif isinstance(update, FlagsUpdate):
                await self.emit(
                    b"* %d FETCH (UID %d FLAGS %s)\r\n"
                    % (update.seq, update.uid, flags_list(update.flags, update.recent))
                )

    # -- helpers for handlers ------------------------------------------------------------
    def require_login(self) -> ImapLogin:
        assert self.login is not None, "handler ran before LOGIN"
        return self.login

    def require_view(self) -> SelectedView:
        assert self.view is not None, "handler ran without a selected folder"
        return self.view

    def deselect(self) -> None:
        self.view = None
        if self.state is State.SELECTED:
            self.state = State.AUTHENTICATED


def _state_error(state: State) -> str:
    if state is State.NOT_AUTHENTICATED:
        return "Log in first"
    if state is State.AUTHENTICATED:
        return "No folder selected"
    return "Command not allowed now"
