"""The account queries of the SQL store: accounts, tokens, web sessions, server
secrets, owned and claimed mailboxes, usage and statistics.

`AccountSqlStore` is mixed into `SqlStore` (store.py), which provides the transaction
plumbing (`_read`, `_write`, `_add_events`, `_delete`, `_create_mailboxes`, ...).
Deleting a mailbox goes through the store's `_delete`, so every message gets the same
`message.deleted` event and content clean-up as any other deletion.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ephemail.adapters.sql import tables as t
from ephemail.adapters.sql.plumbing import SqlPlumbing
from ephemail.adapters.sql.plumbing import aware as _utc
from ephemail.adapters.sql.plumbing import utc as _utc_or_none
from ephemail.domain.accounts import (
    Account,
    Role,
    Scope,
    SubscriptionStatus,
    TokenInfo,
    TokenKind,
    token_prefix,
)
from ephemail.domain.events import DeletionReason, Event, EventType
from ephemail.domain.messages import Mailbox, MailboxKind
from ephemail.ports import UNSET, ConflictError, MailboxUsage, WebSession, _Unset

T = TypeVar("T")

# Message ids per `_delete` call: far below every driver's parameter limit.
_DELETE_CHUNK = 500


def _now() -> datetime:
    return datetime.now(UTC)


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        email=row.email,
        role=Role(row.role),
        subscription_status=SubscriptionStatus(row.subscription_status),
        subscription_ends_at=_utc_or_none(row.subscription_ends_at),
        quota_bytes=row.quota_bytes,
        created_at=_utc(row.created_at),
    )


def scopes_text(scopes: frozenset[Scope]) -> str:
    """The `scopes` column: Scope values, sorted, comma-separated."""
    return ",".join(sorted(s.value for s in scopes))


def scopes_of(text: str) -> frozenset[Scope]:
    """Scopes of a `scopes` column; unknown values (from a newer version) are ignored."""
    known = {s.value for s in Scope}
    return frozenset(Scope(v) for v in text.split(",") if v in known)


def _token(row: Any) -> TokenInfo:
    kind = TokenKind(row.kind)
    return TokenInfo(
        id=row.id,
        account_id=row.account_id,
        kind=kind,
        name=row.name,
        scopes=scopes_of(row.scopes),
        prefix=token_prefix(kind, row.public_id),
        created_at=_utc(row.created_at),
        expires_at=_utc_or_none(row.expires_at),
        last_used_at=_utc_or_none(row.last_used_at),
        revoked_at=_utc_or_none(row.revoked_at),
    )


def _session(row: Any) -> WebSession:
    return WebSession(
        id=row.id,
        account_id=row.account_id,
        digest=row.digest,
        created_at=_utc(row.created_at),
        expires_at=_utc(row.expires_at),
    )


class AccountSqlStore(SqlPlumbing):
    """The `AccountStore` port; mixed into SqlStore, which defines the plumbing."""

    @staticmethod
    def _mailbox(row: Any) -> Mailbox:
        raise NotImplementedError

    def _bump_policy(self, conn: Connection) -> None:
        raise NotImplementedError

    def _locked(self, query: Any, *, key: bool = True) -> Any:
        """`query` FOR UPDATE on PostgreSQL (SQLite has one writer at a time); with
        `key=False`, FOR NO KEY UPDATE: enough to change other columns, and it lets
        deliveries in flight insert messages referring to the row meanwhile."""
        if not self._pg:
            return query
        return query.with_for_update(key_share=not key)

    # -- accounts -------------------------------------------------------------------
    async def create_account(
        self,
        email: str,
        password_hash: str,
        *,
        role: Role,
        subscription_status: SubscriptionStatus,
        subscription_ends_at: datetime | None,
        quota_bytes: int | None,
    ) -> Account:
        def tx(conn: Connection) -> Any:
            row = conn.execute(
                t.accounts.insert()
                .values(
                    email=email,
                    password_hash=password_hash,
                    role=role.value,
                    subscription_status=subscription_status.value,
                    subscription_ends_at=subscription_ends_at,
                    quota_bytes=quota_bytes,
                    created_at=_now(),
                )
                .returning(*t.accounts.c)
            ).one()
            if quota_bytes is not None:
                self._bump_policy(conn)  # quota rules now exist: see quota_rules_exist
            return row

        try:
            row = await self._write(tx)
        except IntegrityError as exc:
            raise ConflictError("an account with this email exists already") from exc
        return _account(row)

    async def get_account(self, account_id: int) -> Account | None:
        row = await self._read(
            lambda conn: conn.execute(
                select(t.accounts).where(t.accounts.c.id == account_id)
            ).first()
        )
        return _account(row) if row is not None else None

    async def account_by_email(self, email: str) -> tuple[Account, str] | None:
        row = await self._read(
            lambda conn: conn.execute(select(t.accounts).where(t.accounts.c.email == email)).first()
        )
        return (_account(row), row.password_hash) if row is not None else None

    async def list_accounts(self) -> list[Account]:
        rows = await self._read(
            lambda conn: conn.execute(
                select(t.accounts).order_by(t.accounts.c.created_at, t.accounts.c.id)
            ).all()
        )
        return [_account(r) for r in rows]

    async def count_accounts(self) -> int:
        value = await self._read(
            lambda conn: conn.scalar(select(func.count()).select_from(t.accounts))
        )
        return int(value or 0)

    async def update_account(
        self,
        account_id: int,
        *,
        password_hash: str | _Unset = UNSET,
        role: Role | _Unset = UNSET,
        subscription_status: SubscriptionStatus | _Unset = UNSET,
        subscription_ends_at: datetime | _Unset | None = UNSET,
        quota_bytes: int | _Unset | None = UNSET,
    ) -> Account | None:
        values: dict[str, Any] = {}
        if not isinstance(password_hash, _Unset):
            values["password_hash"] = password_hash
        if not isinstance(role, _Unset):
            values["role"] = role.value
        if not isinstance(subscription_status, _Unset):
            values["subscription_status"] = subscription_status.value
        if not isinstance(subscription_ends_at, _Unset):
            values["subscription_ends_at"] = subscription_ends_at
        if not isinstance(quota_bytes, _Unset):
            values["quota_bytes"] = quota_bytes

        def tx(conn: Connection) -> Any:
            if not values:
                return conn.execute(select(t.accounts).where(t.accounts.c.id == account_id)).first()
            row = conn.execute(
                update(t.accounts)
                .where(t.accounts.c.id == account_id)
                .values(**values)
                .returning(*t.accounts.c)
            ).first()
            if row is not None and "quota_bytes" in values:
                self._bump_policy(conn)  # every node re-reads quota_rules_exist
            if row is not None and "password_hash" in values:
                # A new password ends every signed-in browser session of the account.
                conn.execute(
                    delete(t.web_sessions).where(t.web_sessions.c.account_id == account_id)
                )
            return row

        row = await self._write(tx)
        return _account(row) if row is not None else None

    async def delete_account(self, account_id: int) -> list[Event] | None:
        def tx(conn: Connection) -> list[Event] | None:
            # The lock makes a concurrent create_owned_mailbox for this account wait
            # (and then find no account) rather than leave an ownerless mailbox behind.
            found = conn.scalar(
                self._locked(select(t.accounts.c.id).where(t.accounts.c.id == account_id))
            )
            if found is None:
                return None
            owned = conn.scalars(
                select(t.mailboxes.c.id)
                .where(t.mailboxes.c.owner_account_id == account_id)
                .order_by(t.mailboxes.c.address)
            ).all()
            events: list[Event] = []
            for mailbox_id in owned:
                events.extend(self._delete_mailbox(conn, mailbox_id) or [])
            unowned = conn.execute(
                update(t.domains)
                .where(t.domains.c.owner_account_id == account_id)
                .values(owner_account_id=None)
            )
            if unowned.rowcount:
                self._bump_policy(conn)
            conn.execute(delete(t.web_sessions).where(t.web_sessions.c.account_id == account_id))
            conn.execute(delete(t.tokens).where(t.tokens.c.account_id == account_id))
            conn.execute(delete(t.accounts).where(t.accounts.c.id == account_id))
            return events

        return await self._write(tx)

    # -- tokens -----------------------------------------------------------------------
    async def create_token(
        self,
        account_id: int,
        *,
        kind: TokenKind,
        name: str,
        scopes: frozenset[Scope],
        public_id: str,
        digest: str,
        expires_at: datetime | None,
    ) -> TokenInfo:
        def tx(conn: Connection) -> Any:
            return conn.execute(
                t.tokens.insert()
                .values(
                    account_id=account_id,
                    kind=kind.value,
                    name=name,
                    scopes=scopes_text(scopes),
                    public_id=public_id,
                    digest=digest,
                    created_at=_now(),
                    expires_at=expires_at,
                    last_used_at=None,
                    revoked_at=None,
                )
                .returning(*t.tokens.c)
            ).one()

        try:
            row = await self._write(tx)
        except IntegrityError as exc:
            # A public id drawn twice (2^-64), or an account deleted meanwhile.
            raise ConflictError("cannot store the token") from exc
        return _token(row)

    async def token_by_public_id(self, public_id: str) -> tuple[TokenInfo, str] | None:
        row = await self._read(
            lambda conn: conn.execute(
                select(t.tokens).where(t.tokens.c.public_id == public_id)
            ).first()
        )
        return (_token(row), row.digest) if row is not None else None

    async def list_tokens(self, account_id: int) -> list[TokenInfo]:
        rows = await self._read(
            lambda conn: conn.execute(
                select(t.tokens)
                .where(t.tokens.c.account_id == account_id)
                .order_by(t.tokens.c.created_at.desc(), t.tokens.c.id.desc())
            ).all()
        )
        return [_token(r) for r in rows]

    async def revoke_token(self, token_id: int, *, account_id: int | None, now: datetime) -> bool:
        """Revoke the token; one revoked already keeps its first `revoked_at`."""
        query = (
            update(t.tokens)
            .where(t.tokens.c.id == token_id)
            .values(revoked_at=func.coalesce(t.tokens.c.revoked_at, now))
        )
        if account_id is not None:
            query = query.where(t.tokens.c.account_id == account_id)
        result = await self._write(lambda conn: conn.execute(query))
        return bool(result.rowcount)

    async def touch_token(self, token_id: int, now: datetime) -> None:
        await self._write(
            lambda conn: conn.execute(
                update(t.tokens).where(t.tokens.c.id == token_id).values(last_used_at=now)
            )
        )

    # -- web sessions -------------------------------------------------------------------
    async def create_session(
        self, account_id: int, digest: str, *, created_at: datetime, expires_at: datetime
    ) -> WebSession:
        row = await self._write(
            lambda conn: conn.execute(
                t.web_sessions.insert()
                .values(
                    account_id=account_id,
                    digest=digest,
                    created_at=created_at,
                    expires_at=expires_at,
                )
                .returning(*t.web_sessions.c)
            ).one()
        )
        return _session(row)

    async def get_session(self, session_id: int) -> WebSession | None:
        row = await self._read(
            lambda conn: conn.execute(
                select(t.web_sessions).where(t.web_sessions.c.id == session_id)
            ).first()
        )
        return _session(row) if row is not None else None

    async def delete_session(self, session_id: int) -> None:
        await self._write(
            lambda conn: conn.execute(
                delete(t.web_sessions).where(t.web_sessions.c.id == session_id)
            )
        )

    async def delete_expired_sessions(self, now: datetime) -> int:
        result = await self._write(
            lambda conn: conn.execute(
                delete(t.web_sessions).where(t.web_sessions.c.expires_at <= now)
            )
        )
        return int(result.rowcount or 0)

    # -- server secrets -------------------------------------------------------------------
    async def server_secret(self, name: str, candidate: str) -> str:
        """INSERT ... ON CONFLICT DO NOTHING, then read: when two nodes race, the
        second INSERT waits for the first to commit and does nothing, and both read
        the first value."""
        insert = self._insert_ignoring(t.server_secrets, "name")

        def tx(conn: Connection) -> str:
            conn.execute(insert.values(name=name, value=candidate, created_at=_now()))
            value: str = conn.execute(
                select(t.server_secrets.c.value).where(t.server_secrets.c.name == name)
            ).scalar_one()
            return value

        return await self._write(tx)

    def _insert_ignoring(self, table: Any, key: str) -> Any:
        insert = postgresql.insert if self._pg else sqlite.insert
        return insert(table).on_conflict_do_nothing(index_elements=[key])

    # -- owned and claimed mailboxes ----------------------------------------------------
    def _mailbox_row(self, conn: Connection, address: str, *, lock: bool = False) -> Any:
        """The mailbox row; `lock`: held until commit to change its kind or owner."""
        query = select(t.mailboxes).where(t.mailboxes.c.address == address)
        return conn.execute(self._locked(query, key=False) if lock else query).first()

    async def create_owned_mailbox(
        self, address: str, account_id: int, *, adopt_public: bool
    ) -> tuple[Mailbox, list[Event]]:
        def tx(conn: Connection) -> tuple[Any, list[Event]]:
            # Locked, so that delete_account cannot remove the account meanwhile.
            account = conn.scalar(
                self._locked(select(t.accounts.c.id).where(t.accounts.c.id == account_id))
            )
            if account is None:
                raise ConflictError(f"account {account_id} does not exist")
            now = _now()
            existing = self._mailbox_row(conn, address, lock=True)
            if existing is None:
                created, pending = self._create_mailboxes(
                    conn,
                    [address],
                    now,
                    kind=MailboxKind.OWNED,
                    owner_account_id=account_id,
                )
                if not created:  # created by someone else between the two statements
                    raise ConflictError(f"mailbox {address} exists")
            elif adopt_public and existing.kind == MailboxKind.PUBLIC.value:
                conn.execute(
                    update(t.mailboxes)
                    .where(t.mailboxes.c.id == existing.id)
                    .values(
                        kind=MailboxKind.OWNED.value,
                        owner_account_id=account_id,
                        password_hash=None,
                    )
                )
                # Its messages are no longer subject to the public retention.
                conn.execute(
                    update(t.messages)
                    .where(
                        t.messages.c.mailbox_id == existing.id,
                        t.messages.c.expires_at.is_not(None),
                    )
                    .values(expires_at=None)
                )
                pending = [
                    {
                        "type": EventType.MAILBOX_CREATED.value,
                        "mailbox": address,
                        "message_id": None,
                        "data": {"kind": MailboxKind.OWNED.value, "adopted": True},
                        "created_at": now,
                    }
                ]
            else:
                raise ConflictError(f"mailbox {address} exists")
            # Webhooks anyone could create on the address while it was public (or
            # before it existed) stop until the owner enables them.
            self._disable_mailbox_webhooks(
                conn,
                address,
                "the mailbox now belongs to an account: its owner may enable it",
                keep_account=account_id,
            )
            events = self._add_events(conn, pending)
            return self._mailbox_row(conn, address), events

        row, events = await self._write(tx)
        return self._mailbox(row), events

    async def list_owned_mailboxes(self, account_id: int) -> list[Mailbox]:
        rows = await self._read(
            lambda conn: conn.execute(
                select(t.mailboxes)
                .where(
                    t.mailboxes.c.owner_account_id == account_id,
                    t.mailboxes.c.kind == MailboxKind.OWNED.value,
                )
                .order_by(t.mailboxes.c.created_at, t.mailboxes.c.id)
            ).all()
        )
        return [self._mailbox(r) for r in rows]

    async def list_mailboxes(self, *, limit: int, after: str | None) -> list[Mailbox]:
        query = select(t.mailboxes).order_by(t.mailboxes.c.address).limit(limit)
        if after is not None:
            query = query.where(t.mailboxes.c.address > after)
        rows = await self._read(lambda conn: conn.execute(query).all())
        return [self._mailbox(r) for r in rows]

    def _delete_mailbox(self, conn: Connection, mailbox_id: int) -> list[Event] | None:
        """Delete one mailbox with its messages and folders: `message.deleted` (reason
        mailbox deleted) per message, through the store's `_delete`, then
        `mailbox.deleted`. None when it is gone already."""
        if self._pg:
            # Folders first, as deliveries lock them (their INBOX) before the mailbox
            # row: in-flight deliveries finish first, so their messages get an event
            # here rather than vanish in the cascade, and the lock order cannot deadlock.
            conn.execute(
                select(t.folders.c.id)
                .where(t.folders.c.mailbox_id == mailbox_id)
                .order_by(t.folders.c.id)
                .with_for_update()
            )
        mailbox = conn.execute(
            self._locked(
                select(
                    t.mailboxes.c.id,
                    t.mailboxes.c.address,
                    t.mailboxes.c.kind,
                    t.mailboxes.c.owner_account_id,
                ).where(t.mailboxes.c.id == mailbox_id)
            )
        ).first()
        if mailbox is None:
            return None
        ids = list(
            conn.scalars(
                select(t.messages.c.id)
                .where(t.messages.c.mailbox_id == mailbox_id)
                .order_by(t.messages.c.id)
            )
        )
        events: list[Event] = []
        for start in range(0, len(ids), _DELETE_CHUNK):
            part = ids[start : start + _DELETE_CHUNK]
            events.extend(self._delete(conn, part, DeletionReason.MAILBOX_DELETED))
        conn.execute(delete(t.folders).where(t.folders.c.mailbox_id == mailbox_id))
        conn.execute(delete(t.mailboxes).where(t.mailboxes.c.id == mailbox_id))
        deleted = {
            "type": EventType.MAILBOX_DELETED.value,
            "mailbox": mailbox.address,
            "message_id": None,
            "data": {"kind": mailbox.kind},
            "created_at": _now(),
        }
        # The owner, for account webhooks: the row is gone when they are matched.
        owner = mailbox.owner_account_id
        owners = {mailbox.address: int(owner)} if owner is not None else None
        events.extend(self._add_events(conn, [deleted], owners=owners))
        self._drop_mailbox_webhooks(conn, mailbox.address)
        return events

    async def delete_mailbox(self, address: str) -> list[Event] | None:
        def tx(conn: Connection) -> list[Event] | None:
            mailbox_id = conn.scalar(
                select(t.mailboxes.c.id).where(t.mailboxes.c.address == address)
            )
            return None if mailbox_id is None else self._delete_mailbox(conn, mailbox_id)

        return await self._write(tx)

    async def claim_mailbox(self, address: str, password_hash: str) -> tuple[Mailbox, list[Event]]:
        def tx(conn: Connection) -> tuple[Any, list[Event]]:
            now = _now()
            _, pending = self._create_mailboxes(conn, [address], now)
            row = self._mailbox_row(conn, address, lock=True)
            if row.kind != MailboxKind.PUBLIC.value:
                raise ConflictError(f"mailbox {address} is {row.kind} already")
            conn.execute(
                update(t.mailboxes)
                .where(t.mailboxes.c.id == row.id)
                .values(kind=MailboxKind.CLAIMED.value, password_hash=password_hash)
            )
            self._disable_mailbox_webhooks(
                conn, address, "the mailbox was claimed: enable it again with its password"
            )
            pending.append(
                {
                    "type": EventType.MAILBOX_CLAIMED.value,
                    "mailbox": address,
                    "message_id": None,
                    "data": {"kind": MailboxKind.CLAIMED.value},
                    "created_at": now,
                }
            )
            events = self._add_events(conn, pending)
            return self._mailbox_row(conn, address), events

        row, events = await self._write(tx)
        return self._mailbox(row), events

    async def release_mailbox(self, address: str) -> tuple[Mailbox, list[Event]] | None:
        def tx(conn: Connection) -> tuple[Any, list[Event]] | None:
            row = self._mailbox_row(conn, address, lock=True)
            if row is None or row.kind != MailboxKind.CLAIMED.value:
                return None
            conn.execute(
                update(t.mailboxes)
                .where(t.mailboxes.c.id == row.id)
                .values(kind=MailboxKind.PUBLIC.value, password_hash=None)
            )
            events = self._add_events(
                conn,
                [
                    {
                        "type": EventType.MAILBOX_RELEASED.value,
                        "mailbox": address,
                        "message_id": None,
                        "data": {"kind": MailboxKind.PUBLIC.value},
                        "created_at": _now(),
                    }
                ],
            )
            return self._mailbox_row(conn, address), events

        found = await self._write(tx)
        if found is None:
            return None
        row, events = found
        return self._mailbox(row), events

    async def mailbox_password_hash(self, address: str) -> str | None:
        value: str | None = await self._read(
            lambda conn: conn.scalar(
                select(t.mailboxes.c.password_hash).where(
                    t.mailboxes.c.address == address,
                    t.mailboxes.c.kind == MailboxKind.CLAIMED.value,
                )
            )
        )
        return value

    async def set_mailbox_cap(self, address: str, max_messages: int | None) -> bool:
        def tx(conn: Connection) -> bool:
            result = conn.execute(
                update(t.mailboxes)
                .where(t.mailboxes.c.address == address)
                .values(max_messages=max_messages)
            )
            if result.rowcount:
                self._bump_policy(conn)  # every node re-reads quota_rules_exist
            return bool(result.rowcount)

        return await self._write(tx)

    async def quota_rules_exist(self) -> bool:
        def tx(conn: Connection) -> bool:
            account = conn.scalar(
                select(t.accounts.c.id).where(t.accounts.c.quota_bytes.is_not(None)).limit(1)
            )
            if account is not None:
                return True
            capped = conn.scalar(
                select(t.mailboxes.c.id).where(t.mailboxes.c.max_messages.is_not(None)).limit(1)
            )
            return capped is not None

        return await self._read(tx)

    # -- quotas -----------------------------------------------------------------------
    @staticmethod
    def _usage(conn: Connection, *where: Any) -> MailboxUsage:
        messages, size = conn.execute(
            select(func.count(t.messages.c.id), func.coalesce(func.sum(t.messages.c.size), 0))
            .select_from(t.messages.join(t.mailboxes, t.mailboxes.c.id == t.messages.c.mailbox_id))
            .where(*where)
        ).one()
        return MailboxUsage(messages=int(messages), bytes=int(size))

    async def mailbox_usage(self, address: str) -> MailboxUsage:
        return await self._read(lambda conn: self._usage(conn, t.mailboxes.c.address == address))

    async def account_usage(self, account_id: int) -> MailboxUsage:
        return await self._read(
            lambda conn: self._usage(
                conn,
                t.mailboxes.c.owner_account_id == account_id,
                t.mailboxes.c.kind == MailboxKind.OWNED.value,
            )
        )

    async def set_domain_owner(self, name: str, account_id: int | None) -> bool:
        """Set or clear the owner; a change moves the policy revision, so every node's
        PolicyService reloads the domains."""

        def tx(conn: Connection) -> bool:
            row = conn.execute(
                self._locked(
                    select(t.domains.c.id, t.domains.c.owner_account_id).where(
                        t.domains.c.name == name
                    )
                )
            ).first()
            if row is None:
                return False
            if row.owner_account_id != account_id:
                conn.execute(
                    update(t.domains)
                    .where(t.domains.c.id == row.id)
                    .values(owner_account_id=account_id)
                )
                self._bump_policy(conn)
            return True

        return await self._write(tx)

    # -- statistics ---------------------------------------------------------------------
    async def mailbox_kind_counts(self) -> dict[str, int]:
        rows = await self._read(
            lambda conn: conn.execute(
                select(t.mailboxes.c.kind, func.count()).group_by(t.mailboxes.c.kind)
            ).all()
        )
        counts = {kind.value: 0 for kind in MailboxKind}
        for kind, count in rows:
            counts[kind] = int(count)
        return counts
