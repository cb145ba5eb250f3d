"""Ports: the interfaces services depend on. Adapters implement them; app.py wires them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from ephemail.domain.accounts import (
    Account,
    Role,
    Scope,
    SubscriptionStatus,
    TokenInfo,
    TokenKind,
)
from ephemail.domain.bans import Ban
from ephemail.domain.events import DeletionReason, Event
from ephemail.domain.imap import (
    FlagMode,
    Folder,
    FolderCounts,
    ImapContent,
    ImapMessage,
    SpecialUse,
)
from ephemail.domain.messages import (
    DomainRecord,
    Mailbox,
    MessageDetail,
    Page,
    ParsedSummary,
)
from ephemail.domain.search import SearchQuery
from ephemail.domain.webhooks import DeliveryAttempt, DeliveryStatus, Webhook, WebhookDelivery


class StoreError(Exception):
    """The store could not do what was asked (connection lost, disk full ...).

    Callers treat it as temporary: SMTP answers 451, HTTP 503.
    """


class ConflictError(Exception):
    """The thing to create exists already."""


class InvalidCursorError(ValueError):
    """A pagination cursor that no listing produced."""


@dataclass(frozen=True, slots=True)
class RecipientDelivery:
    """One accepted recipient of a transaction: becomes one stored message."""

    message_id: str
    address: str
    domain: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One SMTP transaction to store: the raw bytes once, a message per recipient."""

    queue_id: str
    raw: bytes
    sha256: str
    summary: ParsedSummary
    envelope_from: str
    recipients: tuple[RecipientDelivery, ...]
    received_at: datetime
    client_ip: str | None = None


@dataclass(frozen=True, slots=True)
class ImapSelection:
    """A folder as SELECT/EXAMINE reads it: the folder (after the \\Recent claim), every
    message in UID order, and `recent_above`: the UIDs above it are \\Recent for this
    session (the folder's recent_uid before a SELECT moved it; uidnext - 1 for EXAMINE,
    so nothing is recent)."""

    folder: Folder
    messages: list[ImapMessage]
    recent_above: int


@dataclass(frozen=True, slots=True)
class ImapFetched:
    """One message's FETCH material with its envelope sender (to hide banned senders)."""

    envelope_from: str
    content: ImapContent


@dataclass(frozen=True, slots=True)
class ImapStoredText:
    """One message's decoded header fields and readable body, for IMAP SEARCH."""

    envelope_from: str
    headers: tuple[tuple[str, str], ...]
    body: str


@dataclass(frozen=True, slots=True)
class ImapCopied:
    """What COPY/MOVE did: the destination folder (after), (source UID, destination
    UID) pairs in source UID order, and the events written."""

    folder: Folder
    pairs: list[tuple[int, int]]
    events: list[Event]


# Tells the store which envelope senders are hidden (sender bans): their messages are
# neither changed, copied nor expunged. Pure and fast: it runs inside the transaction.
HiddenSender = Callable[[str], bool]


