"""/api/v1: mailboxes, messages, search, downloads. Every route calls one service method,
which runs the access check; routes only translate HTTP to calls and back."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from ephemail.api.auth import principal_of
from ephemail.api.downloads import (
    LOCKED_DOWN,
    content_disposition,
    safe_filename,
    safe_media_type,
)
from ephemail.api.schemas import (
    CodeOut,
    DeletedOut,
    DomainOut,
    DomainsOut,
    ExtractOut,
    FolderOut,
    FoldersOut,
    LinkOut,
    MailboxCreatedOut,
    MailboxCreateIn,
    MailboxOut,
    MessageOut,
    MessagePageOut,
    MessageSummaryOut,
    SearchPageOut,
    SeenIn,
)
from ephemail.domain.messages import INBOX, MessageDetail, Page
from ephemail.mime.html import rewrite_cid_references
from ephemail.services.mailboxes import MailboxService

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Cursor = Annotated[
    str | None, Query(max_length=64, description="`next_cursor` of the previous page.")
]
FolderName = Annotated[
    str,
    Query(min_length=1, max_length=255, description="Folder name (INBOX, or an IMAP folder)."),
]
SearchText = Annotated[
    str, Query(min_length=1, max_length=1000, description="Query in the search language.")
]

# The HTML body runs in a sandboxed iframe. The CSP `sandbox` directive makes it an
# opaque origin without scripts even when opened directly; no network access except
# our own attachment route (inline cid: images), unless remote images were allowed.
_HTML_CSP = (
    "default-src 'none'; img-src 'self' data:{remote}; style-src 'unsafe-inline'; "
    "font-src data:; media-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
)
# Links open in a new browsing context instead of inside the frame.
_BASE_TARGET = '<base target="_blank">'
_HEAD_OPEN = re.compile(r"<head(?:\s[^>]*)?>", re.IGNORECASE)


def _page_out(mailbox: str, page: Page) -> MessagePageOut:
    return MessagePageOut(
        mailbox=mailbox,
        messages=[MessageSummaryOut.of(m) for m in page.items],
        next_cursor=page.next_cursor,
        total=page.total,
        unread=page.unread,
    )


def _html_document(detail: MessageDetail, html: str) -> str:
    """The HTML body with `cid:` references pointing at our attachment route."""
    by_cid = {
        a.content_id.strip("<>").lower(): i
        for i, a in enumerate(detail.attachments)
        if a.content_id
    }

    def url_for(content_id: str) -> str | None:
        index = by_cid.get(content_id.strip("<>").lower())
        if index is None:
            return None
        return f"/api/v1/messages/{detail.summary.id}/attachments/{index}"

    document = rewrite_cid_references(html, url_for)
    head = _HEAD_OPEN.search(document)
    if head:
        return document[: head.end()] + _BASE_TARGET + document[head.end() :]
    return _BASE_TARGET + document


def build_router(mailboxes: MailboxService) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    # -- domains and mailboxes --------------------------------------------------
    @router.get("/domains", response_model=DomainsOut, tags=["mailboxes"])
    async def list_domains(request: Request) -> DomainsOut:
        """Domains on which addresses can be created (the default first); a private
        domain is listed only to its owner's account, marked `owned`."""
        return DomainsOut(
            domains=[
                DomainOut(name=d.name, shared=d.shared, default=d.default, owned=d.owned)
                for d in mailboxes.creatable_domains(principal_of(request))
            ]
        )

    @router.post(
        "/mailboxes",
        response_model=MailboxCreatedOut,
        status_code=201,
        tags=["mailboxes"],
        responses={200: {"model": MailboxCreatedOut, "description": "It existed already."}},
    )
    async def create_mailbox(request: Request, body: MailboxCreateIn) -> JSONResponse:
        """Create a mailbox at `address`, or at a random address on `domain` (or the
        default domain). 201 when created, 200 when it existed already."""
        mailbox, created = await mailboxes.create_mailbox(
            principal_of(request), body.address, body.domain
        )
        out = MailboxCreatedOut(
            address=mailbox.address,
            kind=mailbox.kind.value,
            created_at=mailbox.created_at,
            created=created,
        )
        return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)

    @router.get("/mailboxes/{address}", response_model=MailboxOut, tags=["mailboxes"])
    async def get_mailbox(request: Request, address: str) -> MailboxOut:
        """The mailbox with its message counts (`exists` is false before any mail)."""
        info = await mailboxes.mailbox_info(principal_of(request), address)
        return MailboxOut(
            address=info.address,
            kind=info.mailbox.kind.value if info.mailbox else "public",
            exists=info.mailbox is not None,
            created_at=info.mailbox.created_at if info.mailbox else None,
            total=info.total,
            unread=info.unread,
        )

    @router.get("/mailboxes/{address}/messages", response_model=MessagePageOut, tags=["messages"])
    async def list_messages(
        request: Request,
        address: str,
        limit: Limit = 50,
        cursor: Cursor = None,
        q: Annotated[
            str | None, Query(max_length=1000, description="Optional search-language filter.")
        ] = None,
        folder: FolderName = INBOX,
    ) -> MessagePageOut:
        """Summaries (never bodies), newest first; pass `next_cursor` back for the next page.
        `folder` picks the folder (INBOX by default); `q` searches every folder."""
        normalised = mailboxes.address(address)
        principal = principal_of(request)
        if q is not None and q.strip():
            page = await mailboxes.search(
                principal, q, raw_address=normalised, limit=limit, cursor=cursor
            )
        else:
            page = await mailboxes.list_messages(
                principal, normalised, limit=limit, cursor=cursor, folder=folder
            )
        return _page_out(normalised, page)

    @router.get("/mailboxes/{address}/folders", response_model=FoldersOut, tags=["mailboxes"])
    async def list_folders(request: Request, address: str) -> FoldersOut:
        """The mailbox's IMAP folders, INBOX first, with their counts (none before the
        mailbox exists)."""
        normalised, found = await mailboxes.list_folders(principal_of(request), address)
        return FoldersOut(
            mailbox=normalised,
            folders=[
                FolderOut(
                    name=f.name,
                    special_use=f.special_use.value if f.special_use else None,
                    subscribed=f.subscribed,
                    uidvalidity=f.uidvalidity,
                    uidnext=f.uidnext,
                    total=counts.messages,
                    unread=counts.unseen,
                )
                for f, counts in found
            ],
        )

    @router.delete("/mailboxes/{address}/messages", response_model=DeletedOut, tags=["messages"])
    async def delete_messages(
        request: Request,
        address: str,
        q: Annotated[
            str | None,
            Query(max_length=1000, description="Delete only the messages matching this query."),
        ] = None,
    ) -> DeletedOut:
        """Delete every message of the mailbox, or those matching `q`."""
        deleted = await mailboxes.delete_all(
            principal_of(request), address, q if q and q.strip() else None
        )
        return DeletedOut(deleted=deleted)

    @router.get("/search", response_model=SearchPageOut, tags=["messages"])
    async def search(
        request: Request,
        q: SearchText,
        mailbox: Annotated[str | None, Query(max_length=320)] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> SearchPageOut:
        """Search one mailbox, or every mailbox (open dev mode or admins)."""
        normalised = mailboxes.address(mailbox) if mailbox else None
        page = await mailboxes.search(
            principal_of(request), q, raw_address=normalised, limit=limit, cursor=cursor
        )
        return SearchPageOut(
            mailbox=normalised,
            query=q,
            messages=[MessageSummaryOut.of(m) for m in page.items],
            next_cursor=page.next_cursor,
            total=page.total,
            unread=page.unread,
        )

    # -- one message --------------------------------------------------------------
    @router.get("/messages/{message_id}", response_model=MessageOut, tags=["messages"])
    async def get_message(request: Request, message_id: str) -> MessageOut:
        """One message: parsed fields, every header, the attachment list."""
        return MessageOut.of_detail(await mailboxes.get_message(principal_of(request), message_id))

    @router.patch("/messages/{message_id}", response_model=MessageSummaryOut, tags=["messages"])
    async def set_seen(request: Request, message_id: str, body: SeenIn) -> MessageSummaryOut:
        """Mark read or unread (emits `message.read` when the state changes)."""
        summary = await mailboxes.set_seen(principal_of(request), message_id, body.seen)
        return MessageSummaryOut.of(summary)

    @router.delete(
        "/messages/{message_id}", status_code=204, response_class=Response, tags=["messages"]
    )
    async def delete_message(request: Request, message_id: str) -> Response:
        """Delete one message (emits `message.deleted` with reason `user`)."""
        await mailboxes.delete_message(principal_of(request), message_id)
        return Response(status_code=204)

    @router.get(
        "/messages/{message_id}/raw",
        response_class=Response,
        responses={200: {"content": {"message/rfc822": {}}}},
        tags=["downloads"],
    )
    async def get_raw(request: Request, message_id: str) -> Response:
        """The message exactly as received, as an .eml download."""
        detail, raw = await mailboxes.get_raw(principal_of(request), message_id)
        return Response(
            raw,
            media_type="message/rfc822",
            headers={
                **LOCKED_DOWN,
                "Content-Disposition": content_disposition(f"{detail.summary.id}.eml"),
            },
        )

    @router.get(
        "/messages/{message_id}/html",
        response_class=Response,
        responses={200: {"content": {"text/html": {}}}},
        tags=["downloads"],
    )
    async def get_html(
        request: Request,
        message_id: str,
        remote: Annotated[bool, Query(description="Allow remote images.")] = False,
    ) -> Response:
        """The HTML body for a sandboxed iframe: no scripts, no remote loads unless
        `remote=1`; `cid:` images point at the attachment route."""
        detail = await mailboxes.get_message(principal_of(request), message_id)
        if detail.html is None:
            return JSONResponse(
                {"error": {"code": "not_found", "message": "this message has no HTML part"}},
                status_code=404,
            )
        csp = _HTML_CSP.format(remote=" https: http:" if remote else "")
        return Response(
            _html_document(detail, detail.html),
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": csp,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "private, max-age=300",
            },
        )

    @router.get(
        "/messages/{message_id}/attachments/{index}",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
        tags=["downloads"],
    )
    async def get_attachment(request: Request, message_id: str, index: int) -> Response:
        """One attachment, decoded, as a download with a safe file name."""
        payload = await mailboxes.get_attachment(principal_of(request), message_id, index)
        name = safe_filename(payload.filename, f"attachment-{index}")
        return Response(
            payload.data,
            media_type=safe_media_type(payload.content_type),
            headers={**LOCKED_DOWN, "Content-Disposition": content_disposition(name)},
        )

    @router.get("/messages/{message_id}/extract", response_model=ExtractOut, tags=["messages"])
    async def extract(request: Request, message_id: str) -> ExtractOut:
        """One-time codes and links found in the text and HTML parts."""
        found = await mailboxes.extract(principal_of(request), message_id)
        return ExtractOut(
            codes=[CodeOut(value=c.value, context=c.context) for c in found.codes],
            links=[LinkOut(url=link.url, text=link.text) for link in found.links],
        )

    return router
