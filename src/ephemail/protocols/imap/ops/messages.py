"""The commands on messages of the selected folder: FETCH, STORE, SEARCH, EXPUNGE,
UID EXPUNGE, COPY and MOVE (RFC 3501 section 6.4, UIDPLUS RFC 4315, MOVE RFC 6851),
and APPEND (RFC 3501 section 6.3.11)."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from ephemail.domain.imap import RECENT, SEEN, FlagMode
from ephemail.protocols.imap.fetch_render import fetch_needs, render_fetch
from ephemail.protocols.imap.fetch_render import flags_list as render_flags
from ephemail.protocols.imap.ops.base import Reply, uid_set
from ephemail.protocols.imap.proto.commands import (
    Append,
    Copy,
    Expunge,
    Fetch,
    Move,
    Search,
    SequenceSet,
    Store,
    UidExpunge,
)
from ephemail.protocols.imap.search_eval import evaluate_search, search_needs_text
from ephemail.protocols.imap.selected import Entry, SelectedView

if TYPE_CHECKING:
    from ephemail.protocols.imap.session import ImapSession

# Messages loaded per store round trip: bounds memory on `FETCH 1:* BODY[]`.
_RAW_BATCH = 64
_STRUCTURE_BATCH = 512
_READ_ONLY = Reply.no("Folder is open read-only", "READ-ONLY")
_CHARSETS = frozenset({"US-ASCII", "UTF-8"})


def _resolve(view: SelectedView, numbers: SequenceSet, *, uid: bool) -> list[tuple[int, Entry]]:
    if uid:
        return view.by_uid(numbers.ranges)
    return view.by_sequence(numbers.ranges)


async def fetch(session: ImapSession, command: Fetch) -> Reply:
    """[UID] FETCH: implicit \\Seen first (read-write only), then one response each."""
    login = session.require_login()
    view = session.require_view()
    selected = _resolve(view, command.sequence_set, uid=command.uid)
    attrs = command.attributes
    needs = fetch_needs(attrs)
    newly_seen: set[int] = set()
    if needs.sets_seen and not view.readonly:
        unseen = [e.uid for _, e in selected if SEEN not in e.flags]
        if unseen:
            changed = await session.service.store_flags(
                login, view.folder, unseen, FlagMode.ADD, frozenset({SEEN})
            )
            for uid, flags in changed.items():
                view.set_flags(uid, flags)
                newly_seen.add(uid)
    batch = _RAW_BATCH if needs.raw else _STRUCTURE_BATCH
    for start in range(0, len(selected), batch):
        chunk = selected[start : start + batch]
        contents = None
        if needs.structure:
            contents = await session.service.fetch(
                login,
                view.folder,
                [e.message_id for _, e in chunk],
                raw=needs.raw,
                structure=needs.sections,
            )
        for seq, entry in chunk:
            content = None
            if contents is not None:
                content = contents.get(entry.message_id)
                if content is None:
                    continue  # expunged meanwhile: its EXPUNGE comes later
            await session.emit(
                render_fetch(
                    seq,
                    entry.as_message(),
                    attrs,
                    content,
                    recent=entry.uid in view.recent,
                    include_uid=command.uid,
                    include_flags=entry.uid in newly_seen,
                )
            )
    return Reply.ok("FETCH completed")


async def store(session: ImapSession, command: Store) -> Reply:
    """[UID] STORE [+-]FLAGS[.SILENT]: new flags reported unless .SILENT (6.4.6)."""
    login = session.require_login()
    view = session.require_view()
    if view.readonly:
        return _READ_ONLY
    selected = _resolve(view, command.sequence_set, uid=command.uid)
    flags = frozenset(command.flags) - {RECENT}  # \Recent is the server's alone
    if not selected:
        return Reply.ok("STORE completed")
    result = await session.service.store_flags(
        login, view.folder, [e.uid for _, e in selected], command.mode, flags
    )
    for uid in sorted(result):
        seq = view.set_flags(uid, result[uid])
        if seq is None or command.silent:
            continue
        shown = render_flags(result[uid], uid in view.recent)
        if command.uid:
            await session.emit(b"* %d FETCH (UID %d FLAGS %s)\r\n" % (seq, uid, shown))
        else:
            await session.emit(b"* %d FETCH (FLAGS %s)\r\n" % (seq, shown))
    return Reply.ok("STORE completed")


async def search(session: ImapSession, command: Search) -> Reply:
    """[UID] SEARCH over the messages as this session sees them."""
    if command.charset is not None and command.charset not in _CHARSETS:
        return Reply.no("Unsupported charset", "BADCHARSET (US-ASCII UTF-8)")
    login = session.require_login()
    view = session.require_view()
    messages = [e.as_message() for e in view.entries]
    texts = None
    if search_needs_text(command.key):
        texts = await session.service.texts(login, view.folder, [m.message_id for m in messages])
    seqs = evaluate_search(command.key, messages, recent=view.recent, texts=texts)
    numbers = [view.entries[s - 1].uid for s in seqs] if command.uid else seqs
    line = b"* SEARCH" + b"".join(b" %d" % n for n in numbers) + b"\r\n"
    await session.emit(line)
    return Reply.ok("SEARCH completed")


async def _send_expunges(session: ImapSession, view: SelectedView, uids: list[int]) -> None:
    for seq in view.remove_uids(uids):
        await session.emit(b"* %d EXPUNGE\r\n" % seq)


async def expunge(session: ImapSession, command: Expunge) -> Reply:
    """EXPUNGE: every \\Deleted message of the folder (RFC 3501 6.4.3)."""
    view = session.require_view()
    if view.readonly:
        return _READ_ONLY
    removed = await session.service.expunge(session.require_login(), view.folder)
    await _send_expunges(session, view, removed)
    return Reply.ok("EXPUNGE completed")


async def uid_expunge(session: ImapSession, command: UidExpunge) -> Reply:
    """UID EXPUNGE set: only the \\Deleted messages in the set (RFC 4315 2.1)."""
    view = session.require_view()
    if view.readonly:
        return _READ_ONLY
    uids = [e.uid for _, e in view.by_uid(command.uids.ranges)]
    if uids:
        removed = await session.service.expunge(session.require_login(), view.folder, uids)
        await _send_expunges(session, view, removed)
    return Reply.ok("EXPUNGE completed")


async def copy(session: ImapSession, command: Copy) -> Reply:
    """[UID] COPY with COPYUID (RFC 4315 section 3)."""
    login = session.require_login()
    view = session.require_view()
    selected = _resolve(view, command.sequence_set, uid=command.uid)
    if not selected:
        return Reply.ok("No messages to copy")
    result = await session.service.copy(
        login, view.folder, [e.uid for _, e in selected], command.mailbox
    )
    if command.mailbox == view.folder.name:
        view.expect_new()
    if not result.pairs:
        return Reply.ok("COPY completed")
    code = _copyuid(result.uidvalidity, result.pairs)
    return Reply.ok("COPY completed", code)


def _copyuid(uidvalidity: int, pairs: list[tuple[int, int]]) -> str:
    sources = uid_set(p[0] for p in pairs)
    destinations = uid_set(p[1] for p in pairs)
    return f"COPYUID {uidvalidity} {sources} {destinations}"


async def move(session: ImapSession, command: Move) -> Reply:
    """[UID] MOVE (RFC 6851 section 4.3): COPYUID in an untagged OK, then EXPUNGEs."""
    login = session.require_login()
    view = session.require_view()
    if view.readonly:
        return _READ_ONLY
    selected = _resolve(view, command.sequence_set, uid=command.uid)
    if not selected:
        return Reply.ok("No messages to move")
    if command.mailbox == view.folder.name:
        return Reply.no("Cannot move messages to the same folder", "CANNOT")
    result = await session.service.move(
        login, view.folder, [e.uid for _, e in selected], command.mailbox
    )
    if result.pairs:
        code = _copyuid(result.uidvalidity, result.pairs)
        await session.emit(b"* OK [" + code.encode("ascii") + b"] Moved\r\n")
    await _send_expunges(session, view, [source for source, _ in result.pairs])
    return Reply.ok("MOVE completed")


async def append(session: ImapSession, command: Append) -> Reply:
    """APPEND with APPENDUID (RFC 4315 section 3)."""
    internal_date = command.internal_date
    if internal_date is not None and internal_date.tzinfo is not None:
        internal_date = internal_date.astimezone(UTC)  # the same instant, as stored
    result = await session.service.append(
        session.require_login(),
        command.mailbox,
        command.message,
        frozenset(command.flags) - {RECENT},
        internal_date,
    )
    view = session.view
    if view is not None and view.folder.name == command.mailbox:
        view.expect_new()
    return Reply.ok("APPEND completed", f"APPENDUID {result.uidvalidity} {result.uid}")