class ImapStore(Protocol):
    """The IMAP side of the store (adapters/sql/imap_store.py). Folders are named within
    one mailbox; methods taking a `folder_id` only touch that folder when it belongs to
    `mailbox`. Flags are given and returned as IMAP flag names; \\Seen is the message's
    `seen` column (the API's read state), every other flag lives in `flags`."""

    async def imap_folders(self, mailbox: Mailbox) -> list[Folder]:
        """Every folder of the mailbox, INBOX first, then by name."""
        ...

    async def imap_folder(self, mailbox: Mailbox, name: str) -> Folder | None: ...

    async def imap_create_folder(
        self,
        mailbox: Mailbox,
        name: str,
        special_use: SpecialUse | None,
        *,
        parents: Sequence[tuple[str, SpecialUse | None]] = (),
    ) -> Folder:
        """Create `name` and those of `parents` that are missing, each with a new
        UIDVALIDITY larger than any the mailbox ever used. Raises ConflictError when
        `name` exists."""
        ...

    async def imap_delete_folder(self, mailbox: Mailbox, name: str) -> list[Event] | None:
        """Delete the folder and its messages (`message.deleted` events, reason user);
        None when there is no such folder. Raises ConflictError when it has children."""
        ...

    async def imap_rename_folder(
        self,
        mailbox: Mailbox,
        old: str,
        new: str,
        *,
        parents: Sequence[tuple[str, SpecialUse | None]] = (),
    ) -> bool:
        """Rename `old` and its children (`old/...` becomes `new/...`), creating the
        missing `parents` of `new`; False when `old` does not exist. Raises
        ConflictError when `new` (or a child's new name) exists."""
        ...

    async def imap_set_subscribed(self, mailbox: Mailbox, name: str, subscribed: bool) -> bool:
        """False when there is no such folder."""
        ...

    async def imap_select(
        self, mailbox: Mailbox, name: str, *, claim_recent: bool
    ) -> ImapSelection | None:
        """The folder and all its messages in one read. `claim_recent` (SELECT): in the
        same transaction, move the folder's recent_uid to uidnext - 1, so exactly one
        session sees each message as \\Recent. None when there is no such folder."""
        ...

    async def imap_status(
        self, mailbox: Mailbox, name: str, *, hidden: HiddenSender | None = None
    ) -> tuple[Folder, FolderCounts] | None:
        """The folder and its counts (messages of `hidden` senders not counted)."""
        ...

    async def imap_messages_after(
        self, mailbox: Mailbox, folder_id: int, after_uid: int
    ) -> list[ImapMessage]:
        """Messages of the folder with a UID above `after_uid`, in UID order."""
        ...

    async def imap_messages(
        self, mailbox: Mailbox, folder_id: int, message_ids: Sequence[str]
    ) -> dict[str, ImapMessage]:
        """Those of `message_ids` still in the folder, by id."""
        ...

    async def imap_contents(
        self, mailbox: Mailbox, message_ids: Sequence[str], *, raw: bool, structure: bool = True
    ) -> dict[str, ImapFetched]:
        """Structure (and raw bytes when `raw`) of those messages of the mailbox that
        exist; structure missing from old rows is computed from the raw bytes. With
        `structure=False` and `raw`, only the raw bytes are read (`EMPTY_STRUCTURE`)."""
        ...

    async def imap_texts(
        self, mailbox: Mailbox, message_ids: Sequence[str]
    ) -> dict[str, ImapStoredText]: ...

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
        """STORE: the new flags of each message found (by UID; hidden ones left out)
        and the events (`message.read` when \\Seen changed, `message.flags` when the
        other flags did). `flags` are canonical (see services/imap.py)."""
        ...

    async def imap_expunge(
        self,
        mailbox: Mailbox,
        folder_id: int,
        uids: Sequence[int] | None,
        *,
        hidden: HiddenSender,
    ) -> tuple[list[int], list[Event]]:
        """Delete the folder's \\Deleted messages (only those in `uids` when given);
        the UIDs removed in increasing order and the `message.deleted` events."""
        ...

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
        """COPY (new message rows, same content, flags and dates; `message.received`
        events) or MOVE (the rows keep their ids; one `message.moved` event each).
        None when the destination folder does not exist."""
        ...

    async def imap_append(
        self,
        mailbox: Mailbox,
        name: str,
        delivery: Delivery,
        *,
        seen: bool,
        flags: frozenset[str],
    ) -> tuple[Folder, int, list[Event]] | None:
        """Store `delivery` (one recipient: this mailbox) in folder `name` with those
        flags; the folder after, the new UID and the `message.received` event. None
        when there is no such folder."""
        ...


@dataclass(frozen=True, slots=True)
class WebSession:
    """A signed-in browser session: the cookie carries `id` and a secret whose
    SHA-256 is `digest`."""

    id: int
    account_id: int
    digest: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class MailboxUsage:
    messages: int
    bytes: int


