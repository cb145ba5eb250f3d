"""The IMAP use cases: logins, folders and the messages in them, for `protocols/imap`.

Every call takes the `ImapLogin` the session holds and goes through `authorize`
(services/access.py) before it touches the store, like every other protocol. Mail
of banned senders is hidden here, as in the API. Changes publish their events on
the bus, so API clients, live streams and other IMAP sessions learn of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ephemail.domain.imap import FlagMode, Folder, FolderCounts, ImapContent, ImapMessage
from ephemail.ports import EventSubscription
from ephemail.services.access import Principal


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
        self, login: ImapLogin, message_ids: Sequence[str], *, raw: bool
    ) -> dict[str, ImapContent]:
        """Structure (and raw bytes when `raw`) of each message that still exists."""
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
