"""SMTP receive: aiosmtpd behind ephemail's limits, policy and durable ingest.

The only module that imports aiosmtpd (ARCHITECTURE → Protocol code). Three parts:

- `_Handler`: every decision (connection gate, IP ban, sender and recipient policy, DATA →
  ingest) lives in aiosmtpd's `handle_*` hooks and two connection hooks of our own.
- `_Connection`: ONE small subclass of `aiosmtpd.smtp.SMTP` for what hooks cannot do:
  enhanced status codes on aiosmtpd's own replies (one `push` override), a reply before close
  on timeouts, a session time limit, an error budget, a reply (not a hang) when the gate or an
  IP ban refuses a connection, and a look at DATA lines before aiosmtpd removes the
  transparency dot (SMTP smuggling). docs/decisions/002-smtp-on-aiosmtpd.md explains each.
- `SmtpServer`: runs the protocol with `loop.create_server` in our loop (not aiosmtpd's
  threaded Controller), counts connections, and stops gracefully.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
import re
import time
import types
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, cast

import aiosmtpd.smtp
from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope as AioEnvelope
from aiosmtpd.smtp import Session as AioSession

from ephemail.domain.address import mask_address, normalize_address
from ephemail.domain.messages import Envelope
from ephemail.domain.policy import RecipientVerdict
from ephemail.ports import StoreError
from ephemail.protocols.smtp import replies as rp
from ephemail.services.connections import Admission, ConnectionGate
from ephemail.services.ingest import IngestService, IngestUnavailable
from ephemail.services.ownership import DeliveryVerdict
from ephemail.services.policy import PolicyService

__all__ = ["DeliveryCheck", "SmtpConfig", "SmtpServer"]

# Whether one more message of `size` bytes may be stored at a (normalised) address:
# `OwnershipService.check_delivery` (a private domain's mailboxes, the mailbox's message
# cap, the owning account's quota).
DeliveryCheck = Callable[[str, int], Awaitable[DeliveryVerdict]]

log = logging.getLogger(__name__)


class _IntrospectionCache(types.ModuleType):
    """Stands in for `inspect` inside aiosmtpd.smtp only.

    aiosmtpd's SMTP.__init__ runs `inspect.getmembers(obj)` on the connection and
    the handler (to find `auth_*` methods) and `inspect.signature` on the EHLO hook
    for EVERY connection: about 12 % of the event loop under a new-connection load
    (py-spy, smtp-source -s 20). The members it keeps are those named `auth_*`, and
    which names exist depends only on the class, so we compute the names once per
    class and return the same (name, bound member) pairs; signatures are cached per
    function. Everything else is the real `inspect`.
    """

    def __init__(self) -> None:
        super().__init__("inspect")
        self._auth_names: dict[type, list[str]] = {}
        self._signatures: dict[Any, inspect.Signature] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(inspect, name)

    def getmembers(self, obj: Any) -> list[tuple[str, Any]]:
        names = self._auth_names.get(type(obj))
        if names is None:
            names = [n for n in dir(type(obj)) if n.startswith("auth_")]
            self._auth_names[type(obj)] = names
        return [(n, getattr(obj, n)) for n in names]

    def signature(self, fn: Any) -> inspect.Signature:
        key = getattr(fn, "__func__", fn)
        found = self._signatures.get(key)
        if found is None:
            found = self._signatures[key] = inspect.signature(fn)
        return found


aiosmtpd.smtp.inspect = _IntrospectionCache()  # type: ignore[attr-defined]

# aiosmtpd logs every command line (addresses included) at INFO on this logger, and the
# arguments are formatted even when nobody reads them. Unless the operator configured it
# explicitly, we keep it at WARNING: addresses are only logged masked (SPEC → logging).
_AIOSMTPD_LOGGER = "mail.log"

# A DATA line (as read, transparency dot still there) that puts a lone dot next to a bare CR
# or LF: `\n.\r\n`, `\r\n.\n`, `\n.\n`, `\r.\r\n`, `\r\n.\r` + not `\n` ... Some MTAs end DATA
# on such a line, others (like us) do not; accepting it lets a sender smuggle a second
# message past the first server (SMTP smuggling, CVE-2023-51766 and friends). aiosmtpd reads
# DATA up to each CRLF, so in one line every CR or LF before the final CRLF is bare.
_SMUGGLING = re.compile(rb"\A\.(?:\n|\r(?!\n\Z))|[\r\n]\.[\r\n]")

# `<local@domain> [params]` with a dot-atom local part and an LDH domain (RFC 5321 4.1.2):
# what nearly every client sends. aiosmtpd's parser returns exactly these two groups for it.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_PATH = re.compile(
    rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?:[ \t]+(.*))?\Z", re.DOTALL
)

# Commands aiosmtpd implements that we do not offer yet; they must not be half-available.
_NOT_OFFERED = ("AUTH", "STARTTLS")

_RECIPIENT_REPLIES: Mapping[RecipientVerdict, bytes] = {
    RecipientVerdict.DOMAIN_NOT_ALLOWED: rp.DOMAIN_NOT_ALLOWED,
    RecipientVerdict.DOMAIN_BANNED: rp.DOMAIN_BANNED,
    RecipientVerdict.ADDRESS_BANNED: rp.ADDRESS_BANNED,
}

_DELIVERY_REPLIES: Mapping[DeliveryVerdict, bytes] = {
    DeliveryVerdict.MAILBOX_FULL: rp.MAILBOX_FULL,
    DeliveryVerdict.OVER_QUOTA: rp.OVER_QUOTA,
    DeliveryVerdict.NO_SUCH_MAILBOX: rp.NO_SUCH_MAILBOX,
}

_HELO_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """What the SMTP listener needs to know (filled from Settings by app.py)."""

    hostname: str
    banner: str = "ephemail"
    default_domain: str = "localhost"
    max_message_size: int = 25 * 1024 * 1024
    max_recipients: int = 100
    idle_timeout: float = 300
    session_timeout: float = 1800
    error_budget: int = 10


def _clean_helo(name: str) -> str:
    """The HELO/EHLO argument as it may appear in a Received header (no spaces, no parens)."""
    name = name[:255]
    if all(c in _HELO_SAFE for c in name):
        return name
    return "".join(c if c in _HELO_SAFE else "?" for c in name)


def _ip_literal(ip: str) -> str:
    """RFC 5321 4.1.3 address literal content: `1.2.3.4` or `IPv6:::1`."""
    return f"IPv6:{ip}" if ":" in ip else ip


_date_cache: tuple[int, str] = (0, "")


def _declared_size(mail_options: list[str]) -> int:
    """The RFC 1870 `SIZE=` value given at MAIL FROM (aiosmtpd has checked it is digits
    and uppercased the options), else 0."""
    for option in mail_options:
        if option.startswith("SIZE="):
            value = option[5:]
            return int(value) if value.isdigit() else 0
    return 0


def _rfc5322_now() -> str:
    """RFC 5322 date-time of now in UTC, formatted at most once a second."""
    global _date_cache
    now = time.time()
    second = int(now)
    if _date_cache[0] != second:
        _date_cache = (second, formatdate(now).replace("-0000", "+0000"))
    return _date_cache[1]


class _Handler:
    """ephemail's SMTP decisions, as aiosmtpd handler hooks (plus connect/disconnect)."""

    def __init__(
        self,
        config: SmtpConfig,
        gate: ConnectionGate,
        policy: PolicyService,
        ingest: IngestService,
        quota: DeliveryCheck | None = None,
    ) -> None:
        self._gate = gate
        self._policy = policy
        self._ingest = ingest
        self._quota = quota
        self._default_domain = config.default_domain
        self._max_recipients = config.max_recipients
        host = config.hostname
        crlf = rp.CRLF
        self._helo_reply = f"250 {host}".encode() + crlf
        self._ehlo_reply = [
            f"250-{host}".encode() + crlf,
            f"250-SIZE {config.max_message_size}".encode() + crlf,
            b"250-8BITMIME" + crlf,
            b"250-SMTPUTF8" + crlf,
            b"250-PIPELINING" + crlf,
            b"250-ENHANCEDSTATUSCODES" + crlf,
            b"250 HELP" + crlf,
        ]
        self._by = f"\r\n\tby {host} (ephemail) with "
        self._refusals = {
            Admission.SERVER_FULL: rp.closing(
                host, "4.7.0", "Too many connections, try again later"
            ),
            Admission.TOO_MANY_FROM_IP: rp.closing(
                host, "4.7.0", "Too many connections from your address, try again later"
            ),
            Admission.RATE_LIMITED: rp.closing(
                host, "4.7.0", "Connection rate limit exceeded, try again later"
            ),
        }

    # -- connection (called by _Connection; aiosmtpd has no hook for these) ----------------
    def connect(self, ip: str) -> bytes | None:
        """Admit a new connection (None) or return the reply to send before closing it."""
        admission = self._gate.admit(ip)
        if admission is not Admission.OK:
            log.info("refused connection from %s: %s", ip, admission.value)
            return self._refusals.get(admission, self._refusals[Admission.SERVER_FULL])
        if self._policy.snapshot.check_ip(ip):
            self._gate.release(ip)
            log.info("refused connection from %s: address banned", ip)
            return rp.CLIENT_BANNED
        return None

    def disconnect(self, ip: str) -> None:
        """Called exactly once for every connection `connect` admitted."""
        self._gate.release(ip)

    # -- aiosmtpd hooks ---------------------------------------------------------------------
    async def handle_HELO(  # noqa: N802 (aiosmtpd's hook name)
        self, server: _Connection, session: AioSession, envelope: AioEnvelope, hostname: str
    ) -> bytes:
        session.host_name = hostname
        server.helo = _clean_helo(hostname)
        return self._helo_reply

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: _Connection,
        session: AioSession,
        envelope: AioEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[bytes]:
        # Replace aiosmtpd's list: it would advertise neither PIPELINING nor
        # ENHANCEDSTATUSCODES, both of which we implement.
        session.host_name = hostname
        server.helo = _clean_helo(hostname)
        return self._ehlo_reply

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: _Connection,
        session: AioSession,
        envelope: AioEnvelope,
        address: str,
        mail_options: list[str],
    ) -> bytes:
        if address == "<>":  # null reverse-path: bounces must be receivable
            envelope.mail_from = address
        else:
            try:
                sender = normalize_address(address)
            except ValueError:  # AddressError, or a codec error on hostile input
                return rp.BAD_SENDER_SYNTAX
            # Already normalised: ask the ban index directly (sender_decision would
            # normalise a second time). Covers sender, legacy email and sender_domain bans.
            ban = self._policy.snapshot.bans.sender_ban(sender)
            if ban is not None:
                log.info(
                    "rejected sender %s from %s: ban %s",
                    mask_address(sender),
                    server.client_ip,
                    ban.id,
                )
                return rp.SENDER_BANNED
            envelope.mail_from = sender
        envelope.mail_options.extend(mail_options)
        return rp.MAIL_OK

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: _Connection,
        session: AioSession,
        envelope: AioEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> bytes:
        try:
            recipient = normalize_address(address, self._default_domain)
        except ValueError:
            return rp.BAD_RECIPIENT_SYNTAX
        recipients = envelope.rcpt_tos
        if recipient in recipients:  # the same mailbox twice: accepted, stored once
            return rp.RCPT_OK
        verdict, ban = self._policy.snapshot.recipient_decision(recipient)
        if verdict is not RecipientVerdict.ACCEPT:
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "rejected recipient %s from %s: %s%s",
                    mask_address(recipient),
                    server.client_ip,
                    verdict.value,
                    f" (ban {ban.id})" if ban is not None else "",
                )
            return _RECIPIENT_REPLIES.get(verdict, rp.DOMAIN_NOT_ALLOWED)
        if len(recipients) >= self._max_recipients:
            return rp.TOO_MANY_RECIPIENTS
        if self._quota is not None:
            # A private domain has only its owner's mailboxes: any other address there is
            # `550 5.1.1` (RFC 3463). RFC 5321 4.5.3.1.10 / RFC 3463 X.2.2: a full
            # mailbox refuses this recipient only (452: temporary, the sender retries it
            # later); the others go on. The
            # size is what MAIL FROM announced (RFC 1870), else 0: "is it full already".
            refusal = await self._quota_refusal(
                server, "RCPT", recipient, _declared_size(envelope.mail_options)
            )
            if refusal is not None:
                return refusal
        recipients.append(recipient)
        envelope.rcpt_options.extend(rcpt_options)
        return rp.RCPT_OK

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: _Connection, session: AioSession, envelope: AioEnvelope
    ) -> bytes:
        if server.smuggled:
            log.warning("rejected message from %s: bare CR/LF next to a dot", server.client_ip)
            return rp.SMUGGLING
        content = envelope.original_content
        assert isinstance(content, bytes)
        mail_from = envelope.mail_from
        if mail_from is None or mail_from == "<>":
            mail_from = ""
        if envelope.smtp_utf8:
            protocol = "UTF8SMTP"
        elif session.extended_smtp:
            protocol = "ESMTP"
        else:
            protocol = "SMTP"
        # RFC 5321 4.4 trace header; no reverse DNS (never on the hot path), hence `unknown`.
        trace = (
            f"Received: from {server.helo} (unknown [{server.ip_literal}])"
            f"{self._by}{protocol}; {_rfc5322_now()}\r\n"
        )
        raw = trace.encode("utf-8", "replace") + content
        recipients = tuple(envelope.rcpt_tos)
        if self._quota is not None:
            # Re-check every accepted recipient with the real size. When one of them would
            # go over its cap or quota, the WHOLE transaction gets the 452 and nothing is
            # stored: DATA has a single reply for every recipient (RFC 5321 3.3), storing
            # for some while answering 4xx would deliver those twice on the retry, and
            # answering 250 while dropping one would lose mail silently. The sender keeps
            # the message and retries (or bounces it after its own queue lifetime).
            # The check is not a reservation: concurrent transactions may overshoot a
            # quota by at most the messages that were in flight together.
            for recipient in recipients:
                refusal = await self._quota_refusal(server, "DATA", recipient, len(raw))
                if refusal is not None:
                    return refusal
        server.committing = True
        try:
            result = await self._ingest.deliver(
                Envelope(mail_from, recipients, server.client_ip, server.helo), raw
            )
        except IngestUnavailable as exc:
            log.warning("message from %s not stored: %s", server.client_ip, exc)
            return rp.STORAGE_UNAVAILABLE
        except Exception:
            log.exception("message from %s not stored", server.client_ip)
            return rp.LOCAL_ERROR
        finally:
            server.committing = False
        if log.isEnabledFor(logging.INFO):
            log.info(
                "queued %s from %s (%s) for %d recipient(s), %d bytes",
                result.queue_id,
                mask_address(mail_from),
                server.client_ip,
                len(recipients),
                len(raw),
            )
        return rp.QUEUED_PREFIX + result.queue_id.encode("ascii") + rp.CRLF

    async def _quota_refusal(
        self, server: _Connection, stage: str, recipient: str, size: int
    ) -> bytes | None:
        """The 452 for `recipient` (451 when the quota could not be checked), or None
        when a message of `size` bytes fits. Fails closed: a temporary answer, never
        mail stored past a quota."""
        assert self._quota is not None
        try:
            verdict = await self._quota(recipient, size)
        except StoreError as exc:
            log.warning("%s: quota of %s not checked: %s", stage, mask_address(recipient), exc)
            return rp.STORAGE_UNAVAILABLE
        except Exception:
            log.exception("%s: quota of %s not checked", stage, mask_address(recipient))
            return rp.LOCAL_ERROR
        if verdict is DeliveryVerdict.OK:
            return None
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s refused for %s from %s: %s (%d bytes)",
                stage,
                mask_address(recipient),
                server.client_ip,
                verdict.value,
                size,
            )
        return _DELIVERY_REPLIES.get(verdict, rp.OVER_QUOTA)

    async def handle_exception(self, error: Exception) -> bytes:
        log.error("SMTP command failed: %s", type(error).__name__, exc_info=error)
        return rp.LOCAL_ERROR


