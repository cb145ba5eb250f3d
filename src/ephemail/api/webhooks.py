"""Webhook routes: /api/v1/webhooks and dynip's /api/webhooks, /api/webhook/{id}.

Both call `WebhookService`, which applies the one access check to what a webhook
watches: nobody subscribes to, reads or changes webhooks of a mailbox they could not
read themselves. The secret is write-only: answers say `has_secret`, never the value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ephemail.api.auth import principal_of
from ephemail.domain.webhooks import DeliveryAttempt, Webhook, WebhookDelivery, WebhookScope
from ephemail.services.webhooks import TestResult, WebhookService, parse_status

_MAX_EVENTS = 32


class WebhookIn(BaseModel):
    """A new webhook. Give exactly one target: `mailbox`, `domain` or `account: true`
    (the signed-in account's owned mailboxes)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=4096)
    events: list[str] | None = Field(
        None,
        max_length=_MAX_EVENTS,
        description="`arrival`, `deletion`, `read` and/or `message.*` / `mailbox.*` "
        'event names; default `["arrival"]`.',
    )
    mailbox: str | None = Field(None, max_length=400)
    domain: str | None = Field(None, max_length=300)
    account: bool = False
    secret: str | None = Field(None, max_length=1024)
    enabled: bool = True


class MailboxWebhookIn(BaseModel):
    """A new webhook on the mailbox in the path."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=4096)
    events: list[str] | None = Field(None, max_length=_MAX_EVENTS)
    secret: str | None = Field(None, max_length=1024)
    enabled: bool = True


class WebhookPatchIn(BaseModel):
    """Fields to change; `secret: null` removes the secret."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=4096)
    events: list[str] | None = Field(None, max_length=_MAX_EVENTS)
    enabled: bool | None = None
    secret: str | None = Field(None, max_length=1024)


class WebhookOut(BaseModel):
    id: str
    scope: WebhookScope
    mailbox: str | None = None
    domain: str | None = None
    account_id: int | None = None
    url: str
    events: list[str]
    enabled: bool
    has_secret: bool
    disabled_reason: str | None
    consecutive_failures: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookOut:
        return cls(
            id=webhook.id,
            scope=webhook.scope,
            mailbox=webhook.target if webhook.scope is WebhookScope.MAILBOX else None,
            domain=webhook.target if webhook.scope is WebhookScope.DOMAIN else None,
            account_id=webhook.account_id,
            url=webhook.url,
            events=list(webhook.events),
            enabled=webhook.enabled,
            has_secret=webhook.has_secret,
            disabled_reason=webhook.disabled_reason,
            consecutive_failures=webhook.consecutive_failures,
            created_at=webhook.created_at,
            updated_at=webhook.updated_at,
        )


class WebhooksOut(BaseModel):
    webhooks: list[WebhookOut]


class TestResultOut(BaseModel):
    delivered: bool
    status_code: int | None
    latency_ms: float
    error: str | None
    delivery_id: int

    @classmethod
    def of(cls, result: TestResult) -> TestResultOut:
        return cls(
            delivered=result.delivered,
            status_code=result.status_code,
            latency_ms=round(result.latency_ms, 1),
            error=result.error,
            delivery_id=result.delivery_id,
        )


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> AttemptOut:
        return cls(
            attempted_at=attempt.attempted_at,
            status_code=attempt.status_code,
            latency_ms=round(attempt.latency_ms, 1),
            error=attempt.error,
        )


class DeliveryOut(BaseModel):
    id: int
    event_id: int | None
    event: str
    mailbox: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    log: list[AttemptOut]

    @classmethod
    def of(cls, d: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=d.id,
            event_id=d.event_id,
            event=d.event,
            mailbox=d.mailbox,
            status=d.status.value,
            attempts=d.attempts,
            created_at=d.created_at,
            next_attempt_at=d.next_attempt_at,
            last_attempt_at=d.last_attempt_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            delivered_at=d.delivered_at,
            log=[AttemptOut.of(a) for a in d.log],
        )


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]


