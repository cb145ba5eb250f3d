"""The MCP tools and resources, independent of any transport.

Each tool is one async function of the services, the caller's `Principal` and its
validated arguments, returning a JSON-able dict. The SDK server (mcp/server.py) and
dynip's REST shim (api/mcp_shim.py) both go through `call_tool` and `read_resource`,
so a tool answers the same on every surface. Authorisation is the services' one
access check (services/access.py): nothing here reads the store around them, and
an access refusal surfaces as the services raise it (`failure_of` words it for an
agent).

Argument names follow dynip-email's MCP tools where they exist (`mailbox`,
`email_id`, `webhook_url`, `events`, `webhook_id`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Generic, TypeVar
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ephemail.domain.address import AddressError
from ephemail.domain.messages import MessageDetail, MessageSummary
from ephemail.domain.search import SearchSyntaxError
from ephemail.domain.webhooks import (
    DEFAULT_EVENTS,
    EVENT_NAMES,
    MAX_SECRET_LENGTH,
    MAX_URL_LENGTH,
    Webhook,
    WebhookError,
    WebhookScope,
)
from ephemail.mime.html import html_to_text
from ephemail.ports import ConflictError, InvalidCursorError, StoreError
from ephemail.services.access import AccessDenied, Principal
from ephemail.services.accounts import InvalidCredentials
from ephemail.services.live import MAX_WAIT_SECONDS as LIVE_MAX_WAIT_SECONDS
from ephemail.services.live import LiveClosed, LiveService, WaitQuery
from ephemail.services.mailboxes import MailboxNotAllowed, MailboxService, MessageNotFound
from ephemail.services.ownership import OwnershipService
from ephemail.services.ratelimit import RateLimited
from ephemail.services.webhooks import WebhookNotFound, WebhookService

# The longest one wait_for_email call may wait (the services wait at most
# LIVE_MAX_WAIT_SECONDS at a time; the tool waits again until its own deadline).
MAX_WAIT_SECONDS: Final = 300.0
DEFAULT_WAIT_SECONDS: Final = 60.0
# Listing pages an agent asks for (the API allows more; an agent's context does not).
MAX_PAGE: Final = 100
DEFAULT_PAGE: Final = 20
# Each body text returned is cut at this many characters (`truncated` says so).
MAX_TEXT_CHARS: Final = 50_000
# Latest messages shown by the mailbox:// resource.
RESOURCE_PAGE: Final = 20

# HTML bodies longer than this are converted to text in a thread.
_INLINE_HTML_CHARS = 64 * 1024
_ADDRESS_LENGTH = 320
_ID_LENGTH = 64


@dataclass(frozen=True, slots=True)
class ToolServices:
    """The services the tools act through (each runs the one access check)."""

    mailboxes: MailboxService
    live: LiveService
    ownership: OwnershipService
    webhooks: WebhookService


class UnknownTool(LookupError):
    """No tool has this name."""


class UnknownResource(LookupError):
    """The URI names no resource of ours (wrong scheme or an empty id)."""


class InvalidArguments(ValueError):
    """The arguments do not fit the tool's input schema; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A tool call that could not be done, worded for an agent: a machine `code` (the
    HTTP API's error codes) and a `message` that says what to do about it."""

    code: str
    message: str


