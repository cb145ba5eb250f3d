"""CAPABILITY, NOOP, CHECK, LOGOUT, STARTTLS, NAMESPACE, ID and ENABLE."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ephemail.mime.imap import imap_string
from ephemail.protocols.imap.ops.base import Reply, State, Step
from ephemail.protocols.imap.proto.commands import (
    Capability,
    Check,
    Enable,
    Id,
    Logout,
    Namespace,
    Noop,
    StartTls,
)

if TYPE_CHECKING:
    from ephemail.protocols.imap.session import ImapSession

log = logging.getLogger("ephemail.protocols.imap")

# RFC 2971 section 3.3: at most 30 pairs, names up to 30 octets, values up to 1024.
_ID_MAX_PAIRS = 30


async def capability(session: ImapSession, command: Capability) -> Reply:
    """RFC 3501 section 6.1.1."""
    await session.untagged(f"CAPABILITY {session.capabilities}")
    return Reply.ok("CAPABILITY completed")


async def noop(session: ImapSession, command: Noop) -> Reply:
    """RFC 3501 section 6.1.2: the pending updates are sent by the session."""
    return Reply.ok("NOOP completed")


async def check(session: ImapSession, command: Check) -> Reply:
    """RFC 3501 section 6.4.1: every change is already durable."""
    return Reply.ok("CHECK completed")


async def logout(session: ImapSession, command: Logout) -> Reply:
    """RFC 3501 section 6.1.3: BYE, then the tagged OK, then the server closes."""
    await session.untagged("BYE Logging out")
    session.close()
    return Reply("OK", "LOGOUT completed", None, Step.CLOSE)


async def starttls(session: ImapSession, command: StartTls) -> Reply:
    """Not advertised: TLS arrives with its own issue."""
    return Reply.no("STARTTLS is not available on this server")


async def namespace(session: ImapSession, command: Namespace) -> Reply:
    """RFC 2342: one personal namespace, no prefix, "/" as the delimiter."""
    await session.untagged('NAMESPACE (("" "/")) NIL NIL')
    return Reply.ok("NAMESPACE completed")


async def id_(session: ImapSession, command: Id) -> Reply:
    """RFC 2971: say who we are; log (a bounded part of) what the client says."""
    if command.parameters:
        shown = ", ".join(
            f"{key[:30]}={(value or '')[:64]}" for key, value in command.parameters[:_ID_MAX_PAIRS]
        )
        log.debug("IMAP client from %s: %s", session.peer, shown)
    await session.emit(
        b"* ID ("
        + imap_string("name")
        + b" "
        + imap_string("ephemail")
        + b" "
        + imap_string("version")
        + b" "
        + imap_string(session.config.version)
        + b")\r\n"
    )
    return Reply.ok("ID completed")


async def enable(session: ImapSession, command: Enable) -> Reply:
    """RFC 5161: nothing we support needs enabling yet, so none is listed."""
    await session.untagged("ENABLED")
    return Reply.ok("ENABLE completed")


__all__ = [
    "State",
    "capability",
    "check",
    "enable",
    "id_",
    "logout",
    "namespace",
    "noop",
    "starttls",
]
