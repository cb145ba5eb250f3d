"""The IMAP use cases: logins, folders and the messages in them, for `protocols/imap`.

Every call takes the `ImapLogin` the session holds and goes through `authorize`
(services/access.py) before it touches the store, like every other protocol. Mail
of banned senders is hidden here, as in the API. Changes publish their events on
the bus, so API clients, live streams and other IMAP sessions learn of them.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ephemail.domain.address import AddressError
from ephemail.domain.bans import BanScope
from ephemail.domain.events import Event
from ephemail.domain.ids import new_id
from ephemail.domain.imap import (
    HIERARCHY_DELIMITER,
    INBOX,
    MAX_FLAGS_PER_MESSAGE,
    MAX_KEYWORD_LENGTH,
    RECENT,
    SEEN,
    SYSTEM_FLAGS,
    USUAL_SPECIAL_USE,
    FlagMode,
    Folder,
    FolderCounts,
    ImapContent,
    ImapMessage,
    SpecialUse,
)
from ephemail.domain.messages import Mailbox, MailboxKind, ParsedSummary
from ephemail.ports import (
    Clock,
    ConflictError,
    Delivery,
    EventBus,
    EventSubscription,
    HiddenSender,
    RecipientDelivery,
    Store,
)
from ephemail.services.access import AccessDenied, AccessPolicy, Action, Principal, authorize
from ephemail.services.mailboxes import MailboxNotAllowed, MailboxService
from ephemail.services.policy import PolicyService


class LoginFailed(Exception):
    """Wrong user name or password. `str(exc)` is the exact reason for the server log;
    the client only ever sees a generic failure."""


class FolderNotFound(Exception):
    """No folder of that name in this mailbox (IMAP: NO [NONEXISTENT] / [TRYCREATE])."""


class FolderExists(Exception):
    """CREATE or RENAME to a name that exists (IMAP: NO [ALREADYEXISTS])."""


class FolderNotAllowed(Exception):
    """The folder operation makes no sense here, e.g. DELETE INBOX or a bad name
    (IMAP: NO [CANNOT] with `str(exc)` as the text)."""


class MessageTooLarge(Exception):
    """APPEND of more than the configured message size (IMAP: NO [TOOBIG])."""


@dataclass(frozen=True, slots=True)
class ImapLogin:
    """A successful login: who it is and the mailbox served as INBOX."""

    principal: Principal
    address: str


class ImapAuthenticator(Protocol):
    """One way to turn IMAP credentials into a login. The accounts issue adds the
    account-token authenticator next to the mailbox-password one."""

    async def authenticate(self, username: str, password: str) -> ImapLogin:
        """The login, or raise LoginFailed."""
        ...


@dataclass(frozen=True, slots=True)
class SelectedFolder:
    """The state SELECT/EXAMINE reports (RFC 3501 section 6.3.1): the folder, its
    visible messages in UID order and the UIDs that are \\Recent for this session."""

    folder: Folder
    messages: list[ImapMessage]
    recent: frozenset[int]


@dataclass(frozen=True, slots=True)
class CopyResult:
    """COPYUID data (RFC 4315 section 3): the destination's UIDVALIDITY and the
    (source UID, destination UID) pairs in source UID order."""

    uidvalidity: int
    pairs: list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class AppendResult:
    """APPENDUID data (RFC 4315 section 3)."""

    uidvalidity: int
    uid: int


@dataclass(frozen=True, slots=True)
class MessageText:
    """What SEARCH's HEADER/SUBJECT/FROM/BODY/TEXT keys match against: the header block
    (unfolded, RFC 2047 words decoded) as (name, value) pairs, and the readable body."""

    headers: tuple[tuple[str, str], ...]
    body: str


class ImapService(Protocol):
    """What an IMAP session may ask of the mailbox layer."""

    async def authenticate(self, username: str, password: str) -> ImapLogin:
        """LOGIN / AUTHENTICATE PLAIN. Raises LoginFailed."""
        ...

    async def list_folders(self, login: ImapLogin) -> list[Folder]:
        """Every folder of the login's mailbox, INBOX first then by name."""
        ...

    async def create_folder(self, login: ImapLogin, name: str) -> Folder:
        """CREATE. Raises FolderExists, FolderNotAllowed."""
        ...

    async def delete_folder(self, login: ImapLogin, name: str) -> None:
        """DELETE with the messages in it. Raises FolderNotFound, FolderNotAllowed (INBOX)."""
        ...

    async def rename_folder(self, login: ImapLogin, old: str, new: str) -> None:
        """RENAME (and its children). Raises FolderNotFound, FolderExists, FolderNotAllowed."""
        ...

    async def set_subscribed(self, login: ImapLogin, name: str, subscribed: bool) -> None:
        """SUBSCRIBE / UNSUBSCRIBE. Raises FolderNotFound on subscribe of a missing folder."""
        ...

    async def select(self, login: ImapLogin, name: str, *, readonly: bool) -> SelectedFolder:
        """SELECT (claims \\Recent) or EXAMINE. Raises FolderNotFound."""
        ...

    async def status(self, login: ImapLogin, name: str) -> tuple[Folder, FolderCounts]:
        """STATUS. Raises FolderNotFound."""
        ...

    async def messages_after(
        self, login: ImapLogin, folder_id: int, after_uid: int
    ) -> list[ImapMessage]:
        """Visible messages with a UID above `after_uid`, in UID order (new mail)."""
        ...

    async def current_flags(
        self, login: ImapLogin, folder_id: int, message_ids: Sequence[str]
    ) -> dict[str, frozenset[str]]:
        """The flags of those messages now; missing ones were expunged."""
        ...

    async def fetch(
        self, login: ImapLogin, message_ids: Sequence[str], *, raw: bool, structure: bool = True
    ) -> dict[str, ImapContent]:
        """Structure (and raw bytes when `raw`) of each message that still exists. With
        `structure=False` (only whole messages asked for) the structure is left empty."""
        ...

    async def texts(self, login: ImapLogin, message_ids: Sequence[str]) -> dict[str, MessageText]:
        """Headers and body text of each message, for SEARCH."""
        ...

    async def store_flags(
        self,
        login: ImapLogin,
        folder_id: int,
        uids: Sequence[int],
        mode: FlagMode,
        flags: frozenset[str],
    ) -> dict[int, frozenset[str]]:
        """STORE: the new flags of each message that still exists. \\Seen changes emit
        `message.read`, other changes `message.flags`."""
        ...

    async def expunge(
        self, login: ImapLogin, folder_id: int, uids: Sequence[int] | None = None
    ) -> list[int]:
        """Remove the \\Deleted messages (only those in `uids` when given: UID EXPUNGE);
        returns the removed UIDs in increasing order."""
        ...

    async def copy(
        self, login: ImapLogin, folder_id: int, uids: Sequence[int], destination: str
    ) -> CopyResult:
        """COPY to another folder of the mailbox. Raises FolderNotFound (TRYCREATE)."""
        ...

    async def move(
        self, login: ImapLogin, folder_id: int, uids: Sequence[int], destination: str
    ) -> CopyResult:
        """MOVE (RFC 6851): the message keeps its id, gets a UID in the destination and
        a `message.moved` event. Raises FolderNotFound (TRYCREATE)."""
        ...

    async def append(
        self,
        login: ImapLogin,
        name: str,
        raw: bytes,
        flags: frozenset[str],
        internal_date: datetime | None,
    ) -> AppendResult:
        """APPEND (parsed like SMTP mail, stored with its flags). Raises FolderNotFound
        (TRYCREATE), MessageTooLarge."""
        ...

    def watch(self, login: ImapLogin) -> EventSubscription:
        """Events of the login's mailbox (a bus subscription; the session filters by
        folder). When it is dropped, the session re-reads the selected folder."""
        ...