class _Unset:
    """Marker for "leave this field as it is" in updates."""


UNSET = _Unset()


class AccountStore(Protocol):
    """Accounts, their tokens and sessions, owned and claimed mailboxes, quotas.

    Emails and addresses passed in are already normalised. Methods that change a
    mailbox return the events they wrote (same transaction); the caller publishes.
    """

    # -- accounts ---------------------------------------------------------------
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
        """Raise ConflictError when the email is taken."""
        ...

    async def get_account(self, account_id: int) -> Account | None: ...

    async def account_by_email(self, email: str) -> tuple[Account, str] | None:
        """The account and its password hash."""
        ...

    async def list_accounts(self) -> list[Account]:
        """Every account, oldest first."""
        ...

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
        """Change the given fields; None when there is no such account."""
        ...

    async def delete_account(self, account_id: int) -> list[Event] | None:
        """Delete the account, its tokens and sessions, and its owned mailboxes with
        their messages (`message.deleted` reason `mailbox deleted`, then
        `mailbox.deleted`); owned domains become unowned. None when missing."""
        ...

    # -- tokens -------------------------------------------------------------------
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
    ) -> TokenInfo: ...

    async def token_by_public_id(self, public_id: str) -> tuple[TokenInfo, str] | None:
        """The token and its secret's digest, revoked or not."""
        ...

    async def list_tokens(self, account_id: int) -> list[TokenInfo]:
        """The account's tokens, newest first, revoked ones included."""
        ...

    async def revoke_token(self, token_id: int, *, account_id: int | None, now: datetime) -> bool:
        """Revoke a token (of that account, unless None); False when there is none."""
        ...

    async def touch_token(self, token_id: int, now: datetime) -> None:
        """Set `last_used_at` (callers may throttle how often)."""
        ...

    # -- web sessions -----------------------------------------------------------
    async def create_session(
        self, account_id: int, digest: str, *, created_at: datetime, expires_at: datetime
    ) -> WebSession: ...

    async def get_session(self, session_id: int) -> WebSession | None: ...

    async def delete_session(self, session_id: int) -> None: ...

    async def delete_expired_sessions(self, now: datetime) -> int: ...

    # -- server secrets -----------------------------------------------------------
    async def server_secret(self, name: str, candidate: str) -> str:
        """The stored secret `name`; stores `candidate` first when there is none
        (atomic: every node ends with the same value)."""
        ...

    # -- owned and claimed mailboxes ----------------------------------------------
    async def create_owned_mailbox(
        self, address: str, account_id: int, *, adopt_public: bool
    ) -> tuple[Mailbox, list[Event]]:
        """Create a mailbox owned by the account (`mailbox.created`, data kind owned).
        With `adopt_public`, an existing PUBLIC mailbox at the address becomes owned
        with its messages (the account owns the domain). ConflictError when the address
        exists otherwise (claimed, owned, or public without `adopt_public`)."""
        ...

    async def list_owned_mailboxes(self, account_id: int) -> list[Mailbox]:
        """The account's mailboxes, oldest first."""
        ...

    async def list_mailboxes(self, *, limit: int, after: str | None) -> list[Mailbox]:
        """Every mailbox ordered by address, after `after` (admin listing)."""
        ...

    async def delete_mailbox(self, address: str) -> list[Event] | None:
        """Delete the mailbox, its folders and messages (`message.deleted` reason
        `mailbox deleted` for each, then `mailbox.deleted`). None when missing."""
        ...

    async def claim_mailbox(self, address: str, password_hash: str) -> tuple[Mailbox, list[Event]]:
        """Make a public mailbox (created if absent) claimed with this password hash
        (`mailbox.claimed`). ConflictError when it is claimed or owned already."""
        ...

    async def release_mailbox(self, address: str) -> tuple[Mailbox, list[Event]] | None:
        """Make a claimed mailbox public again (`mailbox.released`); None when it is
        not claimed."""
        ...

    async def mailbox_password_hash(self, address: str) -> str | None:
        """The claim password hash of a claimed mailbox, else None."""
        ...

    async def set_mailbox_cap(self, address: str, max_messages: int | None) -> bool:
        """Set or clear a mailbox's message cap (moves the policy revision)."""
        ...

    async def quota_rules_exist(self) -> bool:
        """Whether any account has its own quota or any mailbox its own cap. Setting
        either moves the policy revision, so PolicyService re-reads this."""
        ...

    # -- quotas -------------------------------------------------------------------
    async def mailbox_usage(self, address: str) -> MailboxUsage:
        """Messages and bytes in the mailbox (every folder); zeros when missing."""
        ...

    async def account_usage(self, account_id: int) -> MailboxUsage:
        """Messages and bytes across the account's owned mailboxes."""
        ...

    async def set_domain_owner(self, name: str, account_id: int | None) -> bool:
        """Set or clear a registered domain's owner; False when the domain is missing."""
        ...

    # -- statistics (admin) ---------------------------------------------------------
    async def mailbox_kind_counts(self) -> dict[str, int]:
        """Number of mailboxes per kind value; every kind present (0 when none)."""
        ...

    async def count_accounts(self) -> int: ...


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery the dispatcher has leased: its subscription, the stored payload
    (None before the first attempt) and the event it carries (None for a test, or
    when the event row is gone)."""

    delivery: WebhookDelivery
    webhook: Webhook
    payload: str | None
    event: Event | None


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one attempt changes: the delivery's new status and next attempt, the
    attempt for the log, and whether the subscription is disabled now (with why)."""

    attempt: DeliveryAttempt
    status: DeliveryStatus
    next_attempt_at: datetime | None
    payload: str
    success: bool
    disable_reason: str | None = None
    counts: bool = True  # False for a test send: not part of the failure count


