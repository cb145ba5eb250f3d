"""IMAP sessions on real mail delivered over SMTP: SELECT/EXAMINE, folders, STATUS,
APPEND, FETCH (byte for byte), STORE shared with the HTTP API, EXPUNGE, COPY/MOVE
and SEARCH, over SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from tests.imap.conftest import (
    MODULE_LOOP,
    RawClient,
    imaplib_client,
    in_thread,
    sample_mail,
    smtp_deliver,
)

MULTIPART = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: dora@example.com\r\n"
    b"Subject: parts\r\n"
    b"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"first part\r\n"
    b"--b1\r\n"
    b"Content-Type: text/html; charset=us-ascii\r\n"
    b"\r\n"
    b"<p>second</p>\r\n"
    b"--b1--\r\n"
)

pytestmark = MODULE_LOOP


async def _api_ids(app: Any, address: str) -> list[str]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        page = (await http.get(f"/api/v1/mailboxes/{address}/messages")).json()
    return [m["id"] for m in page["messages"]]


async def _deliver_n(app: Any, address: str, count: int) -> None:
    for i in range(count):
        await smtp_deliver(app, sample_mail(subject=f"mail {i}", body=f"body number {i}"), address)


async def test_select_and_examine_responses(imap_app: Any, connect: Any) -> None:
    await _deliver_n(imap_app, "sel@example.com", 2)
    client: RawClient = await connect()
    await client.login("sel@example.com")
    lines = await client.command("SELECT INBOX")
    text = b"".join(lines)
    assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n" in text
    assert b"* 2 EXISTS\r\n" in text and b"* 2 RECENT\r\n" in text
    assert b"* OK [UNSEEN 1] " in text
    assert re.search(rb"\* OK \[UIDVALIDITY \d+\] ", text)
    assert b"* OK [UIDNEXT 3] " in text
    assert b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]" in text
    assert lines[-1] == b"t2 OK [READ-WRITE] SELECT completed\r\n"
    # \Recent belongs to the first session only (RFC 3501 section 2.3.2).
    other: RawClient = await connect()
    await other.login("sel@example.com")
    examined = b"".join(await other.command("EXAMINE INBOX"))
    assert b"* 2 EXISTS\r\n" in examined and b"* 0 RECENT\r\n" in examined
    assert b"[PERMANENTFLAGS ()]" in examined and b"OK [READ-ONLY] EXAMINE" in examined
    # Read-only: no flag changes, no expunge; a body fetch does not set \Seen.
    assert (await other.command("STORE 1 +FLAGS (\\Flagged)"))[-1].startswith(b"t3 NO ")
    assert (await other.command("EXPUNGE"))[-1].startswith(b"t4 NO ")
    fetched = await other.command("FETCH 1 (BODY[TEXT] FLAGS)")
    assert b"\\Seen" not in fetched[0]
    missing = await other.command("SELECT Nowhere")
    assert missing[-1] == b"t6 NO [NONEXISTENT] Folder does not exist\r\n"
    # A failed SELECT leaves no folder selected.
    assert (await other.command("FETCH 1 FLAGS"))[-1].startswith(b"t7 BAD ")


async def test_folders_list_lsub_create_delete_rename_subscribe(connect: Any) -> None:
    client: RawClient = await connect()
    await client.login("fold@example.com")
    assert (await client.command("CREATE Sent"))[-1] == b"t2 OK CREATE completed\r\n"
    assert (await client.command("CREATE Work/Projects/"))[-1].startswith(b"t3 OK")
    exists = await client.command("CREATE Sent")
    assert exists[-1] == b"t4 NO [ALREADYEXISTS] Folder already exists\r\n"
    listed = await client.command('LIST "" "*"')
    assert listed[:-1] == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"\r\n',
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"\r\n',
        b'* LIST (\\HasChildren) "/" "Work"\r\n',
        b'* LIST (\\HasNoChildren) "/" "Work/Projects"\r\n',
    ]
    top = await client.command('LIST "" "%"')
    assert [line.split(b'"/" ')[1] for line in top[:-1]] == [
        b'"INBOX"\r\n',
        b'"Sent"\r\n',
        b'"Work"\r\n',
    ]
    assert (await client.command('LIST "" ""'))[0] == b'* LIST (\\Noselect) "/" ""\r\n'
    under = await client.command('LIST "Work/" "%"')
    assert under[:-1] == [b'* LIST (\\HasNoChildren) "/" "Work/Projects"\r\n']
    assert (await client.command('LIST "" "inbox"'))[0].endswith(b'"INBOX"\r\n')

    assert (await client.command("SUBSCRIBE Sent"))[-1].startswith(b"t10 OK")
    lsub = await client.command('LSUB "" "*"')
    assert any(line.startswith(b"* LSUB (") and line.endswith(b'"Sent"\r\n') for line in lsub)
    assert (await client.command("UNSUBSCRIBE Sent"))[-1].startswith(b"t12 OK")
    assert not any(b'"Sent"' in line for line in await client.command('LSUB "" "*"'))

    renamed = await client.command("RENAME Work Play")
    assert renamed[-1] == b"t14 OK RENAME completed\r\n"
    names = b"".join(await client.command('LIST "" "*"'))
    assert b'"Play/Projects"' in names and b'"Work' not in names
    assert (await client.command("RENAME Nothing Else"))[-1].startswith(b"t16 NO [NONEXISTENT]")
    assert (await client.command("DELETE INBOX"))[-1].startswith(b"t17 NO [CANNOT]")
    assert (await client.command("DELETE Sent"))[-1] == b"t18 OK DELETE completed\r\n"
    assert (await client.command("DELETE Sent"))[-1].startswith(b"t19 NO [NONEXISTENT]")


async def test_status_and_append_with_appenduid(imap_app: Any, connect: Any) -> None:
    await _deliver_n(imap_app, "stat@example.com", 2)
    client: RawClient = await connect()
    await client.login("stat@example.com")
    status = await client.command("STATUS INBOX (MESSAGES UNSEEN UIDNEXT RECENT)")
    assert status[0] == b'* STATUS "INBOX" (MESSAGES 2 UNSEEN 2 UIDNEXT 3 RECENT 2)\r\n'
    uidvalidity = re.search(
        rb"UIDVALIDITY (\d+)", (await client.command("STATUS INBOX (UIDVALIDITY)"))[0]
    )
    assert uidvalidity is not None
    message = sample_mail(subject="appended")
    await client.send(b"a1 APPEND INBOX (\\Seen $Work) {%d}\r\n" % len(message))
    assert (await client.read_line()).startswith(b"+ ")
    await client.send(message + b"\r\n")
    (done,) = await client.until_tagged("a1")
    assert done == b"a1 OK [APPENDUID %s 3] APPEND completed\r\n" % uidvalidity.group(1)
    missing = await client.command(b"APPEND Nowhere {%d+}\r\n" % len(message) + message)
    assert missing[-1].startswith(b"t4 NO [TRYCREATE] ")
    await client.command("SELECT INBOX")
    fetched = await client.command("UID FETCH 3 (FLAGS BODY.PEEK[])")
    assert fetched[0].startswith(
        b"* 3 FETCH (UID 3 FLAGS (\\Seen \\Recent $Work) BODY[] {%d}" % len(message)
    )
    assert message in fetched[0]


async def test_fetch_every_item_byte_for_byte(imap_app: Any, connect: Any) -> None:
    sent = sample_mail(subject="fetch me")
    await smtp_deliver(imap_app, sent, "fetch@example.com")
    await smtp_deliver(imap_app, MULTIPART, "fetch@example.com")
    (newest, oldest) = await _api_ids(imap_app, "fetch@example.com")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{imap_app.http_port}") as http:
        stored = (await http.get(f"/api/v1/messages/{oldest}/raw")).content
        stored_multi = (await http.get(f"/api/v1/messages/{newest}/raw")).content
    assert stored.endswith(sent)  # SMTP adds a Received: line on top

    def session() -> dict[str, Any]:
        out: dict[str, Any] = {}
        data: Any
        with imaplib_client(imap_app) as imap:
            imap.login("fetch@example.com", "x")
            imap.select("INBOX")
            _, data = imap.fetch("1", "(BODY.PEEK[])")
            out["body"] = data[0][1]
            _, data = imap.fetch("1", "(FLAGS)")
            out["flags_after_peek"] = data[0]
            _, data = imap.fetch("1", "(RFC822.SIZE INTERNALDATE UID ENVELOPE)")
            out["meta"] = data[0]
            _, data = imap.fetch("1", "(BODY[HEADER.FIELDS (SUBJECT)])")
            out["subject"] = data[0][1]
            _, data = imap.fetch("1", "(BODY[TEXT]<0.4>)")
            out["partial"] = data[0]
            _, data = imap.fetch("1", "(FLAGS)")
            out["flags_after_body"] = data[0]
            _, data = imap.fetch("1", "(RFC822.HEADER)")
            out["header"] = data[0][1]
            _, data = imap.fetch("2", "(BODYSTRUCTURE)")
            out["bodystructure"] = data[0]
            _, data = imap.fetch("2", "(BODY[2] BODY[1.MIME])")
            out["parts"] = data
            _, data = imap.fetch("2", "(RFC822)")
            out["rfc822"] = data[0][1]
            _, data = imap.uid("FETCH", "1:*", "(FLAGS)")
            out["uids"] = data
            imap.logout()
        return out

    out = await in_thread(session)
    assert out["body"] == stored
    assert b"\\Seen" not in out["flags_after_peek"]
    meta = out["meta"].decode()
    assert f"RFC822.SIZE {len(stored)}" in meta and "UID 1" in meta
    assert re.search(r'INTERNALDATE "\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d \+0000"', meta)
    assert 'ENVELOPE ("Sat, 21 Nov 2026 10:00:00 +0000" "fetch me"' in meta
    assert out["subject"] == b"Subject: fetch me\r\n\r\n"
    assert out["partial"][0].endswith(b"BODY[TEXT]<0> {4}") and out["partial"][1] == b"Your"
    assert b"\\Seen" in out["flags_after_body"]
    assert out["header"] == stored[: stored.index(b"\r\n\r\n") + 4]
    assert b'BODYSTRUCTURE (("TEXT" "PLAIN"' in out["bodystructure"].upper()
    assert out["parts"][0][1] == b"<p>second</p>"
    assert out["parts"][1][1] == b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    assert out["rfc822"] == stored_multi
    assert out["uids"][0].startswith(b"1 (UID 1 FLAGS (\\Seen")


async def test_store_is_shared_with_the_api_and_other_sessions(imap_app: Any, connect: Any) -> None:
    await _deliver_n(imap_app, "flags@example.com", 2)
    (second_id, first_id) = await _api_ids(imap_app, "flags@example.com")
    one: RawClient = await connect()
    two: RawClient = await connect()
    for client in (one, two):
        await client.login("flags@example.com")
        await client.command("SELECT INBOX")
    stored = await one.command("STORE 1 +FLAGS (\\Seen \\Flagged)")
    assert stored[0] == b"* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent))\r\n"
    silent = await one.command("UID STORE 2 +FLAGS.SILENT (\\Answered)")
    assert silent == [b"t4 OK STORE completed\r\n"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{imap_app.http_port}") as http:
        assert (await http.get(f"/api/v1/messages/{first_id}")).json()["seen"] is True
        patched = await http.patch(f"/api/v1/messages/{second_id}", json={"seen": True})
        assert patched.status_code == 200
    # The other session learns both changes at its next command; ours only the API one.
    noop_two = b"".join(await _noop_until(two, b"* 2 FETCH"))
    assert b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Seen))\r\n" in noop_two
    assert b"* 2 FETCH (UID 2 FLAGS (\\Answered \\Seen))\r\n" in noop_two
    noop_one = b"".join(await _noop_until(one, b"* 2 FETCH"))
    assert b"* 1 FETCH" not in noop_one
    assert b"* 2 FETCH (UID 2 FLAGS (\\Answered \\Seen \\Recent))\r\n" in noop_one
    again = await one.command("NOOP")
    assert again == [again[-1]]  # reported once, never twice


async def _noop_until(client: RawClient, marker: bytes, tries: int = 50) -> list[bytes]:
    """NOOP until a response contains `marker` (events cross the bus asynchronously)."""
    seen: list[bytes] = []
    for _ in range(tries):
        lines = await client.command("NOOP")
        seen.extend(lines)
        if any(marker in line for line in lines):
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"{marker!r} never came: {seen!r}")


async def test_expunge_copy_move_and_search(imap_app: Any, connect: Any) -> None:
    await _deliver_n(imap_app, "ops@example.com", 5)
    client: RawClient = await connect()
    await client.login("ops@example.com")
    await client.command("CREATE Archive")
    select = b"".join(await client.command("SELECT INBOX"))
    assert b"* 5 EXISTS" in select
    uidvalidity = re.search(
        rb"UIDVALIDITY (\d+)", (await client.command("STATUS Archive (UIDVALIDITY)"))[0]
    )
    assert uidvalidity is not None
    dest = uidvalidity.group(1)

    copied = await client.command("UID COPY 1:2 Archive")
    assert copied[-1] == b"t5 OK [COPYUID %s 1:2 1:2] COPY completed\r\n" % dest
    tried = await client.command("COPY 1 Nowhere")
    assert tried[-1].startswith(b"t6 NO [TRYCREATE] ")
    assert (await client.command("COPY 9 Archive"))[-1].startswith(b"t7 BAD ")

    moved = await client.command("MOVE 2:3 Archive")
    assert moved == [
        b"* OK [COPYUID %s 2:3 3:4] Moved\r\n" % dest,
        b"* 3 EXPUNGE\r\n",
        b"* 2 EXPUNGE\r\n",
        b"* 3 RECENT\r\n",  # RFC 3501 7.3.2: the size changed
        b"t8 OK MOVE completed\r\n",
    ]
    # INBOX now holds UIDs 1, 4, 5.
    found = await client.command('SEARCH SUBJECT "mail 3"')
    assert found[0] == b"* SEARCH 2\r\n"
    assert (await client.command("UID SEARCH ALL"))[0] == b"* SEARCH 1 4 5\r\n"
    assert (await client.command('UID SEARCH BODY "number 4"'))[0] == b"* SEARCH 5\r\n"
    assert (await client.command("SEARCH UNSEEN NOT UID 4"))[0] == b"* SEARCH 1 3\r\n"
    bad_charset = await client.command("SEARCH CHARSET KOI8-R ALL")
    assert bad_charset[-1].startswith(b"t13 NO [BADCHARSET")

    await client.command("STORE 1,3 +FLAGS.SILENT (\\Deleted)")
    uid_expunged = await client.command("UID EXPUNGE 5")
    assert uid_expunged == [
        b"* 3 EXPUNGE\r\n",
        b"* 2 RECENT\r\n",
        b"t15 OK EXPUNGE completed\r\n",
    ]
    expunged = await client.command("EXPUNGE")
    assert expunged == [b"* 1 EXPUNGE\r\n", b"* 1 RECENT\r\n", b"t16 OK EXPUNGE completed\r\n"]
    assert (await client.command("UID SEARCH ALL"))[0] == b"* SEARCH 4\r\n"
    # `*` in a UID range always includes the highest UID (RFC 3501 section 6.4.8).
    assert (await client.command("UID FETCH 90:* (UID)"))[0] == b"* 1 FETCH (UID 4)\r\n"
    status = await client.command("STATUS Archive (MESSAGES)")
    assert status[0] == b'* STATUS "Archive" (MESSAGES 4)\r\n'


async def test_close_expunges_silently_and_unselect_does_not(imap_app: Any, connect: Any) -> None:
    await _deliver_n(imap_app, "close@example.com", 3)
    client: RawClient = await connect()
    await client.login("close@example.com")
    await client.command("SELECT INBOX")
    await client.command("STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert await client.command("UNSELECT") == [b"t4 OK UNSELECT completed\r\n"]
    await client.command("SELECT INBOX")
    assert await client.command("CLOSE") == [b"t6 OK CLOSE completed\r\n"]
    status = await client.command("STATUS INBOX (MESSAGES)")
    assert status[0] == b'* STATUS "INBOX" (MESSAGES 2)\r\n'


async def test_list_extended_options_and_special_use(connect: Any) -> None:
    client: RawClient = await connect()
    await client.login("ext@example.com")
    for name in ("Drafts", "Trash", "Notes"):
        await client.command(f"CREATE {name}")
    await client.command("UNSUBSCRIBE Trash")
    subscribed = await client.command('LIST (SUBSCRIBED) "" "*"')
    names = [line.rsplit(b" ", 1)[1] for line in subscribed[:-1]]
    assert b'"Notes"\r\n' in names and b'"Trash"\r\n' not in names
    assert all(b"\\Subscribed" in line for line in subscribed[:-1])
    special = await client.command('LIST (SPECIAL-USE) "" "*"')
    assert special[:-1] == [
        b'* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"\r\n',
        b'* LIST (\\HasNoChildren \\Trash) "/" "Trash"\r\n',
    ]
    returned = await client.command('LIST "" "N*" RETURN (SUBSCRIBED)')
    assert returned[0] == b'* LIST (\\HasNoChildren \\Subscribed) "/" "Notes"\r\n'
    missing = await client.command("STATUS Nowhere (MESSAGES)")
    assert missing[-1].startswith(b"t9 NO [NONEXISTENT] ")


async def test_append_too_large(connect: Any) -> None:
    client: RawClient = await connect()
    await client.login("big@example.com")
    body = b"Subject: big\r\n\r\n" + b"x" * (1024 * 1024 + 10) + b"\r\n"
    lines = await client.command(b"APPEND INBOX {%d+}\r\n" % len(body) + body)
    assert lines[-1].startswith(b"t2 NO [TOOBIG] ")
    assert (await client.command("NOOP"))[-1] == b"t3 OK NOOP completed\r\n"


async def test_lsub_shows_unsubscribed_parents_as_noselect(connect: Any) -> None:
    client: RawClient = await connect()
    await client.login("lsub@example.com")
    await client.command("CREATE Lists/Deep")
    await client.command("SUBSCRIBE Lists/Deep")
    await client.command("UNSUBSCRIBE Lists")
    top = await client.command('LSUB "" "%"')
    assert b'* LSUB (\\Noselect \\HasChildren) "/" "Lists"\r\n' in top
    everything = await client.command('LSUB "" "*"')
    assert b'* LSUB (\\HasNoChildren) "/" "Lists/Deep"\r\n' in everything
    assert not any(line.endswith(b'"Lists"\r\n') for line in everything)


async def test_sequence_sets_resolve_against_the_view(imap_app: Any, connect: Any) -> None:
    for i in range(3):
        await smtp_deliver(imap_app, sample_mail(subject=f"seq {i}"), "seq@example.com")
    client: RawClient = await connect()
    await client.login("seq@example.com")
    await client.command("EXAMINE INBOX")
    assert (await client.command("FETCH * (UID)"))[0] == b"* 3 FETCH (UID 3)\r\n"
    reversed_range = await client.command("FETCH 3:2 (UID)")
    assert reversed_range[:-1] == [b"* 2 FETCH (UID 2)\r\n", b"* 3 FETCH (UID 3)\r\n"]
    assert (await client.command("FETCH 0 (UID)"))[-1].startswith(b"t5 BAD ")
    assert (await client.command("FETCH 1:4 (UID)"))[-1].startswith(b"t6 BAD ")
    assert (await client.command("UID FETCH 7:9 (UID)")) == [b"t7 OK FETCH completed\r\n"]
    assert (await client.command("UID FETCH 2,9,1 (FLAGS)"))[:-1] == [
        b"* 1 FETCH (UID 1 FLAGS ())\r\n",
        b"* 2 FETCH (UID 2 FLAGS ())\r\n",
    ]
