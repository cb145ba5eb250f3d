"""Webhook subscriptions and the durable outbox in SQL (a mixin of SqlStore).

The outbox rows are written by `_enqueue_webhooks`, which SqlStore calls from
`_add_events`: every transaction that writes events writes their deliveries too, so
an event is never committed without its deliveries, nor a delivery without its event.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.engine import Connection, Row

from ephemail.adapters.sql import tables as t
from ephemail.adapters.sql.plumbing import SqlPlumbing, aware, event_from_row, utc
from ephemail.domain.address import domain_of
from ephemail.domain.events import Event
from ephemail.domain.webhooks import (
    DeliveryAttempt,
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookScope,
)
from ephemail.ports import UNSET, AttemptOutcome, DueDelivery, _Unset

# Addresses per IN (...) list when matching a large batch of events.
_MATCH_CHUNK = 500
_TEST_EVENT = "test"


def _now() -> datetime:
    return datetime.now(UTC)


def _webhook(row: Row[Any]) -> Webhook:
    scope = WebhookScope(row.scope)
    target = {
        WebhookScope.MAILBOX: row.mailbox,
        WebhookScope.DOMAIN: row.domain,
        WebhookScope.ACCOUNT: str(row.account_id),
    }[scope]
    return Webhook(
        id=row.id,
        scope=scope,
        target=target,
        url=row.url,
        events=tuple(e for e in row.events.split(",") if e),
        enabled=bool(row.enabled),
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        disabled_reason=row.disabled_reason,
        consecutive_failures=row.consecutive_failures,
        created_by=row.created_by,
        secret=row.secret,
    )


def _delivery(row: Row[Any], log: Sequence[DeliveryAttempt] = ()) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event=row.event,
        mailbox=row.mailbox,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        created_at=aware(row.created_at),
        next_attempt_at=utc(row.next_attempt_at),
        last_attempt_at=utc(row.last_attempt_at),
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=utc(row.delivered_at),
        give_up_at=utc(row.give_up_at),
        log=tuple(log),
    )


_W = t.webhooks
_D = t.webhook_deliveries
_A = t.webhook_attempts
_ANY_ENABLED = select(_W.c.id).where(_W.c.enabled.is_(True)).limit(1)


class WebhookSqlStore(SqlPlumbing):
    """The WebhookStore port over SQLAlchemy Core (SQLite and PostgreSQL)."""

    # -- the outbox, inside the event's transaction ------------------------------------
    def _enqueue_webhooks(
        self, conn: Connection, events: Sequence[Event], owners: Mapping[str, int] | None = None
    ) -> None:
        """One pending delivery per (event, enabled subscription that wants it).
        `owners` names the owner of addresses whose mailbox row is gone already."""
        if not events:
            return
        # The usual case on a busy server: no webhook is enabled at all. One indexed
        # probe (its statement compiled once) answers that before any matching.
        if conn.execute(_ANY_ENABLED).first() is None:
            return
        addresses = sorted({e.mailbox for e in events})
        hooks: dict[str, Row[Any]] = {}
        owner_of: dict[str, int] = dict(owners or {})
        carried = sorted(set((owners or {}).values()))
        for start in range(0, len(addresses), _MATCH_CHUNK):
            part = addresses[start : start + _MATCH_CHUNK]
            domains = sorted({domain_of(a) for a in part})
            owner_ids = select(t.mailboxes.c.owner_account_id).where(
                t.mailboxes.c.address.in_(part), t.mailboxes.c.owner_account_id.is_not(None)
            )
            rows = conn.execute(
                select(_W).where(
                    _W.c.enabled.is_(True),
                    or_(
                        _W.c.mailbox.in_(part),
                        _W.c.domain.in_(domains),
                        _W.c.account_id.in_(owner_ids.scalar_subquery()),
                        _W.c.account_id.in_(carried),
                    ),
                )
            ).all()
            for row in rows:
                hooks[row.id] = row
            if any(r.account_id is not None for r in rows):
                owner_of.update(
                    (r.address, int(r.owner_account_id))
                    for r in conn.execute(
                        select(t.mailboxes.c.address, t.mailboxes.c.owner_account_id).where(
                            t.mailboxes.c.address.in_(part),
                            t.mailboxes.c.owner_account_id.is_not(None),
                        )
                    )
                )
        if not hooks:
            return
        webhooks = [_webhook(r) for r in hooks.values()]
        rows_out: list[dict[str, Any]] = []
        for event in events:
            owner = owner_of.get(event.mailbox)
            for hook in webhooks:
                if not _watches(hook, event.mailbox, owner):
                    continue
                name = hook.wants(event.type, to_inbox=event.delivered_to_inbox)
                if name is None:
                    continue
                rows_out.append(
                    {
                        "webhook_id": hook.id,
                        "event_id": event.id,
                        "event": name,
                        "mailbox": event.mailbox,
                        "status": DeliveryStatus.PENDING.value,
                        "attempts": 0,
                        "created_at": event.created_at,
                        "next_attempt_at": event.created_at,
                    }
                )
        if rows_out:
            conn.execute(_D.insert(), rows_out)

    # -- subscriptions ---------------------------------------------------------------
    async def create_webhook(self, webhook: Webhook) -> Webhook:
        values = {
            "id": webhook.id,
            "scope": webhook.scope.value,
            "mailbox": webhook.target if webhook.scope is WebhookScope.MAILBOX else None,
            "domain": webhook.target if webhook.scope is WebhookScope.DOMAIN else None,
            "account_id": webhook.account_id,
            "url": webhook.url,
            "events": ",".join(webhook.events),
            "secret": webhook.secret,
            "enabled": webhook.enabled,
            "disabled_reason": webhook.disabled_reason,
            "consecutive_failures": 0,
            "created_by": webhook.created_by,
            "created_at": webhook.created_at,
            "updated_at": webhook.updated_at,
        }
        await self._write(lambda conn: conn.execute(_W.insert().values(**values)))
        return webhook

    async def get_webhook(self, webhook_id: str) -> Webhook | None:
        row = await self._read(
            lambda conn: conn.execute(select(_W).where(_W.c.id == webhook_id)).first()
        )
        return None if row is None else _webhook(row)

    async def list_webhooks(
        self,
        *,
        mailbox: str | None = None,
        domain: str | None = None,
        account_id: int | None = None,
        limit: int = 1000,
    ) -> list[Webhook]:
        query = select(_W).order_by(_W.c.created_at, _W.c.id).limit(limit)
        if mailbox is not None:
            query = query.where(_W.c.mailbox == mailbox)
        if domain is not None:
            query = query.where(_W.c.domain == domain)
        if account_id is not None:
            query = query.where(or_(_W.c.account_id == account_id, _W.c.created_by == account_id))
        rows = await self._read(lambda conn: conn.execute(query).all())
        return [_webhook(r) for r in rows]

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        enabled: bool | None = None,
        secret: str | _Unset | None = UNSET,
        now: datetime,
    ) -> Webhook | None:
        values: dict[str, Any] = {"updated_at": now}
        if url is not None:
            values["url"] = url
        if events is not None:
            values["events"] = ",".join(events)
        if enabled is not None:
            values["enabled"] = enabled
            if enabled:
                values["consecutive_failures"] = 0
                values["failing_since"] = None
                values["disabled_reason"] = None
            else:
                values["disabled_reason"] = None  # switched off by a person: no reason
        if not isinstance(secret, _Unset):
            values["secret"] = secret

        def tx(conn: Connection) -> Row[Any] | None:
            conn.execute(update(_W).where(_W.c.id == webhook_id).values(**values))
            return conn.execute(select(_W).where(_W.c.id == webhook_id)).first()

        row = await self._write(tx)
        return None if row is None else _webhook(row)

    async def delete_webhook(self, webhook_id: str) -> bool:
        def tx(conn: Connection) -> bool:
            # Attempts and deliveries go with it (ON DELETE CASCADE; explicit here
            # too, so it does not depend on SQLite's foreign_keys pragma).
            ids = select(_D.c.id).where(_D.c.webhook_id == webhook_id).scalar_subquery()
            conn.execute(delete(_A).where(_A.c.delivery_id.in_(ids)))
            conn.execute(delete(_D).where(_D.c.webhook_id == webhook_id))
            return conn.execute(delete(_W).where(_W.c.id == webhook_id)).rowcount > 0

        return await self._write(tx)

    def _drop_mailbox_webhooks(self, conn: Connection, address: str) -> None:
        """A deleted mailbox takes its webhooks along: whoever creates the address
        next must not feed the old subscriber."""
        hooks = select(_W.c.id).where(_W.c.mailbox == address).scalar_subquery()
        deliveries = select(_D.c.id).where(_D.c.webhook_id.in_(hooks)).scalar_subquery()
        conn.execute(delete(_A).where(_A.c.delivery_id.in_(deliveries)))
        conn.execute(delete(_D).where(_D.c.webhook_id.in_(hooks)))
        conn.execute(delete(_W).where(_W.c.mailbox == address))

    def _disable_mailbox_webhooks(
        self, conn: Connection, address: str, reason: str, *, keep_account: int | None = None
    ) -> None:
        """A mailbox that changed hands (claimed, or now owned): the webhooks anyone
        could create while it was public stop until someone with access enables them
        again. Those `keep_account` (the new owner) created stay on."""
        query = update(_W).where(_W.c.mailbox == address, _W.c.enabled.is_(True))
        if keep_account is not None:
            query = query.where(or_(_W.c.created_by.is_(None), _W.c.created_by != keep_account))
        conn.execute(query.values(enabled=False, disabled_reason=reason, updated_at=_now()))

    # -- the dispatcher's side ---------------------------------------------------------
    async def lease_due_deliveries(
        self, now: datetime, *, limit: int, lease_until: datetime, skip_webhooks: Collection[str]
    ) -> list[DueDelivery]:
        if limit <= 0:
            return []

        def candidates(conn: Connection) -> list[int]:
            return list(conn.scalars(due))

        due = (
            select(_D.c.id)
            .join(_W, _W.c.id == _D.c.webhook_id)
            .where(
                _D.c.status == DeliveryStatus.PENDING.value,
                _D.c.next_attempt_at <= now,
                or_(_D.c.lease_until.is_(None), _D.c.lease_until < now),
                _W.c.enabled.is_(True),
            )
            .order_by(_D.c.next_attempt_at, _D.c.id)
            .limit(limit)
        )
        if skip_webhooks:
            due = due.where(_D.c.webhook_id.not_in(sorted(skip_webhooks)))
        # A read first: an idle outbox (the usual case) never takes the writer.
        if not await self._read(candidates):
            return []

        def tx(conn: Connection) -> list[DueDelivery]:
            leasable = due
            if self._pg:
                # Several nodes lease at once: each skips the rows another holds.
                leasable = due.with_for_update(of=_D, skip_locked=True)
            ids = list(conn.scalars(leasable))
            if not ids:
                return []
            conn.execute(update(_D).where(_D.c.id.in_(ids)).values(lease_until=lease_until))
            rows = conn.execute(
                select(_D).where(_D.c.id.in_(ids)).order_by(_D.c.next_attempt_at, _D.c.id)
            ).all()
            hook_ids = sorted({r.webhook_id for r in rows})
            hooks = {
                r.id: _webhook(r) for r in conn.execute(select(_W).where(_W.c.id.in_(hook_ids)))
            }
            event_ids = sorted({r.event_id for r in rows if r.event_id is not None})
            events = {
                r.id: event_from_row(r)
                for r in conn.execute(select(t.events).where(t.events.c.id.in_(event_ids)))
            }
            return [
                DueDelivery(
                    delivery=_delivery(r),
                    webhook=hooks[r.webhook_id],
                    payload=r.payload,
                    event=events.get(r.event_id) if r.event_id is not None else None,
                )
                for r in rows
            ]

        return await self._write(tx)

    async def finish_attempt(
        self,
        delivery_id: int,
        outcome: AttemptOutcome,
        *,
        now: datetime,
        disable_after: int,
        disable_streak: timedelta = timedelta(0),
    ) -> Webhook | None:
        (webhook,) = await self.finish_attempts(
            [(delivery_id, outcome)],
            now=now,
            disable_after=disable_after,
            disable_streak=disable_streak,
        )
        return webhook

    async def finish_attempts(
        self,
        outcomes: Sequence[tuple[int, AttemptOutcome]],
        *,
        now: datetime,
        disable_after: int,
        disable_streak: timedelta = timedelta(0),
    ) -> list[Webhook | None]:
        def tx(conn: Connection) -> list[Row[Any] | None]:
            return [
                self._finish_one(conn, delivery_id, outcome, now, disable_after, disable_streak)
                for delivery_id, outcome in outcomes
            ]

        rows = await self._write(tx)
        return [None if row is None else _webhook(row) for row in rows]

    def _finish_one(
        self,
        conn: Connection,
        delivery_id: int,
        outcome: AttemptOutcome,
        now: datetime,
        disable_after: int,
        disable_streak: timedelta,
    ) -> Row[Any] | None:
        """One attempt's rows, in the caller's transaction (see `finish_attempts`)."""
        a = outcome.attempt
        webhook_id = conn.scalar(select(_D.c.webhook_id).where(_D.c.id == delivery_id))
        if webhook_id is None:
            return None  # deleted meanwhile (with its webhook)
        conn.execute(
            _A.insert().values(
                delivery_id=delivery_id,
                attempted_at=a.attempted_at,
                status_code=a.status_code,
                latency_ms=a.latency_ms,
                error=a.error,
            )
        )
        conn.execute(
            update(_D)
            .where(_D.c.id == delivery_id)
            .values(
                status=outcome.status.value,
                attempts=_D.c.attempts + 1,
                next_attempt_at=outcome.next_attempt_at,
                lease_until=None,
                last_attempt_at=a.attempted_at,
                last_status_code=a.status_code,
                last_error=a.error,
                delivered_at=now if outcome.status is DeliveryStatus.DELIVERED else None,
                payload=outcome.payload,
            )
        )
        hook = conn.execute(
            select(_W.c.consecutive_failures, _W.c.failing_since, _W.c.enabled).where(
                _W.c.id == webhook_id
            )
        ).first()
        if hook is None:
            return None
        if not outcome.counts:
            pass  # a test send: says nothing about the subscription's health
        elif outcome.success:
            conn.execute(
                update(_W)
                .where(_W.c.id == webhook_id, _W.c.consecutive_failures != 0)
                .values(consecutive_failures=0, failing_since=None)
            )
        else:
            failures = hook.consecutive_failures + 1
            since = utc(hook.failing_since) or a.attempted_at
            values: dict[str, Any] = {"consecutive_failures": failures, "failing_since": since}
            reason = outcome.disable_reason
            # Repeated failure: that many attempts in a row, over at least that long (a
            # burst of retries during a short outage does not count).
            if reason is None and failures >= disable_after and now - since >= disable_streak:
                last = f"HTTP {a.status_code}" if a.status_code is not None else a.error
                reason = f"disabled after {failures} failed attempts in a row (last: {last})"
            if reason is not None and hook.enabled:
                values.update(enabled=False, disabled_reason=reason, updated_at=now)
            conn.execute(update(_W).where(_W.c.id == webhook_id).values(**values))
        return conn.execute(select(_W).where(_W.c.id == webhook_id)).first()

    async def add_test_delivery(self, webhook_id: str, mailbox: str, now: datetime) -> int:
        def tx(conn: Connection) -> int:
            result = conn.execute(
                _D.insert()
                .values(
                    webhook_id=webhook_id,
                    event_id=None,
                    event=_TEST_EVENT,
                    mailbox=mailbox,
                    status=DeliveryStatus.PENDING.value,
                    attempts=0,
                    created_at=now,
                    next_attempt_at=None,  # never due: the test endpoint sends it itself
                )
                .returning(_D.c.id)
            )
            return int(result.scalar_one())

        return await self._write(tx)

    async def list_deliveries(
        self, webhook_id: str, *, limit: int, status: DeliveryStatus | None = None
    ) -> list[WebhookDelivery]:
        def tx(conn: Connection) -> list[WebhookDelivery]:
            query = (
                select(_D)
                .where(_D.c.webhook_id == webhook_id)
                .order_by(_D.c.id.desc())
                .limit(limit)
            )
            if status is not None:
                query = query.where(_D.c.status == status.value)
            rows = conn.execute(query).all()
            logs: dict[int, list[DeliveryAttempt]] = {r.id: [] for r in rows}
            if logs:
                for a in conn.execute(
                    select(_A).where(_A.c.delivery_id.in_(list(logs))).order_by(_A.c.id.desc())
                ):
                    logs[a.delivery_id].append(
                        DeliveryAttempt(
                            attempted_at=aware(a.attempted_at),
                            status_code=a.status_code,
                            latency_ms=a.latency_ms,
                            error=a.error,
                        )
                    )
            return [_delivery(r, logs[r.id]) for r in rows]

        return await self._read(tx)

    async def redrive_deliveries(
        self, webhook_id: str, *, delivery_id: int | None, now: datetime, give_up_at: datetime
    ) -> int:
        conditions = [_D.c.webhook_id == webhook_id, _D.c.event != _TEST_EVENT]
        if delivery_id is not None:
            conditions.append(_D.c.id == delivery_id)
        else:
            conditions.append(_D.c.status == DeliveryStatus.FAILED.value)

        def tx(conn: Connection) -> int:
            result = conn.execute(
                update(_D)
                .where(and_(*conditions))
                .values(
                    status=DeliveryStatus.PENDING.value,
                    next_attempt_at=now,
                    lease_until=None,
                    give_up_at=give_up_at,
                    delivered_at=None,
                )
            )
            return int(result.rowcount)

        return await self._write(tx)

    async def release_leases(self, delivery_ids: Collection[int] | None = None) -> int:
        query = update(_D).where(_D.c.lease_until.is_not(None))
        if delivery_ids is not None:
            query = query.where(_D.c.id.in_(sorted(delivery_ids)))

        def tx(conn: Connection) -> int:
            return int(conn.execute(query.values(lease_until=None)).rowcount)

        return await self._write(tx)

    async def outbox_stats(self) -> tuple[int, datetime | None]:
        def tx(conn: Connection) -> tuple[int, datetime | None]:
            # Deliveries of disabled webhooks wait for a person, not for the dispatcher.
            row = conn.execute(
                select(func.count(), func.min(_D.c.created_at))
                .join(_W, _W.c.id == _D.c.webhook_id)
                .where(
                    _D.c.status == DeliveryStatus.PENDING.value,
                    _D.c.next_attempt_at.is_not(None),
                    _W.c.enabled.is_(True),
                )
            ).one()
            return int(row[0]), utc(row[1])

        return await self._read(tx)

    async def prune_deliveries(self, before: datetime) -> int:
        finished = [DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value]

        def tx(conn: Connection) -> int:
            # By the last attempt: a redriven old delivery stays as long as a new one.
            last = func.coalesce(_D.c.last_attempt_at, _D.c.created_at)
            done = and_(_D.c.status.in_(finished), last < before)
            old = select(_D.c.id).where(done).scalar_subquery()
            conn.execute(delete(_A).where(_A.c.delivery_id.in_(old)))
            result = conn.execute(delete(_D).where(done))
            return int(result.rowcount)

        return await self._write(tx)


def _watches(hook: Webhook, address: str, owner: int | None) -> bool:
    if hook.scope is WebhookScope.MAILBOX:
        return hook.target == address
    if hook.scope is WebhookScope.DOMAIN:
        return hook.target == domain_of(address)
    return owner is not None and hook.account_id == owner
