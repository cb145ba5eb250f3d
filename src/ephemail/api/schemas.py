"""Response shapes of /api/v1 (also what OpenAPI documents)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ephemail.domain.accounts import Account, Role, Scope, SubscriptionStatus, TokenInfo, TokenKind
from ephemail.domain.bans import Ban
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
    owned: bool = Field(
        False,
        description="Private to your account: only you create addresses there (others "
        "never see it listed).",
    )


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


# -- accounts, tokens, claims (docs/api.md "Authentication" and "Accounts") -----------
class AccountOut(BaseModel):
    id: int
    email: str
    role: str
    subscription_status: str
    subscription_ends_at: datetime | None
    quota_bytes: int | None
    created_at: datetime

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(
            id=account.id,
            email=account.email,
            role=account.role.value,
            subscription_status=account.subscription_status.value,
            subscription_ends_at=account.subscription_ends_at,
            quota_bytes=account.quota_bytes,
            created_at=account.created_at,
        )


class CredentialsIn(BaseModel):
    """Body of register and login. Length limits are checked by the password policy;
    these bounds only keep absurd bodies out."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    password: str = Field(max_length=4096)


class SignedInOut(BaseModel):
    """Answer of register and login: the session cookie is set alongside."""

    account: AccountOut
    csrf_token: str


class MeOut(BaseModel):
    account: AccountOut
    via: str = Field(description='"session" or "api_token".')
    scopes: list[str]
    csrf_token: str | None = Field(description="The session's CSRF token (sessions only).")


class TokenOut(BaseModel):
    id: int
    kind: str
    name: str
    scopes: list[str]
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: TokenInfo) -> TokenOut:
        return cls(
            id=token.id,
            kind=token.kind.value,
            name=token.name,
            scopes=sorted(s.value for s in token.scopes),
            prefix=token.prefix,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


class TokensOut(BaseModel):
    tokens: list[TokenOut]


class TokenCreateIn(BaseModel):
    """Body of POST /api/v1/tokens. API tokens without `scopes` get read and write."""

    model_config = ConfigDict(extra="forbid")

    kind: TokenKind
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] | None = Field(default=None, max_length=3)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenCreatedOut(BaseModel):
    token: TokenOut
    secret: str = Field(description="The whole token: shown this once, never again.")


class OwnedMailboxOut(BaseModel):
    address: str
    kind: str
    created_at: datetime
    messages: int
    bytes: int


class UsageOut(BaseModel):
    used_bytes: int
    quota_bytes: int | None
    mailboxes: int


class AccountMailboxesOut(BaseModel):
    mailboxes: list[OwnedMailboxOut]
    usage: UsageOut


class MailboxStatusOut(BaseModel):
    address: str
    exists: bool
    kind: str
    claimed: bool = Field(description="Claimed or owned: reading needs credentials.")


class PasswordIn(BaseModel):
    """Body of claim, release and unlock (and of the dynip claim routes)."""

    model_config = ConfigDict(extra="forbid")

    password: str = Field(max_length=4096)


class ClaimOut(BaseModel):
    address: str
    kind: str


class DynipClaimStatus(BaseModel):
    address: str
    is_claimed: bool


class DynipClaimMessage(BaseModel):
    message: str
    address: str


# -- admin ---------------------------------------------------------------------------
class AdminUserOut(AccountOut):
    mailboxes: int
    used_bytes: int


class AdminUsersOut(BaseModel):
    users: list[AdminUserOut]


class AdminUserCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    password: str = Field(max_length=4096)
    role: Role = Role.USER
    subscription_status: SubscriptionStatus = SubscriptionStatus.INACTIVE
    subscription_ends_at: datetime | None = None
    quota_bytes: int | None = Field(default=None, ge=0)


class AdminUserUpdateIn(BaseModel):
    """Fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    subscription_status: SubscriptionStatus | None = None
    subscription_ends_at: datetime | None = None
    quota_bytes: int | None = Field(default=None, ge=0)
    password: str | None = Field(default=None, max_length=4096)


class AdminDomainOut(BaseModel):
    name: str
    active: bool
    shared: bool
    owner: str | None = Field(description="The owning account's email, or null.")
    retention_hours: float | None


class AdminDomainsOut(BaseModel):
    domains: list[AdminDomainOut]


class AdminDomainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    active: bool = True
    shared: bool = False
    owner: str | None = Field(default=None, max_length=320, description="An account email.")
    retention_hours: float | None = Field(default=None, ge=0)


class AdminBanOut(BaseModel):
    id: int | None
    scope: str
    match: str
    value: str
    status: str
    reason: str
    created_at: datetime | None

    @classmethod
    def of(cls, ban: Ban) -> AdminBanOut:
        return cls(
            id=ban.id,
            scope=ban.scope.value,
            match=ban.match.value,
            value=ban.value,
            status=ban.status.value,
            reason=ban.reason,
            created_at=ban.created_at,
        )


class AdminBansOut(BaseModel):
    bans: list[AdminBanOut]


class AdminBanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: str = Field(min_length=1, max_length=32)
    value: str = Field(min_length=1, max_length=320)
    match: str | None = Field(default=None, max_length=16)
    status: str | None = Field(default=None, max_length=16)
    reason: str = Field(default="", max_length=500)


class AdminStatsOut(BaseModel):
    accounts: int
    mailboxes: int
    messages: int
    owned_mailboxes: int
    claimed_mailboxes: int


class AdminMailboxOut(BaseModel):
    address: str
    kind: str
    domain: str
    created_at: datetime
    owner_account_id: int | None
    max_messages: int | None


class AdminMailboxCapIn(BaseModel):
    max_messages: int | None = Field(
        ...,
        ge=1,
        description="The most messages the mailbox may hold (SMTP answers 452 4.2.2 when "
        "full); null for the deployment default (`mailbox_max_messages`).",
    )


class AdminMailboxesOut(BaseModel):
    mailboxes: list[AdminMailboxOut]
    next_after: str | None