# -- implementation -------------------------------------------------------------------


class InvalidFlags(ValueError):
    """STORE/APPEND with a flag that is not a system flag or a valid keyword
    (IMAP: BAD, or NO with `str(exc)` as the text)."""


_SYSTEM_BY_LOWER = {flag.lower(): flag for flag in SYSTEM_FLAGS}
# RFC 3501 section 9: atom-specials (with resp-specials "]"); CTL and SP excluded below.
_ATOM_SPECIALS = frozenset('(){%*"\\]')
_MAX_FOLDER_NAME = 255
_NAME_FORBIDDEN = frozenset("*%")


def canonical_flags(flags: Iterable[str]) -> frozenset[str]:
    """Flags as stored: system flags in their standard spelling, keywords checked
    (RFC 3501 section 2.3.2: atoms, `MAX_KEYWORD_LENGTH`), \\Recent dropped (the
    server sets it). Raises InvalidFlags."""
    result: set[str] = set()
    for flag in flags:
        if flag.startswith("\\"):
            lower = flag.lower()
            if lower == RECENT.lower():
                continue
            system = _SYSTEM_BY_LOWER.get(lower)
            if system is None:
                raise InvalidFlags(f"unknown system flag {flag!r}")
            result.add(system)
            continue
        if not flag or len(flag) > MAX_KEYWORD_LENGTH:
            raise InvalidFlags("keyword length out of range")
        if any(ord(c) <= 0x20 or ord(c) >= 0x7F or c in _ATOM_SPECIALS for c in flag):
            raise InvalidFlags(f"invalid keyword {flag!r}")
        result.add(flag)
    if len(result) > MAX_FLAGS_PER_MESSAGE:
        raise InvalidFlags("too many flags")
    return frozenset(result)


