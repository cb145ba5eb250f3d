"""LOGIN (RFC 3501 section 6.2.3) and AUTHENTICATE PLAIN (RFC 4616, SASL-IR RFC 4959).

The client only ever learns `NO [AUTHENTICATIONFAILED] Authentication failed`; the exact
reason goes to the server log with the user name masked and never the password. A
failed attempt waits `login_failure_delay` before the reply (slows guessing). After too
many failures from one IP or for one user name (services/ratelimit.py, bucket "login")
the service refuses to try: `NO [UNAVAILABLE]` (RFC 5530 section 3: a temporary
failure, the client may retry later), after the same delay.
"""

from __future__ import annotations

import binascii
import logging
import re
from typing import TYPE_CHECKING

from ephemail.domain.address import mask_address
from ephemail.protocols.imap.ops.base import Reply, State, Step
from ephemail.protocols.imap.proto.commands import Authenticate, Login
from ephemail.services.imap import LoginFailed
from ephemail.services.ratelimit import RateLimited

if TYPE_CHECKING:
    from ephemail.protocols.imap.session import ImapSession

log = logging.getLogger("ephemail.protocols.imap")

_FAILED = Reply.no("Authentication failed", "AUTHENTICATIONFAILED")
_THROTTLED = Reply.no("too many failed logins, try again later", "UNAVAILABLE")


_ADDRESS = re.compile(r"[^\s@:]+@[^\s@:]+")


def _shown(username: str) -> str:
    return mask_address(username) if "@" in username else (username[:1] + "***")


def _masked(reason: object) -> str:
    """The failure reason with every address in it masked (logs show addresses masked)."""
    return _ADDRESS.sub(lambda m: mask_address(m.group(0)), str(reason))


async def _log_in(session: ImapSession, username: str, password: str) -> Reply:
    try:
        login = await session.service.authenticate(username, password, ip=session.ip)
    except RateLimited as exc:
        log.warning("IMAP login refused for %s from %s: %s", _shown(username), session.peer, exc)
        await _failure_delay(session)
        return _THROTTLED
    except LoginFailed as exc:
        log.info(
            "IMAP login failed for %s from %s: %s", _shown(username), session.peer, _masked(exc)
        )
        await _failure_delay(session)
        return _FAILED
    session.login = login
    session.state = State.AUTHENTICATED
    # A mailbox login follows its mailbox at once; an account login follows the
    # mailbox of each folder it selects (ImapSession.watch_mailbox).
    session.watch_mailbox(login.address)
    how = "account" if login.address is None else "mailbox"
    log.info("IMAP %s login of %s from %s", how, mask_address(login.user), session.peer)
    return Reply.ok("Logged in", f"CAPABILITY {session.capabilities}")


async def login(session: ImapSession, command: Login) -> Reply:
    """LOGIN user password."""
    return await _log_in(session, command.username, command.password)


async def authenticate(session: ImapSession, command: Authenticate) -> Reply:
    """AUTHENTICATE PLAIN [initial-response]: without SASL-IR, an empty `+ ` asks for it."""
    if command.mechanism != "PLAIN":
        return Reply.no("Unsupported authentication mechanism")
    if command.initial_response is None:
        session.pending_tag = command.tag
        await session.continuation()
        return Reply.pending(Step.AUTHENTICATE)
    return await _plain(session, command.initial_response)


async def finish_authenticate(session: ImapSession, line: bytes) -> Reply:
    """The base64 line after the continuation; `*` cancels (RFC 3501 section 6.2.2)."""
    text = line.strip()
    if text == b"*":
        return Reply.bad("Authentication cancelled")
    try:
        response = binascii.a2b_base64(text, strict_mode=True) if text not in (b"", b"=") else b""
    except (binascii.Error, ValueError):
        return Reply.bad("Invalid base64 in the SASL response")
    return await _plain(session, response)


async def _plain(session: ImapSession, response: bytes) -> Reply:
    """RFC 4616: [authzid] NUL authcid NUL passwd, UTF-8."""
    parts = response.split(b"\x00")
    if len(parts) != 3:
        return Reply.bad("Malformed PLAIN response")
    try:
        authzid, username, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError:
        return Reply.bad("Malformed PLAIN response")
    if authzid and authzid.lower() != username.lower():
        log.info(
            "IMAP login failed for %s from %s: authorization identity differs",
            _shown(username),
            session.peer,
        )
        await _failure_delay(session)
        return _FAILED
    return await _log_in(session, username, password)


async def _failure_delay(session: ImapSession) -> None:
    """Slow down password guessing: wait before answering a failed login."""
    config = session.config
    if config.login_failure_delay > 0 and config.sleep is not None:
        await config.sleep(config.login_failure_delay)
