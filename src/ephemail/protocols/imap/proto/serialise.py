"""Typed commands back to the bytes a client would send: the inverse of the parser.

`parse(serialise_command(command)) == command` for every command the parser can produce
(checked by property tests). Used by tests and by the differential test against another
server. Literals are synchronising `{n}` unless `non_synchronising=True` (RFC 7888).
"""

from __future__ import annotations

import base64
from datetime import date

from ephemail.domain.imap import ANSWERED, DELETED, DRAFT, FLAGGED, RECENT, SEEN, FlagMode
from ephemail.protocols.imap.proto.commands import (
    Append,
    Authenticate,
    BodySection,
    Capability,
    Check,
    Close,
    Command,
    Copy,
    Create,
    Delete,
    Enable,
    Examine,
    Expunge,
    Fetch,
    FetchAttribute,
    FetchItem,
    Id,
    Idle,
    List,
    Login,
    Logout,
    Lsub,
    Move,
    Namespace,
    Noop,
    Rename,
    Search,
    SearchAll,
    SearchAnd,
    SearchBody,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchLarger,
    SearchNot,
    SearchOr,
    SearchSequence,
    SearchSmaller,
    SearchText,
    SearchUid,
    Select,
    StartTls,
    Status,
    Store,
    Subscribe,
    UidExpunge,
    Unselect,
    Unsubscribe,
)
from ephemail.protocols.imap.proto.grammar import MONTHS
from ephemail.protocols.imap.proto.responses import (
    astring,
    flag_list,
    format_datetime,
    list_mailbox,
    mailbox_name,
    nstring,
    section_name,
    string,
)

__all__ = ["serialise_command", "serialise_search_key"]

_SIMPLE: dict[type[Command], bytes] = {
    Capability: b"CAPABILITY",
    Noop: b"NOOP",
    Logout: b"LOGOUT",
    StartTls: b"STARTTLS",
    Check: b"CHECK",
    Close: b"CLOSE",
    Unselect: b"UNSELECT",
    Expunge: b"EXPUNGE",
    Idle: b"IDLE",
    Namespace: b"NAMESPACE",
}
_ONE_MAILBOX: dict[type[Command], bytes] = {
    Select: b"SELECT",
    Examine: b"EXAMINE",
    Create: b"CREATE",
    Delete: b"DELETE",
    Subscribe: b"SUBSCRIBE",
    Unsubscribe: b"UNSUBSCRIBE",
}
_FLAG_KEYS: dict[tuple[str, bool], bytes] = {
    (ANSWERED, True): b"ANSWERED",
    (DELETED, True): b"DELETED",
    (DRAFT, True): b"DRAFT",
    (FLAGGED, True): b"FLAGGED",
    (SEEN, True): b"SEEN",
    (RECENT, True): b"RECENT",
    (ANSWERED, False): b"UNANSWERED",
    (DELETED, False): b"UNDELETED",
    (DRAFT, False): b"UNDRAFT",
    (FLAGGED, False): b"UNFLAGGED",
    (SEEN, False): b"UNSEEN",
    (RECENT, False): b"OLD",
}


def serialise_command(command: Command, *, non_synchronising: bool = False) -> bytes:
    """The wire form of `command`, CRLF included."""
    body = _body(command, non_synchronising)
    return command.tag.encode("ascii") + b" " + body + b"\r\n"


