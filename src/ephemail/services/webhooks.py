"""Webhooks: managing subscriptions (one access check) and delivering the outbox.

`WebhookService` is what the REST routes, the web UI and the MCP tools call. The
store writes a pending delivery for every matching subscription inside each event's
own transaction (the outbox); `WebhookDispatcher` leases due deliveries, POSTs them
through the SSRF-guarded sender, and records every attempt. Delivery is
at-least-once: a receiver de-duplicates by `event_id`.

The dispatcher never touches the ingest path: it runs in its own tasks, leases rows
in short transactions (a read first, so an idle outbox costs SQLite's single writer
nothing), and bounds its concurrency per endpoint, so a slow or dead endpoint only
delays its own deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ephemail import __version__
from ephemail.domain.address import normalize_domain
from ephemail.domain.events import Event
from ephemail.domain.ids import new_id
from ephemail.domain.webhooks import (
    TEST_EVENT,
    DeliveryAttempt,
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookError,
    WebhookScope,
    backoff_delay,
    encode_payload,
    endpoint_key,
    normalize_events,
    normalize_secret,
    normalize_url,
    signature,
)
from ephemail.mime.html import html_to_text
from ephemail.ports import (
    UNSET,
    AttemptOutcome,
    Clock,
    DueDelivery,
    EventBus,
    Store,
    WebhookMetrics,
    WebhookResponse,
    WebhookSender,
    _Unset,
)
from ephemail.services.access import (
    AccessDenied,
    Action,
    Authorizer,
    Principal,
    authorize_account,
    require_scope,
)
from ephemail.services.mailboxes import MailboxService

log = logging.getLogger(__name__)

# Subscriptions per mailbox, domain or account: enough for any integration, and a
# bound on the fan-out one event can cause.
MAX_WEBHOOKS_PER_TARGET = 20
# The body of a message in a payload is cut here (the full message stays in the API).
MAX_BODY_CHARS = 256 * 1024
USER_AGENT = f"ephemail-webhooks/{__version__}"


class WebhookNotFound(Exception):
    """No such webhook (or one the caller may not see)."""


class DeliveryNotFound(Exception):
    """No such delivery of this webhook."""


@dataclass(frozen=True, slots=True)
class TestResult:
    """The answer of a test send."""

    delivered: bool
    status_code: int | None
    latency_ms: float
    error: str | None
    delivery_id: int


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failing deliveries are retried (settings `webhook_*`)."""

    timeout: float = 10.0
    window: timedelta = timedelta(hours=24)
    backoff_base: float = 10.0
    backoff_max: float = 3600.0
    disable_after: int = 50
    disable_streak: timedelta = timedelta(hours=24)

    @property
    def lease(self) -> timedelta:
        """How long a dispatcher holds a leased delivery: its attempt with room to
        spare; a node that dies mid-attempt loses the lease after this."""
        return timedelta(seconds=3 * self.timeout + 5)


