"""The IMAP queries of the SQL store: folders, UIDs, flags, \\Recent, COPY/MOVE/APPEND.

`ImapSqlStore` is mixed into `SqlStore` (store.py), which provides the transaction
plumbing (`_read`, `_write`, `_add_events`, `_delete`). Everything a session does
often (SELECT, FETCH FLAGS, STORE) is one or two statements whatever the number of
messages: UID sets are sent as ranges, id lists in chunks of `CHUNK`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import String, and_, case, delete, func, or_, select, type_coerce, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ephemail.adapters.sql import tables as t
from ephemail.adapters.sql.plumbing import SqlPlumbing
from ephemail.domain.events import DeletionReason, Event, EventType
from ephemail.domain.ids import is_valid_id, new_id
from ephemail.domain.imap import (
    DELETED,
    EMPTY_STRUCTURE,
    HIERARCHY_DELIMITER,
    INBOX,
    SEEN,
    FlagMode,
    Folder,
    FolderCounts,
    ImapContent,
    ImapMessage,
    ImapStructure,
    SpecialUse,
)
from ephemail.domain.messages import Mailbox
from ephemail.mime.imap import imap_structure_of
from ephemail.ports import (
    ConflictError,
    Delivery,
    HiddenSender,
    ImapCopied,
    ImapFetched,
    ImapSelection,
    ImapStoredText,
)

T = TypeVar("T")

# Ids per IN list and UID ranges per statement: far below every driver's parameter limit.
CHUNK = 500
_MAX_UIDVALIDITY = 0xFFFFFFFF

_FOLDER_COLUMNS = (
    t.folders.c.id,
    t.folders.c.name,
    t.folders.c.uidvalidity,
    t.folders.c.next_uid,
    t.folders.c.subscribed,
    t.folders.c.special_use,
    t.folders.c.recent_uid,
)


def flags_text(flags: Iterable[str]) -> str:
    """The `flags` column for a set of flags: sorted, space-separated, without \\Seen."""
    return " ".join(sorted({f for f in flags if f != SEEN}))


FlagCache = dict[tuple[bool, str], frozenset[str]]


def _flag_set(seen: bool, text: str, cache: FlagCache) -> frozenset[str]:
    """The IMAP flags of a row (cached: most messages share a handful of flag sets)."""
    key = (seen, text)
    found = cache.get(key)
    if found is None:
        names = text.split() if text else []
        if seen:
            names.append(SEEN)
        found = cache[key] = frozenset(names)
    return found


def apply_flags(current: frozenset[str], mode: FlagMode, flags: frozenset[str]) -> frozenset[str]:
    """STORE's effect on one message's flags (RFC 3501 section 6.4.6)."""
    if mode is FlagMode.REPLACE:
        return flags
    if mode is FlagMode.ADD:
        return current | flags
    return current - flags


def uid_ranges(uids: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted UIDs folded into inclusive ranges: 1:10000 becomes one pair."""
    ranges: list[tuple[int, int]] = []
    for uid in sorted(set(uids)):
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], uid)
        else:
            ranges.append((uid, uid))
    return ranges


def _uid_conditions(uids: Iterable[int]) -> Iterator[Any]:
    """WHERE conditions selecting `uids`, at most CHUNK ranges/values each."""
    ranges = uid_ranges(uids)
    uid = t.messages.c.uid
    for start in range(0, len(ranges), CHUNK):
        part = ranges[start : start + CHUNK]
        singles = [a for a, b in part if a == b]
        spans = [uid.between(a, b) for a, b in part if a != b]
        terms = [*spans, uid.in_(singles)] if singles else spans
        yield terms[0] if len(terms) == 1 else or_(*terms)


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _valid_ids(message_ids: Sequence[str]) -> list[str]:
    return sorted({m.upper() for m in message_ids if is_valid_id(m)})


def _folder(mailbox: Mailbox, row: Any) -> Folder:
    return Folder(
        id=row.id,
        mailbox=mailbox.address,
        name=row.name,
        uidvalidity=row.uidvalidity,
        uidnext=row.next_uid,
        subscribed=bool(row.subscribed),
        special_use=SpecialUse(row.special_use) if row.special_use else None,
        recent_uid=row.recent_uid,
    )


