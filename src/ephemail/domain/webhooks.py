"""Webhooks: subscriptions, the events they name, deliveries, payloads and signatures.

Pure values and rules (no I/O). A subscription watches one mailbox, one domain or
one account's owned mailboxes; each matching committed event becomes one delivery
in the durable outbox (written in the event's own transaction), which the
dispatcher sends with retries (services/webhooks.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from ephemail.domain.events import EventType

# dynip's event names (SPEC: Webhooks) and the event each stands for. An `arrival`
# is mail delivered to INBOX (as `/wait` counts it); `message.received` is any
# new message, IMAP APPEND and COPY included.
ALIASES: Mapping[str, EventType] = {
    "arrival": EventType.MESSAGE_RECEIVED,
    "deletion": EventType.MESSAGE_DELETED,
    "read": EventType.MESSAGE_READ,
}
EVENT_NAMES: tuple[str, ...] = (*ALIASES, *(t.value for t in EventType))
DEFAULT_EVENTS: tuple[str, ...] = ("arrival",)
MAX_URL_LENGTH = 2048
MAX_SECRET_LENGTH = 256
TEST_EVENT = "test"


class WebhookError(ValueError):
    """A subscription field is not acceptable; the message says which and why."""


class WebhookScope(StrEnum):
    MAILBOX = "mailbox"
    DOMAIN = "domain"
    ACCOUNT = "account"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # given up: retry window over, 410 Gone, or a test that failed


@dataclass(frozen=True, slots=True)
class Webhook:
    """One subscription. `target` is the mailbox address, the domain name or the
    account id (as text), by `scope`. The secret is never shown again after it is
    set (`has_secret` tells whether there is one)."""

    id: str
    scope: WebhookScope
    target: str
    url: str
    events: tuple[str, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    consecutive_failures: int = 0
    created_by: int | None = None  # account id of the creator, if signed in
    secret: str | None = field(default=None, repr=False)

    @property
    def has_secret(self) -> bool:
        return bool(self.secret)

    @property
    def account_id(self) -> int | None:
        return int(self.target) if self.scope is WebhookScope.ACCOUNT else None

    def wants(self, event_type: EventType, *, to_inbox: bool) -> str | None:
        """The name this subscription knows `event_type` by, or None when it does not
        want it. An alias wins over the dotted name (it shapes the payload's
        `event`); `arrival` needs the message to have landed in INBOX."""
        for alias, aliased in ALIASES.items():
            if aliased is event_type and alias in self.events:
                if alias == "arrival" and not to_inbox:
                    continue
                return alias
        if event_type.value in self.events:
            return event_type.value
        return None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One HTTP attempt of a delivery, for the delivery log."""

    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event on its way to one subscription (an outbox row)."""

    id: int
    webhook_id: str
    event_id: int | None  # None for a test delivery
    event: str  # the name in the payload: `arrival`, `message.flags`, `test`, ...
    mailbox: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    give_up_at: datetime | None = None  # None: created_at + the retry window
    log: tuple[DeliveryAttempt, ...] = ()


def normalize_url(raw: str, *, add_scheme: bool = False) -> str:
    """A webhook URL, checked: http or https, a host, no credentials, at most
    2048 characters. With `add_scheme` (dynip's routes) a URL without a scheme
    gets `http://`."""
    url = raw.strip()
    if not url:
        raise WebhookError("url is empty")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookError(f"url is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise WebhookError("url contains spaces or control characters")
    if add_scheme and "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookError(f"url is not valid: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise WebhookError("url must start with http:// or https://")
    if not parts.hostname:
        raise WebhookError("url has no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookError("url must not carry a user name or password")
    if port == 0:
        raise WebhookError("url port must be 1-65535")
    return url


def normalize_events(names: Iterable[str] | None) -> tuple[str, ...]:
    """Known event names, lower-cased, de-duplicated, in the order given; the
    default (`arrival`) when none are given."""
    if names is None:
        return DEFAULT_EVENTS
    if isinstance(names, str):
        raise WebhookError("events must be a list of names")
    seen: list[str] = []
    for raw in names:
        if not isinstance(raw, str):
            raise WebhookError("events must be a list of names")
        name = raw.strip().lower()
        if name not in EVENT_NAMES:
            raise WebhookError(f"unknown event {raw!r}; known: {', '.join(EVENT_NAMES)}")
        if name not in seen:
            seen.append(name)
    if not seen:
        raise WebhookError("events is empty")
    return tuple(seen)


def normalize_secret(raw: str | None) -> str | None:
    """A signing secret: None or empty means none; at most 256 characters."""
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_SECRET_LENGTH:
        raise WebhookError(f"secret is longer than {MAX_SECRET_LENGTH} characters")
    if any(ord(c) < 0x20 for c in raw):
        raise WebhookError("secret contains control characters")
    return raw


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`X-Ephemail-Signature`: `sha256=` + hex HMAC-SHA256 over `<timestamp>.<body>`
    (the Stripe/Standard Webhooks construction: the timestamp is signed too, so a
    captured request cannot be replayed later with a fresh timestamp)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def backoff_delay(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before attempt `attempts + 1`: exponential (base · 2^(attempts-1)),
    capped, with "equal jitter" (half fixed, half random) so many failing
    deliveries do not retry in lock-step."""
    exp = min(cap, base * 2.0 ** max(0, attempts - 1))
    return exp / 2 + rng.uniform(0, exp / 2)


def endpoint_key(url: str) -> str:
    """scheme://host:port: deliveries to one endpoint share a concurrency bound."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The request body: compact JSON, UTF-8, keys in the order given."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
