"""Interoperability fixtures: one real `ephemail serve` per store (SQLite, PostgreSQL),
a fresh mailbox per test, mail delivered over real SMTP, and the views a test compares
a client's result with: the HTTP API and the server's IMAP state read by imapclient.

Every client is a program or library nobody here wrote; these helpers only deliver
mail, run the client with a timeout and read back what arrived.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import smtplib
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from imapclient import IMAPClient

from tests.interop.mails import SENDER, SampleMail, sample_mails
from tests.support.postgres import PostgresServer
from tests.support.server import EphemailProcess

HOST = "127.0.0.1"
DOMAIN = "interop.test"
# Public mailboxes take any password in the open development mode.
PASSWORD = "any-password-will-do"
CLIENT_TIMEOUT = 60  # seconds for one run of an external client

# Maildir info letters (https://cr.yp.to/proto/maildir.html) of the IMAP system flags.
MAILDIR_LETTERS = {
    "\\Draft": "D",
    "\\Flagged": "F",
    "\\Answered": "R",
    "\\Seen": "S",
    "\\Deleted": "T",
}
_RECEIVED_TRACE = re.compile(rb"\AReceived: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*")
_numbers = itertools.count(1)


def require_binary(name: str, package: str) -> str:
    """The path of a client program; skip (with the reason) only when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(
            f"{name} is not installed (Debian package {package}; "
            "`make test` installs it through scripts/system-deps.sh)"
        )
    return path


@dataclass(frozen=True, slots=True)
class Delivered:
    """A sample accepted over SMTP: its API id and the bytes the server stored
    (its own Received trace line followed by exactly what was sent)."""

    mail: SampleMail
    id: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class ClientRun:
    """One run of an external client: exit code and everything it printed."""

    returncode: int
    output: str

    def tail(self, size: int = 6000) -> str:
        return self.output[-size:]