def request_headers(
    webhook: Webhook, delivery_id: int, event: str, event_id: str, body: bytes, now: datetime
) -> dict[str, str]:
    """The headers of one POST; signed when the subscription has a secret."""
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Ephemail-Event": event,
        "X-Ephemail-Event-Id": event_id,
        "X-Ephemail-Delivery": str(delivery_id),
        "X-Ephemail-Timestamp": str(timestamp),
    }
    if webhook.secret:
        headers["X-Ephemail-Signature"] = signature(webhook.secret, timestamp, body)
    return headers


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class WebhookService:
    """Create, list, change, delete, test and redrive webhooks; all authorised."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        mailboxes: MailboxService,
        sender: WebhookSender,
        *,
        authorizer: Authorizer,
        retry: RetryPolicy,
    ) -> None:
        self._store = store
        self._clock = clock
        self._mailboxes = mailboxes
        self._sender = sender
        self._authorizer = authorizer
        self._retry = retry
        self._wake: Callable[[], None] = lambda: None

    def on_redrive(self, wake: Callable[[], None]) -> None:
        """Wire the dispatcher's wake-up (app.py), so a redrive is sent at once."""
        self._wake = wake

    # -- access ----------------------------------------------------------------------
    async def _authorize(
        self, principal: Principal, scope: WebhookScope, target: str, action: Action
    ) -> None:
        """The one access check, applied to what the webhook watches."""
        if scope is WebhookScope.MAILBOX:
            mailbox = await self._store.get_mailbox(target)
            owner = self._mailboxes.private_owner(target)
            if mailbox is None and owner is not None and not principal.is_admin:
                # An address on a private domain that does not exist yet belongs to
                # the domain's owner: nobody else may watch it in advance.
                account = principal.account
                if account is None or account.id != owner:
                    raise AccessDenied(
                        f"addresses on {target.rpartition('@')[2]} belong to its owner",
                        needs_credentials=account is None,
                    )
            await self._authorizer.check(principal, action, mailbox)
            return
        require_scope(principal, action)
        if principal.is_admin:
            return
        if scope is WebhookScope.DOMAIN:
            account = principal.account
            if account is not None and account.id == self._mailboxes.domain_owner(target):
                return
            raise AccessDenied(
                "domain webhooks are for the domain's owner and admins",
                needs_credentials=account is None,
            )
        account = authorize_account(principal)
        if str(account.id) != target:
            raise AccessDenied("this webhook belongs to another account")

    async def _visible(self, principal: Principal, webhook_id: str, action: Action) -> Webhook:
        webhook = await self._store.get_webhook(webhook_id) if webhook_id else None
        if webhook is None:
            raise WebhookNotFound(f"webhook {webhook_id} does not exist")
        await self._authorize(principal, webhook.scope, webhook.target, action)
        return webhook

    async def _checked_url(self, raw: str, *, add_scheme: bool) -> str:
        url = normalize_url(raw, add_scheme=add_scheme)
        refusal = await self._sender.check_target(url)
        if refusal is not None:
            raise WebhookError(refusal)
        return url

    # -- subscriptions ---------------------------------------------------------------
    async def create(
        self,
        principal: Principal,
        *,
        url: str,
        events: Sequence[str] | None = None,
        mailbox: str | None = None,
        domain: str | None = None,
        account: bool = False,
        secret: str | None = None,
        enabled: bool = True,
        add_scheme: bool = False,
    ) -> Webhook:
        """A new subscription on exactly one of a mailbox, a domain or the caller's
        account. Raises WebhookError (bad field, refused target, too many),
        AddressError, AccessDenied."""
        given = [mailbox is not None, domain is not None, account]
        if sum(given) != 1:
            raise WebhookError("give exactly one of mailbox, domain or account")
        if mailbox is not None:
            scope, target = WebhookScope.MAILBOX, self._mailboxes.address(mailbox)
        elif domain is not None:
            scope, target = WebhookScope.DOMAIN, normalize_domain(domain)
        else:
            scope, target = WebhookScope.ACCOUNT, str(authorize_account(principal).id)
        names = normalize_events(events)
        secret = normalize_secret(secret)
        await self._authorize(principal, scope, target, Action.WRITE)
        checked = await self._checked_url(url, add_scheme=add_scheme)
        existing = await self._store.list_webhooks(
            mailbox=target if scope is WebhookScope.MAILBOX else None,
            domain=target if scope is WebhookScope.DOMAIN else None,
            account_id=int(target) if scope is WebhookScope.ACCOUNT else None,
        )
        if scope is WebhookScope.ACCOUNT:
            existing = [w for w in existing if w.scope is WebhookScope.ACCOUNT]
        if len(existing) >= MAX_WEBHOOKS_PER_TARGET:
            raise WebhookError(f"at most {MAX_WEBHOOKS_PER_TARGET} webhooks per {scope.value}")
        now = self._clock.now()
        webhook = Webhook(
            id=new_id(),
            scope=scope,
            target=target,
            url=checked,
            events=names,
            enabled=enabled,
            created_at=now,
            updated_at=now,
            created_by=principal.account.id if principal.account is not None else None,
            secret=secret,
        )
        created = await self._store.create_webhook(webhook)
        log.info("webhook %s created on %s %s", created.id, scope.value, target)
        return created

    async def list_webhooks(
        self, principal: Principal, *, mailbox: str | None = None, domain: str | None = None
    ) -> list[Webhook]:
        """A mailbox's, a domain's, or (neither given) the caller's own webhooks."""
        if mailbox is not None:
            address = self._mailboxes.address(mailbox)
            await self._authorize(principal, WebhookScope.MAILBOX, address, Action.READ)
            return await self._store.list_webhooks(mailbox=address)
        if domain is not None:
            name = normalize_domain(domain)
            await self._authorize(principal, WebhookScope.DOMAIN, name, Action.READ)
            return await self._store.list_webhooks(domain=name)
        account = authorize_account(principal)
        require_scope(principal, Action.READ)
        return await self._store.list_webhooks(account_id=account.id)

    async def get(self, principal: Principal, webhook_id: str) -> Webhook:
        return await self._visible(principal, webhook_id, Action.READ)

    async def update(
        self,
        principal: Principal,
        webhook_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        enabled: bool | None = None,
        secret: str | None = None,
        clear_secret: bool = False,
        add_scheme: bool = False,
    ) -> Webhook:
        """Change the given fields. Enabling clears the failure count and reason."""
        await self._visible(principal, webhook_id, Action.WRITE)
        names = normalize_events(events) if events is not None else None
        # Left as it is (UNSET), removed (None; also for ""), or replaced.
        new_secret: str | _Unset | None = UNSET
        if clear_secret:
            new_secret = None
        elif secret is not None:
            new_secret = normalize_secret(secret)
        checked = await self._checked_url(url, add_scheme=add_scheme) if url is not None else None
        updated = await self._store.update_webhook(
            webhook_id,
            url=checked,
            events=names,
            enabled=enabled,
            secret=new_secret,
            now=self._clock.now(),
        )
        if updated is None:
            raise WebhookNotFound(f"webhook {webhook_id} does not exist")
        if enabled:
            self._wake()  # its waiting deliveries are due again
        return updated

    async def delete(self, principal: Principal, webhook_id: str) -> None:
        await self._visible(principal, webhook_id, Action.WRITE)
        await self._store.delete_webhook(webhook_id)
        log.info("webhook %s deleted", webhook_id)

    # -- deliveries ------------------------------------------------------------------
    async def test(self, principal: Principal, webhook_id: str) -> TestResult:
        """Send a `test` event now (also when the webhook is disabled) and log it."""
        webhook = await self._visible(principal, webhook_id, Action.WRITE)
        now = self._clock.now()
        mailbox = webhook.target if webhook.scope is WebhookScope.MAILBOX else ""
        delivery_id = await self._store.add_test_delivery(webhook.id, mailbox, now)
        payload = {
            "event": TEST_EVENT,
            "type": TEST_EVENT,
            "event_id": f"test-{delivery_id}",
            "mailbox": mailbox,
            "webhook_id": webhook.id,
            "timestamp": _iso(now),
            "message": "This is a test delivery from ephemail.",
        }
        body = encode_payload(payload)
        response = await self._sender.post(
            webhook.url,
            body,
            request_headers(webhook, delivery_id, TEST_EVENT, f"test-{delivery_id}", body, now),
            timeout=self._retry.timeout,
        )
        outcome = AttemptOutcome(
            attempt=DeliveryAttempt(now, response.status_code, response.latency_ms, response.error),
            status=DeliveryStatus.DELIVERED if response.ok else DeliveryStatus.FAILED,
            next_attempt_at=None,
            payload=body.decode(),
            success=response.ok,
            counts=False,
        )
        await self._store.finish_attempt(
            delivery_id,
            outcome,
            now=self._clock.now(),
            disable_after=self._retry.disable_after,
            disable_streak=self._retry.disable_streak,
        )
        return TestResult(
            delivered=response.ok,
            status_code=response.status_code,
            latency_ms=response.latency_ms,
            error=response.error,
            delivery_id=delivery_id,
        )

    async def deliveries(
        self,
        principal: Principal,
        webhook_id: str,
        *,
        limit: int = 50,
        status: DeliveryStatus | None = None,
    ) -> list[WebhookDelivery]:
        """The delivery log, newest first, each with its attempts."""
        await self._visible(principal, webhook_id, Action.READ)
        return await self._store.list_deliveries(
            webhook_id, limit=max(1, min(limit, 500)), status=status
        )

    async def redrive(
        self, principal: Principal, webhook_id: str, *, delivery_id: int | None = None
    ) -> int:
        """Send one delivery again (any status), or every failed one, with a fresh
        retry window. Raises DeliveryNotFound for an unknown delivery id."""
        await self._visible(principal, webhook_id, Action.WRITE)
        now = self._clock.now()
        count = await self._store.redrive_deliveries(
            webhook_id, delivery_id=delivery_id, now=now, give_up_at=now + self._retry.window
        )
        if delivery_id is not None and count == 0:
            raise DeliveryNotFound(
                f"webhook {webhook_id} has no delivery {delivery_id} to redrive"
                " (a test delivery is not redriven: send a new test)"
            )
        if count:
            self._wake()
        return count