def _message_columns(pg: bool) -> tuple[Any, ...]:
    """The columns `_messages` reads, in its order. SQLite hands `received_at` over as
    its stored text: `datetime.fromisoformat` parses it several times faster than the
    generic DATETIME processor, which shows on a SELECT of 10,000 messages."""
    m = t.messages.c
    received = m.received_at if pg else type_coerce(m.received_at, String).label("received_at")
    return (m.id, m.uid, m.seen, m.flags, m.size, received, m.envelope_from)


def _messages(rows: Iterable[Any]) -> Iterator[ImapMessage]:
    """ImapMessages of rows selected with `_message_columns`."""
    cache: FlagCache = {}
    parse = datetime.fromisoformat
    for message_id, uid, seen, flags, size, received, envelope_from in rows:
        if isinstance(received, str):
            # SQLite keeps UTC as naive text; "+00:00" makes it aware in the same step.
            received = parse(received + "+00:00" if len(received) <= 26 else received)
        elif received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        yield ImapMessage(
            message_id, uid, _flag_set(bool(seen), flags, cache), size, received, envelope_from
        )


def structure_columns(structure: ImapStructure | None) -> dict[str, Any]:
    """The message_contents columns holding `structure` (all NULL when None)."""
    if structure is None:
        return {
            "imap_envelope": None,
            "imap_body": None,
            "imap_bodystructure": None,
            "imap_sections": None,
        }
    return {
        "imap_envelope": structure.envelope,
        "imap_body": structure.body,
        "imap_bodystructure": structure.bodystructure,
        "imap_sections": structure.sections,
    }


