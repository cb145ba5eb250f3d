"""What every command handler shares: session states, the reply a handler returns and
the small wire helpers the handlers format their untagged data with."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum

from ephemail.protocols.imap.proto import utf7

__all__ = [
    "ANY",
    "AUTHENTICATED",
    "NOT_AUTHENTICATED",
    "SELECTED",
    "ClientGone",
    "Reply",
    "State",
    "Step",
    "mailbox_name",
    "uid_set",
]


class ClientGone(Exception):
    """The connection is gone (raised by the server's `send`): stop, log nothing."""


class State(StrEnum):
    """RFC 3501 section 3: the session states."""

    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


ANY = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED})
NOT_AUTHENTICATED = frozenset({State.NOT_AUTHENTICATED})
AUTHENTICATED = frozenset({State.AUTHENTICATED, State.SELECTED})
SELECTED = frozenset({State.SELECTED})


class Step(Enum):
    """What the connection does after a command's reply."""

    NEXT = "next"  # read the next command
    AUTHENTICATE = "authenticate"  # read one raw SASL line for `ImapSession.sasl_response`
    IDLE = "idle"  # wait for DONE, sending updates as they come
    CLOSE = "close"  # LOGOUT done: close the connection


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's tagged completion (`status` None: none yet, see `step`)."""

    status: str | None = "OK"
    text: str = "Completed"
    code: str | None = None
    step: Step = Step.NEXT

    @classmethod
    def ok(cls, text: str = "Completed", code: str | None = None) -> Reply:
        return cls("OK", text, code)

    @classmethod
    def no(cls, text: str, code: str | None = None) -> Reply:
        return cls("NO", text, code)

    @classmethod
    def bad(cls, text: str, code: str | None = None) -> Reply:
        return cls("BAD", text, code)

    @classmethod
    def pending(cls, step: Step) -> Reply:
        return cls(None, "", None, step)


def uid_set(uids: Iterable[int]) -> str:
    """A compact UID set (`1:3,7`) in the given order, for COPYUID (RFC 4315 section 3)."""
    parts: list[str] = []
    run_start: int | None = None
    previous = 0
    for uid in uids:
        if run_start is not None and uid == previous + 1:
            previous = uid
            continue
        if run_start is not None:
            parts.append(str(run_start) if run_start == previous else f"{run_start}:{previous}")
        run_start = previous = uid
    if run_start is not None:
        parts.append(str(run_start) if run_start == previous else f"{run_start}:{previous}")
    return ",".join(parts)


def mailbox_name(name: str) -> bytes:
    """A folder name as a quoted string on the wire (modified UTF-7 inside)."""
    encoded = utf7.encode(name)
    return b'"' + encoded.replace("\\", "\\\\").replace('"', '\\"').encode("ascii") + b'"'