class WebhookStore(Protocol):
    """Webhook subscriptions and their durable outbox. The outbox rows themselves are
    written by the store inside every transaction that writes events: each enabled
    subscription whose mailbox, domain or account matches, and that wants the event,
    gets one pending delivery."""

    async def create_webhook(self, webhook: Webhook) -> Webhook: ...

    async def get_webhook(self, webhook_id: str) -> Webhook | None: ...

    async def list_webhooks(
        self,
        *,
        mailbox: str | None = None,
        domain: str | None = None,
        account_id: int | None = None,
        limit: int = 1000,
    ) -> list[Webhook]:
        """By mailbox, by domain, or an account's own (account-scoped or created by
        it); with no filter, every webhook (admins)."""
        ...

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        enabled: bool | None = None,
        secret: str | _Unset | None = ...,
        now: datetime,
    ) -> Webhook | None:
        """Change the given fields. Enabling clears the failure count and reason."""
        ...

    async def delete_webhook(self, webhook_id: str) -> bool: ...

    async def lease_due_deliveries(
        self, now: datetime, *, limit: int, lease_until: datetime, skip_webhooks: Collection[str]
    ) -> list[DueDelivery]:
        """Up to `limit` pending deliveries due by `now` of enabled subscriptions (not
        in `skip_webhooks`) that no dispatcher holds, oldest due first; leased to the
        caller until `lease_until` (other nodes skip them: FOR UPDATE SKIP LOCKED)."""
        ...

    async def finish_attempt(
        self,
        delivery_id: int,
        outcome: AttemptOutcome,
        *,
        now: datetime,
        disable_after: int,
        disable_streak: timedelta = ...,
    ) -> Webhook | None:
        """Record one attempt: the log row, the delivery's status, next attempt and
        payload (lease dropped); the subscription's consecutive failures (reset on
        success), and disable it when `outcome.disable_reason` is set, or when failures
        reach `disable_after` and the streak began `disable_streak` ago or earlier.
        Returns the subscription as it is now."""
        ...

    async def finish_attempts(
        self,
        outcomes: Sequence[tuple[int, AttemptOutcome]],
        *,
        now: datetime,
        disable_after: int,
        disable_streak: timedelta = ...,
    ) -> list[Webhook | None]:
        """`finish_attempt` for several deliveries in one transaction, in order (the
        dispatcher batches its results: one commit, one fsync, for many attempts)."""
        ...

    async def add_test_delivery(self, webhook_id: str, mailbox: str, now: datetime) -> int:
        """A delivery row for a test send (never picked up by the dispatcher)."""
        ...

    async def list_deliveries(
        self, webhook_id: str, *, limit: int, status: DeliveryStatus | None = None
    ) -> list[WebhookDelivery]:
        """Newest first, each with its attempt log (newest attempt first)."""
        ...

    async def redrive_deliveries(
        self, webhook_id: str, *, delivery_id: int | None, now: datetime, give_up_at: datetime
    ) -> int:
        """Due again now, with a new retry window: one delivery (any status but a
        test), or every failed one. Returns how many."""
        ...

    async def release_leases(self, delivery_ids: Collection[int] | None = None) -> int:
        """Drop the leases of `delivery_ids`, or every lease (a single node starting:
        no other dispatcher exists)."""
        ...

    async def outbox_stats(self) -> tuple[int, datetime | None]:
        """Pending deliveries and the creation time of the oldest one."""
        ...

    async def prune_deliveries(self, before: datetime) -> int:
        """Delete finished (delivered or failed) deliveries whose last attempt (or
        creation) is before `before`."""
        ...


