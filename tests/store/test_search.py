"""Full-text search through the store (FTS5 on SQLite, tsvector on PostgreSQL): every
form of the search language, scope, paging, deletions and hostile input, on both."""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, insert, select, text, update

from ephemail.adapters.sql import search
from ephemail.adapters.sql import tables as t
from ephemail.adapters.sql.engine import create_engines
from ephemail.adapters.sql.migrate import _config, upgrade
from ephemail.adapters.sql.search import FTS_TABLE, fts5_string, rebuild_sqlite_index
from ephemail.adapters.sql.store import SqlStore
from ephemail.domain.events import DeletionReason
from ephemail.domain.ids import new_id
from ephemail.domain.messages import Attachment
from ephemail.domain.search import SearchSyntaxError, parse_search
from ephemail.ports import Delivery, InvalidCursorError, RecipientDelivery
from tests.store.test_store_contract import NOW, summary

BOB = "bob@example.com"


def mail(
    *recipients: str,
    subject: str = "Hello",
    from_: str = "Alice <alice@example.org>",
    to: tuple[str, ...] = (BOB,),
    cc: tuple[str, ...] = (),
    body: str | None = "hi there",
    attachments: tuple[Attachment, ...] = (),
    envelope_from: str = "alice@example.org",
    received_at: datetime = NOW,
    size: int | None = None,
) -> Delivery:
    """A delivery to `recipients` (bob by default) with unique raw bytes."""
    raw = f"Subject: {subject}\r\nX-Nonce: {os.urandom(8).hex()}\r\n\r\n{body}\r\n".encode()
    if size is not None:
        assert size >= len(raw)
        raw += b"x" * (size - len(raw))
    return Delivery(
        queue_id=new_id(),
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        summary=replace(
            summary(subject),
            from_=from_,
            to=to,
            cc=cc,
            text=body,
            body_text=body,
            attachments=attachments,
        ),
        envelope_from=envelope_from,
        recipients=tuple(
            RecipientDelivery(new_id(), r, r.rpartition("@")[2], None) for r in recipients or (BOB,)
        ),
        received_at=received_at,
        client_ip="127.0.0.1",
    )


async def put(store: SqlStore, *deliveries: Delivery) -> list[str]:
    """Store the deliveries; the id of each one's first recipient's message."""
    await store.write_deliveries(list(deliveries))
    return [d.recipients[0].message_id for d in deliveries]


async def found(store: SqlStore, query: str, address: str | None = BOB) -> set[str]:
    page = await store.search_messages(
        parse_search(query), address=address, limit=1000, cursor=None
    )
    assert page.total == len(page.items)
    return {m.id for m in page.items}


async def test_plain_words_must_all_match_in_any_indexed_field(store: SqlStore) -> None:
    subject, body, sender, recipient, copy, attached = await put(
        store,
        mail(subject="Quarterly invoice", body="nothing here"),
        mail(subject="x", body="Your invoice is ready"),
        mail(subject="x", body="b", from_="Invoice Robot <robot@billing.test>"),
        mail(subject="x", body="b", to=("invoice-desk@example.com",)),
        mail(subject="x", body="b", cc=("Invoice Archive <arch@example.com>",)),
        mail(
            subject="x",
            body="b",
            attachments=(Attachment("invoice_2026.pdf", "application/pdf", 10),),
        ),
    )
    assert await found(store, "invoice") == {subject, body, sender, recipient, copy, attached}
    assert await found(store, "INVOICE ready") == {body}
    assert await found(store, "invoice 2026") == {attached}
    assert await found(store, "pdf") == {attached}
    assert await found(store, "invoice missing") == set()
    # Whole tokens only: no prefix or substring matching.
    assert await found(store, "invo") == set()


async def test_case_and_latin_diacritics_are_ignored(store: SqlStore) -> None:
    french, german, russian = await put(
        store,
        mail(subject="École d'été", body="Ça va"),
        mail(subject="Grüße aus Zürich", body="b"),
        mail(subject="Привет Мир", body="b"),
    )
    assert await found(store, "ecole") == {french}
    assert await found(store, "ÉCOLE ETE") == {french}
    assert await found(store, "ca") == {french}
    assert await found(store, "zurich") == {german}
    assert await found(store, "ZÜRICH") == {german}
    assert await found(store, "grüße") == {german}
    assert await found(store, "привет мир") == {russian}
    assert await found(store, "ПРИВЕТ") == {russian}


