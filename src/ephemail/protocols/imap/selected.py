"""The selected folder as one IMAP session sees it (RFC 3501 sections 2.3.1, 5.2, 7.4.1).

A session's view is the SELECT snapshot plus the changes it has already reported:
message sequence numbers only move when the client has been told (EXISTS, EXPUNGE).
Changes made elsewhere (SMTP, the HTTP API, other IMAP sessions) arrive as bus events;
`note_event` only marks what may have changed, `refresh` asks the service what it is
now, and `take_updates` turns the differences into the untagged responses that may be
sent at that point (EXPUNGE never during FETCH, STORE or SEARCH).

Our own STORE/EXPUNGE/MOVE update the view directly, so when their events come back
from the bus the comparison finds nothing new: no change is reported twice.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ephemail.domain.events import Event, EventType
from ephemail.domain.imap import Folder, ImapMessage
from ephemail.services.imap import ImapLogin, ImapService, SelectedFolder

__all__ = [
    "Entry",
    "ExistsUpdate",
    "ExpungeUpdate",
    "FlagsUpdate",
    "InvalidSequence",
    "RecentUpdate",
    "SelectedView",
    "Update",
]


class InvalidSequence(ValueError):
    """A message sequence number above EXISTS (or 0): the command gets BAD."""


@dataclass(slots=True)
class Entry:
    """One message in the view; `flags` is what this session last reported."""

    message_id: str
    uid: int
    flags: frozenset[str]
    size: int
    internal_date: datetime

    @classmethod
    def of(cls, message: ImapMessage) -> Entry:
        return cls(
            message.message_id, message.uid, message.flags, message.size, message.internal_date
        )

    def as_message(self) -> ImapMessage:
        """The IMAP message as FETCH renders it, with the flags the session knows."""
        return ImapMessage(self.message_id, self.uid, self.flags, self.size, self.internal_date, "")


@dataclass(frozen=True, slots=True)
class ExpungeUpdate:
    seq: int


@dataclass(frozen=True, slots=True)
class ExistsUpdate:
    count: int


@dataclass(frozen=True, slots=True)
class RecentUpdate:
    count: int


@dataclass(frozen=True, slots=True)
class FlagsUpdate:
    seq: int
    uid: int
    flags: frozenset[str]
    recent: bool


Update = ExpungeUpdate | ExistsUpdate | RecentUpdate | FlagsUpdate

# Ranges as the parser gives them: (first, last) with None standing for `*`.
Range = tuple[int | None, int | None]


@dataclass(slots=True)
class SelectedView:
    """The messages of the selected folder in sequence order, and what is pending."""

    folder: Folder
    readonly: bool
    entries: list[Entry]
    recent: set[int]
    _uids: list[int] = field(default_factory=list)
    _by_id: dict[str, Entry] = field(default_factory=dict)
    # Pending, not yet reported:
    _new: list[ImapMessage] = field(default_factory=list)
    _gone: set[str] = field(default_factory=set)
    _dirty: set[str] = field(default_factory=set)
    _changed: set[int] = field(default_factory=set)  # UIDs whose flags changed
    _check_new: bool = False
    _resync: bool = False
    _reported_recent: int = 0

    @classmethod
    def from_selection(cls, selection: SelectedFolder, *, readonly: bool) -> SelectedView:
        entries = [Entry.of(m) for m in selection.messages]
        view = cls(
            folder=selection.folder,
            readonly=readonly,
            entries=entries,
            recent=set(selection.recent),
        )
        view._reindex()
        view._reported_recent = len(view.recent)
        return view

    # -- lookups ---------------------------------------------------------------
    def _reindex(self) -> None:
        self._uids = [e.uid for e in self.entries]
        self._by_id = {e.message_id: e for e in self.entries}

    @property
    def exists(self) -> int:
        return len(self.entries)

    @property
    def recent_count(self) -> int:
        return len(self.recent)

    def seq_of(self, uid: int) -> int | None:
        """The sequence number of `uid` in the view, or None."""
        i = bisect.bisect_left(self._uids, uid)
        if i < len(self._uids) and self._uids[i] == uid:
            return i + 1
        return None

    def is_recent(self, uid: int) -> bool:
        return uid in self.recent

    def first_unseen(self) -> int | None:
        """Sequence number of the first message without \\Seen (SELECT's UNSEEN code)."""
        for i, e in enumerate(self.entries):
            if "\\Seen" not in e.flags:
                return i + 1
        return None

    def by_sequence(self, ranges: Iterable[Range]) -> list[tuple[int, Entry]]:
        """(seq, entry) for a message sequence set, in increasing order (RFC 3501 9,
        seq-number: `*` is the last message; numbers above EXISTS are invalid)."""
        count = len(self.entries)
        wanted: set[int] = set()
        for first, last in ranges:
            a = count if first is None else first
            b = count if last is None else last
            if a == 0 or b == 0 or a > count or b > count:
                raise InvalidSequence(
                    "Invalid message sequence number"
                    if count
                    else "No messages in the selected folder"
                )
            lo, hi = (a, b) if a <= b else (b, a)
            wanted.update(range(lo, hi + 1))
        return [(s, self.entries[s - 1]) for s in sorted(wanted)]

    def by_uid(self, ranges: Iterable[Range]) -> list[tuple[int, Entry]]:
        """(seq, entry) for a UID set: UIDs not in the view are ignored, `*` is the
        highest UID, and `n:*` always includes it (RFC 3501 section 6.4.8)."""
        if not self.entries:
            return []
        highest = self._uids[-1]
        found: dict[int, Entry] = {}
        for first, last in ranges:
            a = highest if first is None else first
            b = highest if last is None else last
            lo, hi = (a, b) if a <= b else (b, a)
            i = bisect.bisect_left(self._uids, lo)
            j = bisect.bisect_right(self._uids, hi)
            for k in range(i, j):
                found[k + 1] = self.entries[k]
        return sorted(found.items())

    # -- our own changes -------------------------------------------------------
    def set_flags(self, uid: int, flags: frozenset[str]) -> int | None:
        """Record flags this session reports itself (STORE, implicit \\Seen); returns
        the sequence number, or None if the message left the view."""
        seq = self.seq_of(uid)
        if seq is None:
            return None
        self.entries[seq - 1].flags = flags
        self._changed.discard(uid)
        return seq

    def remove_uids(self, uids: Sequence[int]) -> list[int]:
        """Remove messages this session expunged or moved away; returns the EXPUNGE
        sequence numbers to send, in order (each one as numbered at that moment)."""
        seqs: list[int] = []
        for uid in sorted(uids, reverse=True):
            seq = self.seq_of(uid)
            if seq is None:
                continue
            entry = self.entries.pop(seq - 1)
            self._uids.pop(seq - 1)
            self._by_id.pop(entry.message_id, None)
            self._gone.discard(entry.message_id)
            self._dirty.discard(entry.message_id)
            self._changed.discard(uid)
            self.recent.discard(uid)
            seqs.append(seq)
        # Sending the highest first keeps every number valid when it is sent.
        return seqs

    # -- changes made elsewhere --------------------------------------------------
    def note_event(self, event: Event) -> bool:
        """Mark what the event may have changed; True if the client may need to hear
        of it (the server wakes an IDLE then)."""
        mid = event.message_id
        kind = event.type
        if kind is EventType.MESSAGE_RECEIVED or kind is EventType.MESSAGE_MOVED:
            # A move may bring a message into this folder (a new UID here) or take one
            # out (its id is in the view); a delivery may be for this folder.
            self._check_new = True
            if mid is not None and mid in self._by_id:
                self._dirty.add(mid)
            if mid is not None:
                self._drop_pending(mid)
            return True
        if mid is None:
            return False
        if kind is EventType.MESSAGE_DELETED:
            if mid in self._by_id:
                self._gone.add(mid)
                return True
            return self._drop_pending(mid)
        if kind is EventType.MESSAGE_READ or kind is EventType.MESSAGE_FLAGS:
            if mid in self._by_id:
                self._dirty.add(mid)
                return True
            if any(m.message_id == mid for m in self._new):
                self._dirty.add(mid)
                return True
        return False

    def _drop_pending(self, mid: str) -> bool:
        before = len(self._new)
        self._new = [m for m in self._new if m.message_id != mid]
        return len(self._new) != before

    def expect_new(self) -> None:
        """This session added mail to the folder (APPEND, COPY): look for it at the
        next refresh without waiting for the event."""
        self._check_new = True

    def note_dropped(self) -> None:
        """The bus dropped our subscription: re-read the whole folder at the next refresh."""
        self._resync = True

    @property
    def has_pending(self) -> bool:
        return bool(
            self._new
            or self._gone
            or self._dirty
            or self._changed
            or self._check_new
            or self._resync
            or self._reported_recent != len(self.recent)
        )

    async def refresh(self, service: ImapService, login: ImapLogin) -> None:
        """Ask the service for what the marked changes are now."""
        folder = self.folder
        if self._resync:
            # Marks are cleared before the query: events arriving meanwhile mark again.
            self._resync = False
            self._check_new = False
            self._dirty.clear()
            try:
                current = await service.messages_after(login, folder, 0)
            except BaseException:
                self._resync = True
                raise
            by_uid = {m.uid: m for m in current}
            for e in self.entries:
                stored = by_uid.get(e.uid)
                if stored is None:
                    self._gone.add(e.message_id)
                elif stored.flags != e.flags:
                    self._changed.add(e.uid)
                    e.flags = stored.flags
            highest = self._uids[-1] if self._uids else 0
            self._new = [m for m in current if m.uid > highest]
            return
        if self._check_new:
            self._check_new = False
            try:
                fresh = await service.messages_after(login, folder, self._highest_uid())
            except BaseException:
                self._check_new = True
                raise
            known = {m.message_id for m in self._new}
            self._new.extend(m for m in fresh if m.message_id not in known)
        if self._dirty:
            ids = sorted(self._dirty)
            self._dirty.clear()
            try:
                flags = await service.current_flags(login, folder, ids)
            except BaseException:
                self._dirty.update(ids)
                raise
            pending = {m.message_id: i for i, m in enumerate(self._new)}
            for mid in ids:
                now = flags.get(mid)
                entry = self._by_id.get(mid)
                if entry is not None:
                    if now is None:
                        self._gone.add(mid)
                    elif now != entry.flags:
                        entry.flags = now
                        self._changed.add(entry.uid)
                elif mid in pending:
                    if now is None:
                        self._drop_pending(mid)
                    else:
                        old = self._new[pending[mid]]
                        self._new[pending[mid]] = ImapMessage(
                            old.message_id,
                            old.uid,
                            now,
                            old.size,
                            old.internal_date,
                            old.envelope_from,
                        )

    def _highest_uid(self) -> int:
        highest = self._uids[-1] if self._uids else 0
        if self._new:
            highest = max(highest, self._new[-1].uid)
        return highest

    def take_updates(self, *, allow_expunge: bool) -> list[Update]:
        """The untagged updates to send now, the view moved on accordingly."""
        updates: list[Update] = []
        if allow_expunge and self._gone:
            gone_uids = [self._by_id[m].uid for m in self._gone if m in self._by_id]
            self._gone.clear()
            updates.extend(ExpungeUpdate(seq) for seq in self.remove_uids(gone_uids))
        for uid in sorted(self._changed):
            seq = self.seq_of(uid)
            if seq is not None:
                e = self.entries[seq - 1]
                updates.append(FlagsUpdate(seq, uid, e.flags, uid in self.recent))
        self._changed.clear()
        if self._new:
            highest = self._uids[-1] if self._uids else 0
            added = False
            for m in sorted(self._new, key=lambda m: m.uid):
                if m.uid <= highest or m.message_id in self._by_id:
                    continue
                entry = Entry.of(m)
                self.entries.append(entry)
                self._uids.append(m.uid)
                self._by_id[m.message_id] = entry
                highest = m.uid
                added = True
                if not self.readonly:
                    # RFC 3501 2.3.2: when it cannot tell which session is first, a
                    # server SHOULD consider the message recent.
                    self.recent.add(m.uid)
            self._new.clear()
            if added:
                updates.append(ExistsUpdate(len(self.entries)))
        if self._reported_recent != len(self.recent) or any(
            isinstance(u, ExistsUpdate) for u in updates
        ):
            self._reported_recent = len(self.recent)
            updates.append(RecentUpdate(len(self.recent)))
        return updates