class Store(ImapStore, AccountStore, WebhookStore, Protocol):
    """Durable state of ephemail. Every method is one transaction."""

    @property
    def max_writers(self) -> int:
        """How many write transactions may run at once (1 for SQLite)."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreError when the store cannot answer."""
        ...

    # -- ingest ---------------------------------------------------------------
    async def write_deliveries(self, deliveries: Sequence[Delivery]) -> list[Event]:
        """Store every delivery, its events, in ONE transaction; return the events."""
        ...

    # -- policy data ----------------------------------------------------------
    async def list_domains(self) -> list[DomainRecord]: ...

    async def add_domain(
        self, name: str, *, active: bool, shared: bool, retention_hours: float | None
    ) -> DomainRecord: ...

    async def remove_domain(self, name: str) -> bool: ...

    async def list_bans(self) -> list[Ban]: ...

    async def add_ban(self, ban: Ban) -> Ban: ...

    async def remove_ban(self, ban_id: int) -> bool: ...

    async def policy_revision(self) -> int:
        """A number that changes whenever domains or bans change."""
        ...

    # -- reading --------------------------------------------------------------
    async def get_mailbox(self, address: str) -> Mailbox | None: ...

    async def list_messages(
        self, address: str, *, limit: int, cursor: str | None, folder: str = "INBOX"
    ) -> Page: ...

    async def get_message(self, message_id: str) -> MessageDetail | None: ...

    async def get_raw(self, message_id: str) -> bytes | None: ...

    async def search_messages(
        self, query: SearchQuery, *, address: str | None, limit: int, cursor: str | None
    ) -> Page:
        """Messages matching `query` in every folder of `address` (None: every mailbox),
        paged like `list_messages`; `total` and `unread` count every match.
        Raises InvalidCursorError for a cursor no listing produced."""
        ...

    async def mailbox_message_ids(self, address: str, *, limit: int) -> list[str]:
        """Ids of up to `limit` messages of a mailbox (every folder), oldest first."""
        ...

    # -- changes made by readers ---------------------------------------------
    async def create_mailbox(self, address: str) -> tuple[Mailbox, list[Event]]:
        """Create a public mailbox unless it exists; its `mailbox.created` event if new."""
        ...

    async def set_seen(self, message_ids: Sequence[str], seen: bool) -> list[Event]:
        """Set the read state; one `message.read` event per message that changed."""
        ...

    # -- lifecycle ------------------------------------------------------------
    async def delete_messages(
        self, message_ids: Sequence[str], reason: DeletionReason
    ) -> list[Event]: ...

    async def delete_expired(self, now: datetime, limit: int) -> list[Event]:
        """Delete up to `limit` messages whose expires_at has passed."""
        ...

    async def events_after(
        self, after_id: int, limit: int, *, mailboxes: Sequence[str] | None = None
    ) -> list[Event]:
        """Up to `limit` events with ids above `after_id`, in id order; only those of
        `mailboxes` when given (None: every mailbox)."""
        ...

    async def last_event_id(self) -> int:
        """The highest event id written so far (0 when there is none)."""
        ...

    async def count_messages(self) -> int: ...


