"""Compatibility with the dynip-email API: its paths and JSON shapes, our access rules.

Unlike dynip, every route here goes through the same service calls (and so the same
access check) as /api/v1.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ephemail.api.auth import principal_of
from ephemail.domain.messages import MessageDetail
from ephemail.domain.search import SearchSyntaxError
from ephemail.mime.attachments import AttachmentPayload
from ephemail.mime.html import html_to_text
from ephemail.services.mailboxes import MailboxService

_SNIPPET_CHARS = 160


class DynipAttachment(BaseModel):
    filename: str
    content_type: str
    size: int
    content: str = Field(description="The attachment bytes, base64.")


class DynipEmail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    to: str
    from_: str = Field(serialization_alias="from")
    subject: str
    body: str = Field(description="The text part, or the HTML when there is no text part.")
    timestamp: str = Field(description="Arrival time, RFC 3339.")
    attachments: list[DynipAttachment]


class DynipEmails(BaseModel):
    emails: list[DynipEmail]


class DynipDeleted(BaseModel):
    message: str


class DynipSearchResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    to: str
    from_: str = Field(serialization_alias="from")
    subject: str
    snippet: str
    timestamp: str
    rank: float = Field(description="Position in the results (1 = newest match).")


class DynipSearch(BaseModel):
    results: list[DynipSearchResult]
    count: int


def _body(detail: MessageDetail) -> str:
    if detail.text is not None:
        return detail.text
    return detail.html or ""


def dynip_email(detail: MessageDetail, attachments: list[AttachmentPayload]) -> DynipEmail:
    """A stored message in dynip's `Email` shape (also the WebSocket `Email` frame)."""
    s = detail.summary
    return DynipEmail(
        id=s.id,
        to=s.mailbox,
        from_=s.from_ or s.envelope_from,
        subject=s.subject,
        body=_body(detail),
        timestamp=s.received_at.isoformat(),
        attachments=[
            DynipAttachment(
                filename=a.filename or f"attachment-{i}",
                content_type=a.content_type,
                size=len(a.data),
                content=base64.b64encode(a.data).decode("ascii"),
            )
            for i, a in enumerate(attachments)
        ],
    )


def _snippet(detail: MessageDetail) -> str:
    body = detail.text if detail.text is not None else html_to_text(detail.html or "")
    return " ".join(body[: _SNIPPET_CHARS * 4].split())[:_SNIPPET_CHARS]


def build_compat_router(mailboxes: MailboxService) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["dynip compatibility"])

    @router.get("/emails/{address}", response_model=DynipEmails, response_model_by_alias=True)
    async def emails(
        request: Request, address: str, limit: Annotated[int, Query(ge=1, le=200)] = 50
    ) -> DynipEmails:
        """The newest messages of a mailbox with bodies and attachments (dynip shape)."""
        principal = principal_of(request)
        page = await mailboxes.list_messages(principal, address, limit=limit, cursor=None)
        out = []
        for summary in page.items:
            detail, attachments = await mailboxes.get_with_attachments(principal, summary.id)
            out.append(dynip_email(detail, attachments))
        return DynipEmails(emails=out)

    @router.get("/email/{message_id}", response_model=DynipEmail, response_model_by_alias=True)
    async def email(request: Request, message_id: str) -> DynipEmail:
        """One message (dynip shape)."""
        detail, attachments = await mailboxes.get_with_attachments(
            principal_of(request), message_id
        )
        return dynip_email(detail, attachments)

    @router.delete("/email/{message_id}", response_model=DynipDeleted)
    async def delete_email(request: Request, message_id: str) -> DynipDeleted:
        """Delete one message."""
        await mailboxes.delete_message(principal_of(request), message_id)
        return DynipDeleted(message="Email deleted successfully")

    @router.get("/search", response_model=DynipSearch, response_model_by_alias=True)
    async def search(
        request: Request,
        query: Annotated[str | None, Query(max_length=1000)] = None,
        q: Annotated[str | None, Query(max_length=1000)] = None,
        mailbox: Annotated[str | None, Query(max_length=320)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> DynipSearch:
        """Search (our search language), newest first; `query` or `q`."""
        text = query if query is not None else q
        if text is None or not text.strip():
            raise SearchSyntaxError("the search needs a query (`query=` or `q=`)")
        principal = principal_of(request)
        page = await mailboxes.search(
            principal,
            text,
            raw_address=mailboxes.address(mailbox) if mailbox else None,
            limit=limit,
            cursor=None,
        )
        results = []
        for position, summary in enumerate(page.items, start=1):
            detail = await mailboxes.get_message(principal, summary.id)
            results.append(
                DynipSearchResult(
                    id=summary.id,
                    to=summary.mailbox,
                    from_=summary.from_ or summary.envelope_from,
                    subject=summary.subject,
                    snippet=_snippet(detail),
                    timestamp=summary.received_at.isoformat(),
                    rank=float(position),
                )
            )
        return DynipSearch(results=results, count=len(results))

    return router
