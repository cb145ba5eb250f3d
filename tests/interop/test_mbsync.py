"""mbsync (isync) keeps a Maildir and an ephemail mailbox in step, both ways.

The server side is read through IMAP (imapclient) and the HTTP API; the near side is
the Maildir on disk. mbsync stores messages with LF line ends and adds one `X-TUID`
header at the end of the header block of every message it copies, in either direction
(its transaction id, to find the copy again); apart from that line the bytes must match.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.interop.conftest import (
    ClientRun,
    Delivered,
    Mailroom,
    Snapshot,
    maildir_files,
    maildir_info,
    maildir_snapshot,
    require_binary,
    run_client,
    to_lf,
)
from tests.interop.mails import note

_UID_IN_NAME = re.compile(r",U=(\d+)")
_X_TUID = re.compile(rb"^X-TUID: [^\r\n]*\r?\n", re.MULTILINE)


class Mbsync:
    """A config in tmp_path for one mailbox and the Maildir it syncs with."""

    def __init__(self, room: Mailroom, tmp_path: Path) -> None:
        self.binary = require_binary("mbsync", "isync")
        self.maildir = tmp_path / "Mail"
        self.maildir.mkdir()
        self.inbox = self.maildir / "INBOX"
        self.config = tmp_path / "mbsyncrc"
        self.tmp_path = tmp_path
        self.runs = 0
        self.config.write_text(
            f"""IMAPAccount ephemail
Host {room.host}
Port {room.imap_port}
User {room.address}
Pass {room.password}
SSLType None
AuthMechs LOGIN PLAIN
Timeout 20

IMAPStore ephemail-far
Account ephemail

MaildirStore local-near
Path {self.maildir}/
Inbox {self.inbox}
SubFolders Verbatim

Channel interop
Far :ephemail-far:
Near :local-near:
Patterns *
Create Both
Remove None
Expunge Both
SyncState *
"""
        )

    def sync(self) -> ClientRun:
        """One full sync; `-Dn` puts the IMAP exchange in the log for failures."""
        self.runs += 1
        log = self.tmp_path / f"mbsync-{self.runs}.log"
        run = run_client([self.binary, "-Dn", "-c", str(self.config), "interop"], log)
        assert run.returncode == 0, f"mbsync run {self.runs} failed:\n{run.tail()}"
        return run

    def inbox_files(self) -> dict[bytes, Path]:
        """INBOX files by their content without mbsync's X-TUID line (samples differ)."""
        files = {_without_tuid_line(path.read_bytes()): path for path in maildir_files(self.inbox)}
        assert len(files) == len(maildir_files(self.inbox)), "a message arrived twice"
        return files

    def snapshot(self) -> Snapshot:
        return _without_tuid(maildir_snapshot(self.maildir))

    def file_of(self, delivered: Delivered) -> Path:
        """The INBOX file holding a delivered message, LF line ends."""
        path = self.inbox_files().get(to_lf(delivered.raw))
        assert path is not None, f"{delivered.mail.name} is not in the Maildir INBOX (or differs)"
        return path


def _without_tuid_line(raw: bytes) -> bytes:
    """The message without the X-TUID line mbsync may put in its header (at most one)."""
    blank_line = re.search(rb"(\r?\n)\r?\n", raw)
    header_end = blank_line.end(1) if blank_line else len(raw)
    header, body = raw[:header_end], raw[header_end:]
    assert len(_X_TUID.findall(header)) <= 1, header
    return _X_TUID.sub(b"", header) + body


def _set_info(path: Path, letters: str) -> Path:
    """Change a message's flags the Maildir way: move it to cur/ with a new `:2,` info."""
    base = path.name.partition(":2,")[0]
    target = path.parent.parent / "cur" / f"{base}:2,{letters}"
    path.rename(target)
    return target


def _inbox_flags(room: Mailroom) -> dict[bytes, frozenset[str]]:
    """INBOX on the server: exact bytes -> flags."""
    return {raw: flags for flags, raw in room.folder_messages("INBOX").values()}


