"""The IMAP use cases: logins, folders and the messages in them, for `protocols/imap`.

Logins (SPEC: IMAP, Logins) go through one `CompositeAuthenticator`: an account
email with an IMAP app token (the Cybertemp model), else a mailbox address with
the mailbox's password (the dynip model; any password for a public mailbox in the
open dev mode). Failed logins are rate limited per IP and per user name.

What a login sees is its `Namespace`, the one place folder names map to (mailbox,
folder): a mailbox login sees its mailbox's folders; an account login sees its
oldest owned mailbox as INBOX and every other owned mailbox as a folder named by
its address. Every call resolves the name, then authorises the mailbox it
resolved to through the shared `Authorizer` before it touches the store, like
every other protocol. Mail of banned senders is hidden here, as in the API.
Changes publish their events on the bus, so API clients, live streams and other
IMAP sessions learn of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ephemail.domain.accounts import parse_token
from ephemail.domain.address import AddressError
from ephemail.domain.bans import BanScope
from ephemail.domain.events import Event
from ephemail.domain.ids import new_id
from ephemail.domain.imap import (
    DELETED,
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
from ephemail.services.access import (
    AccessDenied,
    AccessPolicy,
    Action,
    Authorizer,
    Principal,
    Via,
)
from ephemail.services.accounts import InvalidCredentials
from ephemail.services.mailboxes import MailboxNotAllowed, MailboxService
from ephemail.services.ownership import DeliveryVerdict, MailboxNotFound, OwnershipService
from ephemail.services.policy import PolicyService
from ephemail.services.ratelimit import RateLimited, RateLimiter


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


class OverQuota(Exception):
    """APPEND or COPY into a mailbox at its message cap, or of an account over its
    size quota (IMAP: NO [OVERQUOTA], RFC 5530 section 3)."""


# What a CREATE of a folder, an APPEND or a COPY tells an account that owns no
# mailbox yet: its INBOX is an empty placeholder until it creates one.
NO_MAILBOX_YET = "no mailbox yet: CREATE name@domain first"


@dataclass(frozen=True, slots=True)
class ImapLogin:
    """A successful login: who it is and what it sees.

    - Mailbox logins (mailbox password, or a public mailbox in the open mode):
      `address` is the mailbox served as INBOX, its folders are the namespace.
    - Account logins (`address` None): every mailbox the account owns, mapped by
      `Namespace`.
    """

    principal: Principal
    address: str | None = None

    @property
    def user(self) -> str:
        """Who logged in, for logs (callers mask it): the mailbox or the account email."""
        if self.address is not None:
            return self.address
        account = self.principal.account
        return account.email if account is not None else "?"


class ImapAuthenticator(Protocol):
    """One way to turn IMAP credentials into a login (`CompositeAuthenticator` asks
    each in turn)."""

    def handles(self, username: str, password: str) -> bool:
        """Whether the credentials are of this kind (syntax only, no I/O). The first
        authenticator that handles them decides: a failure never falls through."""
        ...

    async def authenticate(self, username: str, password: str) -> ImapLogin:
        """The login, or raise LoginFailed."""
        ...


@dataclass(frozen=True, slots=True)
class SelectedFolder:
    """The state SELECT/EXAMINE reports (RFC 3501 section 6.3.1): the folder (named as
    the login sees it; `folder.mailbox` is its mailbox), its visible messages in UID
    order and the UIDs that are \\Recent for this session."""

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
    """What an IMAP session may ask of the mailbox layer. Folder names are those of
    the login's namespace; calls on the selected folder take the `Folder` SELECT
    returned (its `mailbox` and `id`), and authorise that mailbox again."""

    async def authenticate(self, username: str, password: str, *, ip: str = "?") -> ImapLogin:
        """LOGIN / AUTHENTICATE PLAIN from `ip`. Raises LoginFailed, RateLimited."""
        ...

    async def list_folders(self, login: ImapLogin) -> list[Folder]:
        """Every folder the login sees, named as it sees them."""
        ...

    async def create_folder(self, login: ImapLogin, name: str) -> Folder:
        """CREATE (for an account, `name@domain` creates an owned mailbox). Raises
        FolderExists, FolderNotAllowed."""
        ...

    async def delete_folder(self, login: ImapLogin, name: str) -> None:
        """DELETE with the messages in it (for an account, an address folder deletes
        that owned mailbox). Raises FolderNotFound, FolderNotAllowed (INBOX)."""
        ...

    async def rename_folder(self, login: ImapLogin, old: str, new: str) -> None:
        """RENAME (and its children). Raises FolderNotFound, FolderExists, FolderNotAllowed."""
        ...

    async def set_subscribed(self, login: ImapLogin, name: str, subscribed: bool) -> None:
        """SUBSCRIBE / UNSUBSCRIBE. Raises FolderNotFound on subscribe of a missing folder."""
        ...

    async def select(
        self,
        login: ImapLogin,
        name: str,
        *,
        readonly: bool,
        before_read: Callable[[str], object] | None = None,
    ) -> SelectedFolder:
        """SELECT (claims \\Recent) or EXAMINE. `before_read(address)` is called once
        the name is resolved, before the folder is read (the session subscribes to
        that mailbox's events there, so no change falls between the read and the
        subscription). Raises FolderNotFound."""
        ...

    async def status(self, login: ImapLogin, name: str) -> tuple[Folder, FolderCounts]:
        """STATUS. Raises FolderNotFound."""
        ...

    async def messages_after(
        self, login: ImapLogin, folder: Folder, after_uid: int
    ) -> list[ImapMessage]:
        """Visible messages with a UID above `after_uid`, in UID order (new mail)."""
        ...

    async def current_flags(
        self, login: ImapLogin, folder: Folder, message_ids: Sequence[str]
    ) -> dict[str, frozenset[str]]:
        """The flags of those messages now; missing ones were expunged."""
        ...

    async def fetch(
        self,
        login: ImapLogin,
        folder: Folder,
        message_ids: Sequence[str],
        *,
        raw: bool,
        structure: bool = True,
    ) -> dict[str, ImapContent]:
        """Structure (and raw bytes when `raw`) of each message that still exists. With
        `structure=False` (only whole messages asked for) the structure is left empty."""
        ...

    async def texts(
        self, login: ImapLogin, folder: Folder, message_ids: Sequence[str]
    ) -> dict[str, MessageText]:
        """Headers and body text of each message, for SEARCH."""
        ...

    async def store_flags(
        self,
        login: ImapLogin,
        folder: Folder,
        uids: Sequence[int],
        mode: FlagMode,
        flags: frozenset[str],
    ) -> dict[int, frozenset[str]]:
        """STORE: the new flags of each message that still exists. \\Seen changes emit
        `message.read`, other changes `message.flags`."""
        ...

    async def expunge(
        self, login: ImapLogin, folder: Folder, uids: Sequence[int] | None = None
    ) -> list[int]:
        """Remove the \\Deleted messages (only those in `uids` when given: UID EXPUNGE);
        returns the removed UIDs in increasing order."""
        ...

    async def copy(
        self, login: ImapLogin, folder: Folder, uids: Sequence[int], destination: str
    ) -> CopyResult:
        """COPY to another folder the login sees. Raises FolderNotFound (TRYCREATE),
        OverQuota."""
        ...

    async def move(
        self, login: ImapLogin, folder: Folder, uids: Sequence[int], destination: str
    ) -> CopyResult:
        """MOVE (RFC 6851): within a mailbox the message keeps its id, gets a UID in the
        destination and a `message.moved` event; to another mailbox it is copied and
        expunged. Raises FolderNotFound (TRYCREATE), OverQuota."""
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
        (TRYCREATE), MessageTooLarge, OverQuota."""
        ...

    def watch(self, address: str) -> EventSubscription:
        """Events of one mailbox (a bus subscription; the session filters by folder).
        Events only mark what to re-read: every read is authorised. When the
        subscription is dropped, the session re-reads the selected folder."""
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