class ImapSqlStore(SqlPlumbing):
    """The `ImapStore` port; mixed into SqlStore, which defines the plumbing."""

    async def _write_conflict(self, tx: Callable[[Connection], T], what: str) -> T:
        """`_write`, with a unique constraint violation turned into ConflictError."""
        try:
            return await self._write(tx)
        except IntegrityError as exc:
            raise ConflictError(what) from exc

    # -- folders -------------------------------------------------------------------
    @staticmethod
    def _folder_row(conn: Connection, mailbox: Mailbox, name: str, *, lock: bool = False) -> Any:
        query = select(*_FOLDER_COLUMNS).where(
            t.folders.c.mailbox_id == mailbox.id, t.folders.c.name == name
        )
        return conn.execute(query.with_for_update() if lock else query).first()

    @staticmethod
    def _folder_row_by_id(
        conn: Connection, mailbox: Mailbox, folder_id: int, *, lock: bool = False
    ) -> Any:
        query = select(*_FOLDER_COLUMNS).where(
            t.folders.c.mailbox_id == mailbox.id, t.folders.c.id == folder_id
        )
        return conn.execute(query.with_for_update() if lock else query).first()

    async def imap_folders(self, mailbox: Mailbox) -> list[Folder]:
        rows = await self._read(
            lambda conn: conn.execute(
                select(*_FOLDER_COLUMNS).where(t.folders.c.mailbox_id == mailbox.id)
            ).all()
        )
        folders = [_folder(mailbox, r) for r in rows]
        return sorted(folders, key=lambda f: (f.name != INBOX, f.name))

    async def imap_folder(self, mailbox: Mailbox, name: str) -> Folder | None:
        row = await self._read(lambda conn: self._folder_row(conn, mailbox, name))
        return _folder(mailbox, row) if row is not None else None

    def _allocate_uidvalidity(self, conn: Connection, mailbox: Mailbox, count: int) -> list[int]:
        """`count` new UIDVALIDITY values for this mailbox: larger than every value it
        ever used (deleted folders included) and, when the clock allows, the current
        time in seconds (RFC 3501 section 2.3.1.1 suggests a time-based value)."""
        query = select(t.mailboxes.c.uidvalidity_high).where(t.mailboxes.c.id == mailbox.id)
        high = int(conn.scalar(query.with_for_update() if self._pg else query) or 0)
        top = min(max(int(time.time()) + count - 1, high + count), _MAX_UIDVALIDITY)
        conn.execute(
            update(t.mailboxes).where(t.mailboxes.c.id == mailbox.id).values(uidvalidity_high=top)
        )
        return list(range(top - count + 1, top + 1))

    def _add_folders(
        self,
        conn: Connection,
        mailbox: Mailbox,
        names: Sequence[tuple[str, SpecialUse | None]],
    ) -> None:
        if not names:
            return
        values = self._allocate_uidvalidity(conn, mailbox, len(names))
        now = datetime.now(UTC)
        conn.execute(
            t.folders.insert(),
            [
                {
                    "mailbox_id": mailbox.id,
                    "name": name,
                    "uidvalidity": uidvalidity,
                    "next_uid": 1,
                    "subscribed": True,
                    "special_use": special.value if special is not None else None,
                    "created_at": now,
                    "recent_uid": 0,
                }
                for (name, special), uidvalidity in zip(names, values, strict=True)
            ],
        )

    def _missing(
        self,
        conn: Connection,
        mailbox: Mailbox,
        names: Sequence[tuple[str, SpecialUse | None]],
    ) -> list[tuple[str, SpecialUse | None]]:
        if not names:
            return []
        existing = set(
            conn.scalars(
                select(t.folders.c.name).where(
                    t.folders.c.mailbox_id == mailbox.id,
                    t.folders.c.name.in_([n for n, _ in names]),
                )
            )
        )
        return [(n, s) for n, s in names if n not in existing]

    async def imap_create_folder(
        self,
        mailbox: Mailbox,
        name: str,
        special_use: SpecialUse | None,
        *,
        parents: Sequence[tuple[str, SpecialUse | None]] = (),
    ) -> Folder:
        def tx(conn: Connection) -> Folder:
            if self._folder_row(conn, mailbox, name) is not None:
                raise ConflictError(f"folder {name} exists")
            missing = self._missing(conn, mailbox, parents)
            self._add_folders(conn, mailbox, [*missing, (name, special_use)])
            return _folder(mailbox, self._folder_row(conn, mailbox, name))

        return await self._write_conflict(tx, f"folder {name} exists")

    async def imap_delete_folder(self, mailbox: Mailbox, name: str) -> list[Event] | None:
        def tx(conn: Connection) -> list[Event] | None:
            row = self._folder_row(conn, mailbox, name, lock=self._pg)
            if row is None:
                return None
            children = conn.scalar(
                select(func.count()).where(
                    t.folders.c.mailbox_id == mailbox.id,
                    t.folders.c.name.startswith(name + HIERARCHY_DELIMITER, autoescape=True),
                )
            )
            if children:
                raise ConflictError("has child folders")
            events: list[Event] = []
            in_folder = select(t.messages.c.id).where(t.messages.c.folder_id == row.id)
            ids = list(conn.scalars(in_folder))
            for part in _chunks(ids):
                events.extend(self._delete(conn, list(part), DeletionReason.USER))
            conn.execute(delete(t.folders).where(t.folders.c.id == row.id))
            return events

        return await self._write(tx)

    async def imap_rename_folder(
        self,
        mailbox: Mailbox,
        old: str,
        new: str,
        *,
        parents: Sequence[tuple[str, SpecialUse | None]] = (),
    ) -> bool:
        def tx(conn: Connection) -> bool:
            if self._folder_row(conn, mailbox, old) is None:
                return False
            prefix = old + HIERARCHY_DELIMITER
            rows = conn.execute(
                select(t.folders.c.id, t.folders.c.name).where(
                    t.folders.c.mailbox_id == mailbox.id,
                    or_(
                        t.folders.c.name == old,
                        t.folders.c.name.startswith(prefix, autoescape=True),
                    ),
                )
            ).all()
            renamed = {r.id: new + r.name[len(old) :] for r in rows}
            clash = conn.scalar(
                select(t.folders.c.name).where(
                    t.folders.c.mailbox_id == mailbox.id,
                    t.folders.c.name.in_(sorted(renamed.values())),
                    t.folders.c.id.not_in(sorted(renamed)),
                )
            )
            if clash is not None:
                raise ConflictError(f"folder {clash} exists")
            if renamed:
                conn.execute(
                    update(t.folders)
                    .where(t.folders.c.id.in_(sorted(renamed)))
                    .values(name=case(renamed, value=t.folders.c.id))
                )
            moving = set(renamed.values())
            self._add_folders(
                conn,
                mailbox,
                [p for p in self._missing(conn, mailbox, parents) if p[0] not in moving],
            )
            return True

        return await self._write_conflict(tx, f"folder {new} exists")

    async def imap_set_subscribed(self, mailbox: Mailbox, name: str, subscribed: bool) -> bool:
        def tx(conn: Connection) -> bool:
            result = conn.execute(
                update(t.folders)
                .where(t.folders.c.mailbox_id == mailbox.id, t.folders.c.name == name)
                .values(subscribed=subscribed)
            )
            return bool(result.rowcount)

        return await self._write(tx)

    # -- reading -------------------------------------------------------------------
    def _folder_messages(
        self, conn: Connection, folder_id: int, after_uid: int = 0
    ) -> list[ImapMessage]:
        query = select(*_message_columns(self._pg)).where(t.messages.c.folder_id == folder_id)
        if after_uid:
            query = query.where(t.messages.c.uid > after_uid)
        return list(_messages(conn.execute(query.order_by(t.messages.c.uid)).all()))

    async def imap_select(
        self, mailbox: Mailbox, name: str, *, claim_recent: bool
    ) -> ImapSelection | None:
        # The folder and its messages are read on a reader connection (one consistent
        # snapshot); only a \Recent claim takes the single writer, and only for one
        # small UPDATE, so concurrent SELECTs of a large folder do not queue behind it.
        def read(conn: Connection) -> tuple[Folder, list[ImapMessage]] | None:
            row = self._folder_row(conn, mailbox, name)
            if row is None:
                return None
            folder = _folder(mailbox, row)
            return folder, self._folder_messages(conn, folder.id)

        found = await self._read(read)
        if found is None:
            return None
        folder, messages = found
        top = folder.uidnext - 1  # every UID in the snapshot is at or below it
        if not claim_recent or folder.recent_uid >= top:
            return ImapSelection(folder, messages, top if not claim_recent else folder.recent_uid)

        def claim(conn: Connection) -> int | None:
            r"""Move recent_uid up to `top`; the previous value, or None if the folder
            is gone. RFC 3501 2.3.2: a message is \Recent in one session only."""
            row = self._folder_row_by_id(conn, mailbox, folder.id, lock=self._pg)
            if row is None:
                return None
            if row.recent_uid < top:
                conn.execute(
                    update(t.folders).where(t.folders.c.id == folder.id).values(recent_uid=top)
                )
            return int(row.recent_uid)

        previous = await self._write(claim)
        if previous is None:
            return None
        claimed = dataclasses.replace(folder, recent_uid=max(previous, top))
        return ImapSelection(claimed, messages, min(previous, top))

    async def imap_status(
        self, mailbox: Mailbox, name: str, *, hidden: HiddenSender | None = None
    ) -> tuple[Folder, FolderCounts] | None:
        def tx(conn: Connection) -> tuple[Folder, FolderCounts] | None:
            row = self._folder_row(conn, mailbox, name)
            if row is None:
                return None
            m = t.messages.c
            unseen = func.coalesce(func.sum(case((m.seen.is_(False), 1), else_=0)), 0)
            recent = func.coalesce(func.sum(case((m.uid > row.recent_uid, 1), else_=0)), 0)
            if hidden is None:
                total, unread, fresh = conn.execute(
                    select(func.count(), unseen, recent).where(m.folder_id == row.id)
                ).one()
            else:
                total = unread = fresh = 0
                for sender, count, u, r in conn.execute(
                    select(m.envelope_from, func.count(), unseen, recent)
                    .where(m.folder_id == row.id)
                    .group_by(m.envelope_from)
                ):
                    if not hidden(sender):
                        total, unread, fresh = total + count, unread + u, fresh + r
            return _folder(mailbox, row), FolderCounts(int(total), int(unread), int(fresh))

        return await self._read(tx)

    async def imap_messages_after(
        self, mailbox: Mailbox, folder_id: int, after_uid: int
    ) -> list[ImapMessage]:
        def tx(conn: Connection) -> list[ImapMessage]:
            if self._folder_row_by_id(conn, mailbox, folder_id) is None:
                return []
            return self._folder_messages(conn, folder_id, after_uid)

        return await self._read(tx)

    async def imap_messages(
        self, mailbox: Mailbox, folder_id: int, message_ids: Sequence[str]
    ) -> dict[str, ImapMessage]:
        ids = _valid_ids(message_ids)
        if not ids:
            return {}
        m = t.messages.c
        in_folder = and_(m.folder_id == folder_id, m.mailbox_id == mailbox.id)

        def tx(conn: Connection) -> dict[str, ImapMessage]:
            columns = _message_columns(self._pg)
            if len(ids) > CHUNK:
                # Most of a big folder (FETCH 1:* FLAGS): one scan beats many IN lists.
                if self._folder_row_by_id(conn, mailbox, folder_id) is None:
                    return {}
                wanted = set(ids)
                query = select(*columns).where(m.folder_id == folder_id).order_by(m.uid)
                rows = conn.execute(query).all()
                return {i.message_id: i for i in _messages(r for r in rows if r[0] in wanted)}
            rows = conn.execute(select(*columns).where(in_folder, m.id.in_(ids))).all()
            return {i.message_id: i for i in _messages(rows)}

        return await self._read(tx)

    async def imap_contents(
        self, mailbox: Mailbox, message_ids: Sequence[str], *, raw: bool, structure: bool = True
    ) -> dict[str, ImapFetched]:
        ids = _valid_ids(message_ids)
        if not ids:
            return {}
        if raw and not structure:
            return await self._raw_contents(mailbox, ids)
        c = t.message_contents.c
        m = t.messages.c
        columns: list[Any] = [
            m.id,
            m.envelope_from,
            c.imap_envelope,
            c.imap_body,
            c.imap_bodystructure,
            c.imap_sections,
        ]
        if raw:
            columns.append(c.raw)
        else:
            # Old rows (before migration 0004) need their bytes to compute the structure.
            columns.append(case((c.imap_sections.is_(None), c.raw), else_=None).label("raw"))

        def tx(conn: Connection) -> list[Any]:
            rows: list[Any] = []
            for part in _chunks(ids):
                rows.extend(
                    conn.execute(
                        select(*columns)
                        .select_from(t.messages.join(t.message_contents, c.sha256 == m.sha256))
                        .where(m.mailbox_id == mailbox.id, m.id.in_(part))
                    )
                )
            return rows

        found: dict[str, ImapFetched] = {}
        for row in await self._read(tx):
            data = bytes(row.raw) if row.raw is not None else None
            if row.imap_sections is None:
                assert data is not None
                stored = imap_structure_of(data)  # a row stored before 0004
            else:
                stored = ImapStructure(
                    envelope=bytes(row.imap_envelope),
                    body=bytes(row.imap_body),
                    bodystructure=bytes(row.imap_bodystructure),
                    sections=row.imap_sections,
                )
            content = ImapContent(row.id, stored, data if raw else None)
            found[row.id] = ImapFetched(row.envelope_from, content)
        return found

    async def _raw_contents(self, mailbox: Mailbox, ids: list[str]) -> dict[str, ImapFetched]:
        """Only the raw bytes (BODY[] / RFC822): the structure columns sit after the raw
        bytes in a SQLite row, so not reading them saves walking every overflow page."""
        c = t.message_contents.c
        m = t.messages.c
        query = (
            select(m.id, m.envelope_from, c.raw)
            .select_from(t.messages.join(t.message_contents, c.sha256 == m.sha256))
            .where(m.mailbox_id == mailbox.id)
        )

        def tx(conn: Connection) -> list[Any]:
            rows: list[Any] = []
            for part in _chunks(ids):
                rows.extend(conn.execute(query.where(m.id.in_(part))))
            return rows

        return {
            row.id: ImapFetched(
                row.envelope_from, ImapContent(row.id, EMPTY_STRUCTURE, bytes(row.raw))
            )
            for row in await self._read(tx)
        }

    async def imap_texts(
        self, mailbox: Mailbox, message_ids: Sequence[str]
    ) -> dict[str, ImapStoredText]:
        ids = _valid_ids(message_ids)
        if not ids:
            return {}
        c = t.message_contents.c
        m = t.messages.c

        def tx(conn: Connection) -> list[Any]:
            rows: list[Any] = []
            for part in _chunks(ids):
                rows.extend(
                    conn.execute(
                        select(m.id, m.envelope_from, c.headers, c.body_text)
                        .select_from(t.messages.join(t.message_contents, c.sha256 == m.sha256))
                        .where(m.mailbox_id == mailbox.id, m.id.in_(part))
                    )
                )
            return rows

        return {
            row.id: ImapStoredText(
                envelope_from=row.envelope_from,
                headers=tuple((h[0], h[1]) for h in json.loads(row.headers)),
                body=row.body_text or "",
            )
            for row in await self._read(tx)
        }

    # -- changing messages ----------------------------------------------------------
    @staticmethod
    def _rows_by_uid(
        conn: Connection,
        folder_id: int,
        uids: Sequence[int] | None,
        *columns: Any,
        lock: bool = False,
    ) -> list[Any]:
        """Rows of the folder whose UID is in `uids` (every row when None), UID order;
        `lock`: FOR UPDATE (PostgreSQL), so concurrent STOREs do not lose changes."""
        base = select(*columns).where(t.messages.c.folder_id == folder_id)
        if lock:
            base = base.with_for_update()
        if uids is None:
            return list(conn.execute(base.order_by(t.messages.c.uid)))
        rows: list[Any] = []
        for condition in _uid_conditions(uids):
            rows.extend(conn.execute(base.where(condition)))
        return sorted(rows, key=lambda r: r.uid)

    async def imap_store_flags(
        self,
        mailbox: Mailbox,
        folder_id: int,
        uids: Sequence[int],
        mode: FlagMode,
        flags: frozenset[str],
        *,
        hidden: HiddenSender,
    ) -> tuple[dict[int, frozenset[str]], list[Event]]:
        m = t.messages.c

        def tx(conn: Connection) -> tuple[dict[int, frozenset[str]], list[Event]]:
            folder = self._folder_row_by_id(conn, mailbox, folder_id)
            if folder is None or not uids:
                return {}, []
            columns = (m.id, m.uid, m.seen, m.flags, m.envelope_from)
            rows = self._rows_by_uid(conn, folder_id, uids, *columns, lock=self._pg)
            cache: FlagCache = {}
            result: dict[int, frozenset[str]] = {}
            # New (seen, flags) value -> ids, so that a STORE over many messages is a
            # few UPDATEs, one per distinct outcome.
            changes: dict[tuple[bool, str], list[str]] = {}
            pending: list[dict[str, Any]] = []
            now = datetime.now(UTC)
            for row in rows:
                if hidden(row.envelope_from):
                    continue
                before = _flag_set(bool(row.seen), row.flags, cache)
                after = apply_flags(before, mode, flags)
                result[row.uid] = after
                seen, text = SEEN in after, flags_text(after)
                if seen == bool(row.seen) and text == row.flags:
                    continue
                changes.setdefault((seen, text), []).append(row.id)
                base = {"mailbox": mailbox.address, "message_id": row.id, "created_at": now}
                if seen != bool(row.seen):
                    pending.append(
                        {
                            **base,
                            "type": EventType.MESSAGE_READ.value,
                            "data": {"seen": seen, "uid": row.uid, "folder": folder.name},
                        }
                    )
                if text != row.flags:
                    pending.append(
                        {
                            **base,
                            "type": EventType.MESSAGE_FLAGS.value,
                            "data": {
                                "flags": text.split() if text else [],
                                "uid": row.uid,
                                "folder": folder.name,
                            },
                        }
                    )
            for (seen, text), ids in changes.items():
                for part in _chunks(ids):
                    conn.execute(
                        update(t.messages).where(m.id.in_(list(part))).values(seen=seen, flags=text)
                    )
            return result, self._add_events(conn, pending)

        return await self._write(tx)

    async def imap_expunge(
        self,
        mailbox: Mailbox,
        folder_id: int,
        uids: Sequence[int] | None,
        *,
        hidden: HiddenSender,
    ) -> tuple[list[int], list[Event]]:
        m = t.messages.c

        def tx(conn: Connection) -> tuple[list[int], list[Event]]:
            if self._folder_row_by_id(conn, mailbox, folder_id) is None:
                return [], []
            if uids is not None and not uids:
                return [], []
            base = select(m.id, m.uid, m.flags, m.envelope_from).where(
                m.folder_id == folder_id, m.flags.contains(DELETED, autoescape=True)
            )
            rows: list[Any] = []
            if uids is None:
                rows.extend(conn.execute(base))
            else:
                for condition in _uid_conditions(uids):
                    rows.extend(conn.execute(base.where(condition)))
            doomed = sorted(
                (r for r in rows if DELETED in r.flags.split() and not hidden(r.envelope_from)),
                key=lambda r: r.uid,
            )
            events: list[Event] = []
            for part in _chunks([r.id for r in doomed]):
                events.extend(self._delete(conn, list(part), DeletionReason.USER))
            return [r.uid for r in doomed], events

        return await self._write(tx)

    def _reserve_uids(self, conn: Connection, folder_id: int, count: int) -> int:
        """Take `count` UIDs of the folder; returns the first (next_uid never goes back)."""
        after = conn.execute(
            update(t.folders)
            .where(t.folders.c.id == folder_id)
            .values(next_uid=t.folders.c.next_uid + count)
            .returning(t.folders.c.next_uid)
        ).scalar_one()
        return int(after) - count

    async def imap_copy(
        self,
        mailbox: Mailbox,
        folder_id: int,
        uids: Sequence[int],
        destination: str,
        *,
        move: bool,
        hidden: HiddenSender,
    ) -> ImapCopied | None:
        m = t.messages.c

        def tx(conn: Connection) -> ImapCopied | None:
            target = self._folder_row(conn, mailbox, destination)
            if target is None:
                return None
            source = self._folder_row_by_id(conn, mailbox, folder_id)
            if source is None or not uids:
                return ImapCopied(_folder(mailbox, target), [], [])
            rows = self._copy_rows(conn, folder_id, uids, hidden)
            if not rows:
                return ImapCopied(_folder(mailbox, target), [], [])
            first = self._reserve_uids(conn, target.id, len(rows))
            pairs = [(r.uid, first + i) for i, r in enumerate(rows)]
            now = datetime.now(UTC)
            pending: list[dict[str, Any]] = []
            if move:
                for part in _chunks(list(zip(rows, pairs, strict=True))):
                    new_uid = {r.id: dest for r, (_, dest) in part}
                    conn.execute(
                        update(t.messages)
                        .where(m.id.in_(sorted(new_uid)))
                        .values(folder_id=target.id, uid=case(new_uid, value=m.id))
                    )
                for row, (src, dest) in zip(rows, pairs, strict=True):
                    pending.append(
                        {
                            "type": EventType.MESSAGE_MOVED.value,
                            "mailbox": mailbox.address,
                            "message_id": row.id,
                            "data": {
                                "from_folder": source.name,
                                "from_uid": src,
                                "folder": target.name,
                                "uid": dest,
                            },
                            "created_at": now,
                        }
                    )
            else:
                copies = []
                for row, (_, dest) in zip(rows, pairs, strict=True):
                    message_id = new_id()
                    copies.append(
                        {
                            "id": message_id,
                            "mailbox_id": mailbox.id,
                            "folder_id": target.id,
                            "uid": dest,
                            "sha256": row.sha256,
                            "queue_id": row.queue_id,
                            "envelope_from": row.envelope_from,
                            "client_ip": row.client_ip,
                            "seen": row.seen,
                            "flags": row.flags,
                            "size": row.size,
                            "received_at": row.received_at,
                            "expires_at": row.expires_at,
                        }
                    )
                    pending.append(
                        self._received_event(
                            mailbox,
                            message_id,
                            target.name,
                            dest,
                            {
                                "subject": row.subject,
                                "from": row.from_header,
                                "size": row.size,
                                "has_attachments": bool(row.has_attachments),
                                "envelope_from": row.envelope_from,
                                "seen": bool(row.seen),
                            },
                            now,
                        )
                    )
                for batch in _chunks(copies):
                    conn.execute(t.messages.insert(), list(batch))
            events = self._add_events(conn, pending)
            after = self._folder_row_by_id(conn, mailbox, target.id)
            return ImapCopied(_folder(mailbox, after), pairs, events)

        return await self._write(tx)

    @staticmethod
    def _copy_rows(
        conn: Connection, folder_id: int, uids: Sequence[int], hidden: HiddenSender
    ) -> list[Any]:
        c = t.message_contents.c
        m = t.messages.c
        base = (
            select(*t.messages.c, c.subject, c.from_header, c.has_attachments)
            .select_from(t.messages.join(t.message_contents, c.sha256 == m.sha256))
            .where(m.folder_id == folder_id)
        )
        rows: list[Any] = []
        for condition in _uid_conditions(uids):
            rows.extend(conn.execute(base.where(condition)))
        return sorted((r for r in rows if not hidden(r.envelope_from)), key=lambda r: r.uid)

    @staticmethod
    def _received_event(
        mailbox: Mailbox,
        message_id: str,
        folder: str,
        uid: int,
        facts: dict[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        """A pending `message.received` event; `facts` holds subject, from, size,
        has_attachments and envelope_from, as SMTP delivery writes them."""
        return {
            "type": EventType.MESSAGE_RECEIVED.value,
            "mailbox": mailbox.address,
            "message_id": message_id,
            "data": {"uid": uid, "folder": folder, **facts},
            "created_at": now,
        }

    async def imap_append(
        self,
        mailbox: Mailbox,
        name: str,
        delivery: Delivery,
        *,
        seen: bool,
        flags: frozenset[str],
    ) -> tuple[Folder, int, list[Event]] | None:
        (recipient,) = delivery.recipients

        def tx(conn: Connection) -> tuple[Folder, int, list[Event]] | None:
            target = self._folder_row(conn, mailbox, name)
            if target is None:
                return None
            uid = self._reserve_uids(conn, target.id, 1)
            self._insert_contents(conn, [delivery])
            size = len(delivery.raw)
            conn.execute(
                t.messages.insert().values(
                    id=recipient.message_id,
                    mailbox_id=mailbox.id,
                    folder_id=target.id,
                    uid=uid,
                    sha256=delivery.sha256,
                    queue_id=delivery.queue_id,
                    envelope_from=delivery.envelope_from,
                    client_ip=delivery.client_ip,
                    seen=seen,
                    flags=flags_text(flags),
                    size=size,
                    received_at=delivery.received_at,
                    expires_at=recipient.expires_at,
                )
            )
            s = delivery.summary
            facts = {
                "subject": s.subject,
                "from": s.from_,
                "size": size,
                "has_attachments": bool(s.attachments),
                "envelope_from": delivery.envelope_from,
                "seen": seen,
            }
            event = self._received_event(
                mailbox, recipient.message_id, name, uid, facts, datetime.now(UTC)
            )
            events = self._add_events(conn, [event])
            after = self._folder_row_by_id(conn, mailbox, target.id)
            return _folder(mailbox, after), uid, events

        return await self._write(tx)
