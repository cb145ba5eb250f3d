"""/api/v1: read the mail (listing, one message, raw .eml) and delete it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ephemail.api.schemas import MessageOut, MessagePageOut, MessageSummaryOut
from ephemail.services.access import Principal
from ephemail.services.mailboxes import MailboxService


def principal_of(_: Request) -> Principal:
    """Who is calling. Only anonymous until accounts and tokens exist."""
    return Principal.anonymous()


def build_router(mailboxes: MailboxService) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["messages"])

    @router.get("/mailboxes/{address}/messages", response_model=MessagePageOut)
    async def list_messages(
        request: Request,
        address: str,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        cursor: Annotated[str | None, Query(max_length=64)] = None,
    ) -> MessagePageOut:
        """Summaries (never bodies), newest first; pass `next_cursor` back for the next page."""
        normalised = mailboxes.address(address)
        page = await mailboxes.list_messages(
            principal_of(request), normalised, limit=limit, cursor=cursor
        )
        return MessagePageOut(
            mailbox=normalised,
            messages=[MessageSummaryOut.of(m) for m in page.items],
            next_cursor=page.next_cursor,
            total=page.total,
            unread=page.unread,
        )

    @router.get("/messages/{message_id}", response_model=MessageOut)
    async def get_message(request: Request, message_id: str) -> MessageOut:
        """One message: parsed fields, every header, the attachment list."""
        return MessageOut.of_detail(await mailboxes.get_message(principal_of(request), message_id))

    @router.get(
        "/messages/{message_id}/raw",
        response_class=Response,
        responses={200: {"content": {"message/rfc822": {}}}},
    )
    async def get_raw(request: Request, message_id: str) -> Response:
        """The message exactly as received, as an .eml download."""
        detail, raw = await mailboxes.get_raw(principal_of(request), message_id)
        return Response(
            raw,
            media_type="message/rfc822",
            headers={
                "Content-Disposition": f'attachment; filename="{detail.summary.id}.eml"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    @router.delete("/messages/{message_id}", status_code=204, response_class=Response)
    async def delete_message(request: Request, message_id: str) -> Response:
        """Delete one message (emits `message.deleted` with reason `user`)."""
        await mailboxes.delete_message(principal_of(request), message_id)
        return Response(status_code=204)

    return router