# -- the namespace: folder names to (mailbox, folder) ------------------------------------


@dataclass(frozen=True, slots=True)
class FolderPath:
    """Where a folder name of a login's namespace points."""

    address: str | None  # the mailbox; None: an account without one (only its empty INBOX)
    name: str  # the folder inside that mailbox, as stored ("INBOX", "Sent", "a/b")


@dataclass(frozen=True, slots=True)
class Namespace:
    """The folder names one login sees (SPEC: IMAP, Logins); the only place that maps
    names to mailboxes and back.

    - A mailbox login (`accounts` False): the folders of `default`, named as stored.
    - An account login: `default` (its oldest owned mailbox) is INBOX and its folders
      are at the top level (`Sent`, `Archive/2026`); every other owned mailbox is a
      folder named by its address, with that mailbox's folders below it
      (`bob@example.com/Sent`). A first level with an `@` always names a mailbox.
      The default mailbox's address also resolves (to INBOX), but is not listed.
    """

    default: str | None
    others: tuple[str, ...] = ()
    accounts: bool = False

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every mailbox of the namespace, the default first."""
        return ((self.default,) if self.default is not None else ()) + self.others

    def owns(self, address: str) -> bool:
        return address == self.default or address in self.others

    def address_folder(self, name: str, normalise: Callable[[str], str]) -> tuple[str, str] | None:
        """For an account login, a name whose first level is an address: (the address
        normalised, the rest of the name; "" for the address folder itself). None for
        any other name. Raises AddressError for a malformed address."""
        if not self.accounts:
            return None
        first, _, rest = name.partition(HIERARCHY_DELIMITER)
        if "@" not in first:
            return None
        return normalise(first), rest

    def resolve(self, name: str, normalise: Callable[[str], str]) -> FolderPath:
        """The (mailbox, folder) a name stands for. Raises FolderNotFound for an
        address that is not one of the account's mailboxes."""
        try:
            split = self.address_folder(name, normalise)
        except AddressError as exc:
            raise FolderNotFound(f"{name}: not a mailbox address") from exc
        if split is None:
            return FolderPath(self.default, lookup_name(name))
        address, rest = split
        if not self.owns(address):
            raise FolderNotFound(f"{address} is not a mailbox of this account")
        return FolderPath(address, lookup_name(rest) if rest else INBOX)

    def display(self, address: str, name: str) -> str:
        """The name a login sees for folder `name` of mailbox `address`."""
        if not self.accounts or address == self.default:
            return name
        return address if name == INBOX else address + HIERARCHY_DELIMITER + name

    def shown(self, folder: Folder) -> Folder:
        """`folder` named as the login sees it. SPECIAL-USE attributes stay on the
        default mailbox's folders only, so a client picks one Sent, one Trash."""
        if not self.accounts or folder.mailbox == self.default:
            return folder
        return replace(folder, name=self.display(folder.mailbox, folder.name), special_use=None)