def lookup_name(name: str) -> str:
    """A folder name as stored: INBOX (any case) as the first level is INBOX
    (RFC 3501 section 5.1: INBOX is case-insensitive)."""
    first, delimiter, rest = name.partition(HIERARCHY_DELIMITER)
    if first.upper() == INBOX:
        return INBOX + delimiter + rest
    return name


def valid_folder_name(name: str) -> str:
    """The stored form of a name a client wants to create or rename to. A trailing
    delimiter only declares the intent to create children (RFC 3501 section 6.3.3).
    Raises FolderNotAllowed for empty levels, control characters, the LIST wildcards
    `*` and `%`, or more than 255 characters."""
    if name.endswith(HIERARCHY_DELIMITER):
        name = name[: -len(HIERARCHY_DELIMITER)]
    if not name or len(name) > _MAX_FOLDER_NAME:
        raise FolderNotAllowed("folder name length out of range")
    if any(not level for level in name.split(HIERARCHY_DELIMITER)):
        raise FolderNotAllowed("empty level in folder name")
    if any(ord(c) < 0x20 or c == "\x7f" or c in _NAME_FORBIDDEN for c in name):
        raise FolderNotAllowed("invalid character in folder name")
    return lookup_name(name)


def _special_use_of(name: str) -> SpecialUse | None:
    if HIERARCHY_DELIMITER in name:
        return None
    return USUAL_SPECIAL_USE.get(name.lower())


def _parents(name: str) -> list[tuple[str, SpecialUse | None]]:
    """The superior names of `name` ("a", "a/b" for "a/b/c"), each with its SPECIAL-USE."""
    levels = name.split(HIERARCHY_DELIMITER)
    names = [HIERARCHY_DELIMITER.join(levels[:i]) for i in range(1, len(levels))]
    return [(n, _special_use_of(n)) for n in names if n != INBOX]