def run_client(args: Sequence[str], log: Path, *, env: dict[str, str] | None = None) -> ClientRun:
    """Run a client without stdin, with a timeout; its output goes to `log` as well."""
    try:
        completed = subprocess.run(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=CLIENT_TIMEOUT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        partial = (exc.output or b"").decode("utf-8", "replace")
        log.write_text(partial)
        pytest.fail(f"{args[0]} did not finish in {CLIENT_TIMEOUT} s:\n{partial[-6000:]}")
    output = completed.stdout.decode("utf-8", "replace")
    log.write_text(output)
    return ClientRun(completed.returncode, output)


def to_lf(data: bytes) -> bytes:
    """Maildir and mbox hold messages with LF line ends; IMAP sends CRLF."""
    return data.replace(b"\r\n", b"\n")


def maildir_letters(flags: Sequence[str] | frozenset[str]) -> str:
    """The Maildir info letters of IMAP flags, sorted (keywords have none)."""
    return "".join(sorted(MAILDIR_LETTERS[f] for f in flags if f in MAILDIR_LETTERS))


def maildir_info(path: Path) -> str:
    """The flag letters in a Maildir file name (`...:2,FS`)."""
    _, sep, info = path.name.partition(":2,")
    return "".join(sorted(info)) if sep else ""


def maildir_folders(root: Path) -> list[Path]:
    """Every Maildir folder (a directory with cur/ and new/) under `root`."""
    return sorted(p.parent for p in root.rglob("cur") if (p.parent / "new").is_dir())


def maildir_files(folder: Path) -> list[Path]:
    return sorted([*(folder / "cur").iterdir(), *(folder / "new").iterdir()])


Snapshot = dict[str, list[tuple[str, bytes]]]


def maildir_snapshot(root: Path) -> Snapshot:
    """Folder name ('/'-separated, relative to `root`) -> sorted (flag letters, bytes)."""
    snapshot: Snapshot = {}
    for folder in maildir_folders(root):
        name = folder.relative_to(root).as_posix()
        snapshot[name] = sorted(
            (maildir_info(f), f.read_bytes()) for f in maildir_files(folder) if f.is_file()
        )
    return snapshot


class Mailroom:
    """One fresh mailbox on the shared server, and every way to look at it."""

    def __init__(self, server: EphemailProcess, local_part: str) -> None:
        self.server = server
        self.address = f"{local_part}@{DOMAIN}"
        self.tag = local_part
        self.host = HOST
        self.password = PASSWORD
        self.http = httpx.Client(base_url=server.api, timeout=15)

    @property
    def imap_port(self) -> int:
        return self.server.imap_port

    @property
    def smtp_port(self) -> int:
        return self.server.smtp_port

    def close(self) -> None:
        self.http.close()

    # -- delivery -------------------------------------------------------------
    def samples(self) -> list[SampleMail]:
        return sample_mails(self.address, self.tag)

    def deliver(self, *mails: SampleMail) -> list[Delivered]:
        """Send each message over SMTP (one session each) and find what was stored."""
        delivered = []
        for mail in mails:
            before = set(self.message_ids())
            with smtplib.SMTP(HOST, self.smtp_port, timeout=15) as smtp:
                refused = smtp.sendmail(SENDER, [self.address], mail.raw)
            assert refused == {}, refused
            new = set(self.message_ids()) - before
            assert len(new) == 1, f"expected one new message after SMTP, got {new}"
            (message_id,) = new
            raw = self.raw(message_id)
            trace = _RECEIVED_TRACE.match(raw)
            assert trace is not None, raw[:300]
            assert raw[trace.end() :] == mail.raw, "stored bytes differ from the SMTP DATA"
            delivered.append(Delivered(mail, message_id, raw))
        return delivered

    # -- the HTTP API ---------------------------------------------------------
    def summaries(self, folder: str = "INBOX") -> list[dict[str, Any]]:
        """Every message of one folder of the mailbox, newest first."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000, "folder": folder}
            if cursor:
                params["cursor"] = cursor
            response = self.http.get(f"/api/v1/mailboxes/{self.address}/messages", params=params)
            response.raise_for_status()
            page = response.json()
            messages.extend(page["messages"])
            cursor = page.get("next_cursor")
            if not cursor:
                return messages

    def message_ids(self) -> list[str]:
        return [m["id"] for m in self.summaries()]

    def summary(self, message_id: str) -> dict[str, Any] | None:
        """The API's summary of one message, or None once it is gone."""
        response = self.http.get(f"/api/v1/messages/{message_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def raw(self, message_id: str) -> bytes:
        response = self.http.get(f"/api/v1/messages/{message_id}/raw")
        response.raise_for_status()
        return response.content

    def mark_read(self, message_id: str, seen: bool = True) -> None:
        response = self.http.patch(f"/api/v1/messages/{message_id}", json={"seen": seen})
        response.raise_for_status()
        assert response.json()["seen"] is seen

    def delete(self, message_id: str) -> None:
        response = self.http.delete(f"/api/v1/messages/{message_id}")
        assert response.status_code == 204, response.text

    # -- the server's IMAP state (read with imapclient) -----------------------
    @contextmanager
    def imap(self) -> Iterator[IMAPClient]:
        """A logged-in imapclient session (the checking tool of the other tests)."""
        client = IMAPClient(HOST, port=self.imap_port, ssl=False, timeout=15)
        try:
            client.login(self.address, self.password)
            yield client
        finally:
            try:
                client.logout()
            except Exception:
                client.shutdown()

    def folder_messages(self, folder: str) -> dict[int, tuple[frozenset[str], bytes]]:
        """UID -> (flags without \\Recent, BODY[]) of one folder, read without side effects."""
        with self.imap() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            data = client.fetch(uids, ["FLAGS", "BODY.PEEK[]"]) if uids else {}
        result = {}
        for uid, item in data.items():  # imapclient keys UID FETCH results by UID
            flags = frozenset(f.decode() for f in item[b"FLAGS"]) - {"\\Recent"}
            result[int(uid)] = (flags, bytes(item[b"BODY[]"]))
        return result

    def folders(self) -> list[str]:
        with self.imap() as client:
            return sorted(name for _, _, name in client.list_folders())

    def server_snapshot(self) -> Snapshot:
        """Like maildir_snapshot, from IMAP: folder -> sorted (flag letters, LF bytes)."""
        snapshot: Snapshot = {}
        for folder in self.folders():
            messages = self.folder_messages(folder).values()
            snapshot[folder] = sorted((maildir_letters(f), to_lf(raw)) for f, raw in messages)
        return snapshot


@pytest.fixture(
    scope="package", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def interop_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EphemailProcess]:
    """One `ephemail serve` per store back-end for every interoperability test (each test
    has its own mailbox, so they do not see each other's mail)."""
    database_url: str | None = None
    pg: PostgresServer | None = None
    database = f"interop{os.getpid()}"
    if request.param == "postgres":
        pg = request.getfixturevalue("pg_server")
        database_url = pg.create_database(database)
    server = EphemailProcess(
        tmp_path_factory.mktemp(f"interop-{request.param}") / "data", database_url=database_url
    )
    server.start(timeout=60, wait_imap=True)
    try:
        yield server
    finally:
        server.stop()
        if pg is not None:
            pg.drop_database(database)


@pytest.fixture
def mailroom(interop_server: EphemailProcess, request: pytest.FixtureRequest) -> Iterator[Mailroom]:
    """A fresh mailbox address for this test on the shared server."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    room = Mailroom(interop_server, f"{slug}-{next(_numbers)}")
    try:
        yield room
    finally:
        room.close()