async def test_phrases_need_the_words_in_order(store: SqlStore) -> None:
    fox, other = await put(
        store,
        mail(body="The quick brown fox jumps"),
        mail(body="brown paper, quick delivery"),
    )
    assert await found(store, "quick brown") == {fox, other}
    assert await found(store, '"quick brown"') == {fox}
    assert await found(store, '"brown quick"') == set()
    assert await found(store, '"QUICK   Brown  fox"') == {fox}
    assert await found(store, '-"quick brown"') == {other}


async def test_addresses_and_punctuated_words(store: SqlStore) -> None:
    (message,) = await put(
        store,
        mail(from_="Alice Liddell <alice.liddell@mail.example.org>", body="see https://x.test/a-b"),
    )
    for query in (
        "alice.liddell@mail.example.org",
        "example.org",
        "liddell",
        "https://x.test/a-b",
        "x.test",
    ):
        assert await found(store, query) == {message}, query
    assert await found(store, "example.com.org") == set()


def zed_mail(
    subject: str, *, to: tuple[str, ...] = (BOB,), cc: tuple[str, ...] = (), body: str = "b"
) -> Delivery:
    """A mail from Zed, in the From header and the envelope."""
    return mail(
        subject=subject,
        from_="Zed <zed@z.test>",
        envelope_from="zed@z.test",
        to=to,
        cc=cc,
        body=body,
    )


async def test_field_terms_look_only_in_their_field(store: SqlStore) -> None:
    from_alice, to_alice, cc_alice, about_alice = await put(
        store,
        mail(from_="Alice <alice@example.org>", subject="s1", body="b"),  # envelope: alice
        zed_mail("s2", to=("Alice <alice@example.org>",)),
        zed_mail("s3", cc=("alice@example.org",)),
        zed_mail("Alice in wonderland", body="alice"),
    )
    for value in ("alice", "example.org", "alice@example.org", "ALICE@Example.Org", '"Alice"'):
        assert await found(store, f"from:{value}") == {from_alice}, value
        assert await found(store, f"to:{value}") == {to_alice}, value
        assert await found(store, f"cc:{value}") == {cc_alice}, value
    assert await found(store, "subject:alice") == {about_alice}
    assert await found(store, 'subject:"alice in wonderland"') == {about_alice}
    assert await found(store, 'subject:"in alice"') == set()
    assert await found(store, "subject:wonderland from:zed") == {about_alice}
    assert await found(store, "-from:alice subject:s2") == {to_alice}


async def test_from_also_matches_the_envelope_sender(store: SqlStore) -> None:
    bounced, plain = await put(
        store,
        mail(from_="Shop <news@shop.test>", envelope_from="bounces+123@mailer.test", body="b"),
        mail(from_="Shop <news@shop.test>", envelope_from="news@shop.test", body="b"),
    )
    assert await found(store, "from:mailer.test") == {bounced}
    assert await found(store, "from:bounces+123") == {bounced}
    assert await found(store, "from:shop.test") == {bounced, plain}
    assert await found(store, "-from:mailer.test") == {plain}
    # Like the header, the envelope sender matches by whole tokens.
    assert await found(store, "from:bounces_123") == {bounced}
    assert await found(store, "from:ounces") == set()


async def test_dates_are_utc_days_of_arrival(store: SqlStore) -> None:
    day = datetime(2026, 3, 10, tzinfo=UTC)
    last_moment_before, first_moment, late, next_day = await put(
        store,
        mail(received_at=day - timedelta(microseconds=1)),
        mail(received_at=day),
        mail(received_at=day + timedelta(hours=23, minutes=59)),
        mail(received_at=day + timedelta(days=1)),
    )
    assert await found(store, "before:2026-03-10") == {last_moment_before}
    assert await found(store, "after:2026-03-10") == {first_moment, late, next_day}
    assert await found(store, "after:2026-03-10 before:2026-03-11") == {first_moment, late}
    assert await found(store, "-after:2026-03-10") == {last_moment_before}
    assert await found(store, "after:2030-01-01") == set()


