"""Response shapes of /api/v1 (also what OpenAPI documents)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ephemail.domain.messages import MessageDetail, MessageSummary
from ephemail.mime.html import has_remote_content


class AttachmentOut(BaseModel):
    index: int
    filename: str | None
    content_type: str
    size: int
    content_id: str | None
    disposition: str | None


class MessageSummaryOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    mailbox: str
    folder: str
    uid: int
    subject: str
    from_: str = Field(serialization_alias="from")
    to: list[str]
    cc: list[str]
    date: datetime | None
    received_at: datetime
    expires_at: datetime | None
    size: int
    seen: bool
    has_attachments: bool
    envelope_from: str

    @classmethod
    def of(cls, m: MessageSummary) -> MessageSummaryOut:
        return cls(
            id=m.id,
            mailbox=m.mailbox,
            folder=m.folder,
            uid=m.uid,
            subject=m.subject,
            from_=m.from_,
            to=list(m.to),
            cc=list(m.cc),
            date=m.date,
            received_at=m.received_at,
            expires_at=m.expires_at,
            size=m.size,
            seen=m.seen,
            has_attachments=m.has_attachments,
            envelope_from=m.envelope_from,
        )


class MessagePageOut(BaseModel):
    mailbox: str
    messages: list[MessageSummaryOut]
    next_cursor: str | None
    total: int
    unread: int


class MessageOut(MessageSummaryOut):
    reply_to: list[str]
    message_id: str | None
    text: str | None
    html: str | None
    headers: list[tuple[str, str]]
    attachments: list[AttachmentOut]
    sha256: str
    queue_id: str
    remote_content: bool

    @classmethod
    def of_detail(cls, d: MessageDetail) -> MessageOut:
        base = MessageSummaryOut.of(d.summary).model_dump()
        return cls(
            **base,
            reply_to=list(d.reply_to),
            message_id=d.message_id,
            text=d.text,
            html=d.html,
            headers=list(d.headers),
            attachments=[
                AttachmentOut(
                    index=i,
                    filename=a.filename,
                    content_type=a.content_type,
                    size=a.size,
                    content_id=a.content_id,
                    disposition=a.disposition,
                )
                for i, a in enumerate(d.attachments)
            ],
            sha256=d.sha256,
            queue_id=d.queue_id,
            remote_content=has_remote_content(d.html) if d.html else False,
        )


class SeenIn(BaseModel):
    """Body of PATCH /api/v1/messages/{id}."""

    model_config = ConfigDict(extra="forbid")

    seen: bool


class MailboxCreateIn(BaseModel):
    """Body of POST /api/v1/mailboxes: an address, or a domain for a random address."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(default=None, max_length=320)
    domain: str | None = Field(default=None, max_length=253)


class MailboxOut(BaseModel):
    address: str
    kind: str
    exists: bool
    created_at: datetime | None
    total: int
    unread: int


class FolderOut(BaseModel):
    """One IMAP folder of a mailbox (RFC 3501 names, "/" between levels)."""

    name: str
    special_use: str | None
    subscribed: bool
    uidvalidity: int
    uidnext: int
    total: int
    unread: int


class FoldersOut(BaseModel):
    mailbox: str
    folders: list[FolderOut]


class MailboxCreatedOut(BaseModel):
    address: str
    kind: str
    created_at: datetime
    created: bool


class DomainOut(BaseModel):
    name: str
    shared: bool
    default: bool


class DomainsOut(BaseModel):
    domains: list[DomainOut]


class DeletedOut(BaseModel):
    deleted: int


class CodeOut(BaseModel):
    value: str
    context: str


class LinkOut(BaseModel):
    url: str
    text: str | None


class ExtractOut(BaseModel):
    codes: list[CodeOut]
    links: list[LinkOut]


class SearchPageOut(BaseModel):
    mailbox: str | None
    query: str
    messages: list[MessageSummaryOut]
    next_cursor: str | None
    total: int
    unread: int
