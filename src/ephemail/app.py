"""Composition root: reads Settings, builds adapters and services, runs the servers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from ephemail.adapters.crypto.passwords import Argon2PasswordHasher
from ephemail.adapters.events.memory import InProcessEventBus
from ephemail.adapters.events.polling import PollingEventRelay
from ephemail.adapters.http.client import HttpxProbe
from ephemail.adapters.http.webhooks import HttpxWebhookSender
from ephemail.adapters.metrics import PrometheusMetrics
from ephemail.adapters.sql.engine import DatabaseUrlError, Engines, create_engines
from ephemail.adapters.sql.migrate import upgrade
from ephemail.adapters.sql.relay import PostgresEventRelay, event_relay_for
from ephemail.adapters.sql.store import SqlStore
from ephemail.api.app import create_api
from ephemail.api.mcp_shim import McpMount, http_principal
from ephemail.api.server import HttpServer
from ephemail.mcp.tools import ToolServices
from ephemail.mime.summary import parse_summary
from ephemail.ports import Clock, EventBus
from ephemail.protocols.imap.server import ImapConfig, ImapServer
from ephemail.protocols.smtp.server import SmtpConfig, SmtpServer
from ephemail.services.access import AccessPolicy, Authorizer
from ephemail.services.accounts import AccountService, AccountSettings, InvalidCredentials
from ephemail.services.admin import PolicyAdmin
from ephemail.services.clock import SystemClock
from ephemail.services.connections import ConnectionGate
from ephemail.services.imap import (
    AccountTokenAuthenticator,
    CompositeAuthenticator,
    MailboxImapService,
    MailboxPasswordAuthenticator,
)
from ephemail.services.ingest import IngestService
from ephemail.services.lifecycle import Heartbeat, RetentionSweeper
from ephemail.services.live import LiveService
from ephemail.services.mailboxes import MailboxService
from ephemail.services.ownership import OwnershipService
from ephemail.services.policy import PolicyService
from ephemail.services.ratelimit import Limit, RateLimiter
from ephemail.services.webhooks import (
    USER_AGENT,
    RetryPolicy,
    WebhookDispatcher,
    WebhookService,
)
from ephemail.settings import Settings

if TYPE_CHECKING:  # the MCP SDK loads only where MCP is served (see `_start_mcp`)
    from ephemail.mcp.server import McpHttpEndpoint, PrincipalResolver

log = logging.getLogger("ephemail")

__all__ = [
    "AdminServices",
    "Application",
    "DatabaseUrlError",
    "open_admin_services",
    "open_mcp_services",
    "open_store",
    "upgrade_database",
]


async def _migrated_engines(settings: Settings) -> tuple[Engines, str | None, str | None]:
    """Engines for the configured store, schema upgraded; with (before, after) revisions."""
    engines = create_engines(
        settings.effective_database_url, sqlite_synchronous=settings.sqlite_synchronous
    )
    try:
        before, after = await upgrade(engines)
    except BaseException:
        await engines.dispose()
        raise
    return engines, before, after


async def upgrade_database(settings: Settings) -> tuple[str | None, str | None]:
    """Apply pending migrations (`ephemail db upgrade`); return the (before, after) revisions."""
    engines, before, after = await _migrated_engines(settings)
    await engines.dispose()
    return before, after


async def open_store(settings: Settings) -> SqlStore:
    """Connect to the configured store and bring its schema up to date."""
    engines, before, after = await _migrated_engines(settings)
    if before != after:
        log.info("database schema upgraded from %s to %s", before or "empty", after)
    return SqlStore(engines, writers=settings.pg_writers)


def account_settings(settings: Settings) -> AccountSettings:
    """The account service's part of the configuration."""
    return AccountSettings(
        registration_enabled=settings.registration_enabled,
        registration_domains=tuple(settings.registration_domains),
        enforce_subscriptions=settings.enforce_subscriptions,
        session_secret=settings.session_secret,
        session_max_age=settings.session_max_age,
        default_quota_bytes=settings.account_quota_bytes,
    )


def password_hasher(settings: Settings) -> Argon2PasswordHasher:
    """Argon2id with the configured cost (RFC 9106 low-memory profile by default)."""
    return Argon2PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost_kib=settings.password_hash_memory_kib,
    )