def _body(command: Command, nsl: bool) -> bytes:
    simple = _SIMPLE.get(type(command))
    if simple is not None:
        return simple
    match command:
        case Select() | Examine() | Create() | Delete() | Subscribe() | Unsubscribe():
            verb = _ONE_MAILBOX[type(command)]
            return verb + b" " + mailbox_name(command.mailbox, non_synchronising=nsl)
        case Authenticate(mechanism=mechanism, initial_response=initial):
            out = b"AUTHENTICATE " + mechanism.encode("ascii")
            if initial is not None:
                out += b" " + (base64.b64encode(initial) if initial else b"=")
            return out
        case Login(username=username, password=password):
            return (
                b"LOGIN "
                + astring(username, non_synchronising=nsl)
                + b" "
                + astring(password, non_synchronising=nsl)
            )
        case Rename(mailbox=old, new_name=new):
            return (
                b"RENAME "
                + mailbox_name(old, non_synchronising=nsl)
                + b" "
                + mailbox_name(new, non_synchronising=nsl)
            )
        case List():
            out = b"LIST "
            if command.extended and (command.selection or not command.return_options):
                out += b"(" + " ".join(command.selection).encode("ascii") + b") "
            out += mailbox_name(command.reference, non_synchronising=nsl) + b" "
            out += list_mailbox(command.pattern, non_synchronising=nsl)
            if command.return_options:
                out += b" RETURN (" + " ".join(command.return_options).encode("ascii") + b")"
            return out
        case Lsub(reference=reference, pattern=pattern):
            return (
                b"LSUB "
                + mailbox_name(reference, non_synchronising=nsl)
                + b" "
                + list_mailbox(pattern, non_synchronising=nsl)
            )
        case Status(mailbox=mailbox, items=items):
            names = " ".join(item.value for item in items).encode("ascii")
            return b"STATUS " + mailbox_name(mailbox, non_synchronising=nsl) + b" (" + names + b")"
        case Append(mailbox=mailbox, flags=flags, internal_date=moment, message=message):
            out = b"APPEND " + mailbox_name(mailbox, non_synchronising=nsl)
            if flags:
                out += b" " + flag_list(flags)
            if moment is not None:
                out += b' "' + format_datetime(moment).encode("ascii") + b'"'
            marker = b"+}" if nsl else b"}"
            return out + b" {" + str(len(message)).encode("ascii") + marker + b"\r\n" + message
        case UidExpunge(uids=uids):
            return b"UID EXPUNGE " + str(uids).encode("ascii")
        case Search(key=key, charset=charset, uid=uid):
            out = b"UID SEARCH " if uid else b"SEARCH "
            if charset is not None:
                out += b"CHARSET " + astring(charset) + b" "
            encoding = charset or "UTF-8"
            if isinstance(key, SearchAnd) and len(key.keys) > 1:
                return out + b" ".join(
                    serialise_search_key(k, encoding, non_synchronising=nsl) for k in key.keys
                )
            return out + serialise_search_key(key, encoding, non_synchronising=nsl)
        case Fetch(sequence_set=sequence_set, attributes=attributes, uid=uid):
            names = b" ".join(_fetch_attribute(attribute, nsl) for attribute in attributes)
            prefix = b"UID FETCH " if uid else b"FETCH "
            return prefix + str(sequence_set).encode("ascii") + b" (" + names + b")"
        case Store(sequence_set=sequence_set, mode=mode, silent=silent, flags=flags, uid=uid):
            sign = {FlagMode.REPLACE: b"", FlagMode.ADD: b"+", FlagMode.REMOVE: b"-"}[mode]
            item = sign + (b"FLAGS.SILENT" if silent else b"FLAGS")
            prefix = b"UID STORE " if uid else b"STORE "
            return (
                prefix + str(sequence_set).encode("ascii") + b" " + item + b" " + flag_list(flags)
            )
        case Copy(sequence_set=sequence_set, mailbox=mailbox, uid=uid):
            prefix = b"UID COPY " if uid else b"COPY "
            target = mailbox_name(mailbox, non_synchronising=nsl)
            return prefix + str(sequence_set).encode("ascii") + b" " + target
        case Move(sequence_set=sequence_set, mailbox=mailbox, uid=uid):
            prefix = b"UID MOVE " if uid else b"MOVE "
            target = mailbox_name(mailbox, non_synchronising=nsl)
            return prefix + str(sequence_set).encode("ascii") + b" " + target
        case Id(parameters=parameters):
            if parameters is None:
                return b"ID NIL"
            pairs = b" ".join(
                string(key, non_synchronising=nsl) + b" " + nstring(value, non_synchronising=nsl)
                for key, value in parameters
            )
            return b"ID (" + pairs + b")"
        case Enable(capabilities=capabilities):
            return b"ENABLE " + " ".join(capabilities).encode("ascii")
    raise TypeError(f"not a serialisable command: {command!r}")


def _fetch_attribute(attribute: FetchAttribute, nsl: bool) -> bytes:
    if isinstance(attribute, FetchItem):
        return attribute.value.encode("ascii")
    name = section_name(BodySection(attribute.section, attribute.peek, None))
    if attribute.peek:
        name = b"BODY.PEEK" + name[len(b"BODY") :]
    if attribute.partial is not None:
        name += b"<%d.%d>" % attribute.partial
    return name


def _date(day: date) -> bytes:
    return f"{day.day}-{MONTHS[day.month - 1]}-{day.year:04d}".encode("ascii")


def serialise_search_key(
    key: SearchKey, charset: str = "UTF-8", *, non_synchronising: bool = False
) -> bytes:
    """One SEARCH key (a SearchAnd in parentheses), strings encoded in `charset`."""

    def text(value: str) -> bytes:
        return astring(value.encode(charset), non_synchronising=non_synchronising)

    def sub(inner: SearchKey) -> bytes:
        return serialise_search_key(inner, charset, non_synchronising=non_synchronising)

    match key:
        case SearchAll():
            return b"ALL"
        case SearchFlag(flag=flag, present=present):
            name = _FLAG_KEYS.get((flag, present))
            if name is not None:
                return name
            return (b"KEYWORD " if present else b"UNKEYWORD ") + flag.encode("ascii")
        case SearchDate(kind=kind, date=day):
            return kind.value.encode("ascii") + b" " + _date(day)
        case SearchHeader(name=name, value=value):
            return b"HEADER " + astring(name) + b" " + text(value)
        case SearchBody(value=value):
            return b"BODY " + text(value)
        case SearchText(value=value):
            return b"TEXT " + text(value)
        case SearchLarger(size=size):
            return b"LARGER %d" % size
        case SearchSmaller(size=size):
            return b"SMALLER %d" % size
        case SearchUid(uids=uids):
            return b"UID " + str(uids).encode("ascii")
        case SearchSequence(sequence_set=sequence_set):
            return str(sequence_set).encode("ascii")
        case SearchNot(key=inner):
            return b"NOT " + serialise_search_key(
                inner, charset, non_synchronising=non_synchronising
            )
        case SearchOr(left=left, right=right):
            return b"OR " + sub(left) + b" " + sub(right)
        case SearchAnd(keys=keys):
            return b"(" + b" ".join(sub(k) for k in keys) + b")"
    raise TypeError(f"not a search key: {key!r}")  # pragma: no cover