def test_mbsync_round_trip(mailroom: Mailroom, tmp_path: Path) -> None:
    mbsync = Mbsync(mailroom, tmp_path)
    delivered = mailroom.deliver(*mailroom.samples())
    plain, alternative, attachment, utf8, long = delivered

    # 1. First sync: every message arrives byte for byte (LF line ends), unread, in new/.
    mbsync.sync()
    assert sorted(mbsync.inbox_files()) == sorted(to_lf(d.raw) for d in delivered)
    for message in delivered:
        path = mbsync.file_of(message)
        assert path.parent.name == "new", path
        assert maildir_info(path) == "", path
    assert mbsync.snapshot() == _without_tuid(mailroom.server_snapshot())

    # 2. Local changes go up: read, flagged + read, and a local deletion.
    _set_info(mbsync.file_of(plain), "S")
    _set_info(mbsync.file_of(alternative), "FS")
    mbsync.file_of(attachment).unlink()
    mbsync.sync()
    flags = _inbox_flags(mailroom)
    assert flags[plain.raw] == {"\\Seen"}
    assert flags[alternative.raw] == {"\\Seen", "\\Flagged"}
    assert attachment.raw not in flags, "a local deletion is expunged on the server"
    assert flags[utf8.raw] == frozenset()
    plain_summary = mailroom.summary(plain.id)
    assert plain_summary is not None
    assert plain_summary["seen"] is True, "IMAP \\Seen is the API's read state"
    assert mailroom.summary(attachment.id) is None
    assert mbsync.snapshot() == _without_tuid(mailroom.server_snapshot())

    # 3. Server-side changes (HTTP API, another IMAP client) come down, with new mail.
    mailroom.mark_read(utf8.id)
    mailroom.delete(long.id)
    with mailroom.imap() as client:
        client.select_folder("INBOX")
        client.add_flags(client.search(["SUBJECT", plain.mail.subject]), [b"\\Flagged"])
    (late,) = mailroom.deliver(note(mailroom.address, mailroom.tag, "late", "Between syncs"))
    mbsync.sync()
    utf8_file = mbsync.file_of(utf8)
    assert maildir_info(utf8_file) == "S"
    assert utf8_file.parent.name == "cur"
    assert to_lf(long.raw) not in mbsync.inbox_files(), "deleted through the API: gone locally"
    assert maildir_info(mbsync.file_of(late)) == ""
    assert maildir_info(mbsync.file_of(plain)) == "FS"
    assert mbsync.snapshot() == _without_tuid(mailroom.server_snapshot())

    # 4. A message moved into a new local subfolder is created on the server there.
    archive = mbsync.maildir / "Archive"
    for sub in ("cur", "new", "tmp"):
        (archive / sub).mkdir(parents=True)
    moving = mbsync.file_of(alternative)
    base = _UID_IN_NAME.sub("", moving.name.partition(":2,")[0])  # a new message for mbsync
    moving.rename(archive / "cur" / f"{base}:2,FS")
    mbsync.sync()
    assert "Archive" in mailroom.folders()
    (uploaded,) = mailroom.folder_messages("Archive").values()
    archived_flags, raw = uploaded
    assert archived_flags == {"\\Seen", "\\Flagged"}
    assert _without_tuid_line(raw) == alternative.raw, "uploaded bytes (CRLF again) are exact"
    assert alternative.raw not in _inbox_flags(mailroom), "moved out of INBOX"
    in_archive = mailroom.summaries("Archive")
    assert len(in_archive) == 1
    assert in_archive[0]["seen"] is True
    assert mailroom.summary(alternative.id) is None

    # 5. Nothing changed: another sync neither duplicates nor loses anything.
    before = maildir_snapshot(mbsync.maildir)
    mbsync.sync()
    assert maildir_snapshot(mbsync.maildir) == before
    assert mbsync.snapshot() == _without_tuid(mailroom.server_snapshot())


def _without_tuid(snapshot: Snapshot) -> Snapshot:
    """The same mail whether or not mbsync tagged a copy with X-TUID."""
    return {
        folder: sorted((flags, _without_tuid_line(raw)) for flags, raw in messages)
        for folder, messages in snapshot.items()
    }
