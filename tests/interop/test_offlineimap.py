"""offlineimap3 mirrors a mailbox with several folders into a Maildir, twice.

The folders and flags are prepared over IMAP (imapclient), the mail itself arrives over
SMTP. After each run the Maildir must hold exactly the server's messages (LF line ends)
with the server's flags in the file names; the second run follows changes made on the
server through the HTTP API and over IMAP, and one made locally.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.interop.conftest import (
    ClientRun,
    Mailroom,
    maildir_files,
    maildir_info,
    maildir_snapshot,
    require_binary,
    run_client,
    to_lf,
)
from tests.interop.mails import note


class OfflineImap:
    """A config in tmp_path: one account, a Maildir with '/' as folder separator."""

    def __init__(self, room: Mailroom, tmp_path: Path) -> None:
        self.binary = require_binary("offlineimap", "offlineimap3")
        self.maildir = tmp_path / "Mail"
        self.metadata = tmp_path / "offlineimap-meta"
        self.config = tmp_path / "offlineimaprc"
        self.tmp_path = tmp_path
        self.runs = 0
        self.config.write_text(
            f"""[general]
accounts = ephemail
metadata = {self.metadata}
ui = basic
maxsyncaccounts = 1

[Account ephemail]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {self.maildir}
sep = /

[Repository remote]
type = IMAP
remotehost = {room.host}
remoteport = {room.imap_port}
remoteuser = {room.address}
remotepass = {room.password}
ssl = no
starttls = no
maxconnections = 1
holdconnectionopen = no
"""
        )

    def sync(self) -> ClientRun:
        """One run (`-o`). Not with `-d imap`: offlineimap 8.0.0 then re-serialises every
        message for its debug line and crashes on long raw UTF-8 headers (its own bug)."""
        self.runs += 1
        log = self.tmp_path / f"offlineimap-{self.runs}.log"
        args = [self.binary, "-c", str(self.config), "-o", "-u", "basic"]
        run = run_client(args, log)
        assert run.returncode == 0, f"offlineimap run {self.runs} failed:\n{run.tail()}"
        assert not re.search(r"^\s*ERROR", run.output, re.MULTILINE), run.tail()
        return run


def test_offlineimap_mirrors_folders_and_follows_changes(
    mailroom: Mailroom, tmp_path: Path
) -> None:
    offlineimap = OfflineImap(mailroom, tmp_path)
    plain, alternative, attachment, utf8, long = mailroom.deliver(*mailroom.samples())

    # Folders (one nested) and flags, set up by another client.
    with mailroom.imap() as client:
        for folder in ("Archive", "Work", "Work/Projects"):
            client.create_folder(folder)
        client.select_folder("INBOX")
        by_raw = {
            bytes(item[b"BODY[]"]): uid
            for uid, item in client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"]).items()
        }
        client.add_flags([by_raw[plain.raw]], ["\\Seen"])
        client.add_flags([by_raw[alternative.raw]], ["\\Flagged", "\\Answered"])
        client.copy([by_raw[attachment.raw]], "Archive")
        client.move([by_raw[utf8.raw]], "Work/Projects")
        client.select_folder("Archive")
        client.add_flags(client.search(["ALL"]), ["\\Seen"])

    # First run: every folder, every message byte for byte, every flag.
    offlineimap.sync()
    local = maildir_snapshot(offlineimap.maildir)
    assert sorted(local) == ["Archive", "INBOX", "Work", "Work/Projects"]
    assert local == mailroom.server_snapshot()
    assert local["INBOX"] == sorted(
        [
            ("S", to_lf(plain.raw)),
            ("FR", to_lf(alternative.raw)),
            ("", to_lf(attachment.raw)),
            ("", to_lf(long.raw)),
        ]
    )
    assert local["Archive"] == [("S", to_lf(attachment.raw))]
    assert local["Work/Projects"] == [("", to_lf(utf8.raw))]
    assert local["Work"] == []

    # Changes on the server (HTTP API and IMAP), new mail, and one local change.
    mailroom.mark_read(long.id)
    mailroom.delete(attachment.id)  # the INBOX copy; the Archive copy stays
    (late,) = mailroom.deliver(note(mailroom.address, mailroom.tag, "late", "Between runs"))
    with mailroom.imap() as client:
        client.select_folder("Work/Projects")
        client.add_flags(client.search(["ALL"]), ["\\Flagged"])
    (alternative_file,) = [
        f
        for f in maildir_files(offlineimap.maildir / "INBOX")
        if f.read_bytes() == to_lf(alternative.raw)
    ]
    assert maildir_info(alternative_file) == "FR"
    alternative_file.rename(alternative_file.parent.parent / "cur" / f"{alternative_file.name}S")

    # Second run: both sides agree again.
    offlineimap.sync()
    local = maildir_snapshot(offlineimap.maildir)
    assert local == mailroom.server_snapshot()
    assert local["INBOX"] == sorted(
        [
            ("S", to_lf(plain.raw)),
            ("FRS", to_lf(alternative.raw)),
            ("S", to_lf(long.raw)),
            ("", to_lf(late.raw)),
        ]
    )
    assert local["Archive"] == [("S", to_lf(attachment.raw))]
    assert local["Work/Projects"] == [("F", to_lf(utf8.raw))]
    summary = mailroom.summary(alternative.id)
    assert summary is not None
    assert summary["seen"] is True, "the local \\Seen reached the API's read state"
