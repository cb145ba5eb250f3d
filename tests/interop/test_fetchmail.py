"""fetchmail downloads over IMAP into an mbox (through an `mda` line) and into files.

fetchmail hands each message to the MDA with LF line ends and its own Received header
on top; below that header every byte must be the server's. With `keep` it leaves the
mail on the server marked \\Seen (and then only fetches unseen mail unless `fetchall`);
without `keep` it deletes what it delivered.
"""

from __future__ import annotations

import mailbox
import re
from pathlib import Path

from tests.interop.conftest import (
    ClientRun,
    Delivered,
    Mailroom,
    require_binary,
    run_client,
    to_lf,
)
from tests.interop.mails import note

# fetchmail's own trace header: one field, folded over several lines.
_FETCHMAIL_RECEIVED = re.compile(rb"\AReceived: from [^\n]*\n(?:[ \t][^\n]*\n)*")


class Fetchmail:
    """rc files (mode 0600) in tmp_path for one mailbox; FETCHMAILHOME is private."""

    def __init__(self, room: Mailroom, tmp_path: Path) -> None:
        self.binary = require_binary("fetchmail", "fetchmail")
        self.room = room
        self.tmp_path = tmp_path
        self.home = tmp_path / "fetchmail-home"
        self.home.mkdir(mode=0o700)
        self.runs = 0

    def run(self, *, options: str, mda: str) -> ClientRun:
        """One poll (`-N -d0`: in the foreground, once) with the IMAP exchange logged."""
        self.runs += 1
        rc = self.tmp_path / f"fetchmailrc-{self.runs}"
        rc.write_text(
            "set no bouncemail\n"
            f"poll {self.room.host} service {self.room.imap_port} protocol IMAP"
            " auth password timeout 20\n"
            f'  user "{self.room.address}" there with password "{self.room.password}"'
            ' is "interop" here\n'
            "  sslproto '' no sslcertck\n"
            f"  {options} no rewrite\n"
            f'  mda "{mda}"\n'
        )
        rc.chmod(0o600)
        log = self.tmp_path / f"fetchmail-{self.runs}.log"
        env = {"FETCHMAILHOME": str(self.home), "PATH": "/usr/bin:/bin", "LC_ALL": "C"}
        args = [self.binary, "-N", "-d0", "-v", "-v", "-f", str(rc)]
        run = run_client(args, log, env=env)
        # RFC 3501 section 6.4.5: RFC822.SIZE must match the octets FETCH sends.
        assert "not the expected length" not in run.output, run.tail()
        return run


def _mbox_line(path: Path) -> str:
    """An MDA shell line appending one message in mbox form (From_ line, blank line after)."""
    return f"(echo 'From interop@localhost Tue Nov  3 10:15:00 2026'; cat; echo) >> {path}"


def _without_fetchmail_trace(message: bytes) -> bytes:
    trace = _FETCHMAIL_RECEIVED.match(message)
    assert trace is not None, message[:300]
    assert b"with IMAP (fetchmail" in trace.group(0)
    return message[trace.end() :]


def _mbox_messages(path: Path) -> list[bytes]:
    box = mailbox.mbox(path, create=False)
    try:
        return [_without_fetchmail_trace(box.get_bytes(key)) for key in box.iterkeys()]
    finally:
        box.close()


def _expected(delivered: list[Delivered]) -> list[bytes]:
    return [to_lf(d.raw) for d in delivered]


def test_fetchmail_keep_then_delete(mailroom: Mailroom, tmp_path: Path) -> None:
    fetchmail = Fetchmail(mailroom, tmp_path)
    mbox = tmp_path / "interop.mbox"
    delivered = mailroom.deliver(*mailroom.samples())

    # 1. keep + fetchall into an mbox: all five, in order, byte for byte; kept and \Seen.
    run = fetchmail.run(options="keep fetchall", mda=_mbox_line(mbox))
    assert run.returncode == 0, run.tail()
    assert _mbox_messages(mbox) == _expected(delivered)
    for message in delivered:
        summary = mailroom.summary(message.id)
        assert summary is not None, "keep leaves the mail on the server"
        assert summary["seen"] is True, "fetchmail marks what it fetched \\Seen"
    for flags, _ in mailroom.folder_messages("INBOX").values():
        assert flags == {"\\Seen"}

    # 2. keep without fetchall fetches only unseen mail: nothing, then the new one.
    run = fetchmail.run(options="keep", mda=_mbox_line(mbox))
    assert run.returncode == 1, f"exit 1 means no mail:\n{run.tail()}"
    (late,) = mailroom.deliver(note(mailroom.address, mailroom.tag, "late", "Between polls"))
    run = fetchmail.run(options="keep", mda=_mbox_line(mbox))
    assert run.returncode == 0, run.tail()
    assert _mbox_messages(mbox) == _expected([*delivered, late])

    # 3. Without keep, into one file per message: everything fetched, then deleted.
    out = tmp_path / "delivered"
    out.mkdir()
    run = fetchmail.run(options="fetchall", mda=f"cat > $(mktemp {out}/msg.XXXXXX)")
    assert run.returncode == 0, run.tail()
    files = sorted(_without_fetchmail_trace(path.read_bytes()) for path in out.iterdir())
    assert files == sorted(_expected([*delivered, late]))
    assert mailroom.summaries() == [], "delivered without keep: deleted on the server"
    assert mailroom.folder_messages("INBOX") == {}

    # 4. An empty mailbox: a poll that finds nothing.
    run = fetchmail.run(options="fetchall", mda=f"cat > $(mktemp {out}/msg.XXXXXX)")
    assert run.returncode == 1, run.tail()