class MailboxPasswordAuthenticator:
    """IMAP logins with a mailbox address (or a local part: the default domain is
    appended) and the mailbox's password.

    - A public mailbox accepts any password, but only in the open dev mode
      (`AccessPolicy.public_read`): anyone may read it over the API anyway.
    - A claimed or owned mailbox needs its password. No password hashing exists yet
      (claims arrive with the accounts issue): without a `verify_password` hook such a
      login always fails.
    - A mailbox that does not exist is created, through `MailboxService.create_mailbox`
      and its policy checks (domain not allowed, banned address: LoginFailed).
    """

    def __init__(
        self,
        store: Store,
        mailboxes: MailboxService,
        *,
        access: AccessPolicy,
        verify_password: Callable[[Mailbox, str], Awaitable[bool]] | None = None,
    ) -> None:
        self._store = store
        self._mailboxes = mailboxes
        self._access = access
        self._verify_password = verify_password

    async def authenticate(self, username: str, password: str) -> ImapLogin:
        try:
            address = self._mailboxes.address(username)
        except AddressError as exc:
            raise LoginFailed(f"malformed user name: {exc}") from exc
        mailbox = await self._store.get_mailbox(address)
        if mailbox is None:
            if not self._access.public_read:
                raise LoginFailed(f"{address}: no such mailbox")
            try:
                mailbox, _ = await self._mailboxes.create_mailbox(
                    Principal.anonymous(), address, None
                )
            except (MailboxNotAllowed, AccessDenied, AddressError) as exc:
                raise LoginFailed(f"{address}: {exc}") from exc
        if mailbox.kind is MailboxKind.PUBLIC:
            if not self._access.public_read:
                raise LoginFailed(f"{address}: public mailboxes need the open mode")
            return ImapLogin(Principal.anonymous(), address)
        if self._verify_password is None:
            raise LoginFailed(f"{address}: {mailbox.kind.value} mailbox, no password check set up")
        if not await self._verify_password(mailbox, password):
            raise LoginFailed(f"{address}: wrong password")
        return ImapLogin(Principal.anonymous(), address)


