"""The Store port over SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Dialect differences are confined to `_insert` (ON CONFLICT) and row locking.
Every public method is one transaction; writes go through the write engine.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Table, and_, case, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from ephemail.adapters.sql import tables as t
from ephemail.adapters.sql.accounts_store import AccountSqlStore
from ephemail.adapters.sql.bulk import BulkInsert
from ephemail.adapters.sql.engine import Engines
from ephemail.adapters.sql.imap_store import ImapSqlStore, structure_columns
from ephemail.adapters.sql.plumbing import event_from_row
from ephemail.adapters.sql.plumbing import utc as _utc
from ephemail.adapters.sql.search import (
    are_few_matches,
    is_small_scope,
    needs_contents,
    search_conditions,
)
from ephemail.adapters.sql.webhooks_store import WebhookSqlStore
from ephemail.domain.address import domain_of
from ephemail.domain.bans import Ban, BanMatch, BanScope, BanStatus
from ephemail.domain.events import DeletionReason, Event, EventType
from ephemail.domain.ids import is_valid_id
from ephemail.domain.messages import (
    INBOX,
    Attachment,
    DomainRecord,
    Mailbox,
    MailboxKind,
    MessageDetail,
    MessageSummary,
    Page,
)
from ephemail.domain.search import SearchQuery
from ephemail.ports import ConflictError, Delivery, InvalidCursorError, StoreError

T = TypeVar("T")

# Transaction-level advisory lock taken before event ids are allocated (PostgreSQL).
_EVENTS_LOCK_KEY = 0x6570_6865_6D01  # "ephem" + 1


def _insert_ignoring_duplicates(table: Table, dialect: Any) -> Any:
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=[table.primary_key.columns[0]])


# The three inserts of every delivery (see bulk.py for why they bypass Core's executemany).
_INSERT_CONTENTS = BulkInsert(t.message_contents, _insert_ignoring_duplicates)
_INSERT_MESSAGES = BulkInsert(t.messages)
_INSERT_EVENTS = BulkInsert(t.events)


class _Inbox(NamedTuple):
    """An existing mailbox as ingest needs it."""

    mailbox_id: int
    folder_id: int
    owned: bool  # no retention for its messages


def _now() -> datetime:
    return datetime.now(UTC)


def _attachments_json(items: Sequence[Attachment]) -> str:
    return json.dumps(
        [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "content_id": a.content_id,
                "disposition": a.disposition,
            }
            for a in items
        ]
    )


def _attachments_from(text: str) -> tuple[Attachment, ...]:
    return tuple(Attachment(**item) for item in json.loads(text))


class SqlStore(ImapSqlStore, AccountSqlStore, WebhookSqlStore):
    """Store backed by SQLite (embedded) or PostgreSQL (scale-out); the IMAP queries
    live in imap_store.py, accounts and ownership in accounts_store.py."""

    def __init__(self, engines: Engines, *, writers: int = 4) -> None:
        self._engines = engines
        self._pg = engines.dialect == "postgresql"
        self._writers = 1 if not self._pg else writers

    @property
    def max_writers(self) -> int:
        return self._writers

    async def close(self) -> None:
        await self._engines.dispose()

    # -- plumbing -------------------------------------------------------------
    def _insert(self, table: Any) -> postgresql.Insert | sqlite.Insert:
        return postgresql.insert(table) if self._pg else sqlite.insert(table)

    async def _run(
        self,
        run: Callable[[Callable[[Connection], T]], Awaitable[T]],
        tx: Callable[[Connection], T],
    ) -> T:
        """Run `tx` once more on a fresh connection if its pooled one had died
        (e.g. PostgreSQL restarted); map every other driver error to StoreError."""
        for attempt in (1, 2):
            try:
                return await run(tx)
            except IntegrityError:
                raise
            except DBAPIError as exc:
                if exc.connection_invalidated and attempt == 1:
                    continue
                raise StoreError(f"{type(exc).__name__}: {exc}") from exc
            except (SQLAlchemyError, OSError) as exc:
                raise StoreError(f"{type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    async def _write(self, tx: Callable[[Connection], T]) -> T:
        """Run `tx` in one write transaction (committed when it returns)."""
        return await self._run(self._engines.run_write, tx)

    async def _read(self, tx: Callable[[Connection], T]) -> T:
        """Run `tx` in one read-only transaction."""
        return await self._run(self._engines.run_read, tx)

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute(select(1)).scalar())

    def _add_events(
        self,
        conn: Connection,
        pending: list[dict[str, Any]],
        *,
        owners: Mapping[str, int] | None = None,
    ) -> list[Event]:
        """Insert event rows (in the caller's transaction) and return them with ids,
        with their webhook deliveries. `owners`: the owning account of addresses whose
        mailbox row is gone already (a deleted mailbox), for account webhooks."""
        if not pending:
            return []
        ids = self._allocate_event_ids(conn, len(pending))
        _INSERT_EVENTS.execute(
            conn,
            [
                {**p, "id": i, "data": json.dumps(p["data"])}
                for i, p in zip(ids, pending, strict=True)
            ],
        )
        events = [
            Event(
                id=i,
                type=EventType(p["type"]),
                mailbox=p["mailbox"],
                message_id=p["message_id"],
                created_at=p["created_at"],
                data=p["data"],
            )
            for i, p in zip(ids, pending, strict=True)
        ]
        # The outbox: webhook deliveries commit with their events or not at all.
        self._enqueue_webhooks(conn, events, owners)
        return events

    def _allocate_event_ids(self, conn: Connection, count: int) -> list[int]:
        """Reserve `count` increasing event ids in this transaction.

        PostgreSQL: from the column's sequence. SQLite: after the AUTOINCREMENT
        high-water mark in sqlite_sequence (the write lock is ours, and explicit
        ids advance the mark, so ids are never reused even after deletions).
        """
        if self._pg:
            # Serialise event-writing transactions from here to commit, so event ids
            # become visible in id order: a reader resuming "after id N" never skips an
            # id that a slower transaction committed later. Events are written last
            # in every transaction, so the lock is held only for the commit itself.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EVENTS_LOCK_KEY})
            rows = conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('events', 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": count},
            )
            return sorted(int(r[0]) for r in rows)
        high = conn.exec_driver_sql(
            "SELECT seq FROM sqlite_sequence WHERE name = 'events'"
        ).scalar()
        start = int(high or 0) + 1
        return list(range(start, start + count))

    # -- ingest ---------------------------------------------------------------
    async def write_deliveries(self, deliveries: Sequence[Delivery]) -> list[Event]:
        return await self._write(lambda conn: self._write_deliveries(conn, deliveries))

    def _write_deliveries(self, conn: Connection, deliveries: Sequence[Delivery]) -> list[Event]:
        now = _now()
        pending_events: list[dict[str, Any]] = []
        per_folder: Counter[str] = Counter()
        for d in deliveries:
            for r in d.recipients:
                per_folder[r.address] += 1
        addresses = sorted(per_folder)

        # 1. Mailboxes (and their INBOX) that exist already; create the others.
        inbox = self._inboxes(conn, addresses)
        missing = [a for a in addresses if a not in inbox]
        new_next_uid: dict[str, int] = {}
        if missing:
            # A new INBOX gets its UIDs here, so it needs no UPDATE below.
            created, events = self._create_mailboxes(
                conn, missing, now, next_uid={a: per_folder[a] + 1 for a in missing}
            )
            pending_events.extend(events)
            for a in created:
                new_next_uid[a] = 1
            inbox.update(self._inboxes(conn, missing))

        # 2. Reserve UIDs in existing INBOXes with one UPDATE ... RETURNING.
        existing = {a: inbox[a] for a in addresses if a not in new_next_uid}
        if existing:
            folder_ids = sorted(box.folder_id for box in existing.values())
            if self._pg and len(folder_ids) > 1:
                # Lock in id order so concurrent writers cannot deadlock (one row cannot).
                conn.execute(
                    select(t.folders.c.id)
                    .where(t.folders.c.id.in_(folder_ids))
                    .order_by(t.folders.c.id)
                    .with_for_update()
                )
            increments = {box.folder_id: per_folder[a] for a, box in existing.items()}
            result = conn.execute(
                update(t.folders)
                .where(t.folders.c.id.in_(folder_ids))
                .values(next_uid=t.folders.c.next_uid + case(increments, value=t.folders.c.id))
                .returning(t.folders.c.id, t.folders.c.next_uid)
            )
            after = {row.id: row.next_uid for row in result}
            if len(after) != len(folder_ids):
                # A mailbox deleted since step 1 (delete_mailbox): try the batch again.
                raise StoreError("a recipient mailbox was deleted meanwhile")
            for a, box in existing.items():
                new_next_uid[a] = after[box.folder_id] - per_folder[a]

        # 3. Raw bytes and derived fields, once per distinct content.
        contents: dict[str, Delivery] = {}
        for d in deliveries:
            contents.setdefault(d.sha256, d)
        self._insert_contents(conn, list(contents.values()))

        # 4. One message row per recipient, then its event.
        message_rows = []
        for d in deliveries:
            for r in d.recipients:
                uid = new_next_uid[r.address]
                new_next_uid[r.address] = uid + 1
                box = inbox[r.address]
                message_rows.append(
                    {
                        "id": r.message_id,
                        "mailbox_id": box.mailbox_id,
                        "folder_id": box.folder_id,
                        "uid": uid,
                        "sha256": d.sha256,
                        "queue_id": d.queue_id,
                        "envelope_from": d.envelope_from,
                        "client_ip": d.client_ip,
                        "seen": False,
                        "flags": "",
                        "size": len(d.raw),
                        "received_at": d.received_at,
                        # Owned mailboxes are not subject to the public retention (SPEC).
                        "expires_at": None if box.owned else r.expires_at,
                    }
                )
                pending_events.append(
                    {
                        "type": EventType.MESSAGE_RECEIVED.value,
                        "mailbox": r.address,
                        "message_id": r.message_id,
                        "data": {
                            "uid": uid,
                            "folder": INBOX,
                            "subject": d.summary.subject,
                            "from": d.summary.from_,
                            "size": len(d.raw),
                            "has_attachments": bool(d.summary.attachments),
                            "envelope_from": d.envelope_from,
                        },
                        "created_at": now,
                    }
                )
        _INSERT_MESSAGES.execute(conn, message_rows)
        return self._add_events(conn, pending_events)

    def _create_mailboxes(
        self,
        conn: Connection,
        addresses: Sequence[str],
        now: datetime,
        *,
        next_uid: dict[str, int] | None = None,
        kind: MailboxKind = MailboxKind.PUBLIC,
        owner_account_id: int | None = None,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """Create mailboxes (public unless `kind` says otherwise) with their INBOX;
        those that exist are skipped.

        Returns the addresses created and their pending `mailbox.created` events.
        """
        created = conn.execute(
            self._insert(t.mailboxes)
            .on_conflict_do_nothing(index_elements=["address"])
            .returning(t.mailboxes.c.id, t.mailboxes.c.address),
            [
                {
                    "address": a,
                    "domain": domain_of(a),
                    "kind": kind.value,
                    "owner_account_id": owner_account_id,
                    "created_at": now,
                }
                for a in addresses
            ],
        )
        created_ids = dict(sorted((row.address, row.id) for row in created))
        if not created_ids:
            return [], []
        uidvalidity = int(time.time()) & 0xFFFFFFFF
        # Later folders of the mailbox get larger UIDVALIDITY values (imap_store.py).
        conn.execute(
            update(t.mailboxes)
            .where(t.mailboxes.c.id.in_(sorted(created_ids.values())))
            .values(uidvalidity_high=uidvalidity)
        )
        conn.execute(
            t.folders.insert(),
            [
                {
                    "mailbox_id": mid,
                    "name": INBOX,
                    "uidvalidity": uidvalidity,
                    "next_uid": (next_uid or {}).get(a, 1),
                    "subscribed": True,
                    "special_use": None,
                    "created_at": now,
                    "recent_uid": 0,
                }
                for a, mid in created_ids.items()
            ],
        )
        events = [
            {
                "type": EventType.MAILBOX_CREATED.value,
                "mailbox": a,
                "message_id": None,
                "data": {"kind": kind.value},
                "created_at": now,
            }
            for a in created_ids
        ]
        return list(created_ids), events

    def _inboxes(self, conn: Connection, addresses: Sequence[str]) -> dict[str, _Inbox]:
        """address -> its mailbox id, INBOX folder id and ownership, for those that exist."""
        if not addresses:
            return {}
        rows = conn.execute(
            select(
                t.mailboxes.c.address,
                t.mailboxes.c.id,
                t.mailboxes.c.kind,
                t.folders.c.id.label("folder_id"),
            )
            .join(
                t.folders,
                and_(t.folders.c.mailbox_id == t.mailboxes.c.id, t.folders.c.name == INBOX),
            )
            .where(t.mailboxes.c.address.in_(addresses))
        )
        owned = MailboxKind.OWNED.value
        return {row.address: _Inbox(row.id, row.folder_id, row.kind == owned) for row in rows}

    def _insert_contents(self, conn: Connection, deliveries: Sequence[Delivery]) -> None:
        """Insert the content rows of `deliveries` (distinct sha256; existing ones kept)."""
        now = _now()
        _INSERT_CONTENTS.execute(conn, [self._content_row(d, now) for d in deliveries])

    @staticmethod
    def _content_row(d: Delivery, now: datetime) -> dict[str, Any]:
        s = d.summary
        return {
            "sha256": d.sha256,
            "raw": d.raw,
            "size": len(d.raw),
            "subject": s.subject,
            "from_header": s.from_,
            "to_header": json.dumps(list(s.to)),
            "cc_header": json.dumps(list(s.cc)),
            "reply_to": json.dumps(list(s.reply_to)),
            "date_header": s.date,
            "message_id_header": s.message_id,
            "text_body": s.text,
            "html_body": s.html,
            "body_text": s.body_text if s.body_text is not None else s.text,
            "attachments": _attachments_json(s.attachments),
            "headers": json.dumps([list(h) for h in s.headers]),
            "has_attachments": bool(s.attachments),
            "defects": json.dumps(list(s.defects)),
            "created_at": now,
            **structure_columns(s.imap),
        }

    # -- policy data ----------------------------------------------------------
    def _bump_policy(self, conn: Connection) -> None:
        conn.execute(
            update(t.policy_state)
            .where(t.policy_state.c.id == 1)
            .values(revision=t.policy_state.c.revision + 1)
        )

    async def policy_revision(self) -> int:
        value = await self._read(
            lambda conn: conn.scalar(
                select(t.policy_state.c.revision).where(t.policy_state.c.id == 1)
            )
        )
        return int(value or 0)

    @staticmethod
    def _domain(row: Any) -> DomainRecord:
        created = _utc(row.created_at)
        assert created is not None
        return DomainRecord(
            id=row.id,
            name=row.name,
            active=row.active,
            shared=row.shared,
            retention_hours=row.retention_hours,
            created_at=created,
            owner_account_id=row.owner_account_id,
        )

    async def list_domains(self) -> list[DomainRecord]:
        rows = await self._read(
            lambda conn: conn.execute(select(t.domains).order_by(t.domains.c.name)).all()
        )
        return [self._domain(r) for r in rows]

    async def add_domain(
        self, name: str, *, active: bool, shared: bool, retention_hours: float | None
    ) -> DomainRecord:
        def tx(conn: Connection) -> DomainRecord:
            row = conn.execute(
                t.domains.insert()
                .values(
                    name=name,
                    active=active,
                    shared=shared,
                    retention_hours=retention_hours,
                    created_at=_now(),
                )
                .returning(*t.domains.c)
            ).one()
            self._bump_policy(conn)
            return self._domain(row)

        try:
            return await self._write(tx)
        except IntegrityError as exc:
            raise ConflictError(f"domain {name} exists already") from exc

    async def remove_domain(self, name: str) -> bool:
        def tx(conn: Connection) -> bool:
            result = conn.execute(delete(t.domains).where(t.domains.c.name == name))
            if result.rowcount:
                self._bump_policy(conn)
            return bool(result.rowcount)

        return await self._write(tx)

    @staticmethod
    def _ban(row: Any) -> Ban:
        return Ban(
            scope=BanScope(row.scope),
            match=BanMatch(row.match),
            value=row.value,
            status=BanStatus(row.status),
            reason=row.reason,
            id=row.id,
            created_at=_utc(row.created_at),
        )

    async def list_bans(self) -> list[Ban]:
        rows = await self._read(
            lambda conn: conn.execute(select(t.bans).order_by(t.bans.c.id)).all()
        )
        return [self._ban(r) for r in rows]

    async def add_ban(self, ban: Ban) -> Ban:
        def tx(conn: Connection) -> Ban:
            row = conn.execute(
                t.bans.insert()
                .values(
                    scope=ban.scope.value,
                    match=ban.match.value,
                    value=ban.value,
                    status=ban.status.value,
                    reason=ban.reason,
                    created_at=_now(),
                )
                .returning(*t.bans.c)
            ).one()
            self._bump_policy(conn)
            return self._ban(row)

        try:
            return await self._write(tx)
        except IntegrityError as exc:
            raise ConflictError(
                f"a {ban.match.value} {ban.scope.value} ban on {ban.value!r} exists already"
            ) from exc

    async def remove_ban(self, ban_id: int) -> bool:
        def tx(conn: Connection) -> bool:
            result = conn.execute(delete(t.bans).where(t.bans.c.id == ban_id))
            if result.rowcount:
                self._bump_policy(conn)
            return bool(result.rowcount)

        return await self._write(tx)

    # -- reading --------------------------------------------------------------
    async def get_mailbox(self, address: str) -> Mailbox | None:
        row = await self._read(
            lambda conn: conn.execute(
                select(t.mailboxes).where(t.mailboxes.c.address == address)
            ).first()
        )
        return self._mailbox(row) if row is not None else None

    @staticmethod
    def _mailbox(row: Any) -> Mailbox:
        created = _utc(row.created_at)
        assert created is not None
        return Mailbox(
            row.id,
            row.address,
            MailboxKind(row.kind),
            row.domain,
            created,
            owner_account_id=row.owner_account_id,
            max_messages=row.max_messages,
        )

    _SUMMARY_COLUMNS = (
        t.messages.c.id,
        t.messages.c.uid,
        t.messages.c.seen,
        t.messages.c.flags,
        t.messages.c.size,
        t.messages.c.received_at,
        t.messages.c.expires_at,
        t.messages.c.envelope_from,
        t.message_contents.c.subject,
        t.message_contents.c.from_header,
        t.message_contents.c.to_header,
        t.message_contents.c.cc_header,
        t.message_contents.c.date_header,
        t.message_contents.c.has_attachments,
        t.mailboxes.c.address,
        t.folders.c.name.label("folder"),
    )

    @staticmethod
    def _summary(row: Any) -> MessageSummary:
        received = _utc(row.received_at)
        assert received is not None
        return MessageSummary(
            id=row.id,
            mailbox=row.address,
            folder=row.folder,
            uid=row.uid,
            subject=row.subject,
            from_=row.from_header,
            to=tuple(json.loads(row.to_header)),
            cc=tuple(json.loads(row.cc_header)),
            date=_utc(row.date_header),
            received_at=received,
            size=row.size,
            seen=row.seen,
            has_attachments=row.has_attachments,
            envelope_from=row.envelope_from,
            expires_at=_utc(row.expires_at),
            flags=tuple(row.flags.split()) if row.flags else (),
        )

    @staticmethod
    def _joined() -> Any:
        return (
            t.messages.join(t.message_contents, t.message_contents.c.sha256 == t.messages.c.sha256)
            .join(t.folders, t.folders.c.id == t.messages.c.folder_id)
            .join(t.mailboxes, t.mailboxes.c.id == t.messages.c.mailbox_id)
        )

    async def list_messages(
        self, address: str, *, limit: int, cursor: str | None, folder: str = INBOX
    ) -> Page:
        if cursor is not None and not is_valid_id(cursor):
            raise InvalidCursorError("invalid cursor")

        def tx(conn: Connection) -> Page:
            folder_id = conn.scalar(
                select(t.folders.c.id)
                .join(t.mailboxes, t.mailboxes.c.id == t.folders.c.mailbox_id)
                .where(t.mailboxes.c.address == address, t.folders.c.name == folder)
            )
            if folder_id is None:
                return Page()
            query = (
                select(*self._SUMMARY_COLUMNS)
                .select_from(self._joined())
                .where(t.messages.c.folder_id == folder_id)
                .order_by(t.messages.c.id.desc())
                .limit(limit + 1)
            )
            if cursor is not None:
                query = query.where(t.messages.c.id < cursor.upper())
            rows = conn.execute(query).all()
            unseen = func.sum(case((t.messages.c.seen.is_(False), 1), else_=0))
            total, unread = conn.execute(
                select(func.count(), func.coalesce(unseen, 0)).where(
                    t.messages.c.folder_id == folder_id
                )
            ).one()
            items = [self._summary(r) for r in rows[:limit]]
            next_cursor = items[-1].id if len(rows) > limit and items else None
            return Page(items=items, next_cursor=next_cursor, total=total, unread=int(unread))

        return await self._read(tx)

    async def get_message(self, message_id: str) -> MessageDetail | None:
        if not is_valid_id(message_id):
            return None
        row = await self._read(
            lambda conn: conn.execute(
                select(
                    *self._SUMMARY_COLUMNS,
                    t.messages.c.sha256,
                    t.messages.c.queue_id,
                    t.message_contents.c.reply_to,
                    t.message_contents.c.message_id_header,
                    t.message_contents.c.text_body,
                    t.message_contents.c.html_body,
                    t.message_contents.c.attachments,
                    t.message_contents.c.headers,
                )
                .select_from(self._joined())
                .where(t.messages.c.id == message_id.upper())
            ).first()
        )
        if row is None:
            return None
        return MessageDetail(
            summary=self._summary(row),
            reply_to=tuple(json.loads(row.reply_to)),
            message_id=row.message_id_header,
            text=row.text_body,
            html=row.html_body,
            attachments=_attachments_from(row.attachments),
            headers=tuple((h[0], h[1]) for h in json.loads(row.headers)),
            sha256=row.sha256,
            queue_id=row.queue_id,
        )

    async def get_raw(self, message_id: str) -> bytes | None:
        if not is_valid_id(message_id):
            return None
        raw = await self._read(
            lambda conn: conn.scalar(
                select(t.message_contents.c.raw)
                .join(t.messages, t.messages.c.sha256 == t.message_contents.c.sha256)
                .where(t.messages.c.id == message_id.upper())
            )
        )
        return bytes(raw) if raw is not None else None

    async def search_messages(
        self, query: SearchQuery, *, address: str | None, limit: int, cursor: str | None
    ) -> Page:
        """Messages matching `query` in every folder of mailbox `address` (None: every
        mailbox), newest first, paged like `list_messages`; `total` and `unread` count
        every match. The text index does the matching (adapters/sql/search.py)."""
        if cursor is not None and not is_valid_id(cursor):
            raise InvalidCursorError("invalid cursor")
        before = cursor.upper() if cursor is not None else None
        m = t.messages.c
        matches: Any = t.messages
        if needs_contents(query, postgresql=self._pg):
            matches = matches.join(t.message_contents, t.message_contents.c.sha256 == m.sha256)

        def tx(conn: Connection) -> Page:
            size: int | None = None
            scope: list[Any] = []
            if address is not None:
                mailbox_id = conn.scalar(
                    select(t.mailboxes.c.id).where(t.mailboxes.c.address == address)
                )
                if mailbox_id is None:
                    return Page()
                scope = [m.mailbox_id == mailbox_id]
                size = conn.scalar(select(func.count()).where(*scope))
            where = [*search_conditions(query, postgresql=self._pg, scope_size=size), *scope]
            if is_small_scope(size):
                # One statement for the page and the counts: at most a few hundred rows.
                found = conn.execute(
                    select(m.id, m.seen).select_from(matches).where(*where).order_by(m.id.desc())
                ).all()
                total, unread = len(found), sum(1 for r in found if not r.seen)
                ids = [r.id for r in found if before is None or r.id < before][: limit + 1]
            else:
                # Counts first (through the index, always cheap), then one page of ids.
                unseen = func.sum(case((m.seen.is_(False), 1), else_=0))
                total, unread = conn.execute(
                    select(func.count(), func.coalesce(unseen, 0))
                    .select_from(matches)
                    .where(*where)
                ).one()
                few = are_few_matches(total)
                if not few and not self._pg:
                    ordered = search_conditions(query, postgresql=False, in_id_order=True)
                    where = [*ordered, *scope]
                page = select(m.id).select_from(matches).where(*where)
                if before is not None:
                    page = page.where(m.id < before)
                ids = self._newest_ids(conn, page, few=few, count=limit + 1)
            rows = (
                conn.execute(
                    select(*self._SUMMARY_COLUMNS)
                    .select_from(self._joined())
                    .where(m.id.in_(ids[:limit]))
                    .order_by(m.id.desc())
                ).all()
                if ids
                else []
            )
            return Page(
                items=[self._summary(r) for r in rows],
                next_cursor=ids[limit - 1] if len(ids) > limit else None,
                total=total,
                unread=int(unread),
            )

        return await self._read(tx)

    @staticmethod
    def _newest_ids(conn: Connection, page: Any, *, few: bool, count: int) -> list[str]:
        """The first `count` ids of the `page` query (selecting messages.id), newest first.

        With few matches, all of them are read and then sorted: left alone, a planner may
        walk every message in id order hoping to meet the matches early (PostgreSQL did,
        60 ms for 415 matches among 100,000). With many, walking in id order is right."""
        if few:
            found = page.offset(0).subquery()
            newest = select(found.c.id).order_by(found.c.id.desc())
        else:
            newest = page.order_by(t.messages.c.id.desc())
        return list(conn.scalars(newest.limit(count)))

    async def count_messages(self) -> int:
        value = await self._read(
            lambda conn: conn.scalar(select(func.count()).select_from(t.messages))
        )
        return int(value or 0)

    async def last_event_id(self) -> int:
        value = await self._read(lambda conn: conn.scalar(select(func.max(t.events.c.id))))
        return int(value or 0)

    async def mailbox_message_ids(self, address: str, *, limit: int) -> list[str]:
        """Ids of up to `limit` messages of a mailbox (every folder), oldest first."""
        return list(
            await self._read(
                lambda conn: conn.scalars(
                    select(t.messages.c.id)
                    .join(t.mailboxes, t.mailboxes.c.id == t.messages.c.mailbox_id)
                    .where(t.mailboxes.c.address == address)
                    .order_by(t.messages.c.id)
                    .limit(limit)
                ).all()
            )
        )

    # -- changes made by readers ---------------------------------------------
    async def create_mailbox(self, address: str) -> tuple[Mailbox, list[Event]]:
        """Create a public mailbox (with its INBOX) unless it exists.

        Returns the mailbox and the `mailbox.created` event written in the same
        transaction (none when the mailbox existed already).
        """

        def tx(conn: Connection) -> tuple[Any, list[Event]]:
            _, pending = self._create_mailboxes(conn, [address], _now())
            events = self._add_events(conn, pending)
            row = conn.execute(select(t.mailboxes).where(t.mailboxes.c.address == address)).one()
            return row, events

        row, events = await self._write(tx)
        return self._mailbox(row), events

    async def set_seen(self, message_ids: Sequence[str], seen: bool) -> list[Event]:
        """Set the \\Seen state; a `message.read` event for each message that changed."""
        ids = [m.upper() for m in message_ids if is_valid_id(m)]
        if not ids:
            return []

        def tx(conn: Connection) -> list[Event]:
            rows = conn.execute(
                update(t.messages)
                .where(t.messages.c.id.in_(ids), t.messages.c.seen.is_not(seen))
                .values(seen=seen)
                .returning(
                    t.messages.c.id,
                    t.messages.c.uid,
                    t.messages.c.mailbox_id,
                    t.messages.c.folder_id,
                )
            ).all()
            if not rows:
                return []
            mailbox_rows = conn.execute(
                select(t.mailboxes.c.id, t.mailboxes.c.address).where(
                    t.mailboxes.c.id.in_(sorted({r.mailbox_id for r in rows}))
                )
            ).all()
            addresses = {m.id: m.address for m in mailbox_rows}
            folder_names = {
                f.id: f.name
                for f in conn.execute(
                    select(t.folders.c.id, t.folders.c.name).where(
                        t.folders.c.id.in_(sorted({r.folder_id for r in rows}))
                    )
                )
            }
            now = _now()
            return self._add_events(
                conn,
                [
                    {
                        "type": EventType.MESSAGE_READ.value,
                        "mailbox": addresses[r.mailbox_id],
                        "message_id": r.id,
                        "data": {"seen": seen, "uid": r.uid, "folder": folder_names[r.folder_id]},
                        "created_at": now,
                    }
                    for r in sorted(rows, key=lambda r: r.id)
                ],
            )

        return await self._write(tx)

    # -- lifecycle ------------------------------------------------------------
    async def delete_messages(
        self, message_ids: Sequence[str], reason: DeletionReason
    ) -> list[Event]:
        ids = [m.upper() for m in message_ids if is_valid_id(m)]
        if not ids:
            return []
        return await self._write(lambda conn: self._delete(conn, ids, reason))

    async def delete_expired(self, now: datetime, limit: int) -> list[Event]:
        def tx(conn: Connection) -> list[Event]:
            ids = list(
                conn.scalars(
                    select(t.messages.c.id)
                    .join(t.mailboxes, t.mailboxes.c.id == t.messages.c.mailbox_id)
                    # Owned mailboxes are not subject to the public retention (SPEC), even
                    # for a message whose expiry was set before its mailbox was adopted.
                    .where(
                        t.messages.c.expires_at.is_not(None),
                        t.messages.c.expires_at <= now,
                        t.mailboxes.c.kind != MailboxKind.OWNED.value,
                    )
                    .order_by(t.messages.c.expires_at)
                    .limit(limit)
                ).all()
            )
            return self._delete(conn, ids, DeletionReason.RETENTION) if ids else []

        return await self._write(tx)

    def _delete(self, conn: Connection, ids: list[str], reason: DeletionReason) -> list[Event]:
        rows = (
            conn.execute(
                select(
                    t.messages.c.id,
                    t.messages.c.sha256,
                    t.messages.c.uid,
                    t.mailboxes.c.address,
                    t.folders.c.name.label("folder"),
                )
                .join(t.mailboxes, t.mailboxes.c.id == t.messages.c.mailbox_id)
                .join(t.folders, t.folders.c.id == t.messages.c.folder_id)
                .where(t.messages.c.id.in_(ids))
            )
        ).all()
        if not rows:
            return []
        found = [r.id for r in rows]
        conn.execute(delete(t.messages).where(t.messages.c.id.in_(found)))
        # Drop raw bytes nobody refers to any more.
        hashes = sorted({r.sha256 for r in rows})
        still_used = select(t.messages.c.sha256).where(t.messages.c.sha256.in_(hashes))
        conn.execute(
            delete(t.message_contents).where(
                t.message_contents.c.sha256.in_(hashes),
                t.message_contents.c.sha256.not_in(still_used),
            )
        )
        now = _now()
        return self._add_events(
            conn,
            [
                {
                    "type": EventType.MESSAGE_DELETED.value,
                    "mailbox": r.address,
                    "message_id": r.id,
                    "data": {"reason": reason.value, "uid": r.uid, "folder": r.folder},
                    "created_at": now,
                }
                for r in rows
            ],
        )

    async def events_after(
        self, after_id: int, limit: int, *, mailboxes: Sequence[str] | None = None
    ) -> list[Event]:
        query = select(t.events).where(t.events.c.id > after_id)
        if mailboxes is not None:
            query = query.where(t.events.c.mailbox.in_(sorted(set(mailboxes))))
        query = query.order_by(t.events.c.id).limit(limit)
        rows = await self._read(lambda conn: conn.execute(query).all())
        return [event_from_row(r) for r in rows]