def rate_limits(settings: Settings) -> dict[str, Limit]:
    """The rate-limit buckets. Logins and claims allow short bursts of a few tries
    (a typo, a retry), not a whole minute's allowance at once; the API allows bursts
    of a tenth of its per-minute rate (a page loading several resources)."""
    return {
        "login": Limit(settings.rate_login_per_minute, min(5, settings.rate_login_per_minute)),
        "claim": Limit(settings.rate_claim_per_minute, min(5, settings.rate_claim_per_minute)),
        "api": Limit(settings.rate_api_per_minute, max(1, settings.rate_api_per_minute // 10)),
    }


@dataclass(frozen=True, slots=True)
class AdminServices:
    """What the admin CLI acts through (as `Principal.operator()`)."""

    store: SqlStore
    policy_admin: PolicyAdmin
    mailboxes: MailboxService
    accounts: AccountService
    ownership: OwnershipService


@dataclass(frozen=True, slots=True)
class MailboxServices:
    """The services every mailbox surface goes through, sharing one Authorizer."""

    authorizer: Authorizer
    mailboxes: MailboxService
    accounts: AccountService
    ownership: OwnershipService


async def build_mailbox_services(
    settings: Settings,
    store: SqlStore,
    bus: EventBus,
    policy: PolicyService,
    *,
    clock: Clock,
    hasher: Argon2PasswordHasher,
    limiter: RateLimiter,
) -> MailboxServices:
    """Mailboxes, accounts and ownership over one Authorizer (whose unlocker is the
    account service): for `ephemail serve` and for the admin CLI alike."""
    authorizer = Authorizer(
        AccessPolicy(public_read=settings.public_read, open_mode=settings.open_mode)
    )
    mailboxes = MailboxService(
        store,
        bus,
        policy,
        authorizer=authorizer,
        default_domain=settings.default_domain,
        page_size_max=settings.page_size_max,
    )
    accounts = AccountService(
        store,
        clock,
        hasher,
        limiter,
        account_settings(settings),
        bus=bus,
        after_quota_change=policy.refresh,
    )
    await accounts.start()
    authorizer.set_unlocker(accounts)
    ownership = OwnershipService(
        store,
        bus,
        hasher,
        policy,
        mailboxes,
        authorizer,
        limiter,
        default_quota_bytes=settings.account_quota_bytes,
        default_max_messages=settings.mailbox_max_messages,
    )
    return MailboxServices(authorizer, mailboxes, accounts, ownership)


@contextlib.asynccontextmanager
async def open_admin_services(settings: Settings) -> AsyncIterator[AdminServices]:
    """The services over the configured store for one admin command: no listeners, no
    background tasks, no rate limits (the operator at the server's console). Events go
    to an in-process bus; the running servers see them from the event table
    (PostgreSQL nodes within their relay's poll interval)."""
    store = await open_store(settings)
    try:
        policy = PolicyService(
            store, accept=settings.accept, allow_contains=settings.allow_substring_bans
        )
        await policy.refresh()  # once: the command is over long before it could change
        built = await build_mailbox_services(
            settings,
            store,
            InProcessEventBus(),
            policy,
            clock=SystemClock(),
            hasher=password_hasher(settings),
            limiter=RateLimiter({}, enabled=False),
        )
        yield AdminServices(
            store, PolicyAdmin(store, policy), built.mailboxes, built.accounts, built.ownership
        )
    finally:
        await store.close()


class Application:
    """Everything `ephemail serve` runs, in one asyncio loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = SystemClock()
        self.bus = InProcessEventBus()
        self.smtp_port = 0
        self.http_port = 0
        self.imap_port = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._smtp: SmtpServer | None = None
        self._http: HttpServer | None = None
        self._imap: ImapServer | None = None
        self._probe: HttpxProbe | None = None
        self._webhook_sender: HttpxWebhookSender | None = None
        self._dispatcher: WebhookDispatcher | None = None
        self._mcp: McpHttpEndpoint | None = None  # MCP over streamable HTTP at /mcp
        self.metrics = PrometheusMetrics()
        self._store: SqlStore | None = None
        self._relay: PostgresEventRelay | None = None  # PostgreSQL: events of other nodes
        self._policy: PolicyService | None = None
        self._ingest: IngestService | None = None
        self._stopping = asyncio.Event()

    # The services exist once `start` has built them.
    @property
    def store(self) -> SqlStore:
        assert self._store is not None, "Application not started"
        return self._store

    @property
    def policy(self) -> PolicyService:
        assert self._policy is not None, "Application not started"
        return self._policy

    @property
    def smtp_connections(self) -> int:
        """Open SMTP connections right now (0 when SMTP is off)."""
        return self._smtp.active_connections if self._smtp is not None else 0

    @property
    def ingest(self) -> IngestService:
        assert self._ingest is not None, "Application not started"
        return self._ingest

    async def start(self) -> None:
        """Start everything; on failure, undo what was started and re-raise."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        s = self.settings
        self._store = await open_store(s)
        self._relay = event_relay_for(
            s.effective_database_url, self.store, poll_interval=s.events_relay_poll_interval
        )
        if self._relay is not None:
            self.bus = self._relay.bus  # before any service takes the bus
            await self._relay.start()
        self._policy = PolicyService(
            self.store,
            accept=s.accept,
            allow_contains=s.allow_substring_bans,
            refresh_interval=s.policy_refresh_interval,
            poll_interval=s.policy_poll_interval,
        )
        await self.policy.start()
        self.policy_admin = PolicyAdmin(self.store, self.policy)
        default_retention = s.retention_hours or None

        def retention_for(domain: str) -> float | None:
            override = self.policy.retention_hours_for(domain)
            return override if override is not None else default_retention

        self._ingest = IngestService(
            self.store,
            self.bus,
            self.clock,
            parse=parse_summary,
            retention_hours_for=retention_for,
            max_batch=s.max_batch,
        )
        self.ingest.start()
        self.limiter = RateLimiter(rate_limits(s), enabled=s.rate_limit_enabled)
        self.hasher = password_hasher(s)
        built = await build_mailbox_services(
            s,
            self.store,
            self.bus,
            self.policy,
            clock=self.clock,
            hasher=self.hasher,
            limiter=self.limiter,
        )
        authorizer = built.authorizer
        self.mailboxes, self.accounts, self.ownership = (
            built.mailboxes,
            built.accounts,
            built.ownership,
        )
        self.live = LiveService(
            self.store,
            self.bus,
            self.mailboxes,
            authorizer=authorizer,
            heartbeat_interval=s.events_heartbeat_interval,
            queue_size=s.events_queue_size,
        )
        self._start_webhooks(authorizer)
        self._register_gauges()
        self.retention = RetentionSweeper(
            self.store, self.bus, self.clock, interval=s.retention_interval
        )
        self._tasks.append(asyncio.create_task(self.retention.run(), name="retention"))
        if s.heartbeat_url:
            self._probe = HttpxProbe(user_agent="ephemail-heartbeat")
            heartbeat = Heartbeat(
                self._probe,
                s.heartbeat_url,
                interval=s.heartbeat_interval,
                timeout=s.heartbeat_timeout,
            )
            self._tasks.append(asyncio.create_task(heartbeat.run(), name="heartbeat"))
        if s.http_enabled:
            mcp = await self._start_mcp() if s.mcp_enabled else None
            api = create_api(
                self.mailboxes,
                self.readiness,
                live=self.live,
                allowed_origins=s.allowed_origins,
                accounts=self.accounts,
                ownership=self.ownership,
                policy_admin=self.policy_admin,
                limiter=self.limiter,
                secure_cookies=s.secure_cookies,
                session_max_age=s.session_max_age,
                webhooks=self.webhooks,
                metrics=self.metrics.render,
                mcp=mcp,
            )
            self._http = HttpServer(api)
            self.http_port = await self._http.start(s.http_bind, s.http_port)
            log.info("HTTP listening on %s:%d", s.http_bind, self.http_port)
        if s.smtp_enabled:
            self._smtp = SmtpServer(
                SmtpConfig(
                    hostname=s.hostname,
                    banner=s.smtp_banner,
                    default_domain=s.default_domain,
                    max_message_size=s.smtp_max_message_size,
                    max_recipients=s.smtp_max_recipients,
                    idle_timeout=s.smtp_idle_timeout,
                    session_timeout=s.smtp_session_timeout,
                    error_budget=s.smtp_error_budget,
                ),
                gate=ConnectionGate(
                    max_connections=s.smtp_max_connections,
                    max_per_ip=s.smtp_max_connections_per_ip,
                    rate_per_minute=s.smtp_connection_rate_per_ip,
                ),
                policy=self.policy,
                ingest=self.ingest,
                quota=self.ownership.check_delivery,
            )
            self.smtp_port = await self._smtp.start(s.smtp_bind, s.smtp_port)
        if s.imap_enabled:
            self.imap = MailboxImapService(
                self.store,
                self.bus,
                self.clock,
                self.mailboxes,
                self.policy,
                authorizer=authorizer,
                # Account email + IMAP app token first, then mailbox passwords.
                authenticator=CompositeAuthenticator(
                    AccountTokenAuthenticator(self.accounts),
                    MailboxPasswordAuthenticator(
                        self.store,
                        self.mailboxes,
                        access=authorizer.policy,
                        unlock_proof=self.accounts.unlock_proof,
                    ),
                ),
                parse=parse_summary,
                retention_hours_for=retention_for,
                max_message_size=s.smtp_max_message_size,
                ownership=self.ownership,
                limiter=self.limiter,
            )
            self._imap = ImapServer(
                ImapConfig(
                    hostname=s.hostname,
                    max_connections=s.imap_max_connections,
                    idle_timeout=s.imap_idle_timeout,
                    login_failure_delay=s.imap_login_failure_delay,
                    max_line=s.imap_max_line,
                    max_append=s.imap_max_literal,
                ),
                self.imap,
            )
            self.imap_port = await self._imap.start(s.imap_bind, s.imap_port)
        if s.smtp_ssl_enabled:
            log.warning("SMTPS is not available in this version yet; setting ignored")

    def _start_webhooks(self, authorizer: Authorizer) -> None:
        """The webhook service (routes, UI, MCP) and this node's dispatcher."""
        s = self.settings
        retry = retry_policy(s)
        self._webhook_sender = webhook_sender(s)
        self.webhooks = WebhookService(
            self.store,
            self.clock,
            self.mailboxes,
            self._webhook_sender,
            authorizer=authorizer,
            retry=retry,
        )
        if not s.webhooks_enabled:
            return
        self._dispatcher = WebhookDispatcher(
            self.store,
            self.bus,
            self.clock,
            self._webhook_sender,
            retry=retry,
            metrics=self.metrics,
            concurrency=s.webhook_concurrency,
            per_endpoint=s.webhook_concurrency_per_endpoint,
            log_days=s.webhook_log_days,
            # SQLite: this is the only node, so leases left by a killed process are stale.
            single_node=self._relay is None,
        )
        self.webhooks.on_redrive(self._dispatcher.wake)
        self._tasks.append(asyncio.create_task(self._dispatcher.run(), name="webhooks"))

    def _register_gauges(self) -> None:
        """Live gauges read at scrape time (GET /metrics)."""
        dispatcher = self._dispatcher
        for name, doc, read in (
            ("ephemail_smtp_connections", "Open SMTP connections.", lambda: self.smtp_connections),
            (
                "ephemail_imap_connections",
                "Open IMAP connections.",
                lambda: self._imap.active_connections if self._imap is not None else 0,
            ),
            (
                "ephemail_live_subscriptions",
                "Open WebSocket, SSE, wait and IMAP IDLE subscriptions.",
                lambda: self.live.open_subscriptions,
            ),
            (
                "ephemail_webhook_in_flight",
                "Webhook attempts in flight on this node.",
                lambda: dispatcher.in_flight if dispatcher is not None else 0,
            ),
        ):
            self.metrics.gauge_callback(name, doc, read)

    async def _start_mcp(self) -> McpMount:
        """MCP over streamable HTTP (and dynip's REST shim) over the same services,
        authorised per request like the API."""
        # Imported here: the SDK is large, and admin commands never serve MCP.
        from ephemail.mcp.server import McpHttpEndpoint

        tools = ToolServices(self.mailboxes, self.live, self.ownership, self.webhooks)
        self._mcp = McpHttpEndpoint(tools, http_principal)
        await self._mcp.start()
        return McpMount(tools, self._mcp.asgi_app)

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await self.store.ping()
            checks["store"] = "ok"
        except Exception as exc:
            checks["store"] = f"error: {type(exc).__name__}"
        if self.settings.smtp_enabled:
            checks["smtp"] = "ok" if self._smtp is not None and self.smtp_port else "starting"
        if self.settings.imap_enabled:
            checks["imap"] = "ok" if self._imap is not None and self.imap_port else "starting"
        if self._stopping.is_set():
            checks["lifecycle"] = "stopping"
        return checks

    async def stop(self) -> None:
        """Stop accepting, finish in-flight SMTP transactions, then close everything."""
        self._stopping.set()
        if self._smtp is not None:
            await self._smtp.stop(self.settings.shutdown_grace)
            self._smtp = None
        if self._imap is not None:
            await self._imap.stop(min(self.settings.shutdown_grace, 5.0))
            self._imap = None
        if self._http is not None:
            self.live.close()  # end live streams and waits: nothing left to wait for
            await self._http.stop()
            self._http = None
        if self._mcp is not None:
            await self._mcp.stop()  # after HTTP: no MCP request is left to serve
            self._mcp = None
        if self._ingest is not None:
            await self._ingest.close()
        if self._dispatcher is not None:
            await self._dispatcher.close()  # attempts in flight finish and are recorded
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._policy is not None:
            await self._policy.close()
        if self._probe is not None:
            await self._probe.close()
            self._probe = None
        if self._webhook_sender is not None:
            await self._webhook_sender.close()
            self._webhook_sender = None
        if self._relay is not None:
            await self._relay.close()  # after the last local publish: its NOTIFY goes out
            self._relay = None
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, done.set)
        await self.start()
        log.info(
            "ephemail ready (SMTP %d, HTTP %d, IMAP %d)",
            self.smtp_port,
            self.http_port,
            self.imap_port,
        )
        try:
            await done.wait()
            log.info("shutting down")
        finally:
            await self.stop()


@dataclass(frozen=True, slots=True)
class McpStdio:
    """What `ephemail mcp` serves over stdio: the tools, and who calls them."""

    tools: ToolServices
    principal_for: PrincipalResolver


def retry_policy(settings: Settings) -> RetryPolicy:
    """How webhook deliveries are retried (settings `webhook_*`)."""
    return RetryPolicy(
        timeout=settings.webhook_timeout,
        window=timedelta(hours=settings.webhook_retry_hours),
        backoff_base=settings.webhook_backoff_base,
        backoff_max=settings.webhook_backoff_max,
        disable_after=settings.webhook_disable_after,
        disable_streak=timedelta(hours=settings.webhook_disable_after_hours),
    )


def webhook_sender(settings: Settings) -> HttpxWebhookSender:
    """Outbound webhook HTTP with the SSRF guard and the configured allowed networks."""
    return HttpxWebhookSender(allow_networks=settings.webhook_allow_networks, user_agent=USER_AGENT)


@contextlib.asynccontextmanager
async def open_mcp_services(settings: Settings, *, token: str | None) -> AsyncIterator[McpStdio]:
    """The MCP tools over the configured store, for `ephemail mcp` beside a running
    `ephemail serve`: the same services, acting for API token `token` (anonymous
    without one). Live events come from the store, so a wait sees the mail the server
    accepts: the PostgreSQL relay, or on SQLite a poller of the event table. No
    listeners, retention or webhook dispatcher (the server runs those). Raises
    ValueError when `token` is not a usable API token."""
    from ephemail.mcp.server import token_principal  # the SDK: see `_start_mcp`

    store = await open_store(settings)
    relay: PostgresEventRelay | PollingEventRelay = event_relay_for(
        settings.effective_database_url,
        store,
        poll_interval=settings.events_relay_poll_interval,
    ) or PollingEventRelay(store)
    policy = PolicyService(
        store,
        accept=settings.accept,
        allow_contains=settings.allow_substring_bans,
        refresh_interval=settings.policy_refresh_interval,
        poll_interval=settings.policy_poll_interval,
    )
    sender = webhook_sender(settings)
    live: LiveService | None = None
    try:
        await relay.start()
        await policy.start()
        clock = SystemClock()
        built = await build_mailbox_services(
            settings,
            store,
            relay.bus,
            policy,
            clock=clock,
            hasher=password_hasher(settings),
            limiter=RateLimiter({}, enabled=False),
        )
        live = LiveService(
            store,
            relay.bus,
            built.mailboxes,
            authorizer=built.authorizer,
            heartbeat_interval=settings.events_heartbeat_interval,
            queue_size=settings.events_queue_size,
        )
        webhooks = WebhookService(
            store,
            clock,
            built.mailboxes,
            sender,
            authorizer=built.authorizer,
            retry=retry_policy(settings),
        )
        principal_for = token_principal(built.accounts, token)
        try:
            await principal_for(None)  # a bad token fails now, not at the first call
        except InvalidCredentials as exc:
            raise ValueError(
                "EPHEMAIL_TOKEN is not a usable API token (unknown, expired or revoked)"
            ) from exc
        yield McpStdio(
            ToolServices(built.mailboxes, live, built.ownership, webhooks), principal_for
        )
    finally:
        if live is not None:
            live.close()
        await sender.close()
        await policy.close()
        await relay.close()
        await store.close()