# -- arguments (their JSON schemas are what agents see) -------------------------------------
class ToolArgs(BaseModel):
    """Arguments of a tool: unknown names are refused, so a typo is reported, not ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


_MAILBOX_FIELD = Field(
    min_length=1,
    max_length=_ADDRESS_LENGTH,
    description="The mailbox address, e.g. `signup-test@example.com`; a bare local part "
    "(`signup-test`) means that name on the server's default domain.",
)
_EMAIL_ID_FIELD = Field(
    min_length=1,
    max_length=_ID_LENGTH,
    description="The email's id, as returned by list_emails, search_emails or wait_for_email.",
)
_LIMIT_FIELD = Field(
    DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="How many emails to return (newest first)."
)
_CURSOR_FIELD = Field(
    None,
    max_length=_ID_LENGTH,
    description="`next_cursor` of the previous answer, for the next (older) page.",
)


class CreateMailboxArgs(ToolArgs):
    address: str | None = Field(
        None,
        max_length=_ADDRESS_LENGTH,
        description="The address to create, e.g. `signup-test@example.com`, or only a local "
        "part for the default domain. Leave it out for a fresh random address.",
    )
    domain: str | None = Field(
        None,
        max_length=253,
        description="Domain of the random address (when `address` is left out); the "
        "server's default domain when left out too.",
    )
    private: bool = Field(
        False,
        description="Create a private mailbox owned by your account (needs an API token): "
        "only you can read it. Otherwise the mailbox is public: anyone who knows the "
        "address can read it.",
    )


class ListEmailsArgs(ToolArgs):
    mailbox: str = _MAILBOX_FIELD
    limit: int = _LIMIT_FIELD
    cursor: str | None = _CURSOR_FIELD


class ReadEmailArgs(ToolArgs):
    email_id: str = _EMAIL_ID_FIELD
    include_html: bool = Field(
        False,
        description="Also return the raw HTML part (it can be long); the HTML "
        "converted to text is always returned.",
    )


class WaitForEmailArgs(ToolArgs):
    mailbox: str = _MAILBOX_FIELD
    from_: str | None = Field(
        None,
        alias="from",
        max_length=_ADDRESS_LENGTH,
        description="Only emails whose sender (From header or envelope sender) contains "
        "this text, case-insensitive, e.g. `noreply@github.com` or `github`.",
    )
    subject: str | None = Field(
        None,
        max_length=1000,
        description="Only emails whose subject contains this text (case-insensitive).",
    )
    contains: str | None = Field(
        None,
        max_length=1000,
        description="Only emails whose subject or body contains this text (case-insensitive).",
    )
    after: str | None = Field(
        None,
        max_length=_ID_LENGTH,
        description="Only emails newer than the email with this id (ids sort by arrival), "
        "e.g. to wait for the next email after one already read.",
    )
    since: datetime | None = Field(
        None,
        description="Only emails that arrived at or after this ISO 8601 time (UTC when no "
        "offset is given), e.g. the moment you asked a website to send the email.",
    )
    timeout_seconds: float = Field(
        DEFAULT_WAIT_SECONDS,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description=f"How long to wait at most, in seconds (0 to {MAX_WAIT_SECONDS:g}); 0 "
        "only looks at what is there now.",
    )


class EmailIdArgs(ToolArgs):
    email_id: str = _EMAIL_ID_FIELD


class SearchEmailsArgs(ToolArgs):
    query: str = Field(
        min_length=1,
        max_length=1000,
        description='The search: plain words (all must match), "quoted phrases" and '
        "`from:`, `to:`, `cc:`, `subject:`, `has:attachment`, `is:read`, `is:unread`, "
        "`before:YYYY-MM-DD`, `after:YYYY-MM-DD`, `larger:N`, `smaller:N` (bytes, K/M "
        "suffixes); a leading `-` negates a term. Example: `from:github subject:verify`.",
    )
    mailbox: str | None = Field(
        None,
        max_length=_ADDRESS_LENGTH,
        description="Search this mailbox only. Without it every mailbox is searched, which "
        "only admins (or anyone on a development server) may do.",
    )
    limit: int = _LIMIT_FIELD
    cursor: str | None = _CURSOR_FIELD


class CreateWebhookArgs(ToolArgs):
    mailbox: str = _MAILBOX_FIELD
    webhook_url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="The http(s) URL that receives a JSON POST for each event, e.g. "
        "`https://example.com/hooks/mail`.",
    )
    events: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EVENTS),
        min_length=1,
        max_length=len(EVENT_NAMES),
        description="The events to send: `arrival` (an email arrived), `deletion`, `read`, "
        "or the detailed names (" + ", ".join(f"`{n}`" for n in EVENT_NAMES if "." in n) + "). "
        f"Default: {', '.join(DEFAULT_EVENTS)}.",
        json_schema_extra={"items": {"type": "string", "enum": list(EVENT_NAMES)}},
    )
    secret: str | None = Field(
        None,
        max_length=MAX_SECRET_LENGTH,
        description="A shared secret: each POST then carries `X-Ephemail-Signature: "
        "sha256=<hex>`, the HMAC-SHA256 of `<X-Ephemail-Timestamp>.<body>` with it.",
    )


class MailboxArgs(ToolArgs):
    mailbox: str = _MAILBOX_FIELD


class WebhookIdArgs(ToolArgs):
    webhook_id: str = Field(
        min_length=1,
        max_length=_ID_LENGTH,
        description="The webhook's id, as returned by create_webhook or list_webhooks.",
    )


ArgsT = TypeVar("ArgsT", bound=ToolArgs)
ToolResult = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolSpec(Generic[ArgsT]):
    """One tool: its name, what an agent reads about it, its arguments and its body."""

    name: str
    title: str
    description: str
    args: type[ArgsT]
    run: Callable[[ToolServices, Principal, ArgsT], Awaitable[ToolResult]]
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False  # reaches outside this server (a webhook URL)

    def input_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments (by their wire names)."""
        return _without_titles(self.args.model_json_schema(by_alias=True))

    async def call(
        self, services: ToolServices, principal: Principal, arguments: Mapping[str, Any]
    ) -> ToolResult:
        try:
            args = self.args.model_validate(dict(arguments))
        except ValidationError as exc:
            raise InvalidArguments(_describe_validation(self.name, exc)) from exc
        return await self.run(services, principal, args)


