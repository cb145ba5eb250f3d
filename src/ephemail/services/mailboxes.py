"""Reading and changing mailboxes and messages, always through `authorize`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from ephemail.domain.address import normalize_address, normalize_domain
from ephemail.domain.events import DeletionReason
from ephemail.domain.imap import INBOX, Folder, FolderCounts
from ephemail.domain.messages import Mailbox, MessageDetail, MessageSummary, Page
from ephemail.domain.policy import AcceptMode, RecipientVerdict
from ephemail.domain.search import SearchQuery, parse_search
from ephemail.mime.attachments import AttachmentPayload, attachment_payload, attachment_payloads
from ephemail.mime.extract import FoundCode, FoundLink, extract_codes, extract_links
from ephemail.ports import EventBus, Store
from ephemail.services.access import (
    Action,
    Authorizer,
    Principal,
)
from ephemail.services.policy import PolicyService

# Random local parts: lowercase letters and digits without look-alikes (0/o, 1/l).
_LOCAL_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_LOCAL_LENGTH = 10
_DELETE_BATCH = 500


class MessageNotFound(Exception):
    """No such message (or not visible to this principal: the same answer)."""


class AttachmentNotFound(Exception):
    """The message has no attachment with that number."""


class MailboxNotAllowed(Exception):
    """A mailbox may not be created at this address (domain not allowed, or banned)."""


@dataclass(frozen=True, slots=True)
class MailboxInfo:
    """A mailbox as a reader sees it; `mailbox` is None until its first message or creation."""

    address: str
    mailbox: Mailbox | None
    total: int
    unread: int


@dataclass(frozen=True, slots=True)
class CreatableDomain:
    name: str
    shared: bool
    default: bool
    owned: bool = False  # private to the caller's account


@dataclass(frozen=True, slots=True)
class Extracted:
    codes: list[FoundCode]
    links: list[FoundLink]


class MailboxService:
    """Listing, reading and deleting messages for any protocol."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        policy: PolicyService,
        *,
        authorizer: Authorizer,
        default_domain: str,
        page_size_max: int = 200,
    ) -> None:
        self._store = store
        self._bus = bus
        self._policy = policy
        self._authorizer = authorizer
        self._default_domain = default_domain
        self.page_size_max = page_size_max

    def address(self, raw: str) -> str:
        """Normalise a user-given address; local parts get the default domain."""
        return normalize_address(raw, self._default_domain)

    def is_hidden(self, envelope_from: str) -> bool:
        """SPEC: a sender ban also hides stored mail from that sender in every reader."""
        if not envelope_from:
            return False
        return self._policy.snapshot.bans.sender_ban(envelope_from) is not None

    def _visible(self, page: Page) -> Page:
        visible = [m for m in page.items if not self.is_hidden(m.envelope_from)]
        return replace(page, items=visible) if len(visible) != len(page.items) else page

    async def list_messages(
        self,
        principal: Principal,
        raw_address: str,
        *,
        limit: int,
        cursor: str | None,
        folder: str = INBOX,
    ) -> Page:
        address = self.address(raw_address)
        mailbox = await self._store.get_mailbox(address)
        await self._authorizer.check(principal, Action.READ, mailbox)
        limit = max(1, min(limit, self.page_size_max))
        page = await self._store.list_messages(address, limit=limit, cursor=cursor, folder=folder)
        return self._visible(page)

    async def list_folders(
        self, principal: Principal, raw_address: str
    ) -> tuple[str, list[tuple[Folder, FolderCounts]]]:
        """The mailbox's IMAP folders (INBOX first) with their counts; none before the
        mailbox exists. Counts include hidden mail, like `mailbox_info`."""
        address = self.address(raw_address)
        mailbox = await self._store.get_mailbox(address)
        await self._authorizer.check(principal, Action.READ, mailbox)
        if mailbox is None:
            return address, []
        found = []
        for folder in await self._store.imap_folders(mailbox):
            status = await self._store.imap_status(mailbox, folder.name)
            if status is not None:
                found.append(status)
        return address, found

    async def mailbox_info(self, principal: Principal, raw_address: str) -> MailboxInfo:
        """The mailbox (if it exists) with its message counts."""
        address = self.address(raw_address)
        mailbox = await self._store.get_mailbox(address)
        await self._authorizer.check(principal, Action.READ, mailbox)
        if mailbox is None:
            return MailboxInfo(address, None, 0, 0)
        page = await self._store.list_messages(address, limit=1, cursor=None)
        return MailboxInfo(address, mailbox, page.total, page.unread)

    async def search(
        self,
        principal: Principal,
        text: str,
        *,
        raw_address: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        """Messages matching the search language `text`, in one mailbox or (global) all.

        Raises SearchSyntaxError for a malformed query.
        """

        query = parse_search(text)
        limit = max(1, min(limit, self.page_size_max))
        if raw_address is None:
            self._authorizer.check_global(principal, Action.READ)
            address = None
        else:
            address = self.address(raw_address)
            await self._authorizer.check(
                principal, Action.READ, await self._store.get_mailbox(address)
            )
        page = await self._store.search_messages(query, address=address, limit=limit, cursor=cursor)
        return self._visible(page)

    # -- creating mailboxes ---------------------------------------------------
    def creatable_domains(self, principal: Principal | None = None) -> list[CreatableDomain]:
        """Domains on which new addresses may be created, the default one first: every
        domain that accepts mail except private ones (`private_owner`), which are
        listed only to their owner's account (`owned`)."""
        snapshot = self._policy.snapshot
        policy = snapshot.policy
        account_id = principal.account.id if principal and principal.account else None
        names: dict[str, bool] = {}
        if policy.mode is AcceptMode.SINGLE and policy.single_domain is not None:
            names[policy.single_domain] = False
        else:
            if policy.mode is AcceptMode.ALL:
                names[self._default_domain] = False
            for record in snapshot.domains:
                if record.active and snapshot.bans.recipient_domain_ban(record.name) is None:
                    names.setdefault(record.name, record.shared)
        listed = []
        for name, shared in names.items():
            owner = self._private_owner_of(name)
            if owner is not None and owner != account_id:
                continue
            listed.append(
                CreatableDomain(name, shared, name == self._default_domain, owner is not None)
            )
        return sorted(listed, key=lambda d: (not d.default, d.name))

    def _private_owner_of(self, domain: str) -> int | None:
        record = self._policy.snapshot.domains.lookup_active(domain)
        if record is None or record.shared:
            return None
        return record.owner_account_id

    def domain_owner(self, domain: str) -> int | None:
        """The account an active domain entry names as its owner (shared or not)."""
        record = self._policy.snapshot.domains.lookup_active(domain)
        return None if record is None else record.owner_account_id

    def random_address(self, domain: str | None) -> str:
        """A fresh random address on `domain` (normalised; the default domain when
        None). Raises AddressError for a malformed domain."""
        chosen = normalize_domain(domain) if domain else self._default_domain
        local = "".join(secrets.choice(_LOCAL_ALPHABET) for _ in range(_LOCAL_LENGTH))
        return normalize_address(f"{local}@{chosen}")

    def check_creatable(self, address: str) -> None:
        """Raise MailboxNotAllowed unless a mailbox may be created at the normalised
        `address`: its domain accepts mail and no recipient-domain, address or
        creation ban applies (also used for owned mailboxes and claims)."""
        snapshot = self._policy.snapshot
        verdict = snapshot.check_recipient(address)
        if verdict is RecipientVerdict.DOMAIN_NOT_ALLOWED:
            raise MailboxNotAllowed(f"addresses cannot be created on {address.partition('@')[2]}")
        if verdict is not RecipientVerdict.ACCEPT or snapshot.bans.creation_ban(address):
            raise MailboxNotAllowed("this address cannot be used")

    def private_owner(self, address: str) -> int | None:
        """The account that owns `address`'s domain privately: the most specific active
        domain entry has an owner and is not shared. Addresses there exist only as that
        account's owned mailboxes: nobody creates public ones (API, UI, IMAP, claims)
        and SMTP refuses unknown recipients, so mail meant for a private domain never
        lands in a mailbox anyone may read."""
        return self._private_owner_of(address.rpartition("@")[2])

    def check_public_creatable(self, address: str) -> None:
        """`check_creatable`, and not on a private domain (see `private_owner`)."""
        self.check_creatable(address)
        if self.private_owner(address) is not None:
            raise MailboxNotAllowed(
                f"addresses on {address.rpartition('@')[2]} are created by its owner's account"
            )

    async def create_mailbox(
        self, principal: Principal, raw_address: str | None, domain: str | None
    ) -> tuple[Mailbox, bool]:
        """Create the mailbox at `raw_address`, or at a random address on `domain`.

        Raises MailboxNotAllowed when the domain does not accept mail or a ban forbids
        the address; AddressError for a malformed address or domain.
        """
        if raw_address is not None and raw_address.strip():
            address = self.address(raw_address)
        else:
            address = self.random_address(domain)
        existing = await self._store.get_mailbox(address)
        if existing is None:
            self.check_public_creatable(address)
        else:
            self.check_creatable(address)
        await self._authorizer.check(principal, Action.WRITE, existing)
        mailbox, events = await self._store.create_mailbox(address)
        self._bus.publish(events)
        return mailbox, bool(events)

    async def _message(
        self, principal: Principal, message_id: str, action: Action
    ) -> MessageDetail:
        """The message, once `principal` may do `action` on its mailbox; hidden mail
        (sender banned) is not found, whatever the action."""
        detail = await self._store.get_message(message_id)
        if detail is None or self.is_hidden(detail.summary.envelope_from):
            raise MessageNotFound(message_id)
        mailbox = await self._store.get_mailbox(detail.summary.mailbox)
        await self._authorizer.check(principal, action, mailbox)
        return detail

    async def get_message(self, principal: Principal, message_id: str) -> MessageDetail:
        return await self._message(principal, message_id, Action.READ)

    async def get_raw(self, principal: Principal, message_id: str) -> tuple[MessageDetail, bytes]:
        detail = await self.get_message(principal, message_id)
        raw = await self._store.get_raw(message_id)
        if raw is None:
            raise MessageNotFound(message_id)
        return detail, raw

    async def delete_message(self, principal: Principal, message_id: str) -> None:
        detail = await self._message(principal, message_id, Action.DELETE)
        events = await self._store.delete_messages([detail.summary.id], DeletionReason.USER)
        self._bus.publish(events)

    async def set_seen(self, principal: Principal, message_id: str, seen: bool) -> MessageSummary:
        """Mark one message read or unread (emits `message.read` when it changes)."""
        detail = await self._message(principal, message_id, Action.WRITE)
        events = await self._store.set_seen([detail.summary.id], seen)
        self._bus.publish(events)
        return replace(detail.summary, seen=seen)

    async def delete_all(
        self, principal: Principal, raw_address: str, query_text: str | None = None
    ) -> int:
        """Delete every message of a mailbox, or those matching `query_text`; return how many."""

        query: SearchQuery | None = parse_search(query_text) if query_text else None
        address = self.address(raw_address)
        mailbox = await self._store.get_mailbox(address)
        await self._authorizer.check(principal, Action.DELETE, mailbox)
        if mailbox is None:
            return 0
        deleted = 0
        while True:
            if query is None:
                ids = await self._store.mailbox_message_ids(address, limit=_DELETE_BATCH)
            else:
                page = await self._store.search_messages(
                    query, address=address, limit=_DELETE_BATCH, cursor=None
                )
                ids = [m.id for m in page.items]
            if not ids:
                return deleted
            events = await self._store.delete_messages(ids, DeletionReason.USER)
            self._bus.publish(events)
            deleted += len(events)

    async def get_attachment(
        self, principal: Principal, message_id: str, index: int
    ) -> AttachmentPayload:
        """The decoded bytes of attachment number `index` of the message's list."""
        detail, raw = await self.get_raw(principal, message_id)
        if not 0 <= index < len(detail.attachments):
            raise AttachmentNotFound(f"no attachment {index}")

        payload = attachment_payload(raw, index)
        if payload is None:
            raise AttachmentNotFound(f"no attachment {index}")
        return payload

    async def extract(self, principal: Principal, message_id: str) -> Extracted:
        """One-time codes and links found in the text and HTML parts."""

        detail = await self.get_message(principal, message_id)
        return Extracted(
            codes=extract_codes(detail.text, detail.html),
            links=extract_links(detail.text, detail.html),
        )

    async def get_with_attachments(
        self, principal: Principal, message_id: str
    ) -> tuple[MessageDetail, list[AttachmentPayload]]:
        """The message with every attachment decoded (for the dynip-compatible shape)."""

        detail, raw = await self.get_raw(principal, message_id)
        return detail, attachment_payloads(raw)