async def test_sizes_are_strict_bounds_in_bytes(store: SqlStore) -> None:
    small, exact, big = await put(store, mail(size=500), mail(size=1024), mail(size=5000))
    assert await found(store, "larger:1K") == {big}
    assert await found(store, "larger:1023") == {exact, big}
    assert await found(store, "smaller:1024") == {small}
    assert await found(store, "smaller:1k -smaller:600") == set()
    assert await found(store, "larger:600 smaller:4K") == {exact}
    assert await found(store, "-larger:1M") == {small, exact, big}


async def test_attachments_and_read_state(store: SqlStore) -> None:
    with_file, without = await put(
        store,
        mail(attachments=(Attachment(None, "application/octet-stream", 3),)),
        mail(),
    )
    assert await found(store, "has:attachment") == {with_file}
    assert await found(store, "-has:attachments") == {without}
    await store.set_seen([with_file], True)
    assert await found(store, "is:read") == {with_file}
    assert await found(store, "is:unread") == {without}
    assert await found(store, "-is:unread") == {with_file}
    page = await store.search_messages(parse_search("hi"), address=BOB, limit=10, cursor=None)
    assert (page.total, page.unread) == (2, 1)


async def test_negated_words_alone_and_together(store: SqlStore) -> None:
    apple, pear, both = await put(
        store, mail(body="apple"), mail(body="pear"), mail(body="apple and pear")
    )
    assert await found(store, "-apple") == {pear}
    assert await found(store, "-apple -pear") == set()
    assert await found(store, "apple -pear") == {apple}
    assert await found(store, "-subject:zzz apple") == {apple, both}


