"""IDLE (RFC 2177): `+ idling`, then the server sends updates as they happen until DONE."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ephemail.protocols.imap.ops.base import Reply, Step
from ephemail.protocols.imap.proto.commands import Idle

if TYPE_CHECKING:
    from ephemail.protocols.imap.session import ImapSession


async def idle(session: ImapSession, command: Idle) -> Reply:
    # What is already pending goes out right away, then everything as it comes.
    session.pending_tag = command.tag
    await session.continuation("idling")
    await session.idle_updates()
    return Reply.pending(Step.IDLE)
