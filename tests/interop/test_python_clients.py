"""Python IMAP clients nobody here wrote, against a running ephemail: imaplib (stdlib),
imapclient, aioimaplib and imap-tools.

Mail arrives over SMTP; each client must see exactly the stored bytes (the server's
Received line followed by the octets sent in DATA), the flags it and the HTTP API set,
and the folder changes it makes; the IDLE tests see SMTP deliveries and API deletions
as they happen.
"""

from __future__ import annotations

import asyncio
import base64
import imaplib
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import aiosmtplib
import imap_tools
from aioimaplib import aioimaplib
from imapclient import IMAPClient

from tests.interop.conftest import HOST, Delivered, Mailroom
from tests.interop.mails import SENDER, note

_ITEM = re.compile(rb"(UID|RFC822\.SIZE) (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")


def _imaplib_fetch(data: Sequence[object]) -> dict[int, tuple[frozenset[str], int | None, bytes]]:
    """UID -> (flags, RFC822.SIZE, the one literal) from imaplib's FETCH data, whichever
    order the server sends the items in (before or after the literal)."""
    result = {}
    items = list(data)
    index = 0
    while index < len(items):
        item = items[index]
        index += 1
        if not isinstance(item, tuple):
            continue
        head, literal = item
        tail = items[index] if index < len(items) and isinstance(items[index], bytes) else b""
        text = head + b" " + tail
        values = {name: int(number) for name, number in _ITEM.findall(text)}
        flags = _FLAGS.search(text)
        result[values[b"UID"]] = (
            frozenset(flags.group(1).decode().split()) if flags else frozenset(),
            values.get(b"RFC822.SIZE"),
            bytes(literal),
        )
    return result


def _part(raw: bytes, boundary: str, number: int) -> tuple[bytes, bytes]:
    """(MIME header, body) of body part `number` (1-based) of a one-level multipart,
    cut by hand as RFC 3501 section 6.4.5 defines BODY[n] and BODY[n.MIME]."""
    delimiter = b"\r\n--" + boundary.encode()
    pieces = raw.split(delimiter)
    part = pieces[number][2:]  # after the CRLF that ends the delimiter line
    header, _, body = part.partition(b"\r\n\r\n")
    return header + b"\r\n\r\n", body


def _by_name(delivered: list[Delivered]) -> dict[str, Delivered]:
    return {d.mail.name: d for d in delivered}