class RedriveOut(BaseModel):
    redriven: int


def build_webhooks_router(webhooks: WebhookService) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["webhooks"])

    @router.post("/webhooks", status_code=201, response_model=WebhookOut)
    async def create_webhook(request: Request, body: WebhookIn) -> WebhookOut:
        """Subscribe a URL to a mailbox's, a domain's or your account's events."""
        created = await webhooks.create(
            principal_of(request),
            url=body.url,
            events=body.events,
            mailbox=body.mailbox,
            domain=body.domain,
            account=body.account,
            secret=body.secret,
            enabled=body.enabled,
        )
        return WebhookOut.of(created)

    @router.get("/webhooks", response_model=WebhooksOut)
    async def list_webhooks(
        request: Request,
        mailbox: Annotated[str | None, Query(max_length=400)] = None,
        domain: Annotated[str | None, Query(max_length=300)] = None,
    ) -> WebhooksOut:
        """A mailbox's or a domain's webhooks, or (neither given) your account's."""
        found = await webhooks.list_webhooks(principal_of(request), mailbox=mailbox, domain=domain)
        return WebhooksOut(webhooks=[WebhookOut.of(w) for w in found])

    @router.get("/mailboxes/{address}/webhooks", response_model=WebhooksOut)
    async def mailbox_webhooks(request: Request, address: str) -> WebhooksOut:
        """The webhooks watching this mailbox."""
        found = await webhooks.list_webhooks(principal_of(request), mailbox=address)
        return WebhooksOut(webhooks=[WebhookOut.of(w) for w in found])

    @router.post("/mailboxes/{address}/webhooks", status_code=201, response_model=WebhookOut)
    async def create_mailbox_webhook(
        request: Request, address: str, body: MailboxWebhookIn
    ) -> WebhookOut:
        """Subscribe a URL to this mailbox's events."""
        created = await webhooks.create(
            principal_of(request),
            url=body.url,
            events=body.events,
            mailbox=address,
            secret=body.secret,
            enabled=body.enabled,
        )
        return WebhookOut.of(created)

    @router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
    async def get_webhook(request: Request, webhook_id: str) -> WebhookOut:
        return WebhookOut.of(await webhooks.get(principal_of(request), webhook_id))

    @router.patch("/webhooks/{webhook_id}", response_model=WebhookOut)
    async def patch_webhook(request: Request, webhook_id: str, body: WebhookPatchIn) -> WebhookOut:
        """Change the URL, events, enabled flag or secret (`null` removes it).
        Enabling a webhook that was disabled clears its failure count."""
        given = body.model_fields_set
        updated = await webhooks.update(
            principal_of(request),
            webhook_id,
            url=body.url,
            events=body.events,
            enabled=body.enabled,
            secret=body.secret,
            clear_secret="secret" in given and body.secret is None,
        )
        return WebhookOut.of(updated)

    @router.delete("/webhooks/{webhook_id}", status_code=204)
    async def delete_webhook(request: Request, webhook_id: str) -> Response:
        await webhooks.delete(principal_of(request), webhook_id)
        return Response(status_code=204)

    @router.post("/webhooks/{webhook_id}/test", response_model=TestResultOut)
    async def test_webhook(request: Request, webhook_id: str) -> TestResultOut:
        """POST a `test` event to the URL now and say how it went (it is logged too)."""
        return TestResultOut.of(await webhooks.test(principal_of(request), webhook_id))

    @router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveriesOut)
    async def deliveries(
        request: Request,
        webhook_id: str,
        status: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> DeliveriesOut:
        """The delivery log, newest first, each delivery with its attempts."""
        found = await webhooks.deliveries(
            principal_of(request), webhook_id, limit=limit, status=parse_status(status)
        )
        return DeliveriesOut(deliveries=[DeliveryOut.of(d) for d in found])

    @router.post(
        "/webhooks/{webhook_id}/deliveries/{delivery_id}/redrive", response_model=RedriveOut
    )
    async def redrive_one(request: Request, webhook_id: str, delivery_id: int) -> RedriveOut:
        """Send this delivery again now, with a fresh retry window."""
        count = await webhooks.redrive(principal_of(request), webhook_id, delivery_id=delivery_id)
        return RedriveOut(redriven=count)

    @router.post("/webhooks/{webhook_id}/redrive", response_model=RedriveOut)
    async def redrive_failed(request: Request, webhook_id: str) -> RedriveOut:
        """Send every failed delivery again now."""
        return RedriveOut(redriven=await webhooks.redrive(principal_of(request), webhook_id))

    return router


# -- dynip's routes ----------------------------------------------------------------------


class DynipWebhookIn(BaseModel):
    mailbox_address: str = Field(max_length=400)
    webhook_url: str = Field(max_length=4096)
    events: list[str] | None = Field(None, max_length=_MAX_EVENTS)
    secret: str | None = Field(None, max_length=1024)
    enabled: bool = True


class DynipWebhookUpdateIn(BaseModel):
    webhook_url: str | None = Field(None, max_length=4096)
    events: list[str] | None = Field(None, max_length=_MAX_EVENTS)
    enabled: bool | None = None


class DynipWebhookOut(BaseModel):
    id: str
    mailbox_address: str
    webhook_url: str
    events: list[str]
    created_at: datetime
    enabled: bool

    @classmethod
    def of(cls, webhook: Webhook) -> DynipWebhookOut:
        return cls(
            id=webhook.id,
            mailbox_address=webhook.target,
            webhook_url=webhook.url,
            events=list(webhook.events),
            created_at=webhook.created_at,
            enabled=webhook.enabled,
        )


def build_dynip_webhooks_router(webhooks: WebhookService) -> APIRouter:
    """dynip-email's webhook routes and shapes (a URL without a scheme gets http://)."""
    router = APIRouter(prefix="/api", tags=["dynip compatibility"])

    @router.post("/webhooks", response_model=DynipWebhookOut)
    async def create(request: Request, body: DynipWebhookIn) -> DynipWebhookOut:
        created = await webhooks.create(
            principal_of(request),
            url=body.webhook_url,
            events=body.events,
            mailbox=body.mailbox_address,
            secret=body.secret,
            enabled=body.enabled,
            add_scheme=True,
        )
        return DynipWebhookOut.of(created)

    @router.get("/webhooks/{address}", response_model=list[DynipWebhookOut])
    async def list_for(request: Request, address: str) -> list[DynipWebhookOut]:
        found = await webhooks.list_webhooks(principal_of(request), mailbox=address)
        return [DynipWebhookOut.of(w) for w in found]

    @router.get("/webhook/{webhook_id}", response_model=DynipWebhookOut)
    async def get(request: Request, webhook_id: str) -> DynipWebhookOut:
        return DynipWebhookOut.of(await webhooks.get(principal_of(request), webhook_id))

    @router.put("/webhook/{webhook_id}", response_model=DynipWebhookOut)
    async def put(
        request: Request, webhook_id: str, body: Annotated[DynipWebhookUpdateIn, Body()]
    ) -> DynipWebhookOut:
        updated = await webhooks.update(
            principal_of(request),
            webhook_id,
            url=body.webhook_url,
            events=body.events,
            enabled=body.enabled,
            add_scheme=True,
        )
        return DynipWebhookOut.of(updated)

    @router.delete("/webhook/{webhook_id}")
    async def delete(request: Request, webhook_id: str) -> dict[str, str]:
        await webhooks.delete(principal_of(request), webhook_id)
        return {"message": "Webhook deleted"}

    @router.post("/webhook/{webhook_id}/test")
    async def test(request: Request, webhook_id: str) -> dict[str, object]:
        result = await webhooks.test(principal_of(request), webhook_id)
        return {
            "success": result.delivered,
            "status_code": result.status_code,
            "error": result.error,
        }

    return router