def empty_inbox() -> Folder:
    """The INBOX of an account that owns no mailbox yet: selectable and empty, so
    clients that open INBOX right after login keep working (a NO there makes most
    of them show an error on every check)."""
    return Folder(
        id=0,
        mailbox="",
        name=INBOX,
        uidvalidity=1,
        uidnext=1,
        subscribed=True,
        special_use=None,
        recent_uid=0,
    )


# -- logins ----------------------------------------------------------------------------


class AccountImapLogins(Protocol):
    """The part of AccountService the account-token authenticator needs."""

    async def imap_login(self, email: str, token: str) -> Principal: ...


class AccountTokenAuthenticator:
    """Account email + IMAP app token (the Cybertemp model; SPEC: IMAP, Logins).

    It handles every login whose user name is an email and whose password is shaped
    like one of our tokens (`eph_...`), so an API token, a revoked or expired IMAP
    token or another account's token fails here and never reaches the mailbox
    passwords (where the open mode would let any password into a public mailbox).
    """

    def __init__(self, accounts: AccountImapLogins) -> None:
        self._accounts = accounts

    def handles(self, username: str, password: str) -> bool:
        return "@" in username and parse_token(password) is not None

    async def authenticate(self, username: str, password: str) -> ImapLogin:
        try:
            principal = await self._accounts.imap_login(username, password)
        except InvalidCredentials as exc:
            raise LoginFailed(f"{username.strip()}: {exc}") from exc
        return ImapLogin(principal)


class MailboxPasswordAuthenticator:
    """IMAP logins with a mailbox address (or a local part: the default domain is
    appended) and the mailbox's password (the dynip model).

    - A claimed mailbox needs its password (`unlock_proof`: AccountService's Argon2id
      check, which answers with an unlock proof). The session holds the proof, not an
      unconditional unlock: every command re-checks it (an HMAC over the current
      password hash, no slow hash), so releasing or re-claiming the mailbox ends the
      access of sessions opened with the old password at their next command.
    - A public mailbox accepts any password, only in the open dev mode (with public
      reading on): anyone may read it over the API then anyway.
    - An owned mailbox never logs in with a password: its account's app token does.
    - In the open mode, a mailbox that does not exist is created through
      `MailboxService.create_mailbox` and its policy checks (domain not allowed,
      banned address: LoginFailed).
    """

    def __init__(
        self,
        store: Store,
        mailboxes: MailboxService,
        *,
        access: AccessPolicy,
        unlock_proof: Callable[[Mailbox, str], Awaitable[str | None]] | None = None,
    ) -> None:
        self._store = store
        self._mailboxes = mailboxes
        self._access = access
        self._unlock_proof = unlock_proof

    def handles(self, username: str, password: str) -> bool:
        return True

    async def authenticate(self, username: str, password: str) -> ImapLogin:
        try:
            address = self._mailboxes.address(username)
        except AddressError as exc:
            raise LoginFailed(f"malformed user name: {exc}") from exc
        open_mode = self._access.open_mode and self._access.public_read
        mailbox = await self._store.get_mailbox(address)
        if mailbox is None:
            if not open_mode:
                raise LoginFailed(f"{address}: no such mailbox")
            try:
                mailbox, _ = await self._mailboxes.create_mailbox(
                    Principal.anonymous(), address, None
                )
            except (MailboxNotAllowed, AccessDenied, AddressError) as exc:
                raise LoginFailed(f"{address}: {exc}") from exc
        if mailbox.kind is MailboxKind.PUBLIC:
            if not open_mode:
                raise LoginFailed(f"{address}: public mailbox, and the open mode is off")
            return ImapLogin(Principal.anonymous(), address)
        if mailbox.kind is MailboxKind.OWNED:
            raise LoginFailed(f"{address}: owned mailboxes log in with the account's app token")
        if self._unlock_proof is None:
            raise LoginFailed(f"{address}: claimed mailbox, no password check set up")
        proof = await self._unlock_proof(mailbox, password)
        if proof is None:
            raise LoginFailed(f"{address}: wrong mailbox password")
        principal = Principal(unlock_proofs=frozenset({(address, proof)}), via=Via.MAILBOX_PASSWORD)
        return ImapLogin(principal, address)


