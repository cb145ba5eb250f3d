"""The one access check: every read or write of a mailbox goes through `authorize`.

Today there are only anonymous principals and public mailboxes (the open dev
mode). Accounts, claimed and owned mailboxes arrive with the accounts issue and
extend this function, not the callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ephemail.domain.messages import Mailbox, MailboxKind


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking. `anonymous` is the only kind until accounts exist."""

    kind: str = "anonymous"

    @classmethod
    def anonymous(cls) -> Principal:
        return cls()


class AccessDenied(Exception):
    """The principal may not do this to this mailbox."""


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    public_read: bool = True


def authorize(
    policy: AccessPolicy, principal: Principal, action: Action, mailbox: Mailbox | None
) -> None:
    """Raise AccessDenied unless `principal` may do `action` on `mailbox`.

    A mailbox that does not exist yet reads as an empty public one (temp mail:
    anyone may watch an address before its first message) but only when public
    reading is on, so the answer never reveals whether an address exists.
    """
    kind = mailbox.kind if mailbox is not None else MailboxKind.PUBLIC
    if kind is MailboxKind.PUBLIC and policy.public_read:
        return
    raise AccessDenied(f"{action.value} not allowed")


def authorize_global(policy: AccessPolicy, principal: Principal, action: Action) -> None:
    """Raise AccessDenied unless `principal` may `action` across every mailbox at once
    (global search, the all-mailboxes event stream). Only the open dev mode allows it
    today; admins join with the accounts issue."""
    if policy.public_read:
        return
    raise AccessDenied(f"{action.value} across all mailboxes not allowed")
