"""SELECT / EXAMINE (RFC 3501 sections 6.3.1-2), CLOSE (6.4.2) and UNSELECT (RFC 3691)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ephemail.domain.imap import SYSTEM_FLAGS
from ephemail.protocols.imap.fetch_render import flags_list
from ephemail.protocols.imap.ops.base import Reply, State
from ephemail.protocols.imap.proto.commands import Close, Examine, Select, Unselect
from ephemail.protocols.imap.selected import SelectedView

if TYPE_CHECKING:
    from ephemail.protocols.imap.session import ImapSession

_PERMANENT = b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)"


async def _open(session: ImapSession, name: str, *, readonly: bool) -> Reply:
    login = session.require_login()
    # A failed SELECT leaves no folder selected (RFC 3501 section 6.3.1).
    session.deselect()
    # The session follows the folder's mailbox before it is read: nothing is missed.
    selection = await session.service.select(
        login, name, readonly=readonly, before_read=session.watch_mailbox
    )
    view = SelectedView.from_selection(selection, readonly=readonly)
    keywords: set[str] = set()
    for entry in view.entries:
        keywords.update(f for f in entry.flags if not f.startswith("\\"))
    flags = flags_list(frozenset(SYSTEM_FLAGS | keywords), False)
    await session.emit(b"* FLAGS %s\r\n" % flags)
    await session.emit(b"* %d EXISTS\r\n" % view.exists)
    await session.emit(b"* %d RECENT\r\n" % view.recent_count)
    unseen = view.first_unseen()
    if unseen is not None:
        await session.emit(b"* OK [UNSEEN %d] First unseen\r\n" % unseen)
    folder = selection.folder
    await session.emit(b"* OK [UIDVALIDITY %d] UIDs valid\r\n" % folder.uidvalidity)
    await session.emit(b"* OK [UIDNEXT %d] Predicted next UID\r\n" % folder.uidnext)
    if readonly:
        await session.emit(b"* OK [PERMANENTFLAGS ()] Read-only folder\r\n")
    else:
        await session.emit(b"* OK [PERMANENTFLAGS %s] Flags permitted\r\n" % _PERMANENT)
    session.view = view
    session.state = State.SELECTED
    if readonly:
        return Reply.ok("EXAMINE completed", "READ-ONLY")
    return Reply.ok("SELECT completed", "READ-WRITE")


async def select(session: ImapSession, command: Select) -> Reply:
    return await _open(session, command.mailbox, readonly=False)


async def examine(session: ImapSession, command: Examine) -> Reply:
    return await _open(session, command.mailbox, readonly=True)


async def close(session: ImapSession, command: Close) -> Reply:
    """CLOSE removes the \\Deleted messages silently when read-write (RFC 3501 6.4.2)."""
    view = session.require_view()
    session.deselect()
    if not view.readonly:
        await session.service.expunge(session.require_login(), view.folder)
    return Reply.ok("CLOSE completed")


async def unselect(session: ImapSession, command: Unselect) -> Reply:
    session.deselect()
    return Reply.ok("UNSELECT completed")