def _without_titles(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without pydantic's generated `title` of each part (noise to an agent);
    a property that is itself named "title" stays."""
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            cleaned[key] = {
                name: _without_titles(sub) if isinstance(sub, dict) else sub
                for name, sub in value.items()
            }
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            cleaned[key] = [_without_titles(s) if isinstance(s, dict) else s for s in value]
        elif key == "items" and isinstance(value, dict):
            cleaned[key] = _without_titles(value)
        else:
            cleaned[key] = value
    return cleaned


def _describe_validation(tool: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "arguments"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return f"invalid arguments for {tool}: " + "; ".join(parts)


# -- JSON shapes ---------------------------------------------------------------------------
def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _bounded(text: str | None) -> tuple[str | None, bool]:
    if text is None or len(text) <= MAX_TEXT_CHARS:
        return text, False
    return text[:MAX_TEXT_CHARS], True


def email_summary(summary: MessageSummary) -> dict[str, Any]:
    """A listed email: never a body."""
    return {
        "id": summary.id,
        "mailbox": summary.mailbox,
        "folder": summary.folder,
        "subject": summary.subject,
        "from": summary.from_,
        "to": list(summary.to),
        "received_at": _time(summary.received_at),
        "seen": summary.seen,
        "has_attachments": summary.has_attachments,
        "size": summary.size,
    }


async def _as_text(html: str) -> str:
    """The HTML as text; a large body is converted in a thread (the conversion is
    linear but a few MB take a while: never stall the event loop on one mail)."""
    if len(html) <= _INLINE_HTML_CHARS:
        return html_to_text(html)
    return await asyncio.to_thread(html_to_text, html)


async def email_detail(detail: MessageDetail, *, include_html: bool = False) -> dict[str, Any]:
    """One email for an agent: the text part, the HTML part as text, every header and
    the attachment list; each text cut at MAX_TEXT_CHARS (`truncated`)."""
    summary = detail.summary
    text, text_cut = _bounded(detail.text)
    html_text, html_cut = _bounded(await _as_text(detail.html)) if detail.html else (None, False)
    found: dict[str, Any] = {
        **email_summary(summary),
        "cc": list(summary.cc),
        "reply_to": list(detail.reply_to),
        "date": _time(summary.date),
        "envelope_from": summary.envelope_from,
        "message_id": detail.message_id,
        "text": text,
        "html_as_text": html_text,
        "has_html": detail.html is not None,
        "headers": [{"name": name, "value": value} for name, value in detail.headers],
        "attachments": [
            {
                "index": index,
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "size": attachment.size,
                "content_id": attachment.content_id,
                "download_path": f"/api/v1/messages/{summary.id}/attachments/{index}",
            }
            for index, attachment in enumerate(detail.attachments)
        ],
        "truncated": text_cut or html_cut,
    }
    if include_html:
        html, html_raw_cut = _bounded(detail.html)
        found["html"] = html
        found["truncated"] = found["truncated"] or html_raw_cut
    return found


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    """A subscription as the REST API shows it (never its secret)."""
    target: dict[str, Any]
    if webhook.scope is WebhookScope.MAILBOX:
        target = {"mailbox": webhook.target}
    elif webhook.scope is WebhookScope.DOMAIN:
        target = {"domain": webhook.target}
    else:
        target = {"account_id": webhook.account_id}
    return {
        "id": webhook.id,
        "scope": webhook.scope.value,
        **target,
        "url": webhook.url,
        "events": list(webhook.events),
        "enabled": webhook.enabled,
        "has_secret": webhook.has_secret,
        "disabled_reason": webhook.disabled_reason,
        "consecutive_failures": webhook.consecutive_failures,
        "created_at": _time(webhook.created_at),
        "updated_at": _time(webhook.updated_at),
    }


def _page(emails: Sequence[MessageSummary], next_cursor: str | None) -> dict[str, Any]:
    return {
        "emails": [email_summary(m) for m in emails],
        "count": len(emails),
        "next_cursor": next_cursor,
    }


# -- the tools -----------------------------------------------------------------------------
async def create_mailbox(
    services: ToolServices, principal: Principal, args: CreateMailboxArgs
) -> ToolResult:
    try:
        if args.private:
            mailbox = await services.ownership.create_owned(principal, args.address, args.domain)
            created = True
        else:
            mailbox, created = await services.mailboxes.create_mailbox(
                principal, args.address, args.domain
            )
    except MailboxNotAllowed as exc:
        domains = ", ".join(d.name for d in services.mailboxes.creatable_domains(principal))
        raise MailboxNotAllowed(
            f"{exc}; addresses can be created on: {domains or 'no domain right now'}"
        ) from exc
    return {
        "address": mailbox.address,
        "kind": mailbox.kind.value,
        "created": created,
        "created_at": _time(mailbox.created_at),
    }


async def list_emails(
    services: ToolServices, principal: Principal, args: ListEmailsArgs
) -> ToolResult:
    address = services.mailboxes.address(args.mailbox)
    page = await services.mailboxes.list_messages(
        principal, address, limit=args.limit, cursor=args.cursor
    )
    return {
        "mailbox": address,
        "total": page.total,
        "unread": page.unread,
        **_page(page.items, page.next_cursor),
    }


async def read_email(
    services: ToolServices, principal: Principal, args: ReadEmailArgs
) -> ToolResult:
    detail = await services.mailboxes.get_message(principal, args.email_id)
    return await email_detail(detail, include_html=args.include_html)


async def _contains(detail: MessageDetail, needle: str) -> bool:
    """`needle` (casefolded) in the subject, the text part or the HTML part as text."""
    for part in (detail.summary.subject, detail.text):
        if part and needle in part.casefold():
            return True
    return bool(detail.html) and needle in (await _as_text(detail.html or "")).casefold()


async def wait_for_email(
    services: ToolServices, principal: Principal, args: WaitForEmailArgs
) -> ToolResult:
    """The earliest matching email, already there or arriving within the timeout.

    Event-driven (LiveService.wait_for_message): no polling. The services wait at most
    LIVE_MAX_WAIT_SECONDS at a time, so a longer wait is several in a row; each one
    looks in the store first, so nothing arriving between two is missed. `contains`
    is checked here on the full email: a match that lacks it moves `after` past it.
    """
    address = services.mailboxes.address(args.mailbox)
    query = WaitQuery(from_=args.from_, subject=args.subject, after=args.after, since=args.since)
    needle = args.contains.casefold() if args.contains else None
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + args.timeout_seconds
    while True:
        remaining = max(0.0, deadline - loop.time())
        chunk = min(remaining, LIVE_MAX_WAIT_SECONDS)
        detail = await services.live.wait_for_message(principal, address, query, timeout=chunk)
        if detail is not None:
            if needle is None or await _contains(detail, needle):
                return {"found": True, "mailbox": address, "email": await email_detail(detail)}
            query = replace(query, after=detail.summary.id)
            continue
        if chunk >= remaining:
            waited = round(loop.time() - started, 1)
            return {
                "found": False,
                "timed_out": True,
                "mailbox": address,
                "waited_seconds": waited,
                "message": f"no matching email arrived within {args.timeout_seconds:g} "
                "seconds; call wait_for_email again to keep waiting (an email that arrives "
                "in between is still found)",
            }


async def extract_codes_and_links(
    services: ToolServices, principal: Principal, args: EmailIdArgs
) -> ToolResult:
    found = await services.mailboxes.extract(principal, args.email_id)
    return {
        "email_id": args.email_id,
        "code": found.codes[0].value if found.codes else None,
        "codes": [{"value": c.value, "context": c.context} for c in found.codes],
        "links": [{"url": link.url, "text": link.text} for link in found.links],
    }


async def search_emails(
    services: ToolServices, principal: Principal, args: SearchEmailsArgs
) -> ToolResult:
    address = services.mailboxes.address(args.mailbox) if args.mailbox else None
    page = await services.mailboxes.search(
        principal, args.query, raw_address=address, limit=args.limit, cursor=args.cursor
    )
    return {
        "query": args.query,
        "mailbox": address,
        "total": page.total,
        **_page(page.items, page.next_cursor),
    }


async def delete_email(
    services: ToolServices, principal: Principal, args: EmailIdArgs
) -> ToolResult:
    await services.mailboxes.delete_message(principal, args.email_id)
    return {"deleted": True, "email_id": args.email_id, "message": "Email deleted successfully"}


async def create_webhook(
    services: ToolServices, principal: Principal, args: CreateWebhookArgs
) -> ToolResult:
    webhook = await services.webhooks.create(
        principal,
        url=args.webhook_url,
        events=args.events,
        mailbox=args.mailbox,
        secret=args.secret,
    )
    return webhook_json(webhook)


async def list_webhooks(
    services: ToolServices, principal: Principal, args: MailboxArgs
) -> ToolResult:
    address = services.mailboxes.address(args.mailbox)
    found = await services.webhooks.list_webhooks(principal, mailbox=address)
    return {"mailbox": address, "webhooks": [webhook_json(w) for w in found], "count": len(found)}


async def delete_webhook(
    services: ToolServices, principal: Principal, args: WebhookIdArgs
) -> ToolResult:
    await services.webhooks.delete(principal, args.webhook_id)
    return {
        "deleted": True,
        "webhook_id": args.webhook_id,
        "message": "Webhook deleted successfully",
    }


async def test_webhook(
    services: ToolServices, principal: Principal, args: WebhookIdArgs
) -> ToolResult:
    result = await services.webhooks.test(principal, args.webhook_id)
    return {
        "success": result.delivered,
        "delivered": result.delivered,
        "status_code": result.status_code,
        "latency_ms": round(result.latency_ms, 1),
        "error": result.error,
        "delivery_id": result.delivery_id,
    }


TOOLS: Final[tuple[ToolSpec[Any], ...]] = (
    ToolSpec(
        "create_mailbox",
        "Create a mailbox",
        "Create an email address that can receive mail right away: the given `address`, "
        "or a fresh random one (on `domain`, or the server's default domain). Creating an "
        "address that exists already just returns it (`created`: false). Next, give the "
        "address to whoever should write to it and call wait_for_email.",
        CreateMailboxArgs,
        create_mailbox,
        idempotent=True,
    ),
    ToolSpec(
        "list_emails",
        "List emails",
        "List the emails of a mailbox, newest first: id, subject, sender, arrival time, "
        "read flag and size (never the body: use read_email for that). Pass `next_cursor` "
        "back as `cursor` for older emails.",
        ListEmailsArgs,
        list_emails,
        read_only=True,
    ),
    ToolSpec(
        "read_email",
        "Read an email",
        "Read one email: its text part, its HTML part converted to text, every header "
        "and the attachment list (name, type, size). For one-time codes and links, "
        "extract_codes_and_links is easier.",
        ReadEmailArgs,
        read_email,
        read_only=True,
    ),
    ToolSpec(
        "wait_for_email",
        "Wait for an email",
        "Wait until an email matching the optional filters (`from`, `subject`, "
        "`contains`, `after`, `since`) is in the mailbox, and return it in full, as "
        "read_email does. An email that arrived before the call counts too: use "
        f"`after` or `since` for only newer ones. Waits up to `timeout_seconds` (at most "
        f"{MAX_WAIT_SECONDS:g}); when nothing came, the answer has `found`: false and "
        "you may call again.",
        WaitForEmailArgs,
        wait_for_email,
        read_only=True,
    ),
    ToolSpec(
        "extract_codes_and_links",
        "Extract codes and links",
        "Find the one-time codes (verification codes, PINs) and the links in an email. "
        "`code` is the most likely verification code (null when none), `codes` all "
        "candidates with the phrase around each, `links` every http(s) link with its text.",
        EmailIdArgs,
        extract_codes_and_links,
        read_only=True,
    ),
    ToolSpec(
        "search_emails",
        "Search emails",
        "Search emails with a query language (see `query`), in one mailbox or, for "
        "admins, in all. Returns summaries, newest first, like list_emails.",
        SearchEmailsArgs,
        search_emails,
        read_only=True,
    ),
    ToolSpec(
        "delete_email",
        "Delete an email",
        "Delete one email for good: it cannot be restored, and every reader of the "
        "mailbox (web UI, IMAP, API) sees it gone.",
        EmailIdArgs,
        delete_email,
        destructive=True,
        idempotent=True,
    ),
    ToolSpec(
        "create_webhook",
        "Create a webhook",
        "Subscribe a URL to a mailbox's events: ephemail POSTs a JSON payload (`event`, "
        "`event_id`, `mailbox`, `email` with id, from, subject and body) to `webhook_url` "
        "for each one, retrying for hours until it answers 2xx. Needs write access to the "
        "mailbox.",
        CreateWebhookArgs,
        create_webhook,
        open_world=True,
    ),
    ToolSpec(
        "list_webhooks",
        "List webhooks",
        "List the webhooks of a mailbox (URL, events, enabled, failures; never the secret).",
        MailboxArgs,
        list_webhooks,
        read_only=True,
    ),
    ToolSpec(
        "delete_webhook",
        "Delete a webhook",
        "Delete a webhook: no more events are sent to its URL.",
        WebhookIdArgs,
        delete_webhook,
        destructive=True,
        idempotent=True,
    ),
    ToolSpec(
        "test_webhook",
        "Test a webhook",
        "Send a `test` event to the webhook's URL now and report the answer: `success`, "
        "the HTTP status code, the latency, or the error.",
        WebhookIdArgs,
        test_webhook,
        open_world=True,
    ),
)

_BY_NAME: Final = {spec.name: spec for spec in TOOLS}


def tool_named(name: str) -> ToolSpec[Any] | None:
    return _BY_NAME.get(name)


async def call_tool(
    services: ToolServices,
    principal: Principal,
    name: str,
    arguments: Mapping[str, Any] | None,
) -> ToolResult:
    """Run the tool `name` for `principal`. Raises UnknownTool, InvalidArguments, or
    what the services raise (AccessDenied, MessageNotFound, ...: see `failure_of`)."""
    spec = tool_named(name)
    if spec is None:
        raise UnknownTool(f"no tool named {name!r}")
    return await spec.call(services, principal, arguments or {})


# -- resources -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ResourceTemplate:
    """A family of resources: `uri_template` in RFC 6570 form (`email://{email_id}`)."""

    scheme: str
    uri_template: str
    name: str
    title: str
    description: str
    mime_type: str = "application/json"


RESOURCE_TEMPLATES: Final[tuple[ResourceTemplate, ...]] = (
    ResourceTemplate(
        "email",
        "email://{email_id}",
        "email",
        "An email",
        "One email in full, as read_email returns it.",
    ),
    ResourceTemplate(
        "webhook",
        "webhook://{webhook_id}",
        "webhook",
        "A webhook",
        "One webhook subscription, as list_webhooks shows it.",
    ),
    ResourceTemplate(
        "mailbox",
        "mailbox://{address}",
        "mailbox",
        "A mailbox",
        f"A mailbox: its kind, message counts and its {RESOURCE_PAGE} newest emails.",
    ),
)


def parse_resource_uri(uri: str) -> tuple[str, str]:
    """(scheme, id) of `email://ID`, `mailbox://a@b` (percent-encoding undone); also
    accepts `email:ID` and `email/ID`. Raises UnknownResource."""
    scheme, colon, rest = uri.strip().partition(":")
    if not colon:
        scheme, _, rest = uri.strip().partition("/")
    ident = unquote(rest.lstrip("/")).strip()
    scheme = scheme.lower()
    if scheme not in {t.scheme for t in RESOURCE_TEMPLATES} or not ident:
        raise UnknownResource(f"no resource {uri!r}")
    return scheme, ident


async def read_resource(services: ToolServices, principal: Principal, uri: str) -> ToolResult:
    """The resource `uri` as JSON. Raises UnknownResource or what the services raise."""
    scheme, ident = parse_resource_uri(uri)
    if scheme == "email":
        if len(ident) > _ID_LENGTH:
            raise UnknownResource(f"no resource {uri!r}")
        return await email_detail(await services.mailboxes.get_message(principal, ident))
    if scheme == "webhook":
        if len(ident) > _ID_LENGTH:
            raise UnknownResource(f"no resource {uri!r}")
        return webhook_json(await services.webhooks.get(principal, ident))
    info = await services.mailboxes.mailbox_info(principal, ident)
    page = await services.mailboxes.list_messages(
        principal, info.address, limit=RESOURCE_PAGE, cursor=None
    )
    return {
        "address": info.address,
        "kind": info.mailbox.kind.value if info.mailbox else "public",
        "exists": info.mailbox is not None,
        "created_at": _time(info.mailbox.created_at) if info.mailbox else None,
        "total": info.total,
        "unread": info.unread,
        **_page(page.items, page.next_cursor),
    }


# -- failures, worded for agents -------------------------------------------------------------
def _access_denied(exc: Exception) -> Failure:
    needs = isinstance(exc, AccessDenied) and exc.needs_credentials
    return Failure("unauthorized" if needs else "forbidden", f"access denied: {exc}")


def _rate_limited(exc: Exception) -> Failure:
    retry = exc.retry_after if isinstance(exc, RateLimited) else 60.0
    return Failure("rate_limited", f"too many requests; try again in {max(1, round(retry))} s")


_FAILURES: list[tuple[type[Exception], Callable[[Exception], Failure]]] = [
    (InvalidArguments, lambda e: Failure("invalid_arguments", str(e))),
    (UnknownTool, lambda e: Failure("unknown_tool", f"{e}; list the tools to see them")),
    (UnknownResource, lambda e: Failure("not_found", str(e))),
    (AddressError, lambda e: Failure("invalid_address", f"invalid address: {e}")),
    (
        InvalidCursorError,
        lambda _e: Failure("invalid_cursor", "invalid cursor: pass back a next_cursor"),
    ),
    (SearchSyntaxError, lambda e: Failure("invalid_query", f"invalid search query: {e}")),
    (
        MessageNotFound,
        lambda e: Failure(
            "not_found", f"no email {e} here (it may have been deleted or have expired)"
        ),
    ),
    (MailboxNotAllowed, lambda e: Failure("mailbox_not_allowed", str(e))),
    (WebhookError, lambda e: Failure("invalid_webhook", f"invalid webhook: {e}")),
    (WebhookNotFound, lambda e: Failure("not_found", str(e))),
    (AccessDenied, _access_denied),
    (
        InvalidCredentials,
        lambda _e: Failure("invalid_credentials", "invalid, expired or revoked API token"),
    ),
    (ConflictError, lambda e: Failure("conflict", str(e))),
    (RateLimited, _rate_limited),
    (LiveClosed, lambda _e: Failure("unavailable", "the server is shutting down; try again")),
    (StoreError, lambda _e: Failure("unavailable", "storage unavailable; try again later")),
]


def failure_of(exc: Exception) -> Failure | None:
    """How a tool call that raised `exc` is reported to the agent; None for a bug
    (the caller logs it and reports an internal error)."""
    for kind, describe in _FAILURES:
        if isinstance(exc, kind):
            return describe(exc)
    return None
