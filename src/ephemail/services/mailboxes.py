"""Reading mailboxes and messages, always through `authorize`."""

from __future__ import annotations

from dataclasses import replace

from ephemail.domain.address import normalize_address
from ephemail.domain.events import DeletionReason
from ephemail.domain.messages import MessageDetail, Page
from ephemail.ports import EventBus, Store
from ephemail.services.access import AccessPolicy, Action, Principal, authorize
from ephemail.services.policy import PolicyService


class MessageNotFound(Exception):
    """No such message (or not visible to this principal: the same answer)."""


class MailboxService:
    """Listing, reading and deleting messages for any protocol."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        policy: PolicyService,
        *,
        access: AccessPolicy,
        default_domain: str,
        page_size_max: int = 200,
    ) -> None:
        self._store = store
        self._bus = bus
        self._policy = policy
        self._access = access
        self._default_domain = default_domain
        self.page_size_max = page_size_max

    def address(self, raw: str) -> str:
        """Normalise a user-given address; local parts get the default domain."""
        return normalize_address(raw, self._default_domain)

    def _hidden(self, envelope_from: str) -> bool:
        """SPEC: a sender ban also hides stored mail from that sender in every reader."""
        if not envelope_from:
            return False
        return self._policy.snapshot.bans.sender_ban(envelope_from) is not None

    async def list_messages(
        self, principal: Principal, raw_address: str, *, limit: int, cursor: str | None
    ) -> Page:
        address = self.address(raw_address)
        mailbox = await self._store.get_mailbox(address)
        authorize(self._access, principal, Action.READ, mailbox)
        limit = max(1, min(limit, self.page_size_max))
        page = await self._store.list_messages(address, limit=limit, cursor=cursor)
        visible = [m for m in page.items if not self._hidden(m.envelope_from)]
        return replace(page, items=visible) if len(visible) != len(page.items) else page

    async def get_message(self, principal: Principal, message_id: str) -> MessageDetail:
        detail = await self._store.get_message(message_id)
        if detail is None or self._hidden(detail.summary.envelope_from):
            raise MessageNotFound(message_id)
        mailbox = await self._store.get_mailbox(detail.summary.mailbox)
        authorize(self._access, principal, Action.READ, mailbox)
        return detail

    async def get_raw(self, principal: Principal, message_id: str) -> tuple[MessageDetail, bytes]:
        detail = await self.get_message(principal, message_id)
        raw = await self._store.get_raw(message_id)
        if raw is None:
            raise MessageNotFound(message_id)
        return detail, raw

    async def delete_message(self, principal: Principal, message_id: str) -> None:
        detail = await self._store.get_message(message_id)
        if detail is None:
            raise MessageNotFound(message_id)
        mailbox = await self._store.get_mailbox(detail.summary.mailbox)
        authorize(self._access, principal, Action.DELETE, mailbox)
        events = await self._store.delete_messages([message_id], DeletionReason.USER)
        self._bus.publish(events)