async def test_pages_newest_first_with_cursor_and_totals(store: SqlStore) -> None:
    ids = await put(store, *(mail(subject=f"report {i}", body="b") for i in range(7)))
    await put(store, mail(subject="unrelated", body="b"))
    await store.set_seen(ids[:2], True)
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.search_messages(
            parse_search("report"), address=BOB, limit=3, cursor=cursor
        )
        assert (page.total, page.unread) == (7, 5)
        seen += [m.id for m in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    first = await store.search_messages(parse_search("report"), address=BOB, limit=7, cursor=None)
    assert first.next_cursor is None and len(first.items) == 7
    newest = first.items[0]
    assert newest.id == max(ids) and newest.mailbox == BOB and newest.folder == "INBOX"
    assert newest.subject == f"report {ids.index(newest.id)}"
    with pytest.raises(InvalidCursorError):
        await store.search_messages(parse_search("report"), address=BOB, limit=3, cursor="nope")


async def test_scope_one_mailbox_every_folder_or_global(store: SqlStore) -> None:
    mine, other = await put(
        store,
        mail(BOB, subject="shared words"),
        mail("carol@example.com", subject="shared words"),
    )
    filed = (await put(store, mail(BOB, subject="shared words, filed away")))[0]

    def move_to_archive(conn: Connection) -> None:
        mailbox_id = conn.scalar(select(t.mailboxes.c.id).where(t.mailboxes.c.address == BOB))
        folder_id = conn.execute(
            insert(t.folders)
            .values(
                mailbox_id=mailbox_id,
                name="Archive",
                uidvalidity=1,
                next_uid=2,
                subscribed=True,
                created_at=NOW,
            )
            .returning(t.folders.c.id)
        ).scalar_one()
        conn.execute(
            update(t.messages).where(t.messages.c.id == filed).values(folder_id=folder_id, uid=1)
        )

    await store._engines.run_write(move_to_archive)
    assert await found(store, "shared words") == {mine, filed}
    assert await found(store, "shared words", address="carol@example.com") == {other}
    assert await found(store, "shared words", address=None) == {mine, other, filed}
    assert await found(store, "shared", address="nobody@example.com") == set()
    page = await store.search_messages(parse_search("filed"), address=None, limit=5, cursor=None)
    assert [(m.mailbox, m.folder) for m in page.items] == [(BOB, "Archive")]


async def test_deleted_messages_leave_nothing_in_the_index(store: SqlStore) -> None:
    d = mail(BOB, "carol@example.com", body="ephemeral pineapple")
    await put(store, d)
    bob_copy, carol_copy = (r.message_id for r in d.recipients)
    await store.delete_messages([bob_copy], DeletionReason.USER)
    assert await found(store, "pineapple", address=None) == {carol_copy}
    await store.delete_messages([carol_copy], DeletionReason.USER)
    assert await found(store, "pineapple", address=None) == set()
    # New content may reuse the deleted row's internal id (SQLite rowid): a stale index
    # entry would make it match the old words.
    (fresh,) = await put(store, mail(body="banana"))
    assert await found(store, "pineapple", address=None) == set()
    assert await found(store, "banana", address=None) == {fresh}
    expired = mail(body="kiwi")
    expired = replace(
        expired,
        recipients=tuple(replace(r, expires_at=NOW - timedelta(1)) for r in expired.recipients),
    )
    await put(store, expired)
    await store.delete_expired(NOW, limit=10)
    assert await found(store, "kiwi", address=None) == set()


async def test_sqlite_index_holds_exactly_the_stored_contents(tmp_path: Path) -> None:
    engines = create_engines(f"sqlite:///{tmp_path / 'fts.sqlite3'}")
    await upgrade(engines)
    store = SqlStore(engines)
    try:
        ids = await put(store, *(mail(body=f"word{i % 3} common") for i in range(9)))
        await store.delete_messages(ids[::2], DeletionReason.USER)

        def indexed(conn: Connection) -> set[int]:
            rows = conn.execute(
                text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q"),
                {"q": fts5_string("common")},
            )
            return {r[0] for r in rows}

        def stored(conn: Connection) -> set[int]:
            return {r[0] for r in conn.execute(text("SELECT rowid FROM messages"))}

        assert await engines.run_read(indexed) == await engines.run_read(stored)
        assert len(await engines.run_read(stored)) == 4
        await engines.run_write(rebuild_sqlite_index)
        assert await engines.run_read(indexed) == await engines.run_read(stored)
        assert await found(store, "word1", address=None) == {ids[1], ids[7]}
    finally:
        await store.close()


HOSTILE = [
    '"a" OR b* NEAR(',
    "a OR b",
    "NOT a",
    "a AND",
    "NEAR(a b, 2)",
    "subject:x* ^start",
    "body_text:secret",
    '"unbalanced " quote "',
    "a' OR '1'='1",
    "x); DROP TABLE messages; --",
    "from:a%b from:_",
    "'; DELETE FROM message_contents; --",
    "{from_text subject}: secret",
    "col:umn",
    "- - -",
    "\\",
    '"\\"escaped\\" quote"',
    "a\u0000b",
    "🙂 emoji-only 🙂",
    "Ω≈ç√∫ 中文 العربية",
    "x" * 1001,
]


async def test_hostile_queries_never_break_the_store(store: SqlStore) -> None:
    target, _decoy = await put(
        store,
        mail(subject="a OR b", body="NEAR secret near start x"),
        mail(subject="c", body="unrelated"),
    )
    rng = random.Random(1234)
    alphabet = [*"\"*^():-+{}[]\\'%_ ORNEANDT", "a", "b", "OR", "NEAR", " "]
    queries = HOSTILE + ["".join(rng.choices(alphabet, k=rng.randint(1, 30))) for _ in range(60)]
    for query in queries:
        try:
            parsed = parse_search(query)
        except SearchSyntaxError:
            continue
        for address in (BOB, None):
            await store.search_messages(parsed, address=address, limit=10, cursor=None)
    # Operator words are plain words: "a OR b" means the three tokens a, or, b.
    assert await found(store, '"a" OR b* NEAR(') == {target}
    assert await found(store, "NOT unrelated") == set()
    assert await found(store, "NEAR secret") == {target}
    assert await found(store, '"secret near"') == {target}


async def test_the_limits_of_the_language_are_accepted(store: SqlStore) -> None:
    (message,) = await put(store, mail(subject="s", body=" ".join(f"w{i}" for i in range(40))))
    query = " ".join(f"w{i}" for i in range(31)) + " -from:nobody"
    assert await found(store, query) == {message}


async def test_upgrade_indexes_messages_stored_before_the_index(database_url: str) -> None:
    """Rows written under revision 0001 are searchable (body from text_body) after 0002."""
    engines = create_engines(database_url)
    try:

        def to_0001(conn: Connection) -> None:
            config = _config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            # Only columns revision 0001 has (no body_text).
            mailbox_id = conn.execute(
                insert(t.mailboxes)
                .values(
                    address="old@example.com", domain="example.com", kind="public", created_at=NOW
                )
                .returning(t.mailboxes.c.id)
            ).scalar_one()
            folder_id = conn.execute(
                insert(t.folders)
                .values(
                    mailbox_id=mailbox_id,
                    name="INBOX",
                    uidvalidity=1,
                    next_uid=2,
                    subscribed=True,
                    created_at=NOW,
                )
                .returning(t.folders.c.id)
            ).scalar_one()
            conn.execute(
                insert(t.message_contents).values(
                    sha256="ab",
                    raw=b"raw",
                    size=3,
                    subject="Old news",
                    from_header="Olga <olga@example.net>",
                    to_header='["old@example.com"]',
                    cc_header="[]",
                    reply_to="[]",
                    text_body="archived walrus",
                    attachments="[]",
                    headers="[]",
                    has_attachments=False,
                    defects="[]",
                    created_at=NOW,
                )
            )
            conn.execute(
                insert(t.messages).values(
                    id=message_id,
                    mailbox_id=mailbox_id,
                    folder_id=folder_id,
                    uid=1,
                    sha256="ab",
                    queue_id=message_id,
                    envelope_from="olga@example.net",
                    seen=False,
                    flags="",
                    size=3,
                    received_at=NOW,
                )
            )

        message_id = new_id()
        await engines.run_write(to_0001)
        await upgrade(engines)
        store = SqlStore(engines)
        for query in ("walrus", "from:olga", "subject:news", "to:old@example.com"):
            assert await found(store, query, address="old@example.com") == {message_id}, query
    finally:
        await engines.dispose()


async def test_every_plan_gives_the_same_answers(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small mailbox is searched in one statement (SQLite: message by message); a
    large scope counts first, then sorts few matches or walks many in id order
    (search.SMALL_SCOPE_MAX, search.FEW_MATCHES_MAX). Every plan agrees, pages too."""
    await put(
        store,
        mail(subject="alpha beta", body="gamma", attachments=(Attachment("x.pdf", "a/b", 1),)),
        mail(subject="alpha", body="delta", from_="Zed <zed@z.test>"),
        mail(subject="beta", body="gamma delta", cc=("carol@example.com",)),
        *(mail(subject=f"filler {i}", body="alpha") for i in range(4)),
    )
    queries = [
        "alpha",
        "alpha -beta",
        "-gamma",
        "-alpha -delta",
        '"gamma delta"',
        "from:zed",
        "-from:zed delta",
        "cc:carol",
        "has:attachment -delta",
    ]

    async def answers(address: str | None) -> list[list[str]]:
        pages = []
        for q in queries:
            ids: list[str] = []
            cursor = None
            while True:
                page = await store.search_messages(
                    parse_search(q), address=address, limit=2, cursor=cursor
                )
                ids += [m.id for m in page.items]
                assert page.total >= len(ids)
                if (cursor := page.next_cursor) is None:
                    break
            assert len(ids) == page.total
            pages.append(ids)
        return pages

    expected = await answers(BOB)
    assert [len(ids) for ids in expected] == [6, 5, 5, 0, 1, 1, 1, 1, 1]
    assert all(ids == sorted(ids, reverse=True) for ids in expected)
    monkeypatch.setattr(search, "SMALL_SCOPE_MAX", -1)
    assert await answers(BOB) == expected
    assert await answers(None) == expected
    monkeypatch.setattr(search, "FEW_MATCHES_MAX", 0)
    assert await answers(BOB) == expected
    assert await answers(None) == expected
