"""The starting state and the scripted sessions of the differential test.

Every script runs for a user of its own (a fresh mailbox on both servers): `SETUP`
creates the folder `Keep` and APPENDs `MESSAGES` (same bytes, flags and internal dates
on both servers), then a new connection logs in, SELECTs INBOX (unless the script says
otherwise) and sends the script's commands, one by one, as exact bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
PASSWORD = b"pw"
DOMAIN = "diff.test"


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


PLAIN = _crlf(
    b"Date: Mon, 1 Jan 2024 08:00:00 +0000\n"
    b'From: "Alice Example" <alice@example.org>\n'
    b"To: bob@example.com\n"
    b"Cc: Carol <carol@example.net>\n"
    b"Subject: Meeting tomorrow\n"
    b"Message-ID: <plain-1@example.org>\n"
    b"In-Reply-To: <earlier@example.org>\n"
    b"\n"
    b"Hi Bob,\n"
    b"the meeting is at ten.\n"
    b"Alice\n"
)


@dataclass(frozen=True, slots=True)
class SeedMessage:
    """One message of the starting state, APPENDed with these flags and date."""

    raw: bytes
    flags: bytes
    internal_date: bytes


MESSAGES: tuple[SeedMessage, ...] = (
    SeedMessage(PLAIN, b"(\\Seen)", b"01-Feb-2024 09:00:00 +0000"),
    SeedMessage(
        (CORPUS / "multipart_alternative.eml").read_bytes(), b"()", b"15-Feb-2024 12:30:00 +0000"
    ),
    SeedMessage(
        (CORPUS / "message_rfc822.eml").read_bytes(),
        b"(\\Flagged \\Answered)",
        b"01-Mar-2024 00:00:00 +0000",
    ),
    SeedMessage(
        (CORPUS / "rfc2047_words.eml").read_bytes(),
        b"(\\Seen $Important)",
        b"10-Mar-2024 23:59:59 +0000",
    ),
    SeedMessage(
        # Without its one NUL: a literal is CHAR8 but NUL (RFC 3501 section 9), so a NUL
        # cannot be APPENDed; the "append" script checks that it is refused.
        (CORPUS / "attachment_encodings.eml").read_bytes().replace(b"\x00", b""),
        b"(\\Deleted)",
        b"20-Mar-2024 08:00:00 +0000",
    ),
    SeedMessage(
        (CORPUS / "group_and_comments.eml").read_bytes(),
        b"(\\Draft \\Seen)",
        b"31-Mar-2024 18:00:00 +0000",
    ),
)

# One message in the second folder, so COPY/MOVE land next to an existing UID.
KEEP_MESSAGE = SeedMessage(
    _crlf(b"From: keeper@example.org\nSubject: kept\n\nalready here\n"),
    b"(\\Seen)",
    b"02-Jan-2024 10:00:00 +0000",
)

NEW_MESSAGE = _crlf(
    b"Date: Fri, 5 Apr 2024 10:00:00 +0200\n"
    b"From: New Sender <new@example.org>\n"
    b"To: bob@example.com\n"
    b"Subject: appended later\n"
    b"\n"
    b"fresh text\n"
)


def append(mailbox: bytes, message: bytes, *, flags: bytes = b"", date: bytes = b"") -> bytes:
    """An APPEND command with a synchronising literal (RFC 3501 section 6.3.11)."""
    parts = [b"APPEND", mailbox]
    if flags:
        parts.append(flags)
    if date:
        parts.append(b'"' + date + b'"')
    parts.append(b"{%d}\r\n" % len(message))
    return b" ".join(parts[:-1]) + b" " + parts[-1] + message


def login(user: str) -> bytes:
    return b'LOGIN "' + user.encode() + b'" "' + PASSWORD + b'"'


SETUP: tuple[bytes, ...] = (
    b"CREATE Keep",
    append(b"Keep", KEEP_MESSAGE.raw, flags=KEEP_MESSAGE.flags, date=KEEP_MESSAGE.internal_date),
    *(append(b"INBOX", seed.raw, flags=seed.flags, date=seed.internal_date) for seed in MESSAGES),
)


@dataclass(frozen=True, slots=True)
class Script:
    """A named command sequence; `select` is the mailbox selected first (or none)."""

    name: str
    commands: tuple[bytes, ...]
    select: bytes | None = b"SELECT INBOX"


_SECTIONS = (
    b"BODY.PEEK[]",
    b"BODY.PEEK[HEADER]",
    b"BODY.PEEK[TEXT]",
    b"BODY.PEEK[1]",
    b"BODY.PEEK[1.MIME]",
    b"BODY.PEEK[2]",
    b"BODY.PEEK[2.MIME]",
    b"BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]",
    b"BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT FROM)]",
    b"BODY.PEEK[2.HEADER]",
    b"BODY.PEEK[2.TEXT]",
    b"BODY.PEEK[2.1]",
    b"BODY.PEEK[1.2.1]",
    b"BODY.PEEK[1.2.2.MIME]",
    b"RFC822.HEADER",
    b"RFC822.SIZE",
)

SCRIPTS: tuple[Script, ...] = (
    Script(
        "select-examine",
        (
            b"FETCH 1:* (FLAGS)",
            b"EXAMINE INBOX",
            b"FETCH 1:* (FLAGS)",
            b"SELECT Keep",
            b"CLOSE",
            b"FETCH 1 (FLAGS)",
            b"SELECT INBOX",
        ),
    ),
    Script(
        "fetch-attributes",
        (
            b"FETCH 1:* (FLAGS UID RFC822.SIZE INTERNALDATE)",
            b"FETCH 1:* ENVELOPE",
            b"FETCH 1:* BODYSTRUCTURE",
            b"FETCH 1:* BODY",
            b"FETCH 2 FAST",
            b"FETCH 2 ALL",
            b"FETCH 3 FULL",
        ),
    ),
    Script(
        "fetch-sections",
        (
            *(b"FETCH 1:* (" + section + b")" for section in _SECTIONS),
            b"FETCH 5 (BODY.PEEK[1.1] BODY.PEEK[1.2.2])",
        ),
    ),
    Script(
        "fetch-partial",
        (
            b"FETCH 1:* (BODY.PEEK[]<0.100>)",
            b"FETCH 1:3 (BODY.PEEK[]<100.50>)",
            b"FETCH 1 (BODY.PEEK[TEXT]<5.10>)",
            b"FETCH 1 (BODY.PEEK[]<100000.10>)",
            b"FETCH 2 (BODY.PEEK[1]<0.5> BODY.PEEK[HEADER]<10.20>)",
            b"FETCH 2 (BODY.PEEK[1]<3.0>)",
        ),
    ),
    Script(
        "fetch-sets-seen",
        (
            b"FETCH 2 (BODY[TEXT])",
            b"FETCH 2 (FLAGS)",
            b"FETCH 3 (RFC822)",
            b"FETCH 3 (FLAGS)",
            b"FETCH 5 (RFC822.TEXT)",
            b"FETCH 5 (FLAGS)",
            b"FETCH 3 (BODY.PEEK[1] FLAGS)",
        ),
    ),
    Script(
        "sequence-sets",
        (
            b"FETCH * (UID)",
            b"FETCH 5:2 (UID)",
            b"FETCH 2,4:* (UID)",
            b"FETCH *:4 (UID)",
            b"FETCH 1,1,2 (UID)",
            b"UID FETCH 3:* (UID)",
            b"UID FETCH 100:* (UID)",
            b"UID FETCH 100 (UID)",
            b"UID FETCH 4:2 (FLAGS)",
            b"FETCH 99 (UID)",
            b"FETCH 0 (UID)",
            b"FETCH 1:x (UID)",
        ),
    ),
    Script(
        "store",
        (
            b"STORE 1 +FLAGS (\\Flagged)",
            b"STORE 1 -FLAGS (\\Seen)",
            b"STORE 2 FLAGS (\\Answered $Custom)",
            b"STORE 3 +FLAGS.SILENT (\\Deleted)",
            b"STORE 1:* -FLAGS.SILENT (\\Draft)",
            b"FETCH 1:* (FLAGS)",
            b"UID STORE 4 +FLAGS (\\Seen)",
            b"STORE 2:3 FLAGS.SILENT ()",
            b"STORE 4 +FLAGS \\Answered",
            b"FETCH 1:* (FLAGS)",
            b"STORE 1 +FLAGS (\\Bogus)",
            b"STORE 1 FLAGS.NOPE (\\Seen)",
        ),
    ),
    Script(
        "search-flags",
        (
            b"SEARCH ALL",
            b"SEARCH SEEN",
            b"SEARCH UNSEEN",
            b"SEARCH FLAGGED",
            b"SEARCH UNFLAGGED",
            b"SEARCH DELETED",
            b"SEARCH UNDELETED",
            b"SEARCH ANSWERED",
            b"SEARCH UNANSWERED",
            b"SEARCH DRAFT",
            b"SEARCH UNDRAFT",
            b"SEARCH KEYWORD $Important",
            b"SEARCH UNKEYWORD $Important",
            b"SEARCH RECENT",
            b"SEARCH NEW",
            b"SEARCH OLD",
            b"SEARCH OR SEEN FLAGGED",
            b"SEARCH NOT SEEN",
            b"SEARCH (SEEN UNDELETED) NOT DRAFT",
            b"SEARCH OR (SEEN DRAFT) OR FLAGGED DELETED",
        ),
    ),
    Script(
        "search-other",
        (
            b"SEARCH LARGER 1000",
            b"SEARCH SMALLER 300",
            b"SEARCH BEFORE 1-Mar-2024",
            b"SEARCH ON 1-Mar-2024",
            b"SEARCH SINCE 10-Mar-2024",
            b'SEARCH SENTBEFORE 4-Jan-2024 HEADER Date ""',
            b"SEARCH SENTSINCE 4-Jan-2024",
            b"SEARCH SENTON 3-Jan-2024",
            b"SEARCH SUBJECT alternative",
            b"SEARCH SUBJECT MEETING",
            b"SEARCH FROM alice",
            b"SEARCH TO bob@example.com",
            b"SEARCH CC carol",
            b"SEARCH HEADER Message-ID plain-1",
            b"SEARCH HEADER In-Reply-To earlier",
            b'SEARCH BODY "at ten"',
            b"SEARCH BODY attachments",
            b"SEARCH TEXT forwarded",
            b"SEARCH UID 2:4",
            b"SEARCH 2:4 SEEN",
            b"SEARCH UID 4:2 NOT 3",
            b"UID SEARCH ALL",
            b"UID SEARCH UID 3:*",
            b"SEARCH CHARSET UTF-8 SUBJECT Meeting",
            b"SEARCH NOSUCHKEY",
            b"SEARCH BEFORE 31-Foo-2024",
            b"SEARCH CHARSET X-UNKNOWN-CHARSET ALL",
        ),
    ),
    Script(
        "copy-move-expunge",
        (
            b"COPY 1:2 Keep",
            b"STATUS Keep (MESSAGES UIDNEXT UNSEEN)",
            b"MOVE 3 Keep",
            b"FETCH 1:* (UID FLAGS)",
            b"COPY 1 Nowhere",
            b"MOVE 1 Nowhere",
            b"STORE 1 +FLAGS.SILENT (\\Deleted)",
            b"EXPUNGE",
            b"FETCH 1:* (UID FLAGS)",
            b"SELECT Keep",
            b"FETCH 1:* (UID FLAGS RFC822.SIZE)",
            b"COPY 9 INBOX",
        ),
    ),
    Script(
        "expunge-order",
        (
            b"STORE 1,3,6 +FLAGS.SILENT (\\Deleted)",
            b"EXPUNGE",
            b"FETCH 1:* (UID)",
            b"STORE 1 +FLAGS.SILENT (\\Deleted)",
            b"CLOSE",
            b"SELECT INBOX",
            b"FETCH 1:* (UID FLAGS)",
        ),
    ),
    Script(
        "uid-commands",
        (
            b"UID FETCH 1:* (FLAGS)",
            b"UID STORE 2:3 +FLAGS (\\Flagged)",
            b"UID COPY 2 Keep",
            b"UID MOVE 4 Keep",
            b"UID SEARCH FLAGGED",
            b"UID FETCH 4 (UID)",
            b"UID STORE 1 +FLAGS.SILENT (\\Deleted)",
            b"UID EXPUNGE 5",
            b"UID FETCH 1:* (UID FLAGS)",
            b"UID EXPUNGE 1",
            b"UID FETCH 1:* (UID)",
        ),
    ),
    Script(
        "mailboxes",
        (
            b'LIST "" *',
            b'LIST "" %',
            b'LIST "" ""',
            b'LSUB "" *',
            b"CREATE Work",
            b"CREATE Work/Projects",
            b"CREATE Work",
            b'LIST "" Work*',
            b'LIST "" Work/%',
            b"SUBSCRIBE Work",
            b'LSUB "" *',
            b"RENAME Work/Projects Work/Done",
            b"RENAME Nowhere Other",
            b"RENAME Work Keep",
            b'LIST "" *',
            b"STATUS Work/Done (MESSAGES UIDNEXT UNSEEN RECENT)",
            b"STATUS Keep (MESSAGES RECENT UIDNEXT UNSEEN)",
            b"STATUS INBOX (MESSAGES UNSEEN)",
            b"DELETE Work/Done",
            b"DELETE Nowhere",
            b"STATUS Nowhere (MESSAGES)",
            b"SELECT Nowhere",
            b"UNSUBSCRIBE Work",
            b'LSUB "" *',
            b'CREATE "Caf&AOk-"',
            b'LIST "" Caf*',
            b"DELETE Work",
            b'LIST "" *',
        ),
        select=None,
    ),
    Script(
        "append",
        (
            append(
                b"INBOX",
                NEW_MESSAGE,
                flags=b"(\\Seen $Later)",
                date=b"05-Apr-2024 10:00:00 +0200",
            ),
            b"NOOP",
            b"FETCH 7:* (FLAGS INTERNALDATE RFC822.SIZE UID ENVELOPE)",
            b"APPEND Keep {%d+}\r\n" % len(NEW_MESSAGE) + NEW_MESSAGE,
            b"STATUS Keep (MESSAGES UIDNEXT)",
            append(b"Nowhere", NEW_MESSAGE),
            b"APPEND INBOX (\\Seen) {0}\r\n",
            append(b"INBOX", b"Subject: nul\r\n\r\nbefore\x00after\r\n"),
            b"NOOP",
        ),
    ),
    Script(
        "errors",
        (
            b"FOO",
            b"FETCH",
            b"FETCH 1 (FLAGS",
            b"FETCH 1 NOSUCHITEM",
            b"FETCH 1 BODY[NOPE]",
            b"SELECT",
            b'LOGIN "x" "y"',
            b"UID FOO 1",
            b"COPY 1:2",
            b"EXAMINE Nowhere",
            b"NOOP",
        ),
    ),
    Script(
        "not-selected",
        (
            b"FETCH 1 (FLAGS)",
            b"STORE 1 +FLAGS (\\Seen)",
            b"SEARCH ALL",
            b"EXPUNGE",
            b"CLOSE",
            b"NOOP",
            b"CHECK",
            b"LOGOUT",
        ),
        select=None,
    ),
    Script("check-noop-logout", (b"NOOP", b"CHECK", b"CLOSE", b"NOOP", b"LOGOUT")),
)