class WebhookDispatcher:
    """Sends due deliveries from the outbox, on every node (leases keep nodes apart)."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        clock: Clock,
        sender: WebhookSender,
        *,
        retry: RetryPolicy,
        metrics: WebhookMetrics | None = None,
        concurrency: int = 64,
        per_endpoint: int = 4,
        log_days: float = 7.0,
        single_node: bool = False,
        poll_interval: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._sender = sender
        self._retry = retry
        self._metrics = metrics
        self._concurrency = concurrency
        self._per_endpoint = per_endpoint
        self._log_days = log_days
        self._single_node = single_node
        self._poll_interval = poll_interval
        self._rng = rng or random.Random()  # jitter only: no secrecy needed
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        # Leased here, waiting for a free slot of their endpoint: (delivery, lease end).
        self._queued: dict[str, deque[tuple[DueDelivery, datetime]]] = {}
        self._running: dict[str, int] = {}  # endpoint -> attempts in flight
        self._endpoint_of: dict[str, str] = {}  # webhook id -> endpoint, as last seen
        # Attempt results waiting to be written, in one transaction per batch.
        self._results: list[tuple[int, AttemptOutcome, asyncio.Future[None]]] = []
        self._results_ready = asyncio.Event()
        self._closing = False

    def wake(self) -> None:
        """Look for due deliveries now (new events, a redrive, an enabled webhook)."""
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run(self) -> None:
        """Deliver until cancelled."""
        if self._single_node:
            # Leases left by a process that died (kill -9) belong to nobody now.
            released = await self._store.release_leases()
            if released:
                log.info("webhooks: %d deliveries interrupted earlier are due again", released)
        # Every committed event (this node's or, on PostgreSQL, another's through the
        # relay) may have written deliveries: it rings the doorbell.
        remove_listener = self._bus.add_listener(lambda _events: self._wake.set())
        housekeeping = asyncio.create_task(self._housekeeping(), name="webhooks-housekeeping")
        recorder = asyncio.create_task(self._recorder(), name="webhooks-recorder")
        try:
            while True:
                try:
                    await self._fill()
                except Exception:
                    log.exception("webhooks: leasing deliveries failed; retrying shortly")
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a
                # cancellation that arrives as the event is set, and stop() would hang.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_interval):
                        await self._wake.wait()
                self._wake.clear()
                # A burst of events rings many times: one lease query per 50 ms at most
                # (deliveries already leased start as slots free, without the loop).
                await asyncio.sleep(0.05)
        finally:
            remove_listener()
            for task in (housekeeping, recorder):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def close(self) -> None:
        """Let attempts in flight finish (up to one timeout), then cancel the rest;
        an interrupted delivery stays pending and is sent again later."""
        self._closing = True
        waiting = [item.delivery.id for queue in self._queued.values() for item, _ in queue]
        self._queued.clear()
        if waiting:
            with contextlib.suppress(Exception):  # their leases run out anyway
                await self._store.release_leases(waiting)
        pending = list(self._in_flight.values())
        if pending:
            _, still = await asyncio.wait(pending, timeout=self._retry.timeout + 1)
            for task in still:
                task.cancel()
            for task in still:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _record(self, delivery_id: int, outcome: AttemptOutcome) -> None:
        """Queue one attempt's result for the recorder and wait until it is written."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._results.append((delivery_id, outcome, future))
        self._results_ready.set()
        await future

    async def _recorder(self) -> None:
        """Write attempt results in batches: attempts that end within 10 ms of each
        other share one transaction (one commit and fsync), so delivering costs the
        store's writer, which ingest uses too, far less than a commit per attempt."""
        while True:
            await self._results_ready.wait()
            await asyncio.sleep(0.01)
            self._results_ready.clear()
            batch, self._results = self._results, []
            try:
                await self._store.finish_attempts(
                    [(delivery_id, outcome) for delivery_id, outcome, _ in batch],
                    now=self._clock.now(),
                    disable_after=self._retry.disable_after,
                    disable_streak=self._retry.disable_streak,
                )
            except Exception:
                # Not recorded: the deliveries stay pending and leased, and are sent
                # again when their lease runs out (at least once).
                log.exception("webhooks: recording %d attempts failed", len(batch))
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _housekeeping(self) -> None:
        """Queue gauges every 15 s; old finished deliveries pruned every hour."""
        last_prune: datetime | None = None
        while True:
            try:
                pending, oldest = await self._store.outbox_stats()
                now = self._clock.now()
                if self._metrics is not None:
                    age = (now - oldest).total_seconds() if oldest is not None else 0.0
                    self._metrics.queue(pending, max(0.0, age))
                if last_prune is None or now - last_prune > timedelta(hours=1):
                    last_prune = now
                    pruned = await self._store.prune_deliveries(
                        now - timedelta(days=self._log_days)
                    )
                    if pruned:
                        log.info("webhooks: pruned %d finished deliveries from the log", pruned)
            except Exception:
                log.exception("webhooks: housekeeping failed")
            await asyncio.sleep(15)

    def _held(self, key: str) -> int:
        """Deliveries of `key` this node holds: in flight and waiting."""
        return self._running.get(key, 0) + len(self._queued.get(key, ()))

    async def _fill(self) -> None:
        """Lease due deliveries in small batches while there is room.

        Each endpoint may have `per_endpoint` attempts in flight and as many waiting
        here; an endpoint holding that many is skipped until it is down to half, and a
        batch brings at most two endpoints' worth, so a hanging endpoint holds a few
        slots and a fast one is fed without a lease per delivery."""
        batch = 2 * self._per_endpoint
        while not self._closing:
            held = len(self._in_flight) + sum(len(q) for q in self._queued.values())
            free = min(batch, self._concurrency - held)
            if free <= 0:
                return
            busy = {
                webhook_id
                for webhook_id, key in self._endpoint_of.items()
                if self._held(key) > self._per_endpoint
            }
            now = self._clock.now()
            lease_until = now + self._retry.lease
            due = await self._store.lease_due_deliveries(
                now, limit=free, lease_until=lease_until, skip_webhooks=busy
            )
            over: list[int] = []
            for item in due:
                key = endpoint_key(item.webhook.url)
                self._endpoint_of[item.webhook.id] = key
                if self._held(key) >= 2 * self._per_endpoint:
                    over.append(item.delivery.id)  # enough waiting for this endpoint
                    continue
                self._queued.setdefault(key, deque()).append((item, lease_until))
                self._start(key)
            if over:
                await self._store.release_leases(over)
            if len(due) < free or over:
                return  # nothing more is due, or the rest waits for its endpoint

    def _start(self, key: str) -> None:
        """Start waiting deliveries of `key` while it has free slots. One whose lease
        ends before an attempt could finish is left to whoever leases it next."""
        queue = self._queued.get(key)
        now = self._clock.now()
        margin = timedelta(seconds=self._retry.timeout + 1)
        while queue and self._running.get(key, 0) < self._per_endpoint:
            item, lease_until = queue.popleft()
            if lease_until - now < margin:
                continue
            self._running[key] = self._running.get(key, 0) + 1
            task = asyncio.create_task(self._attempt(item, key), name="webhook-attempt")
            self._in_flight[item.delivery.id] = task
        if not queue:
            self._queued.pop(key, None)

    async def _attempt(self, due: DueDelivery, key: str) -> None:
        delivery = due.delivery
        try:
            await self._send(due)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhooks: delivery %d failed unexpectedly", delivery.id)
        finally:
            self._in_flight.pop(delivery.id, None)
            left = self._running.get(key, 1) - 1
            if left > 0:
                self._running[key] = left
            else:
                self._running.pop(key, None)
            if not self._closing:
                self._start(key)  # the next waiting delivery of this endpoint, at once
            self._wake.set()  # and room to lease more

    async def _send(self, due: DueDelivery) -> None:
        delivery, webhook = due.delivery, due.webhook
        payload = due.payload or await self._payload(due)
        body = payload.encode()
        started = self._clock.now()
        event_id = _event_id(delivery)
        response = await self._sender.post(
            webhook.url,
            body,
            request_headers(webhook, delivery.id, delivery.event, event_id, body, started),
            timeout=self._retry.timeout,
        )
        outcome, label = self._outcome(delivery, response, started, payload)
        await self._record(delivery.id, outcome)
        if self._metrics is not None:
            self._metrics.attempt(label, response.latency_ms / 1000)
        if not outcome.success:
            # The endpoint's own answer or error, never the payload.
            log.info(
                "webhook %s delivery %d attempt %d: %s (%s)",
                webhook.id,
                delivery.id,
                delivery.attempts + 1,
                response.status_code or response.error,
                outcome.status.value,
            )

    def _outcome(
        self, delivery: WebhookDelivery, response: WebhookResponse, at: datetime, payload: str
    ) -> tuple[AttemptOutcome, str]:
        attempt = DeliveryAttempt(at, response.status_code, response.latency_ms, response.error)
        if response.ok:
            done = AttemptOutcome(attempt, DeliveryStatus.DELIVERED, None, payload, True)
            return done, "delivered"
        if response.status_code == 410:
            gone = AttemptOutcome(
                attempt,
                DeliveryStatus.FAILED,
                None,
                payload,
                False,
                disable_reason="the endpoint answered 410 Gone",
            )
            return gone, "failed"
        attempts = delivery.attempts + 1
        give_up = delivery.give_up_at or delivery.created_at + self._retry.window
        delay = backoff_delay(
            attempts, base=self._retry.backoff_base, cap=self._retry.backoff_max, rng=self._rng
        )
        next_at = at + timedelta(seconds=delay)
        if next_at > give_up:
            return AttemptOutcome(attempt, DeliveryStatus.FAILED, None, payload, False), "failed"
        return AttemptOutcome(attempt, DeliveryStatus.PENDING, next_at, payload, False), "retry"

    async def _payload(self, due: DueDelivery) -> str:
        """dynip's payload plus `type` and `event_id`; built once, at the first attempt."""
        delivery, event = due.delivery, due.event
        created = event.created_at if event is not None else delivery.created_at
        payload: dict[str, Any] = {
            "event": delivery.event,
            "type": event.type.value if event is not None else delivery.event,
            "event_id": _event_id(delivery),
            "mailbox": delivery.mailbox,
            "webhook_id": due.webhook.id,
            "timestamp": _iso(created),
        }
        if event is not None and event.message_id is not None:
            payload["email"] = await self._email(event)
        elif event is not None and event.data:
            payload["data"] = event.data
        return encode_payload(payload).decode()

    async def _email(self, event: Event) -> dict[str, Any]:
        assert event.message_id is not None
        detail = await self._store.get_message(event.message_id)
        if detail is None:  # deleted (a deletion event, or gone before the first attempt)
            email: dict[str, Any] = {"id": event.message_id, "to": event.mailbox}
            for key in ("from", "subject"):
                if key in event.data:
                    email[key] = event.data[key]
            return email
        body = detail.text if detail.text else html_to_text(detail.html or "")
        summary = detail.summary
        return {
            "id": summary.id,
            "to": summary.mailbox,
            "from": summary.from_,
            "subject": summary.subject,
            "body": body[:MAX_BODY_CHARS],
            "timestamp": _iso(summary.received_at),
            "attachments": len(detail.attachments),
            "folder": summary.folder,
        }


def _event_id(delivery: WebhookDelivery) -> str:
    """Stable across retries (the receiver's de-duplication key)."""
    if delivery.event_id is None:
        return f"test-{delivery.id}"
    return str(delivery.event_id)


def parse_status(raw: str | None) -> DeliveryStatus | None:
    """A `status` filter from a request, or WebhookError."""
    if raw is None or raw == "":
        return None
    try:
        return DeliveryStatus(raw)
    except ValueError:
        known = ", ".join(s.value for s in DeliveryStatus)
        raise WebhookError(f"unknown status {raw!r}; known: {known}") from None