class CompositeAuthenticator:
    """The login methods in order; the first that handles the credentials decides."""

    def __init__(self, *authenticators: ImapAuthenticator) -> None:
        self._authenticators = authenticators

    def handles(self, username: str, password: str) -> bool:
        return any(a.handles(username, password) for a in self._authenticators)

    async def authenticate(self, username: str, password: str) -> ImapLogin:
        for authenticator in self._authenticators:
            if authenticator.handles(username, password):
                return await authenticator.authenticate(username, password)
        raise LoginFailed("no login method takes these credentials")


# Bucket and key of failed IMAP logins (services/ratelimit.py; shared with HTTP logins).
_LOGIN_BUCKET = "login"
_MAX_KEY_USER = 320


# -- the service ------------------------------------------------------------------------


class MailboxImapService:
    """`ImapService` over the store: every call resolves names through the login's
    `Namespace`, authorises the mailbox they resolve to, hides mail of banned
    senders (MailboxService.is_hidden) and publishes the events its changes wrote.
    Raises AccessDenied (services/access.py) when the login may no longer use a
    mailbox."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        clock: Clock,
        mailboxes: MailboxService,
        policy: PolicyService,
        *,
        authorizer: Authorizer,
        authenticator: ImapAuthenticator,
        parse: Callable[[bytes], ParsedSummary],
        retention_hours_for: Callable[[str], float | None],
        max_message_size: int,
        ownership: OwnershipService | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._mailboxes = mailboxes
        self._policy = policy
        self._authorizer = authorizer
        self._authenticator = authenticator
        self._parse = parse
        self._retention_hours_for = retention_hours_for
        self._max_message_size = max_message_size
        self._ownership = ownership
        self._limiter = limiter

    # -- plumbing ------------------------------------------------------------------
    async def _namespace(self, login: ImapLogin) -> tuple[Namespace, dict[str, Mailbox]]:
        """The login's namespace now, with the account's mailboxes by address (an
        account may create or delete mailboxes during a session, here or over HTTP)."""
        if login.address is not None:
            return Namespace(login.address), {}
        account = login.principal.account
        if account is None:
            raise AccessDenied("an account login without an account")
        owned = await self._store.list_owned_mailboxes(account.id)
        addresses = [m.address for m in owned]
        namespace = Namespace(
            addresses[0] if addresses else None, tuple(addresses[1:]), accounts=True
        )
        return namespace, {m.address: m for m in owned}

    def _resolve(self, namespace: Namespace, name: str) -> FolderPath:
        return namespace.resolve(name, self._mailboxes.address)

    async def _authorized(
        self, login: ImapLogin, address: str, action: Action, known: Mailbox | None = None
    ) -> Mailbox:
        """The mailbox at `address` once `authorize` allows `action` on it. Only the
        login's own mailbox (mailbox logins) or the account's owned ones exist for a
        login; a mailbox gone since (deleted) has no folders: FolderNotFound."""
        mailbox = known if known is not None else await self._store.get_mailbox(address)
        if login.address is None:
            account = login.principal.account
            if mailbox is None or account is None or mailbox.owner_account_id != account.id:
                raise FolderNotFound(f"{address} is not a mailbox of this account")
            await self._authorizer.check(login.principal, action, mailbox)
            return mailbox
        await self._authorizer.check(login.principal, action, mailbox)
        if mailbox is None or mailbox.address != login.address:
            raise FolderNotFound(f"mailbox {address} does not exist here")
        return mailbox

    async def _locate(
        self, login: ImapLogin, name: str, action: Action
    ) -> tuple[Namespace, FolderPath, Mailbox | None]:
        """Resolve `name` and authorise its mailbox; the mailbox is None only for the
        empty INBOX of an account without mailbox."""
        namespace, owned = await self._namespace(login)
        path = self._resolve(namespace, name)
        if path.address is None:
            return namespace, path, None
        mailbox = await self._authorized(login, path.address, action, owned.get(path.address))
        return namespace, path, mailbox

    async def _selected(self, login: ImapLogin, folder: Folder, action: Action) -> Mailbox | None:
        """The mailbox of a folder SELECT returned, authorised again for `action`;
        None for the empty INBOX of an account without mailbox."""
        if not folder.mailbox:
            return None
        return await self._authorized(login, folder.mailbox, action)

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

    async def _check_quota(self, address: str, size: int) -> None:
        """Raise OverQuota when one more message of `size` octets may not be stored
        (the same check SMTP makes at RCPT and after DATA)."""
        if self._ownership is None:
            return
        verdict = await self._ownership.check_delivery(address, size)
        if verdict is DeliveryVerdict.MAILBOX_FULL:
            raise OverQuota("the mailbox is full")
        if verdict is DeliveryVerdict.OVER_QUOTA:
            raise OverQuota("the account is over its storage quota")

    async def _delivery(self, mailbox: Mailbox, raw: bytes, received: datetime) -> Delivery:
        """`raw` as one delivery to `mailbox`, parsed like SMTP mail (off the loop).
        Owned mailboxes are not subject to retention (SPEC: Mailbox kinds)."""
        summary = await asyncio.to_thread(self._parse, raw)
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        hours = (
            None if mailbox.kind is MailboxKind.OWNED else self._retention_hours_for(mailbox.domain)
        )
        expires = self._clock.now() + timedelta(hours=hours) if hours else None
        return Delivery(
            queue_id=new_id(),
            raw=raw,
            sha256=hashlib.sha256(raw).hexdigest(),
            summary=summary,
            envelope_from="",
            recipients=(RecipientDelivery(new_id(), mailbox.address, mailbox.domain, expires),),
            received_at=received,
        )

    # -- logins --------------------------------------------------------------------
    async def authenticate(self, username: str, password: str, *, ip: str = "?") -> ImapLogin:
        """Rate limited before trying (bucket "login", keys the IP and the user name):
        RateLimited. A failure counts against both keys and raises LoginFailed."""
        keys = (f"ip:{ip}", f"email:{username.strip().lower()[:_MAX_KEY_USER]}")
        if self._limiter is not None:
            self._limiter.check(_LOGIN_BUCKET, *keys)
        try:
            return await self._authenticator.authenticate(username, password)
        except LoginFailed:
            if self._limiter is not None:
                with contextlib.suppress(RateLimited):  # this attempt is answered anyway
                    self._limiter.hit(_LOGIN_BUCKET, *keys)
            raise

    # -- folders ---------------------------------------------------------------------
    async def list_folders(self, login: ImapLogin) -> list[Folder]:
        namespace, owned = await self._namespace(login)
        if namespace.accounts and namespace.default is None:
            return [empty_inbox()]
        folders: list[Folder] = []
        for address in namespace.addresses:
            try:
                mailbox = await self._authorized(login, address, Action.READ, owned.get(address))
            except FolderNotFound:
                continue
            folders.extend(namespace.shown(f) for f in await self._store.imap_folders(mailbox))
        return folders

    async def create_folder(self, login: ImapLogin, name: str) -> Folder:
        wanted = valid_folder_name(name)
        namespace, owned = await self._namespace(login)
        try:
            split = namespace.address_folder(wanted, self._mailboxes.address)
        except AddressError as exc:
            raise FolderNotAllowed(f"not a valid mailbox address: {exc}") from exc
        if split is not None:
            address, rest = split
            if not namespace.owns(address):
                created = await self._create_owned(login, address)
                namespace, owned = await self._namespace(login)
                if not rest:
                    inbox = await self._store.imap_folder(created, INBOX)
                    if inbox is None:  # pragma: no cover - every mailbox has an INBOX
                        raise FolderNotFound(INBOX)
                    return namespace.shown(inbox)
            elif not rest:
                raise FolderExists(f"{address} exists")
        path = self._resolve(namespace, wanted)
        if path.name == INBOX:
            raise FolderExists("INBOX exists")
        if path.address is None:
            raise FolderNotAllowed(NO_MAILBOX_YET)
        mailbox = await self._authorized(login, path.address, Action.WRITE, owned.get(path.address))
        try:
            folder = await self._store.imap_create_folder(
                mailbox, path.name, _special_use_of(path.name), parents=_parents(path.name)
            )
        except ConflictError as exc:
            raise FolderExists(f"{path.name} exists") from exc
        return namespace.shown(folder)

    async def _create_owned(self, login: ImapLogin, address: str) -> Mailbox:
        """CREATE `name@domain` by an account: a new owned mailbox (domain owned by
        the account or shared, no ban: OwnershipService.create_owned)."""
        if self._ownership is None:
            raise FolderNotAllowed("mailboxes cannot be created over IMAP on this server")
        try:
            return await self._ownership.create_owned(login.principal, address)
        except MailboxNotAllowed as exc:
            raise FolderNotAllowed(str(exc) or f"{address} cannot be created") from exc
        except AddressError as exc:
            raise FolderNotAllowed(f"not a valid mailbox address: {exc}") from exc
        except ConflictError as exc:
            raise FolderExists(f"{address} is taken") from exc

    async def delete_folder(self, login: ImapLogin, name: str) -> None:
        namespace, owned = await self._namespace(login)
        try:
            split = namespace.address_folder(name, self._mailboxes.address)
        except AddressError as exc:
            raise FolderNotFound(name) from exc
        if split is not None and not split[1]:
            await self._delete_owned(login, namespace, split[0], owned)
            return
        path = self._resolve(namespace, name)
        if path.name == INBOX:
            raise FolderNotAllowed("INBOX cannot be deleted")
        if path.address is None:
            raise FolderNotFound(name)
        mailbox = await self._authorized(
            login, path.address, Action.DELETE, owned.get(path.address)
        )
        try:
            events = await self._store.imap_delete_folder(mailbox, path.name)
        except ConflictError as exc:
            raise FolderNotAllowed("has child folders") from exc
        if events is None:
            raise FolderNotFound(name)
        self._publish(events)

    async def _delete_owned(
        self, login: ImapLogin, namespace: Namespace, address: str, owned: dict[str, Mailbox]
    ) -> None:
        """DELETE of an address folder: the owned mailbox with all its mail. Never the
        default mailbox (it is INBOX); like any DELETE, not while it has child
        folders (RFC 3501 section 6.3.4: inferior names are never removed)."""
        if not namespace.owns(address):
            raise FolderNotFound(f"{address} is not a mailbox of this account")
        if address == namespace.default:
            raise FolderNotAllowed(f"{address} is this account's INBOX and cannot be deleted")
        if self._ownership is None:
            raise FolderNotAllowed("mailboxes cannot be deleted over IMAP on this server")
        mailbox = await self._authorized(login, address, Action.DELETE, owned.get(address))
        if any(f.name != INBOX for f in await self._store.imap_folders(mailbox)):
            raise FolderNotAllowed("has child folders")
        try:
            await self._ownership.delete_mailbox(login.principal, address)
        except MailboxNotFound as exc:
            raise FolderNotFound(address) from exc

    async def rename_folder(self, login: ImapLogin, old: str, new: str) -> None:
        namespace, owned = await self._namespace(login)
        source = self._resolve(namespace, old)
        if source.name == INBOX:
            raise FolderNotAllowed("renaming INBOX is not supported")
        wanted = valid_folder_name(new)
        try:
            target = self._resolve(namespace, wanted)
        except FolderNotFound as exc:
            raise FolderNotAllowed("folders cannot move to another mailbox") from exc
        if target.name == INBOX:
            raise FolderExists("INBOX exists")
        if target.address != source.address:
            raise FolderNotAllowed("folders cannot move to another mailbox")
        if target.name == source.name:
            raise FolderExists(f"{wanted} exists")
        if target.name.startswith(source.name + HIERARCHY_DELIMITER):
            raise FolderNotAllowed("a folder cannot move below itself")
        if source.address is None:
            raise FolderNotFound(old)
        mailbox = await self._authorized(
            login, source.address, Action.WRITE, owned.get(source.address)
        )
        try:
            renamed = await self._store.imap_rename_folder(
                mailbox, source.name, target.name, parents=_parents(target.name)
            )
        except ConflictError as exc:
            raise FolderExists(str(exc)) from exc
        if not renamed:
            raise FolderNotFound(old)

    async def set_subscribed(self, login: ImapLogin, name: str, subscribed: bool) -> None:
        try:
            _, path, mailbox = await self._locate(login, name, Action.WRITE)
        except FolderNotFound:
            if subscribed:
                raise
            return  # unsubscribing a name that does not exist is fine
        if mailbox is None:
            if subscribed and path.name != INBOX:
                raise FolderNotFound(name)
            return
        found = await self._store.imap_set_subscribed(mailbox, path.name, subscribed)
        if not found and subscribed:
            raise FolderNotFound(name)

    # -- reading --------------------------------------------------------------------
    async def select(
        self,
        login: ImapLogin,
        name: str,
        *,
        readonly: bool,
        before_read: Callable[[str], object] | None = None,
    ) -> SelectedFolder:
        action = Action.READ if readonly else Action.WRITE
        namespace, path, mailbox = await self._locate(login, name, action)
        if mailbox is None:
            if path.name != INBOX:
                raise FolderNotFound(name)
            return SelectedFolder(empty_inbox(), [], frozenset())
        if before_read is not None:
            before_read(mailbox.address)
        selection = await self._store.imap_select(mailbox, path.name, claim_recent=not readonly)
        if selection is None:
            raise FolderNotFound(name)
        hidden = self._hidden_if_any()
        messages = selection.messages
        if hidden is not None:
            messages = [m for m in messages if not hidden(m.envelope_from)]
        above = selection.recent_above
        recent = frozenset(m.uid for m in messages if m.uid > above)
        return SelectedFolder(namespace.shown(selection.folder), messages, recent)

    async def status(self, login: ImapLogin, name: str) -> tuple[Folder, FolderCounts]:
        namespace, path, mailbox = await self._locate(login, name, Action.READ)
        if mailbox is None:
            if path.name != INBOX:
                raise FolderNotFound(name)
            return empty_inbox(), FolderCounts(messages=0, unseen=0, recent=0)
        found = await self._store.imap_status(mailbox, path.name, hidden=self._hidden_if_any())
        if found is None:
            raise FolderNotFound(name)
        folder, counts = found
        return namespace.shown(folder), counts

    async def messages_after(
        self, login: ImapLogin, folder: Folder, after_uid: int
    ) -> list[ImapMessage]:
        mailbox = await self._selected(login, folder, Action.READ)
        if mailbox is None:
            return []
        messages = await self._store.imap_messages_after(mailbox, folder.id, after_uid)
        return [m for m in messages if not self._hidden(m.envelope_from)]

    async def current_flags(
        self, login: ImapLogin, folder: Folder, message_ids: Sequence[str]
    ) -> dict[str, frozenset[str]]:
        mailbox = await self._selected(login, folder, Action.READ)
        if mailbox is None:
            return {}
        found = await self._store.imap_messages(mailbox, folder.id, message_ids)
        return {i: m.flags for i, m in found.items() if not self._hidden(m.envelope_from)}

    async def fetch(
        self,
        login: ImapLogin,
        folder: Folder,
        message_ids: Sequence[str],
        *,
        raw: bool,
        structure: bool = True,
    ) -> dict[str, ImapContent]:
        mailbox = await self._selected(login, folder, Action.READ)
        if mailbox is None:
            return {}
        found = await self._store.imap_contents(mailbox, message_ids, raw=raw, structure=structure)
        return {i: f.content for i, f in found.items() if not self._hidden(f.envelope_from)}

    async def texts(
        self, login: ImapLogin, folder: Folder, message_ids: Sequence[str]
    ) -> dict[str, MessageText]:
        mailbox = await self._selected(login, folder, Action.READ)
        if mailbox is None:
            return {}
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
        folder: Folder,
        uids: Sequence[int],
        mode: FlagMode,
        flags: frozenset[str],
    ) -> dict[int, frozenset[str]]:
        wanted = canonical_flags(flags)
        mailbox = await self._selected(login, folder, Action.WRITE)
        if mailbox is None:
            return {}
        result, events = await self._store.imap_store_flags(
            mailbox, folder.id, uids, mode, wanted, hidden=self._hidden
        )
        self._publish(events)
        return result

    async def expunge(
        self, login: ImapLogin, folder: Folder, uids: Sequence[int] | None = None
    ) -> list[int]:
        mailbox = await self._selected(login, folder, Action.DELETE)
        if mailbox is None:
            return []
        removed, events = await self._store.imap_expunge(
            mailbox, folder.id, uids, hidden=self._hidden
        )
        self._publish(events)
        return removed

    async def _copy(
        self,
        login: ImapLogin,
        folder: Folder,
        uids: Sequence[int],
        destination: str,
        *,
        move: bool,
    ) -> CopyResult:
        source = await self._selected(login, folder, Action.DELETE if move else Action.READ)
        namespace, owned = await self._namespace(login)
        path = self._resolve(namespace, destination)
        if path.address is None:
            raise FolderNotFound(destination)
        target = await self._authorized(login, path.address, Action.WRITE, owned.get(path.address))
        if source is None:  # the empty INBOX has nothing to copy
            return CopyResult(folder.uidvalidity, [])
        if target.address != source.address:
            return await self._copy_between(source, folder, uids, target, path.name, move=move)
        await self._check_quota(target.address, 0)
        copied = await self._store.imap_copy(
            source, folder.id, uids, path.name, move=move, hidden=self._hidden
        )
        if copied is None:
            raise FolderNotFound(destination)
        self._publish(copied.events)
        return CopyResult(copied.folder.uidvalidity, copied.pairs)

    async def _copy_between(
        self,
        source: Mailbox,
        folder: Folder,
        uids: Sequence[int],
        target: Mailbox,
        name: str,
        *,
        move: bool,
    ) -> CopyResult:
        """COPY/MOVE to another mailbox of the account: each message is appended to
        the destination (same bytes, flags and internal date; `message.received`),
        and for MOVE then expunged from the source (`message.deleted`). Not atomic:
        a failure halfway leaves copies, never loses mail."""
        destination = await self._store.imap_folder(target, name)
        if destination is None:
            raise FolderNotFound(name)
        wanted = set(uids)
        messages = [
            m
            for m in await self._store.imap_messages_after(source, folder.id, 0)
            if m.uid in wanted and not self._hidden(m.envelope_from)
        ]
        if not messages:
            return CopyResult(destination.uidvalidity, [])
        await self._check_quota(target.address, sum(m.size for m in messages))
        pairs: list[tuple[int, int]] = []
        uidvalidity = destination.uidvalidity
        for start in range(0, len(messages), _COPY_BATCH):
            batch = messages[start : start + _COPY_BATCH]
            contents = await self._store.imap_contents(
                source, [m.message_id for m in batch], raw=True, structure=False
            )
            for message in batch:
                fetched = contents.get(message.message_id)
                if fetched is None or fetched.content.raw is None:
                    continue  # expunged meanwhile
                delivery = await self._delivery(target, fetched.content.raw, message.internal_date)
                stored = await self._store.imap_append(
                    target, name, delivery, seen=SEEN in message.flags, flags=message.flags
                )
                if stored is None:
                    raise FolderNotFound(name)
                after, uid, events = stored
                uidvalidity = after.uidvalidity
                self._publish(events)
                pairs.append((message.uid, uid))
        if move and pairs:
            moved = [source_uid for source_uid, _ in pairs]
            _, flagged = await self._store.imap_store_flags(
                source, folder.id, moved, FlagMode.ADD, frozenset({DELETED}), hidden=self._hidden
            )
            self._publish(flagged)
            _, removed = await self._store.imap_expunge(
                source, folder.id, moved, hidden=self._hidden
            )
            self._publish(removed)
        return CopyResult(uidvalidity, pairs)

    async def copy(
        self, login: ImapLogin, folder: Folder, uids: Sequence[int], destination: str
    ) -> CopyResult:
        return await self._copy(login, folder, uids, destination, move=False)

    async def move(
        self, login: ImapLogin, folder: Folder, uids: Sequence[int], destination: str
    ) -> CopyResult:
        return await self._copy(login, folder, uids, destination, move=True)

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
        _, path, mailbox = await self._locate(login, name, Action.WRITE)
        if mailbox is None:
            raise FolderNotAllowed(NO_MAILBOX_YET)
        await self._check_quota(mailbox.address, len(raw))
        delivery = await self._delivery(mailbox, raw, internal_date or self._clock.now())
        stored = await self._store.imap_append(
            mailbox, path.name, delivery, seen=SEEN in wanted, flags=wanted
        )
        if stored is None:
            raise FolderNotFound(name)
        folder, uid, events = stored
        self._publish(events)
        return AppendResult(folder.uidvalidity, uid)

    def watch(self, address: str) -> EventSubscription:
        """A subscription to the events of one mailbox (every node's, with the
        PostgreSQL relay); the caller filters by folder."""
        return self._bus.subscribe(mailboxes=(address,))


# Messages read per round trip by a COPY/MOVE between mailboxes (bounds memory).
_COPY_BATCH = 32


def _implements_contract(service: MailboxImapService) -> ImapService:
    """Never called: mypy checks here that the class implements the Protocol."""
    return service


def _authenticates(
    composite: CompositeAuthenticator,
    mailbox: MailboxPasswordAuthenticator,
    account: AccountTokenAuthenticator,
) -> tuple[ImapAuthenticator, ImapAuthenticator, ImapAuthenticator]:
    """Never called: mypy checks the authenticators against their Protocol."""
    return composite, mailbox, account