def test_imaplib_fetches_exact_bytes_and_changes_flags_and_folders(mailroom: Mailroom) -> None:
    delivered = mailroom.deliver(*mailroom.samples())
    mails = _by_name(delivered)
    with imaplib.IMAP4(HOST, mailroom.imap_port, timeout=30) as imap:
        assert "IMAP4REV1" in imap.capabilities
        assert imap.login(mailroom.address, mailroom.password)[0] == "OK"
        typ, data = imap.select("INBOX")
        assert (typ, data) == ("OK", [b"5"])

        # Whole messages: exact bytes, exact sizes, PEEK leaves them unread.
        typ, data = imap.uid("FETCH", "1:*", "(UID RFC822.SIZE FLAGS BODY.PEEK[])")
        assert typ == "OK"
        fetched = _imaplib_fetch(data)
        assert sorted(raw for _, _, raw in fetched.values()) == sorted(d.raw for d in delivered)
        for flags, size, raw in fetched.values():
            assert size == len(raw)
            assert "\\Seen" not in flags
        uid_of_raw = {raw: u for u, (_, _, raw) in fetched.items()}
        uid = {name: uid_of_raw[d.raw] for name, d in mails.items()}
        assert list(uid.values()) == sorted(uid.values()), "UIDs grow in delivery order"
        summaries = [mailroom.summary(d.id) for d in delivered]
        assert all(s is not None and s["seen"] is False for s in summaries)

        # Sections cut from the raw bytes (RFC 3501 section 6.4.5).
        attachment = mails["attachment"]
        boundary = f"mixed-{mailroom.tag}"
        typ, data = imap.uid("FETCH", str(uid["attachment"]), "(BODY.PEEK[2] BODY.PEEK[2.MIME])")
        assert typ == "OK"
        literals = [bytes(item[1]) for item in data if isinstance(item, tuple)]
        mime, body = _part(attachment.mail.raw, boundary, 2)
        assert sorted(literals) == sorted([body, mime])
        assert base64.b64decode(body) == attachment.mail.attachment
        typ, data = imap.uid("FETCH", str(uid["utf8"]), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert data[0][1] == f"Subject: {mails['utf8'].mail.subject}\r\n\r\n".encode()
        typ, data = imap.uid("FETCH", str(uid["plain"]), "(BODY.PEEK[TEXT]<0.7>)")
        assert data[0][1] == b"Hello,\r"
        typ, data = imap.uid("FETCH", str(uid["alternative"]), "(BODY.PEEK[1])")
        assert data[0][1] == _part(mails["alternative"].mail.raw, f"alt-{mailroom.tag}", 1)[1]

        # \Seen is the API's read state, both ways.
        typ, data = imap.uid("STORE", str(uid["plain"]), "+FLAGS", "(\\Seen)")
        assert typ == "OK"
        assert b"\\Seen" in data[0]
        plain_summary = mailroom.summary(mails["plain"].id)
        assert plain_summary is not None and plain_summary["seen"] is True
        mailroom.mark_read(mails["alternative"].id)
        typ, data = imap.uid("FETCH", str(uid["alternative"]), "(FLAGS)")
        assert b"\\Seen" in b" ".join(d for d in data if isinstance(d, bytes))

        # SEARCH: flags, header text, 8-bit UTF-8 with CHARSET, size and body.
        def search(*criteria: str) -> set[int]:
            typ, data = imap.uid("SEARCH", *criteria)
            assert typ == "OK", data
            return {int(n) for n in data[0].split()}

        assert search("UNSEEN") == {uid["attachment"], uid["utf8"], uid["long"]}
        assert search("SEEN") == {uid["plain"], uid["alternative"]}
        assert search("SUBJECT", '"Report attached"') == {uid["attachment"]}
        assert search("FROM", "zoe@origin.example") == {uid["utf8"]}
        assert search("LARGER", "100000") == {uid["long"]}
        assert search("BODY", '"quick brown fox"') == {uid["long"]}
        assert search("NOT", "FROM", "zoe@origin.example", "UNSEEN") == {
            uid["attachment"],
            uid["long"],
        }
        imap.literal = "Grüße".encode()
        assert search("CHARSET", "UTF-8", "SUBJECT") == {uid["utf8"]}

        # Folders: CREATE, COPY (COPYUID), APPEND (APPENDUID), LIST, STATUS.
        assert imap.create("Archive")[0] == "OK"
        typ, data = imap.uid("COPY", str(uid["attachment"]), "Archive")
        assert typ == "OK"
        _, copyuid = imap.response("COPYUID")  # RFC 4315 section 3, in the tagged OK
        assert copyuid[0] is not None
        assert copyuid[0].split()[1:] == [str(uid["attachment"]).encode(), b"1"]
        appended = note(mailroom.address, mailroom.tag, "appended", "Saved by imaplib").raw
        appended_at = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
        when = imaplib.Time2Internaldate(appended_at)
        when_local = time.mktime(appended_at.astimezone().timetuple())
        typ, data = imap.append("Archive", "(\\Seen \\Draft)", when, appended)
        assert typ == "OK"
        assert b"APPENDUID" in data[0], data
        typ, data = imap.list()
        names = {line.rsplit(b" ", 1)[-1].strip(b'"') for line in data if isinstance(line, bytes)}
        assert {b"INBOX", b"Archive"} <= names
        assert all(b'"/"' in line for line in data if isinstance(line, bytes))
        typ, data = imap.status("INBOX", "(MESSAGES UNSEEN UIDNEXT)")
        assert typ == "OK"
        assert b"MESSAGES 5" in data[0] and b"UNSEEN 3" in data[0]
        assert f"UIDNEXT {uid['long'] + 1}".encode() in data[0]

        # \Deleted + EXPUNGE removes the message for the API too.
        imap.uid("STORE", str(uid["long"]), "+FLAGS.SILENT", "(\\Deleted)")
        typ, data = imap.expunge()
        assert typ == "OK"
        assert data == [b"5"], "the untagged EXPUNGE names the message's sequence number"
        assert mailroom.summary(mails["long"].id) is None

        typ, data = imap.select("Archive", readonly=True)
        assert (typ, data) == ("OK", [b"2"])
        typ, data = imap.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        archived = _imaplib_fetch_by_seq(data)
        assert archived[1][1] == attachment.raw
        assert archived[2][1] == appended
        assert {"\\Seen", "\\Draft"} <= archived[2][0]
        internal_dates = [
            imaplib.Internaldate2tuple(item[0]) for item in data if isinstance(item, tuple)
        ]
        assert internal_dates[1] is not None
        assert time.mktime(internal_dates[1]) == when_local, "APPEND keeps the date given"
        imap.close()
        assert imap.logout()[0] == "BYE"


def _imaplib_fetch_by_seq(data: Sequence[object]) -> dict[int, tuple[frozenset[str], bytes]]:
    result = {}
    for index, item in enumerate(data):
        if isinstance(item, tuple):
            tail = data[index + 1] if index + 1 < len(data) else b""
            text = item[0] + b" " + (tail if isinstance(tail, bytes) else b"")
            flags = _FLAGS.search(text)
            seq = int(item[0].split()[0])
            result[seq] = (
                frozenset(flags.group(1).decode().split()) if flags else frozenset(),
                bytes(item[1]),
            )
    return result


def test_imaplib_authenticate_plain(mailroom: Mailroom) -> None:
    """AUTHENTICATE PLAIN (RFC 4616) instead of LOGIN, as many clients prefer."""
    (plain,) = mailroom.deliver(mailroom.samples()[0])
    with imaplib.IMAP4(HOST, mailroom.imap_port, timeout=30) as imap:
        assert "AUTH=PLAIN" in imap.capabilities
        response = f"\0{mailroom.address}\0{mailroom.password}".encode()
        typ, _ = imap.authenticate("PLAIN", lambda _challenge: response)
        assert typ == "OK"
        assert imap.select("INBOX", readonly=True) == ("OK", [b"1"])
        typ, data = imap.fetch("1", "(RFC822)")
        assert data[0][1] == plain.raw
        summary = mailroom.summary(plain.id)
        assert summary is not None and summary["seen"] is False, "EXAMINE never sets \\Seen"


def test_imapclient_structure_flags_move_and_idle(mailroom: Mailroom) -> None:
    delivered = mailroom.deliver(*mailroom.samples())
    mails = _by_name(delivered)
    client = IMAPClient(HOST, port=mailroom.imap_port, ssl=False, timeout=30)
    try:
        client.login(mailroom.address, mailroom.password)
        for capability in ("IMAP4REV1", "IDLE", "UIDPLUS", "MOVE"):
            assert client.has_capability(capability), capability
        info = client.select_folder("INBOX")
        assert info[b"EXISTS"] == 5
        assert info[b"UIDVALIDITY"] > 0
        uids = client.search(["ALL"])
        assert info[b"UIDNEXT"] == max(uids) + 1
        data = client.fetch(uids, ["ENVELOPE", "BODYSTRUCTURE", "RFC822.SIZE", "BODY.PEEK[]"])
        by_raw = {bytes(v[b"BODY[]"]): (uid, v) for uid, v in data.items()}
        assert set(by_raw) == {d.raw for d in delivered}

        # ENVELOPE: header values as sent (RFC 3501 section 7.4.2).
        _, alternative = by_raw[mails["alternative"].raw]
        envelope = alternative[b"ENVELOPE"]
        assert envelope.subject == f"=?UTF-8?Q?Caf=C3=A9_menu?= {mailroom.tag}".encode()
        assert envelope.message_id == f"<alternative.{mailroom.tag}@origin.example>".encode()
        (sender,) = envelope.from_
        assert (sender.name, sender.mailbox, sender.host) == (
            b"Interop Sender",
            SENDER.split("@")[0].encode(),
            b"origin.example",
        )
        (recipient,) = envelope.to
        assert f"{recipient.mailbox.decode()}@{recipient.host.decode()}" == mailroom.address
        _, utf8 = by_raw[mails["utf8"].raw]
        assert utf8[b"ENVELOPE"].subject.decode("utf-8") == mails["utf8"].mail.subject
        for raw, (_, item) in by_raw.items():
            assert item[b"RFC822.SIZE"] == len(raw)

        # BODYSTRUCTURE: the attachment's type, encoding and exact encoded size.
        _, attachment = by_raw[mails["attachment"].raw]
        structure = attachment[b"BODYSTRUCTURE"]
        assert structure.is_multipart
        parts, subtype = structure[0], structure[1]
        assert subtype.lower() == b"mixed"
        assert len(parts) == 2
        text_part, file_part = parts
        assert (text_part[0].lower(), text_part[1].lower()) == (b"text", b"plain")
        assert (file_part[0].lower(), file_part[1].lower()) == (b"application", b"octet-stream")
        assert file_part[5].lower() == b"base64"
        encoded = _part(mails["attachment"].mail.raw, f"mixed-{mailroom.tag}", 2)[1]
        assert file_part[6] == len(encoded)

        # Flags: system flags and a keyword, set and cleared.
        plain_uid, _ = by_raw[mails["plain"].raw]
        client.add_flags([plain_uid], [b"\\Flagged", b"$Important"])
        assert set(client.get_flags([plain_uid])[plain_uid]) >= {b"\\Flagged", b"$Important"}
        client.remove_flags([plain_uid], [b"$Important"])
        assert b"$Important" not in client.get_flags([plain_uid])[plain_uid]
        assert client.search(["FLAGGED"]) == [plain_uid]

        # MOVE (RFC 6851) into a new folder: the API sees the message there.
        client.create_folder("Archive/2026")
        assert client.folder_exists("Archive/2026")
        client.move([plain_uid], "Archive/2026")
        assert plain_uid not in client.search(["ALL"])
        moved = mailroom.summary(mails["plain"].id)
        assert moved is not None and moved["folder"] == "Archive/2026"
        status = client.folder_status("Archive/2026", [b"MESSAGES", b"UNSEEN"])
        assert status[b"MESSAGES"] == 1

        # IDLE (RFC 2177): an SMTP delivery and an API deletion arrive as they happen.
        client.idle()
        try:
            (late,) = mailroom.deliver(note(mailroom.address, mailroom.tag, "late", "During IDLE"))
            assert _idle_until(client, b"EXISTS") == 5, "4 left in INBOX + the new one"
            mailroom.delete(mails["long"].id)
            _idle_until(client, b"EXPUNGE")
        finally:
            client.idle_done()
        gone = (mails["plain"].raw, mails["long"].raw)
        left = sorted(uid for raw, (uid, _) in by_raw.items() if raw not in gone)
        assert sorted(client.search(["ALL"])) == [*left, max(uids) + 1]
        fetched = client.fetch([max(uids) + 1], ["BODY.PEEK[]"])
        assert fetched[max(uids) + 1][b"BODY[]"] == late.raw
    finally:
        client.logout()


def _idle_until(client: IMAPClient, kind: bytes, timeout: float = 15) -> int:
    """Wait in IDLE for an untagged response of that kind; its number."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for response in client.idle_check(timeout=1):
            if len(response) >= 2 and response[1] == kind:
                return int(response[0])
    raise AssertionError(f"no {kind!r} during IDLE within {timeout} s")


async def test_aioimaplib_fetch_append_and_idle(mailroom: Mailroom) -> None:
    delivered = mailroom.deliver(*mailroom.samples()[:3])
    client = aioimaplib.IMAP4(host=HOST, port=mailroom.imap_port, timeout=30)
    await client.wait_hello_from_server()
    response = await client.login(mailroom.address, mailroom.password)
    assert response.result == "OK", response
    response = await client.select("INBOX")
    assert response.result == "OK"
    assert b"3 EXISTS" in response.lines

    response = await client.uid("fetch", "1:*", "(UID FLAGS BODY.PEEK[])")
    assert response.result == "OK", response
    bodies = [bytes(line) for line in response.lines if isinstance(line, bytearray)]
    assert sorted(bodies) == sorted(d.raw for d in delivered)

    # APPEND with a flag, then find it again.
    appended = note(mailroom.address, mailroom.tag, "appended", "Saved by aioimaplib").raw
    response = await client.append(appended, mailbox="INBOX", flags="(\\Flagged)")
    assert response.result == "OK", response
    assert any(b"APPENDUID" in line for line in response.lines), response
    response = await client.uid_search("FLAGGED", charset=None)
    assert response.result == "OK"
    (flagged_uid,) = response.lines[0].split()
    response = await client.uid("fetch", flagged_uid.decode(), "(BODY.PEEK[])")
    assert [bytes(x) for x in response.lines if isinstance(x, bytearray)] == [appended]

    # IDLE: a message delivered over SMTP shows up as EXISTS.
    idle = await client.idle_start(timeout=20)
    try:
        late = note(mailroom.address, mailroom.tag, "late", "During aioimaplib IDLE")
        await aiosmtplib.send(
            late.raw, sender=SENDER, recipients=[mailroom.address], hostname=HOST,
            port=mailroom.smtp_port, timeout=15,
        )  # fmt: skip
        pushed: list[bytes] = []
        deadline = asyncio.get_running_loop().time() + 15
        while not any(line.endswith(b"EXISTS") for line in pushed):
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"no EXISTS during IDLE: {pushed}"
            pushed.extend(await client.wait_server_push(timeout=remaining))
        assert b"5 EXISTS" in pushed
    finally:
        client.idle_done()
        await asyncio.wait_for(idle, 15)
    response = await client.fetch("5", "(BODY.PEEK[])")
    bodies = [bytes(x) for x in response.lines if isinstance(x, bytearray)]
    assert len(bodies) == 1 and bodies[0].endswith(late.raw)
    assert (await client.logout()).result == "OK"


def test_imap_tools_parses_marks_moves_and_deletes(mailroom: Mailroom) -> None:
    mails = _by_name(mailroom.deliver(*mailroom.samples()))
    mailbox = imap_tools.MailBoxUnencrypted(HOST, port=mailroom.imap_port, timeout=30)
    with mailbox.login(mailroom.address, mailroom.password, initial_folder="INBOX") as box:
        messages = {m.subject: m for m in box.fetch(mark_seen=False, bulk=True)}
        assert set(messages) == {d.mail.subject for d in mails.values()}
        plain = messages[mails["plain"].mail.subject]
        assert plain.from_ == SENDER
        assert plain.to == (mailroom.address,)
        assert ".a line that starts with a dot" in plain.text
        assert plain.size_rfc822 == len(mails["plain"].raw)
        assert "\\Seen" not in plain.flags
        alternative = messages[mails["alternative"].mail.subject]
        assert "crème brûlée" in alternative.text
        assert "<b>crème brûlée</b>" in alternative.html
        utf8 = messages[mails["utf8"].mail.subject]
        assert utf8.from_ == "zoe@origin.example"
        assert utf8.from_values is not None and utf8.from_values.name == "Zoë Ünïcødé"
        assert "日本語のテキスト" in utf8.text
        (attached,) = messages[mails["attachment"].mail.subject].attachments
        assert attached.filename == mails["attachment"].mail.attachment_name
        assert attached.payload == mails["attachment"].mail.attachment
        assert all(not s["seen"] for s in mailroom.summaries()), "fetched with PEEK"

        # Fetch with the default (not PEEK): \Seen is set, the API sees it read.
        (fetched,) = box.fetch(imap_tools.AND(subject="Report attached"))
        assert fetched.uid == messages[mails["attachment"].mail.subject].uid
        summary = mailroom.summary(mails["attachment"].id)
        assert summary is not None and summary["seen"] is True

        box.flag(plain.uid, imap_tools.MailMessageFlags.FLAGGED, True)
        (flagged,) = box.fetch(imap_tools.AND(flagged=True), mark_seen=False)
        assert flagged.uid == plain.uid
        assert imap_tools.MailMessageFlags.FLAGGED in flagged.flags

        box.folder.create("Receipts")
        assert "Receipts" in {f.name for f in box.folder.list()}
        box.move(utf8.uid, "Receipts")
        box.delete(messages[mails["long"].mail.subject].uid)
        assert mailroom.summary(mails["long"].id) is None
        status = box.folder.status("INBOX")
        assert status["MESSAGES"] == 3
        box.folder.set("Receipts")
        (receipt,) = box.fetch(mark_seen=False)
        assert receipt.subject == mails["utf8"].mail.subject
        moved = mailroom.summary(mails["utf8"].id)
        assert moved is not None and moved["folder"] == "Receipts"