class EventBus(Protocol):
    """Fan-out of committed events to live readers in this process."""

    def publish(self, events: Sequence[Event]) -> None: ...

    def add_listener(self, listener: Callable[[Sequence[Event]], None]) -> Callable[[], None]:
        """Call `listener` synchronously with every published batch (a doorbell for
        background workers; it must be quick and never raise). Returns its remover."""
        ...

    def subscribe(
        self, max_queue: int = 1000, mailboxes: Collection[str] | None = None
    ) -> EventSubscription:
        """Events of every mailbox, or only of `mailboxes` (normalised addresses)."""
        ...


class SubscriberDropped(Exception):
    """The subscriber's queue overflowed; it must resume from the event table."""


class EventSubscription(Protocol):
    """Events published after `subscribe`. Iteration raises SubscriberDropped once the
    subscriber fell behind; `dropped` turns true at that moment (events still queued
    then may follow a gap, so a careful reader stops as soon as it sees the flag)."""

    @property
    def dropped(self) -> bool: ...

    def __aiter__(self) -> AsyncIterator[Event]: ...

    def close(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class HttpProbe(Protocol):
    """Outbound HTTP used for pings (heartbeat)."""

    async def get(self, url: str, *, timeout: float) -> int:
        """GET `url`; return the status code; raise OSError-like errors on failure."""
        ...


class PasswordHasher(Protocol):
    """Slow password hashing (Argon2id in adapters/crypto/passwords.py)."""

    def hash(self, password: str) -> str: ...

    def verify(self, stored_hash: str, password: str) -> bool:
        """True when `password` matches; never raises for a wrong or malformed hash."""
        ...

    def needs_rehash(self, stored_hash: str) -> bool: ...


# -- webhooks ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """How one webhook POST went. `status_code` is None when no HTTP answer came
    (refused target, DNS, connect, TLS, timeout); `error` then says why in one line.
    A non-2xx answer has its code and `error` None."""

    status_code: int | None
    latency_ms: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender(Protocol):
    """Outbound webhook HTTP with the SSRF guard (adapters/http/webhooks.py)."""

    async def check_target(self, url: str) -> str | None:
        """None when `url` may be called; else why not, in one sentence (its host is
        or resolves to a loopback, private, link-local, multicast, reserved or
        metadata address that the configuration does not allow). A host that does not
        resolve now is not refused here (delivery will retry)."""
        ...

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float
    ) -> WebhookResponse:
        """POST `body` to `url` (JSON), connecting only to addresses the guard allows
        (checked after resolution, so DNS rebinding cannot slip past). Redirects are
        not followed. Never raises for network trouble: it is in the response."""
        ...

    async def close(self) -> None: ...


class WebhookMetrics(Protocol):
    """Prometheus counters and gauges of the dispatcher (adapters/metrics.py)."""

    def attempt(self, outcome: str, latency_seconds: float) -> None:
        """One attempt ended: outcome `delivered`, `retry` (failed, will retry) or
        `failed` (failed, given up or disabled)."""
        ...

    def queue(self, pending: int, oldest_age_seconds: float) -> None:
        """The outbox now: deliveries due or waiting, and the age of the oldest."""
        ...