class MailboxImapService:
    """`ImapService` over the store: every call authorizes the login's mailbox first,
    hides mail of banned senders (MailboxService.is_hidden) and publishes the events
    its changes wrote. Raises AccessDenied (services/access.py) when the login may
    no longer use its mailbox."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        clock: Clock,
        mailboxes: MailboxService,
        policy: PolicyService,
        *,
        access: AccessPolicy,
        authenticator: ImapAuthenticator,
        parse: Callable[[bytes], ParsedSummary],
        retention_hours_for: Callable[[str], float | None],
        max_message_size: int,
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._mailboxes = mailboxes
        self._policy = policy
        self._access = access
        self._authenticator = authenticator
        self._parse = parse
        self._retention_hours_for = retention_hours_for
        self._max_message_size = max_message_size

    # -- plumbing ------------------------------------------------------------------
    async def _mailbox(self, login: ImapLogin, action: Action) -> Mailbox:
        """The login's mailbox once `authorize` allows `action` on it. A mailbox gone
        since the login (deleted) has no folders: FolderNotFound."""
        mailbox = await self._store.get_mailbox(login.address)
        authorize(self._access, login.principal, action, mailbox)
        if mailbox is None:
            raise FolderNotFound(f"mailbox {login.address} does not exist")
        return mailbox

    def _hidden(self, envelope_from: str) -> bool:
        return self._mailboxes.is_hidden(envelope_from)

    def _hidden_if_any(self) -> HiddenSender | None:
        """`_hidden`, or None when no ban can hide anything (counts stay in SQL)."""
        sender_scopes = (BanScope.SENDER, BanScope.EMAIL, BanScope.SENDER_DOMAIN)
        if any(b.scope in sender_scopes for b in self._policy.snapshot.bans.bans):
            return self._hidden
        return None

    def _publish(self, events: Sequence[Event]) -> None:
        if events:
            self._bus.publish(events)

    # -- logins and folders ---------------------------------------------------------
    async def authenticate(self, username: str, password: str) -> ImapLogin:
        return await self._authenticator.authenticate(username, password)

    async def list_folders(self, login: ImapLogin) -> list[Folder]:
        try:
            mailbox = await self._mailbox(login, Action.READ)
        except FolderNotFound:
            return []
        return await self._store.imap_folders(mailbox)

    async def create_folder(self, login: ImapLogin, name: str) -> Folder:
        wanted = valid_folder_name(name)
        if wanted == INBOX:
            raise FolderExists("INBOX exists")
        mailbox = await self._mailbox(login, Action.WRITE)
        try:
            return await self._store.imap_create_folder(
                mailbox, wanted, _special_use_of(wanted), parents=_parents(wanted)
            )
        except ConflictError as exc:
            raise FolderExists(f"{wanted} exists") from exc

    async def delete_folder(self, login: ImapLogin, name: str) -> None:
        target = lookup_name(name)
        if target == INBOX:
            raise FolderNotAllowed("INBOX cannot be deleted")
        mailbox = await self._mailbox(login, Action.DELETE)
        try:
            events = await self._store.imap_delete_folder(mailbox, target)
        except ConflictError as exc:
            raise FolderNotAllowed("has child folders") from exc
        if events is None:
            raise FolderNotFound(target)
        self._publish(events)

    async def rename_folder(self, login: ImapLogin, old: str, new: str) -> None:
        source = lookup_name(old)
        if source == INBOX:
            raise FolderNotAllowed("renaming INBOX is not supported")
        target = valid_folder_name(new)
        if target == INBOX:
            raise FolderExists("INBOX exists")
        if target == source:
            raise FolderExists(f"{target} exists")
        if target.startswith(source + HIERARCHY_DELIMITER):
            raise FolderNotAllowed("a folder cannot move below itself")
        mailbox = await self._mailbox(login, Action.WRITE)
        try:
            renamed = await self._store.imap_rename_folder(
                mailbox, source, target, parents=_parents(target)
            )
        except ConflictError as exc:
            raise FolderExists(str(exc)) from exc
        if not renamed:
            raise FolderNotFound(source)

    async def set_subscribed(self, login: ImapLogin, name: str, subscribed: bool) -> None:
        mailbox = await self._mailbox(login, Action.WRITE)
        found = await self._store.imap_set_subscribed(mailbox, lookup_name(name), subscribed)
        if not found and subscribed:
            raise FolderNotFound(name)

    # -- reading --------------------------------------------------------------------
    async def select(self, login: ImapLogin, name: str, *, readonly: bool) -> SelectedFolder:
        mailbox = await self._mailbox(login, Action.READ if readonly else Action.WRITE)
        selection = await self._store.imap_select(
            mailbox, lookup_name(name), claim_recent=not readonly
        )
        if selection is None:
            raise FolderNotFound(name)
        hidden = self._hidden_if_any()
        messages = selection.messages
        if hidden is not None:
            messages = [m for m in messages if not hidden(m.envelope_from)]
        above = selection.recent_above
        recent = frozenset(m.uid for m in messages if m.uid > above)
        return SelectedFolder(selection.folder, messages, recent)

    async def status(self, login: ImapLogin, name: str) -> tuple[Folder, FolderCounts]:
        mailbox = await self._mailbox(login, Action.READ)
        found = await self._store.imap_status(
            mailbox, lookup_name(name), hidden=self._hidden_if_any()
        )
        if found is None:
            raise FolderNotFound(name)
        return found

    async def messages_after(
        self, login: ImapLogin, folder_id: int, after_uid: int
    ) -> list[ImapMessage]:
        mailbox = await self._mailbox(login, Action.READ)
        messages = await self._store.imap_messages_after(mailbox, folder_id, after_uid)
        return [m for m in messages if not self._hidden(m.envelope_from)]

    async def current_flags(
        self, login: ImapLogin, folder_id: int, message_ids: Sequence[str]
    ) -> dict[str, frozenset[str]]:
        mailbox = await self._mailbox(login, Action.READ)
        found = await self._store.imap_messages(mailbox, folder_id, message_ids)
        return {i: m.flags for i, m in found.items() if not self._hidden(m.envelope_from)}

    async def fetch(
        self, login: ImapLogin, message_ids: Sequence[str], *, raw: bool, structure: bool = True
    ) -> dict[str, ImapContent]:
        mailbox = await self._mailbox(login, Action.READ)
        found = await self._store.imap_contents(mailbox, message_ids, raw=raw, structure=structure)
        return {i: f.content for i, f in found.items() if not self._hidden(f.envelope_from)}

    async def texts(self, login: ImapLogin, message_ids: Sequence[str]) -> dict[str, MessageText]:
        mailbox = await self._mailbox(login, Action.READ)
        found = await self._store.imap_texts(mailbox, message_ids)
        return {
            i: MessageText(headers=f.headers, body=f.body)
            for i, f in found.items()
            if not self._hidden(f.envelope_from)
        }

    # -- changing -------------------------------------------------------------------
    async def store_flags(
        self,
        login: ImapLogin,
        folder_id: int,
        uids: Sequence[int],
        mode: FlagMode,
        flags: frozenset[str],
    ) -> dict[int, frozenset[str]]:
        wanted = canonical_flags(flags)
        mailbox = await self._mailbox(login, Action.WRITE)
        result, events = await self._store.imap_store_flags(
            mailbox, folder_id, uids, mode, wanted, hidden=self._hidden
        )
        self._publish(events)
        return result

    async def expunge(
        self, login: ImapLogin, folder_id: int, uids: Sequence[int] | None = None
    ) -> list[int]:
        mailbox = await self._mailbox(login, Action.DELETE)
        removed, events = await self._store.imap_expunge(
            mailbox, folder_id, uids, hidden=self._hidden
        )
        self._publish(events)
        return removed

    async def _copy(
        self,
        login: ImapLogin,
        folder_id: int,
        uids: Sequence[int],
        destination: str,
        *,
        move: bool,
    ) -> CopyResult:
        mailbox = await self._mailbox(login, Action.WRITE)
        copied = await self._store.imap_copy(
            mailbox, folder_id, uids, lookup_name(destination), move=move, hidden=self._hidden
        )
        if copied is None:
            raise FolderNotFound(destination)
        self._publish(copied.events)
        return CopyResult(copied.folder.uidvalidity, copied.pairs)

    async def copy(
        self, login: ImapLogin, folder_id: int, uids: Sequence[int], destination: str
    ) -> CopyResult:
        return await self._copy(login, folder_id, uids, destination, move=False)

    async def move(
        self, login: ImapLogin, folder_id: int, uids: Sequence[int], destination: str
    ) -> CopyResult:
        return await self._copy(login, folder_id, uids, destination, move=True)

    async def append(
        self,
        login: ImapLogin,
        name: str,
        raw: bytes,
        flags: frozenset[str],
        internal_date: datetime | None,
    ) -> AppendResult:
        if len(raw) > self._max_message_size:
            raise MessageTooLarge(f"{len(raw)} octets, at most {self._max_message_size}")
        wanted = canonical_flags(flags)
        mailbox = await self._mailbox(login, Action.WRITE)
        summary = await asyncio.to_thread(self._parse, raw)
        now = self._clock.now()
        received = internal_date or now
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        hours = self._retention_hours_for(mailbox.domain)
        expires = now + timedelta(hours=hours) if hours else None
        delivery = Delivery(
            queue_id=new_id(),
            raw=raw,
            sha256=hashlib.sha256(raw).hexdigest(),
            summary=summary,
            envelope_from="",
            recipients=(RecipientDelivery(new_id(), mailbox.address, mailbox.domain, expires),),
            received_at=received,
        )
        stored = await self._store.imap_append(
            mailbox, lookup_name(name), delivery, seen=SEEN in wanted, flags=wanted
        )
        if stored is None:
            raise FolderNotFound(name)
        folder, uid, events = stored
        self._publish(events)
        return AppendResult(folder.uidvalidity, uid)

    def watch(self, login: ImapLogin) -> EventSubscription:
        """A subscription to the events of the login's mailbox (every node's, with the
        PostgreSQL relay); the caller filters by folder."""
        return self._bus.subscribe(mailboxes=(login.address,))


def _implements_contract(service: MailboxImapService) -> ImapService:
    """Never called: mypy checks here that the class implements the Protocol."""
    return service


def _authenticates(authenticator: MailboxPasswordAuthenticator) -> ImapAuthenticator:
    """Never called: mypy checks the authenticator against its Protocol."""
    return authenticator
