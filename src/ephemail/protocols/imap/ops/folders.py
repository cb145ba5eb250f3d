"""CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB and STATUS
(RFC 3501 sections 6.3.3 to 6.3.10; CHILDREN RFC 3348; SPECIAL-USE RFC 6154;
the LIST selection and return options of RFC 5258 that apply here)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ephemail.domain.imap import HIERARCHY_DELIMITER, INBOX, Folder
from ephemail.protocols.imap.ops.base import Reply, mailbox_name
from ephemail.protocols.imap.proto.commands import (
    Create,
    Delete,
    List,
    Lsub,
    Rename,
    Status,
    StatusItem,
    Subscribe,
    Unsubscribe,
)

if TYPE_CHECKING:
    from ephemail.protocols.imap.session import ImapSession

_DELIM = HIERARCHY_DELIMITER


async def create(session: ImapSession, command: Create) -> Reply:
    """CREATE; a trailing delimiter only says the client wants children later."""
    name = command.mailbox.rstrip(_DELIM) or command.mailbox
    await session.service.create_folder(session.require_login(), name)
    return Reply.ok("CREATE completed")


async def delete(session: ImapSession, command: Delete) -> Reply:
    login = session.require_login()
    view = session.view
    await session.service.delete_folder(login, command.mailbox)
    if view is not None and view.folder.name == command.mailbox:
        session.deselect()  # the selected folder is gone
    return Reply.ok("DELETE completed")


async def rename(session: ImapSession, command: Rename) -> Reply:
    await session.service.rename_folder(session.require_login(), command.mailbox, command.new_name)
    return Reply.ok("RENAME completed")


async def subscribe(session: ImapSession, command: Subscribe) -> Reply:
    await session.service.set_subscribed(session.require_login(), command.mailbox, True)
    return Reply.ok("SUBSCRIBE completed")


async def unsubscribe(session: ImapSession, command: Unsubscribe) -> Reply:
    await session.service.set_subscribed(session.require_login(), command.mailbox, False)
    return Reply.ok("UNSUBSCRIBE completed")


def pattern_regex(reference: str, pattern: str) -> re.Pattern[str]:
    """RFC 3501 section 6.3.8: `*` matches anything, `%` anything but the delimiter;
    the reference is prefixed as is. INBOX matches case-insensitively."""
    full = reference + pattern
    parts: list[str] = []
    for ch in full:
        if ch == "*":
            parts.append(".*")
        elif ch == "%":
            parts.append(f"[^{re.escape(_DELIM)}]*")
        else:
            parts.append(re.escape(ch))
    body = "".join(parts)
    return re.compile(body, re.DOTALL)


def _inbox_normalised(reference: str, pattern: str) -> str:
    full = reference + pattern
    if full.upper() == INBOX or full.upper().startswith(INBOX + _DELIM):
        return INBOX + full[len(INBOX) :]
    return full


async def _list(
    session: ImapSession,
    reference: str,
    pattern: str,
    *,
    verb: str,
    subscribed_only: bool,
    special_use_only: bool,
    show_subscribed: bool,
) -> Reply:
    if pattern == "":
        # The hierarchy delimiter and root (RFC 3501 section 6.3.8).
        await session.emit(b'* %s (\\Noselect) "/" ""\r\n' % verb.encode("ascii"))
        return Reply.ok(f"{verb} completed")
    folders = await session.service.list_folders(session.require_login())
    names = {f.name: f for f in folders}
    # Parents that exist only as a prefix of a real folder (a/b without a).
    implied: set[str] = set()
    has_children: set[str] = set()
    for name in names:
        parts = name.split(_DELIM)
        for i in range(1, len(parts)):
            parent = _DELIM.join(parts[:i])
            has_children.add(parent)
            if parent not in names:
                implied.add(parent)
    # LSUB: a level above a subscribed folder that `%` stops at comes back \Noselect
    # when it is not subscribed itself (RFC 3501 section 6.3.9).
    subscribed_parents: set[str] = set()
    if verb == "LSUB":
        for folder_name, folder_value in names.items():
            if folder_value.subscribed:
                parts = folder_name.split(_DELIM)
                subscribed_parents.update(_DELIM.join(parts[:i]) for i in range(1, len(parts)))
    regex = pattern_regex("", _inbox_normalised(reference, pattern))
    rows: list[tuple[str, list[str]]] = []
    ordered = sorted(set(names) | implied, key=lambda n: (n != INBOX, n))
    for name in ordered:
        if not regex.fullmatch(name):
            continue
        folder: Folder | None = names.get(name)
        attributes: list[str] = []
        lsub_parent = name in subscribed_parents and (folder is None or not folder.subscribed)
        if lsub_parent:
            if "%" not in pattern:
                continue
            attributes.append("\\Noselect")
        elif folder is None:
            if subscribed_only or special_use_only:
                continue
            attributes.append("\\Noselect")
        else:
            if subscribed_only and not folder.subscribed:
                continue
            if special_use_only and folder.special_use is None:
                continue
        attributes.append("\\HasChildren" if name in has_children else "\\HasNoChildren")
        if folder is not None:
            if folder.special_use is not None:
                attributes.append(folder.special_use.value)
            if show_subscribed and folder.subscribed:
                attributes.append("\\Subscribed")
        rows.append((name, attributes))
    for name, attributes in rows:
        await session.emit(
            b'* %s (%s) "/" %s\r\n'
            % (verb.encode("ascii"), " ".join(attributes).encode("ascii"), mailbox_name(name))
        )
    return Reply.ok(f"{verb} completed")


async def list_(session: ImapSession, command: List) -> Reply:
    selection = set(command.selection)
    returns = set(command.return_options)
    subscribed = "SUBSCRIBED" in selection
    return await _list(
        session,
        command.reference,
        command.pattern,
        verb="LIST",
        subscribed_only=subscribed,
        special_use_only="SPECIAL-USE" in selection,
        show_subscribed=subscribed or "SUBSCRIBED" in returns,
    )


async def lsub(session: ImapSession, command: Lsub) -> Reply:
    return await _list(
        session,
        command.reference,
        command.pattern,
        verb="LSUB",
        subscribed_only=True,
        special_use_only=False,
        show_subscribed=False,
    )


async def status(session: ImapSession, command: Status) -> Reply:
    """STATUS name (items): counts of the folder as stored now (RFC 3501 6.3.10)."""
    folder, counts = await session.service.status(session.require_login(), command.mailbox)
    values = {
        StatusItem.MESSAGES: counts.messages,
        StatusItem.RECENT: counts.recent,
        StatusItem.UIDNEXT: folder.uidnext,
        StatusItem.UIDVALIDITY: folder.uidvalidity,
        StatusItem.UNSEEN: counts.unseen,
    }
    items = " ".join(f"{item.value} {values[item]}" for item in command.items)
    await session.emit(b"* STATUS %s (%s)\r\n" % (mailbox_name(folder.name), items.encode("ascii")))
    return Reply.ok("STATUS completed")
