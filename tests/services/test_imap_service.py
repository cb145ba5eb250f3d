"""MailboxImapService and MailboxPasswordAuthenticator through a real store (SQLite and
PostgreSQL), the in-process bus and the real policy and mailbox services."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial

import pytest
from sqlalchemy import update

from ephemail.adapters.events.memory import InProcessEventBus
from ephemail.adapters.sql import tables as t
from ephemail.adapters.sql.engine import create_engines
from ephemail.adapters.sql.migrate import upgrade
from ephemail.adapters.sql.store import SqlStore
from ephemail.domain.bans import normalize_ban
from ephemail.domain.events import Event, EventType
from ephemail.domain.ids import new_id
from ephemail.domain.imap import DELETED, FLAGGED, INBOX, SEEN, FlagMode, SpecialUse
from ephemail.domain.messages import Mailbox
from ephemail.domain.policy import AcceptMode, AcceptPolicy
from ephemail.mime.summary import parse_summary
from ephemail.ports import Delivery, EventSubscription, RecipientDelivery
from ephemail.services.access import AccessDenied, AccessPolicy, Authorizer, Principal
from ephemail.services.clock import SystemClock
from ephemail.services.imap import (
    FolderExists,
    FolderNotAllowed,
    FolderNotFound,
    FolderPath,
    ImapLogin,
    InvalidFlags,
    LoginFailed,
    MailboxImapService,
    MailboxPasswordAuthenticator,
    MessageTooLarge,
    Namespace,
    canonical_flags,
    empty_inbox,
    valid_folder_name,
)
from ephemail.services.mailboxes import MailboxService
from ephemail.services.policy import PolicyService

BOB = "bob@ephemail.test"
MAX_SIZE = 64 * 1024


@dataclass
class World:
    store: SqlStore
    bus: InProcessEventBus
    policy: PolicyService
    mailboxes: MailboxService
    imap: MailboxImapService


def build(
    store: SqlStore,
    *,
    accept: AcceptPolicy | None = None,
    public_read: bool = True,
) -> World:
    bus = InProcessEventBus()
    policy = PolicyService(store, accept=accept or AcceptPolicy(AcceptMode.ALL))
    access = AccessPolicy(public_read=public_read)
    authorizer = Authorizer(access)
    mailboxes = MailboxService(
        store, bus, policy, authorizer=authorizer, default_domain="ephemail.test"
    )
    imap = MailboxImapService(
        store,
        bus,
        SystemClock(),
        mailboxes,
        policy,
        authorizer=authorizer,
        authenticator=MailboxPasswordAuthenticator(store, mailboxes, access=access),
        parse=parse_summary,
        retention_hours_for=lambda _domain: 24.0,
        max_message_size=MAX_SIZE,
    )
    return World(store, bus, policy, mailboxes, imap)


@pytest.fixture
async def world(store: SqlStore) -> World:
    w = build(store)
    await w.policy.refresh()
    return w


def raw_message(n: int, sender: str = "alice@example.org") -> bytes:
    return (
        f"From: Alice <{sender}>\r\nTo: {BOB}\r\nSubject: message {n}\r\n"
        f"Message-ID: <m{n}@example.org>\r\n\r\nbody {n}\r\n"
    ).encode()


async def deliver(
    world: World, *numbers: int, address: str = BOB, sender: str = "alice@example.org"
) -> None:
    deliveries = []
    for n in numbers:
        raw = raw_message(n, sender)
        deliveries.append(
            Delivery(
                queue_id=new_id(),
                raw=raw,
                sha256=hashlib.sha256(raw).hexdigest(),
                summary=parse_summary(raw),
                envelope_from=sender,
                recipients=(RecipientDelivery(new_id(), address, "ephemail.test", None),),
                received_at=datetime.now(UTC),
            )
        )
    world.bus.publish(await world.store.write_deliveries(deliveries))


async def drain(subscription: EventSubscription) -> list[Event]:
    """Every event published so far on `subscription` (it ends it)."""
    subscription.close()
    return [e async for e in subscription]


async def login(world: World, user: str = "bob") -> ImapLogin:
    return await world.imap.authenticate(user, "anything")


# -- pure helpers ----------------------------------------------------------------------


def test_canonical_flags() -> None:
    assert canonical_flags({"\\seen", "\\FLAGGED", "\\Recent", "$Label"}) == {
        SEEN,
        FLAGGED,
        "$Label",
    }
    for bad in ("\\Unknown", "a b", "x]", "", "x" * 101, "caf\u00e9", "a(b"):
        with pytest.raises(InvalidFlags):
            canonical_flags({bad})
    with pytest.raises(InvalidFlags):
        canonical_flags({f"k{i}" for i in range(65)})


def test_folder_names() -> None:
    assert valid_folder_name("Archive/2026/") == "Archive/2026"
    assert valid_folder_name("inbox/Sub") == "INBOX/Sub"
    assert valid_folder_name("iNbOx") == INBOX
    for bad in ("", "/a", "a//b", "a\x01b", "a*", "50%", "x" * 256):
        with pytest.raises(FolderNotAllowed):
            valid_folder_name(bad)


def test_namespace_of_a_mailbox_login() -> None:
    namespace = Namespace(BOB)
    assert namespace.resolve("inbox/Sub", str.lower) == FolderPath(BOB, "INBOX/Sub")
    # Without accounts, an `@` is just a character of a folder name.
    assert namespace.resolve("me@home/x", str.lower) == FolderPath(BOB, "me@home/x")
    folder = empty_inbox()
    assert namespace.shown(folder) is folder


def test_namespace_of_an_account() -> None:
    home, side = "home@owned.test", "side@owned.test"
    namespace = Namespace(home, (side,), accounts=True)
    resolve = partial(namespace.resolve, normalise=str.lower)
    assert resolve("INBOX") == FolderPath(home, INBOX)
    assert resolve("Sent") == FolderPath(home, "Sent")
    assert resolve("Home@Owned.test") == FolderPath(home, INBOX)  # the default's own name
    assert resolve("side@owned.test") == FolderPath(side, INBOX)
    assert resolve("SIDE@owned.test/Sent/2026") == FolderPath(side, "Sent/2026")
    assert resolve("side@owned.test/inbox") == FolderPath(side, INBOX)
    for foreign in ("other@owned.test", "other@owned.test/Sent"):
        with pytest.raises(FolderNotFound):
            resolve(foreign)
    assert namespace.display(home, "Sent") == "Sent"
    assert namespace.display(side, INBOX) == side
    assert namespace.display(side, "Sent") == "side@owned.test/Sent"
    sent = replace(empty_inbox(), mailbox=side, name="Sent", special_use=SpecialUse.SENT)
    assert namespace.shown(sent) == replace(sent, name=f"{side}/Sent", special_use=None)
    empty = Namespace(None, accounts=True)
    assert empty.resolve("INBOX", str.lower) == FolderPath(None, INBOX)
    assert empty.addresses == ()


# -- logins --------------------------------------------------------------------------


async def test_login_by_local_part_creates_the_mailbox(world: World) -> None:
    watch = world.bus.subscribe()
    result = await world.imap.authenticate("Bob", "any password")
    assert result.address == BOB
    mailbox = await world.store.get_mailbox(BOB)
    assert mailbox is not None
    assert [e.type for e in await drain(watch)] == [EventType.MAILBOX_CREATED]
    again = await world.imap.authenticate(BOB, "")
    assert again.address == BOB
    assert [f.name for f in await world.imap.list_folders(result)] == [INBOX]


async def test_login_refused_for_bad_names_and_banned_addresses(world: World) -> None:
    with pytest.raises(LoginFailed):
        await world.imap.authenticate("not an address@", "x")
    await world.store.add_ban(normalize_ban("address", "evil@ephemail.test"))
    await world.policy.refresh()
    with pytest.raises(LoginFailed):
        await world.imap.authenticate("evil", "x")
    assert await world.store.get_mailbox("evil@ephemail.test") is None


async def test_login_refused_for_domains_not_accepted(store: SqlStore) -> None:
    w = build(store, accept=AcceptPolicy(AcceptMode.SINGLE, "ephemail.test"))
    await w.policy.refresh()
    with pytest.raises(LoginFailed):
        await w.imap.authenticate("someone@elsewhere.test", "x")
    assert (await w.imap.authenticate("someone", "x")).address == "someone@ephemail.test"


async def test_login_refused_without_open_mode(store: SqlStore) -> None:
    open_world = build(store)
    await open_world.policy.refresh()
    await open_world.imap.authenticate("bob", "x")
    closed = build(store, public_read=False)
    await closed.policy.refresh()
    with pytest.raises(LoginFailed):
        await closed.imap.authenticate("bob", "x")  # public mailbox, closed mode
    with pytest.raises(LoginFailed):
        await closed.imap.authenticate("new", "x")  # never created
    assert await store.get_mailbox("new@ephemail.test") is None
    with pytest.raises(AccessDenied):
        await closed.imap.list_folders(ImapLogin(Principal.anonymous(), BOB))


async def test_claimed_mailbox_needs_a_password_check(store: SqlStore) -> None:
    w = build(store)
    await w.policy.refresh()
    await w.imap.authenticate("bob", "x")

    async def proof_of(mailbox: Mailbox, password: str) -> str | None:
        return "proof" if mailbox.address == BOB and password == "right" else None

    # Claims arrive with the accounts issue; flip the kind directly to test the rule.
    await store._write(lambda conn: conn.execute(update(t.mailboxes).values(kind="claimed")))
    access = AccessPolicy(public_read=True)
    without = MailboxPasswordAuthenticator(store, w.mailboxes, access=access)
    with pytest.raises(LoginFailed):
        await without.authenticate("bob", "right")
    checked = MailboxPasswordAuthenticator(store, w.mailboxes, access=access, unlock_proof=proof_of)
    with pytest.raises(LoginFailed):
        await checked.authenticate("bob", "wrong")
    login = await checked.authenticate("bob", "right")
    assert login.address == BOB
    # The session holds the proof, re-checked at every command, not an open unlock.
    assert login.principal.unlock_proofs == frozenset({(BOB, "proof")})
    assert not login.principal.unlocked


# -- folders ---------------------------------------------------------------------------


async def test_folder_rules(world: World) -> None:
    me = await login(world)
    created = await world.imap.create_folder(me, "Sent")
    assert created.special_use is SpecialUse.SENT
    await world.imap.create_folder(me, "Projects/Alpha")
    names = [f.name for f in await world.imap.list_folders(me)]
    assert names == [INBOX, "Projects", "Projects/Alpha", "Sent"]
    with pytest.raises(FolderExists):
        await world.imap.create_folder(me, "Sent")
    with pytest.raises(FolderExists):
        await world.imap.create_folder(me, "inbox")
    with pytest.raises(FolderNotAllowed):
        await world.imap.create_folder(me, "a//b")
    with pytest.raises(FolderNotAllowed):
        await world.imap.delete_folder(me, "InBoX")
    with pytest.raises(FolderNotAllowed, match="child"):
        await world.imap.delete_folder(me, "Projects")
    with pytest.raises(FolderNotFound):
        await world.imap.delete_folder(me, "Nothing")
    with pytest.raises(FolderNotAllowed):
        await world.imap.rename_folder(me, "INBOX", "Old")
    with pytest.raises(FolderExists):
        await world.imap.rename_folder(me, "Projects", "Sent")
    with pytest.raises(FolderNotAllowed):
        await world.imap.rename_folder(me, "Projects", "Projects/Inner")
    with pytest.raises(FolderNotFound):
        await world.imap.rename_folder(me, "Nothing", "Else")
    await world.imap.rename_folder(me, "Projects", "Done/Projects")
    names = [f.name for f in await world.imap.list_folders(me)]
    assert names == [INBOX, "Done", "Done/Projects", "Done/Projects/Alpha", "Sent"]
    await world.imap.set_subscribed(me, "Sent", False)
    await world.imap.set_subscribed(me, "Ghost", False)  # unsubscribing a missing name is fine
    with pytest.raises(FolderNotFound):
        await world.imap.set_subscribed(me, "Ghost", True)
    sent = [f for f in await world.imap.list_folders(me) if f.name == "Sent"]
    assert not sent[0].subscribed
    await world.imap.delete_folder(me, "Done/Projects/Alpha")
    with pytest.raises(FolderNotFound):
        await world.imap.select(me, "Done/Projects/Alpha", readonly=True)


async def test_uidvalidity_survives_a_reopen_and_grows_on_recreate(
    world: World, database_url: str
) -> None:
    me = await login(world)
    folder = await world.imap.create_folder(me, "Work")
    inbox = (await world.imap.select(me, INBOX, readonly=True)).folder
    engines = create_engines(database_url)
    await upgrade(engines)
    reopened_store = SqlStore(engines)
    try:
        reopened = build(reopened_store)
        await reopened.policy.refresh()
        again = await reopened.imap.select(me, "Work", readonly=True)
        assert again.folder.uidvalidity == folder.uidvalidity
        assert (await reopened.imap.select(me, INBOX, readonly=True)).folder == inbox
        await reopened.imap.delete_folder(me, "Work")
        recreated = await reopened.imap.create_folder(me, "Work")
        assert recreated.uidvalidity > folder.uidvalidity
    finally:
        await reopened_store.close()


async def test_delete_folder_emits_deleted_events(world: World) -> None:
    me = await login(world)
    await deliver(world, 1, 2)
    await world.imap.create_folder(me, "Old")
    inbox = await world.imap.select(me, INBOX, readonly=False)
    await world.imap.copy(me, inbox.folder, [1, 2], "Old")
    watch = world.bus.subscribe()
    await world.imap.delete_folder(me, "Old")
    events = await drain(watch)
    assert [(e.type, e.data["folder"]) for e in events] == [(EventType.MESSAGE_DELETED, "Old")] * 2


# -- messages ------------------------------------------------------------------------


async def test_select_recent_claimed_once(world: World) -> None:
    me = await login(world)
    await deliver(world, 1, 2)
    examined = await world.imap.select(me, INBOX, readonly=True)
    assert examined.recent == frozenset() and len(examined.messages) == 2
    first = await world.imap.select(me, "inbox", readonly=False)
    second = await world.imap.select(me, INBOX, readonly=False)
    assert first.recent == {1, 2} and second.recent == frozenset()
    await deliver(world, 3)
    folder, counts = await world.imap.status(me, INBOX)
    assert (counts.messages, counts.unseen, counts.recent) == (3, 3, 1)
    assert folder.uidnext == 4
    assert [m.uid for m in await world.imap.messages_after(me, folder, 2)] == [3]
    third = await world.imap.select(me, INBOX, readonly=False)
    assert third.recent == {3}
    with pytest.raises(FolderNotFound):
        await world.imap.status(me, "Nope")


async def test_concurrent_selects_share_out_recent(world: World) -> None:
    me = await login(world)
    await deliver(world, 1, 2, 3)
    selections = await asyncio.gather(
        *(world.imap.select(me, INBOX, readonly=False) for _ in range(4))
    )
    claimed = [s.recent for s in selections]
    assert sorted(u for r in claimed for u in r) == [1, 2, 3]  # each UID exactly once


async def test_seen_is_shared_with_the_api(world: World) -> None:
    me = await login(world)
    await deliver(world, 1, 2)
    selected = await world.imap.select(me, INBOX, readonly=False)
    watch = world.bus.subscribe()
    flags = await world.imap.store_flags(
        me, selected.folder, [1], FlagMode.ADD, frozenset({"\\seen", "\\Flagged"})
    )
    assert flags == {1: frozenset({SEEN, FLAGGED})}
    events = await drain(watch)
    assert sorted(e.type.value for e in events) == ["message.flags", "message.read"]
    read = next(e for e in events if e.type is EventType.MESSAGE_READ)
    assert read.data == {"seen": True, "uid": 1, "folder": INBOX}
    anonymous = Principal.anonymous()
    first = selected.messages[0].message_id
    assert (await world.mailboxes.get_message(anonymous, first)).summary.seen
    # ... and the API's read state shows in IMAP.
    second = selected.messages[1].message_id
    await world.mailboxes.set_seen(anonymous, second, True)
    current = await world.imap.current_flags(me, selected.folder, [first, second])
    assert current == {first: frozenset({SEEN, FLAGGED}), second: frozenset({SEEN})}
    with pytest.raises(InvalidFlags):
        await world.imap.store_flags(me, selected.folder, [1], FlagMode.ADD, frozenset({"\\X"}))


async def test_expunge_and_uids_strictly_increase(world: World) -> None:
    me = await login(world)
    await deliver(world, 1, 2, 3)
    folder = (await world.imap.select(me, INBOX, readonly=False)).folder
    await world.imap.store_flags(me, folder, [2, 3], FlagMode.ADD, frozenset({DELETED}))
    watch = world.bus.subscribe()
    assert await world.imap.expunge(me, folder, [3]) == [3]
    assert await world.imap.expunge(me, folder) == [2]
    events = await drain(watch)
    assert [(e.type, e.data["uid"], e.data["reason"]) for e in events] == [
        (EventType.MESSAGE_DELETED, 3, "user"),
        (EventType.MESSAGE_DELETED, 2, "user"),
    ]
    await deliver(world, 4)
    uids = [m.uid for m in (await world.imap.select(me, INBOX, readonly=True)).messages]
    assert uids == [1, 4]


async def test_copy_move_append(world: World) -> None:
    me = await login(world)
    await deliver(world, 1, 2)
    await world.imap.create_folder(me, "Archive")
    inbox = await world.imap.select(me, INBOX, readonly=False)
    archive = (await world.imap.status(me, "Archive"))[0]
    watch = world.bus.subscribe()
    copied = await world.imap.copy(me, inbox.folder, [1, 2], "Archive")
    assert copied.uidvalidity == archive.uidvalidity and copied.pairs == [(1, 1), (2, 2)]
    moved = await world.imap.move(me, inbox.folder, [2], "Archive")
    assert moved.pairs == [(2, 3)]
    appended = await world.imap.append(
        me, "Archive", raw_message(9), frozenset({"\\Seen"}), datetime(2020, 1, 2, tzinfo=UTC)
    )
    assert appended.uidvalidity == archive.uidvalidity and appended.uid == 4
    events = await drain(watch)
    assert [(e.type.value, e.data.get("folder"), e.data.get("uid")) for e in events] == [
        ("message.received", "Archive", 1),
        ("message.received", "Archive", 2),
        ("message.moved", "Archive", 3),
        ("message.received", "Archive", 4),
    ]
    assert events[2].message_id == inbox.messages[1].message_id
    assert events[2].data["from_folder"] == INBOX and events[2].data["from_uid"] == 2
    selected = await world.imap.select(me, "Archive", readonly=True)
    assert [m.uid for m in selected.messages] == [1, 2, 3, 4]
    assert selected.messages[3].internal_date == datetime(2020, 1, 2, tzinfo=UTC)
    assert selected.messages[3].flags == {SEEN}
    assert selected.folder.uidnext == 5
    fetched = await world.imap.fetch(
        me, selected.folder, [selected.messages[3].message_id], raw=True
    )
    assert fetched[selected.messages[3].message_id].raw == raw_message(9)
    detail = await world.mailboxes.get_message(
        Principal.anonymous(), selected.messages[3].message_id
    )
    assert detail.summary.folder == "Archive" and detail.summary.expires_at is not None
    with pytest.raises(FolderNotFound):
        await world.imap.copy(me, inbox.folder, [1], "Nope")
    with pytest.raises(FolderNotFound):
        await world.imap.move(me, inbox.folder, [1], "Nope")
    with pytest.raises(FolderNotFound):
        await world.imap.append(me, "Nope", raw_message(10), frozenset(), None)
    with pytest.raises(MessageTooLarge):
        await world.imap.append(me, INBOX, b"x" * (MAX_SIZE + 1), frozenset(), None)


async def test_hidden_senders_never_show_nor_change(world: World) -> None:
    me = await login(world)
    await deliver(world, 1)
    await deliver(world, 2, sender="spam@bad.test")
    await world.store.add_ban(normalize_ban("sender", "spam@bad.test"))
    await world.policy.refresh()
    selected = await world.imap.select(me, INBOX, readonly=False)
    assert [m.uid for m in selected.messages] == [1]
    assert selected.recent == {1}
    _, counts = await world.imap.status(me, INBOX)
    assert counts.messages == 1
    assert [m.uid for m in await world.imap.messages_after(me, selected.folder, 0)] == [1]
    mailbox = await world.store.get_mailbox(BOB)
    assert mailbox is not None
    everything = await world.store.imap_select(mailbox, INBOX, claim_recent=False)
    assert everything is not None
    hidden_id = everything.messages[1].message_id
    assert await world.imap.fetch(me, selected.folder, [hidden_id], raw=True) == {}
    assert await world.imap.texts(me, selected.folder, [hidden_id]) == {}
    assert await world.imap.current_flags(me, selected.folder, [hidden_id]) == {}
    changed = await world.imap.store_flags(
        me, selected.folder, [1, 2], FlagMode.ADD, frozenset({DELETED})
    )
    assert set(changed) == {1}
    await world.store.imap_store_flags(  # mark the hidden one too, behind the service
        mailbox,
        selected.folder.id,
        [2],
        FlagMode.ADD,
        frozenset({DELETED}),
        hidden=lambda _: False,
    )
    assert await world.imap.expunge(me, selected.folder) == [1]
    await world.imap.create_folder(me, "Copy")
    assert (await world.imap.copy(me, selected.folder, [2], "Copy")).pairs == []


async def test_texts_for_search(world: World) -> None:
    me = await login(world)
    await deliver(world, 1)
    selected = await world.imap.select(me, INBOX, readonly=True)
    (message,) = selected.messages
    texts = await world.imap.texts(me, selected.folder, [message.message_id])
    assert ("Subject", "message 1") in texts[message.message_id].headers
    assert "body 1" in texts[message.message_id].body


async def test_watch_sees_this_mailbox_events(world: World) -> None:
    me = await login(world)
    assert me.address is not None
    watch = world.imap.watch(me.address)
    await deliver(world, 1)
    events = [e for e in await drain(watch) if e.mailbox == me.address]
    assert [e.type for e in events] == [EventType.MESSAGE_RECEIVED]
    assert events[0].data["folder"] == INBOX and events[0].data["uid"] == 1


async def test_other_mailboxes_folders_are_out_of_reach(world: World) -> None:
    me = await login(world)
    other = await login(world, "carol")
    await deliver(world, 1, address="carol@ephemail.test")
    carol_inbox = await world.imap.select(other, INBOX, readonly=True)
    ids = [m.message_id for m in carol_inbox.messages]
    # Carol's folder handed to Bob's login: not a folder of his (whatever the session says).
    theirs = carol_inbox.folder
    with pytest.raises(FolderNotFound):
        await world.imap.messages_after(me, theirs, 0)
    with pytest.raises(FolderNotFound):
        await world.imap.fetch(me, theirs, ids, raw=True)
    with pytest.raises(FolderNotFound):
        await world.imap.store_flags(me, theirs, [1], FlagMode.ADD, frozenset({SEEN}))
    with pytest.raises(FolderNotFound):
        await world.imap.expunge(me, theirs)
    # Bob's mailbox with Carol's folder id: the store finds nothing of hers.
    bob_inbox = (await world.imap.select(me, INBOX, readonly=True)).folder
    forged = replace(carol_inbox.folder, mailbox=bob_inbox.mailbox)
    assert await world.imap.messages_after(me, forged, 0) == []
    assert await world.imap.fetch(me, forged, ids, raw=True) == {}
    assert await world.imap.store_flags(me, forged, [1], FlagMode.ADD, frozenset({SEEN})) == {}
    assert await world.imap.expunge(me, forged) == []