class _CommandTable(dict[str, Any]):
    """aiosmtpd's command dispatch table, with two changes.

    aiosmtpd looks commands up with `.get(command)`; we remember the command (some of its
    reply texts mean different things for MAIL and RCPT) and answer unknown commands
    ourselves: aiosmtpd would close the connection after 5 of them with a 502, which is not
    our error budget and has no 421.
    """

    __slots__ = ("_connection",)

    def __init__(self, methods: Mapping[str, Any], connection: _Connection) -> None:
        super().__init__(methods)
        self._connection = connection

    def get(self, key: str, default: Any = None) -> Any:
        connection = self._connection
        connection.command = key
        method = dict.get(self, key)
        return connection.unknown_command if method is None else method


class _Connection(SMTP):
    """One SMTP connection: aiosmtpd's state machine plus the fixes hooks cannot make."""

    def __init__(self, server: SmtpServer, **kwargs: Any) -> None:
        # aiosmtpd keeps `command_size_limits` on the class and grows it on every EHLO of
        # every connection; give each connection its own.
        self.command_size_limits = collections.defaultdict(_command_size_limit)
        self._server = server
        self._replies = server.replies
        self._data_go = server.data_go
        self.command = ""
        self.client_ip = ""
        self.ip_literal = ""
        self.helo = ""
        self.smuggled = False
        self.committing = False
        self._admitted = False
        self._in_data = False
        self._shut = False
        self._close_after_data: bytes | None = None
        self._overtime = False
        self._budget = server.config.error_budget
        self._last_activity = 0.0
        self._session_timer: asyncio.TimerHandle | None = None
        self._raw_readuntil: Callable[[bytes], Awaitable[bytes]] | None = None
        super().__init__(server.handler, **kwargs)
        methods = {k: v for k, v in self._smtp_methods.items() if k not in _NOT_OFFERED}
        self._smtp_methods = _CommandTable(methods, self)

    # -- connection lifecycle -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is not None:  # STARTTLS re-entry: aiosmtpd's business
            super().connection_made(transport)
            return
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self.client_ip = ip
        refusal = self._server.admit(self, ip)
        if refusal is not None:
            # Refused before aiosmtpd saw the connection: a real reply, then close.
            cast(asyncio.WriteTransport, transport).write(refusal)
            transport.close()
            return
        self._admitted = True
        self.ip_literal = _ip_literal(ip)
        self._last_activity = self.loop.time()
        super().connection_made(transport)
        self._session_timer = self.loop.call_later(
            self._server.config.session_timeout, self._session_expired
        )

    def connection_lost(self, error: Exception | None) -> None:
        if not self._admitted:  # refused in connection_made, or already lost
            return
        self._admitted = False
        self._shut = True
        try:
            super().connection_lost(error)
        finally:
            if self._session_timer is not None:
                self._session_timer.cancel()
                self._session_timer = None
            self._server.forget(self)

    def data_received(self, data: bytes) -> None:
        self._last_activity = self.loop.time()
        super().data_received(data)

    def _cb_client_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        super()._cb_client_connected(reader, writer)
        # See the DATA lines as they come off the wire (aiosmtpd removes the transparency
        # dot before any hook could look): shadow this reader's readuntil.
        self._raw_readuntil = reader.readuntil
        reader.readuntil = self._readuntil  # type: ignore[method-assign,assignment]

    async def _readuntil(self, separator: bytes = b"\n") -> bytes:
        assert self._raw_readuntil is not None
        line = await self._raw_readuntil(separator)
        # aiosmtpd reads DATA with separator CRLF and commands with LF.
        if separator == b"\r\n" and not self.smuggled:
            n = len(line)
            if (line.find(b"\n") != n - 1 or line.find(b"\r") != n - 2) and _SMUGGLING.search(line):
                self.smuggled = True
        return line

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd parses every MAIL/RCPT path with the stdlib's RFC 5322 header parser
        # (and defines a typing.Protocol class on each call): ~120 µs a call, the biggest
        # single cost of a small message. The common `<dot-atom@domain>` form gives the same
        # result with one precompiled match; anything else still goes to aiosmtpd.
        if arg.startswith("<>"):
            return "<>", arg[2:]
        simple = _SIMPLE_PATH.match(arg)
        if simple is not None:
            return simple.group(1), simple.group(2) or ""
        # The parser raises IndexError (and worse) on some broken input, e.g. `<a@b` with no
        # `>`; aiosmtpd only catches HeaderParseError, which would turn a syntax error into a
        # 451. Malformed is malformed: aiosmtpd then answers 553.
        try:
            address, rest = super()._getaddr(arg)
        except Exception:
            return None, None
        return address, rest

    # -- replies ----------------------------------------------------------------------------
    async def push(self, status: str | bytes) -> None:
        """Write one reply line; the one place every reply passes through.

        Our hooks return final wire bytes. aiosmtpd's own texts are looked up in the reply
        table (enhanced status code added, error budget spent where due).
        """
        if self._shut:
            # The connection is closing: stop working through pipelined input.
            raise asyncio.CancelledError
        if isinstance(status, bytes):
            reply = None
            wire = status
            spends = False
        else:
            reply = self._replies.get(status)
            if reply is None:
                reply = self._rewrite(status)
            wire, spends = reply
        self._writer.write(wire)
        if reply is self._data_go:
            self._in_data = True
            self.smuggled = False
        elif self._in_data:  # the final reply to DATA
            self._in_data = False
            if self._close_after_data is not None:
                self._close(self._close_after_data)
                return
        if spends:
            self._budget -= 1
            if self._budget <= 0:
                log.info("closing connection from %s: error budget spent", self.client_ip)
                self._close(self._server.errors_reply)
                return
        await self._writer.drain()

    def _rewrite(self, status: str) -> rp.Reply:
        """Replies outside the table: context-dependent texts and anything unexpected."""
        if status == rp.MALFORMED_ADDRESS:
            if self.command == "MAIL":
                return rp.Reply(rp.BAD_SENDER_SYNTAX, False)
            return rp.Reply(rp.BAD_RECIPIENT_SYNTAX, False)
        if status == rp.NEED_RCPT:
            envelope = self.envelope
            if envelope is not None and envelope.mail_from:
                # MAIL was accepted but every RCPT was refused: not a client error.
                return rp.Reply(rp.NO_VALID_RECIPIENTS, False)
            return rp.NEED_RCPT_REPLY
        if status.startswith(rp.HELP_PREFIXES) or status.startswith(rp.HELP_UNKNOWN_PREFIX):
            return rp.Reply(f"214 2.0.0 {status[4:]}".encode() + rp.CRLF, False)
        if status.startswith(rp.VRFY_FAILED_PREFIX):
            return rp.VRFY_SYNTAX
        log.debug("aiosmtpd reply without a mapping: %.3s", status)
        return rp.with_enhanced_code(status)

    async def unknown_command(self, arg: str | None) -> None:
        await self.push(rp.UNKNOWN_COMMAND)

    # -- closing ----------------------------------------------------------------------------
    def _close(self, reply: bytes) -> None:
        """Send a last reply (a 421) and close; stop processing whatever is buffered."""
        if self._shut:
            return
        self._shut = True
        transport = cast("asyncio.Transport | None", self.transport)
        if transport is not None and not transport.is_closing():
            transport.write(reply)
            transport.close()
        task = self._handler_coroutine
        if task is not None and not task.done():
            task.cancel()

    def abort(self) -> None:
        self._shut = True
        transport = cast("asyncio.Transport | None", self.transport)
        if transport is not None:
            transport.abort()

    def shutdown(self, reply: bytes) -> None:
        """Server stop: close now, unless a transaction is in DATA (then after its reply)."""
        if self._in_data or self.committing:
            self._close_after_data = reply
        else:
            self._close(reply)

    def force_close(self, reply: bytes) -> None:
        self._close(reply)

    def in_transaction(self) -> bool:
        return self._in_data or self.committing

    def _reset_timeout(self, duration: float | None = None) -> None:
        # aiosmtpd re-arms a timer after every command; we keep one timer and look at the
        # time of the last bytes received when it fires (cheaper, and a long DATA transfer
        # that keeps sending is not idle).
        if duration is None and self._timeout_handle is not None:
            return
        super()._reset_timeout(duration)

    def _timeout_cb(self) -> None:
        if self._shut:
            return
        timeout = self._timeout_duration
        if self.committing:  # never cut a transaction that is being stored
            super()._reset_timeout(timeout)
            return
        left = timeout - (self.loop.time() - self._last_activity)
        if left > 0:
            super()._reset_timeout(left)
            return
        log.info("closing connection from %s: idle timeout", self.client_ip)
        self._close(self._server.idle_reply)

    def _session_expired(self) -> None:
        self._session_timer = None
        if self._shut:
            return
        reply = self._server.session_reply
        if self.committing or (self._in_data and not self._overtime):
            # Let the transaction in DATA finish (its reply first, then the 421); a client
            # that keeps streaming gets one idle period more, a commit as long as it takes.
            self._overtime = True
            self._close_after_data = reply
            self._session_timer = self.loop.call_later(
                self._server.config.idle_timeout, self._session_expired
            )
            return
        log.info("closing connection from %s: session time limit", self.client_ip)
        self._close(reply)


