"""One handler per IMAP command (or small group), and the table the session dispatches
with: command class → (states it is valid in, handler)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ephemail.protocols.imap.ops import auth, basic, folders, idle, messages, select
from ephemail.protocols.imap.ops.base import (
    ANY,
    AUTHENTICATED,
    NOT_AUTHENTICATED,
    SELECTED,
    Reply,
    State,
)
from ephemail.protocols.imap.proto import commands as c

if TYPE_CHECKING:
    from ephemail.protocols.imap.session import ImapSession

__all__ = ["HANDLERS", "Handler"]

Handler = Callable[["ImapSession", Any], Awaitable[Reply]]

HANDLERS: dict[type[c.Command], tuple[frozenset[State], Handler]] = {
    c.Capability: (ANY, basic.capability),
    c.Noop: (ANY, basic.noop),
    c.Logout: (ANY, basic.logout),
    c.StartTls: (ANY, basic.starttls),
    c.Id: (ANY, basic.id_),
    c.Login: (NOT_AUTHENTICATED, auth.login),
    c.Authenticate: (NOT_AUTHENTICATED, auth.authenticate),
    c.Enable: (AUTHENTICATED, basic.enable),
    c.Namespace: (AUTHENTICATED, basic.namespace),
    c.Select: (AUTHENTICATED, select.select),
    c.Examine: (AUTHENTICATED, select.examine),
    c.Create: (AUTHENTICATED, folders.create),
    c.Delete: (AUTHENTICATED, folders.delete),
    c.Rename: (AUTHENTICATED, folders.rename),
    c.Subscribe: (AUTHENTICATED, folders.subscribe),
    c.Unsubscribe: (AUTHENTICATED, folders.unsubscribe),
    c.List: (AUTHENTICATED, folders.list_),
    c.Lsub: (AUTHENTICATED, folders.lsub),
    c.Status: (AUTHENTICATED, folders.status),
    c.Append: (AUTHENTICATED, messages.append),
    c.Idle: (AUTHENTICATED, idle.idle),
    c.Check: (SELECTED, basic.check),
    c.Close: (SELECTED, select.close),
    c.Unselect: (SELECTED, select.unselect),
    c.Expunge: (SELECTED, messages.expunge),
    c.UidExpunge: (SELECTED, messages.uid_expunge),
    c.Search: (SELECTED, messages.search),
    c.Fetch: (SELECTED, messages.fetch),
    c.Store: (SELECTED, messages.store),
    c.Copy: (SELECTED, messages.copy),
    c.Move: (SELECTED, messages.move),
}