def _command_size_limit() -> int:
    return int(SMTP.command_size_limit)


class SmtpServer:
    """The SMTP listener: `start`, `stop`, `active_connections`."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        gate: ConnectionGate,
        policy: PolicyService,
        ingest: IngestService,
        quota: DeliveryCheck | None = None,
    ) -> None:
        self.config = config
        self.handler = _Handler(config, gate, policy, ingest, quota)
        host = config.hostname
        ident = f"ESMTP {config.banner}"
        self.replies = rp.aiosmtpd_replies(f"220 {host} {ident}")
        self.data_go = self.replies["354 End data with <CR><LF>.<CR><LF>"]
        self.idle_reply = rp.closing(host, "4.4.2", "Idle timeout")
        self.session_reply = rp.closing(host, "4.4.2", "Session time limit exceeded")
        self.errors_reply = rp.closing(host, "4.7.0", "Too many errors, closing connection")
        self.shutdown_reply = rp.closing(host, "4.3.2", "Service shutting down")
        self._options: dict[str, Any] = {
            "hostname": host,  # explicit: otherwise aiosmtpd does a DNS lookup per connection
            "ident": ident,
            "data_size_limit": config.max_message_size,
            "enable_SMTPUTF8": True,
            "decode_data": False,
            "timeout": config.idle_timeout,
        }
        self._connections: set[_Connection] = set()
        self._all_closed: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._stopping = False
        aiosmtpd_log = logging.getLogger(_AIOSMTPD_LOGGER)
        if aiosmtpd_log.level == logging.NOTSET:
            aiosmtpd_log.setLevel(logging.WARNING)

    @property
    def active_connections(self) -> int:
        return len(self._connections)

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port in the running loop; return the bound port (0 = ephemeral)."""
        loop = asyncio.get_running_loop()
        self._options["loop"] = loop
        self._all_closed = asyncio.Event()
        self._all_closed.set()
        self._stopping = False
        options = self._options

        def factory() -> _Connection:
            return _Connection(self, **options)

        self._server = await loop.create_server(factory, host, port)
        bound = int(self._server.sockets[0].getsockname()[1])
        log.info("SMTP listening on %s:%d", host, bound)
        return bound

    async def stop(self, grace: float) -> None:
        """Stop accepting; let transactions in DATA finish for up to `grace` s; close all."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.shutdown(self.shutdown_reply)
        await self._wait_closed(grace)
        for connection in list(self._connections):
            if connection.in_transaction():
                log.warning("closing connection from %s in DATA at shutdown", connection.client_ip)
            connection.force_close(self.shutdown_reply)
        await self._wait_closed(1.0)
        for connection in list(self._connections):  # peers that do not read what we write
            connection.abort()
        await self._wait_closed(1.0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _wait_closed(self, seconds: float) -> None:
        if not self._connections or self._all_closed is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_closed.wait(), seconds)

    # -- called by _Connection --------------------------------------------------------------
    def admit(self, connection: _Connection, ip: str) -> bytes | None:
        if self._stopping:
            return self.shutdown_reply
        refusal = self.handler.connect(ip)
        if refusal is None:
            self._connections.add(connection)
            if self._all_closed is not None:
                self._all_closed.clear()
        return refusal

    def forget(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        self.handler.disconnect(connection.client_ip)
        if not self._connections and self._all_closed is not None:
            self._all_closed.set()
