"""The mail-client snippets in README.md work, as written, against a running ephemail.

The snippets are read from README.md itself (the fenced blocks of the section
"IMAP: reading mail in a mail client"), so a broken README fails this test. Only what
must differ on a test machine is substituted, and each substitution first checks that
the README still holds the value it replaces (a changed README fails loudly instead of
slipping past unsubstituted):

- IMAP port: `1143` (the default) -> the test server's ephemeral IMAP port;
- user: `bob@example.com` -> this test's fresh mailbox address;
- host: `127.0.0.1` -> the harness host, which is the same `127.0.0.1`;
- paths: nothing is rewritten; `~` is the test's own home (`HOME=<tmp_path>/home`), where
  the snippets go to the files the README names (`~/.mbsyncrc`, `~/.muttrc`).

The password (`anything`) stays: public mailboxes take any password in the open
development mode. The mbsync channel is run with the README's own command line
(`mkdir -p ~/Mail/bob && mbsync bob`). neomutt (or mutt) is interactive; it runs in a
private tmux server, and below the README's lines its muttrc gets only what a
non-interactive run needs (caches and temporary files in the test's home, no
"press any key" pauses, no Fcc copy of sent mail, no saved history).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from ephemail.settings import Settings
from tests.interop.conftest import (
    HOST,
    Delivered,
    Mailroom,
    maildir_files,
    maildir_info,
    require_binary,
    run_client,
    to_lf,
)

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## IMAP: reading mail in a mail client"
# The values the README's snippets use, which the tests replace (see the module docstring).
README_HOST = "127.0.0.1"
README_IMAP_PORT = "1143"
README_USER = "bob@example.com"

SCREEN_TIMEOUT = 15  # seconds to wait for neomutt to show something
_X_TUID = re.compile(rb"^X-TUID: [^\r\n]*\r?\n", re.MULTILINE)


# -- reading the README --------------------------------------------------------------
def readme_section() -> str:
    """The text of the README's IMAP client section (up to the next `## ` heading)."""
    text = README.read_text(encoding="utf-8")
    start = text.find(SECTION)
    assert start >= 0, f"README.md has no section {SECTION!r}"
    body = text[start + len(SECTION) :]
    following = re.search(r"^## ", body, re.MULTILINE)
    return body[: following.start()] if following else body


def paragraph_after(label: str) -> str:
    """The text from a bold label (`**mbsync**`) to the next blank line."""
    section = readme_section()
    start = section.find(label)
    assert start >= 0, f"the README's IMAP section has no {label!r}"
    return section[start:].split("\n\n", 1)[0]


def snippet_after(label: str) -> str:
    """The first fenced code block after a bold label in the README's IMAP section."""
    section = readme_section()
    start = section.find(label)
    assert start >= 0, f"the README's IMAP section has no {label!r}"
    block = re.search(r"^```[^\n]*\n(.*?)^```", section[start:], re.MULTILINE | re.DOTALL)
    assert block is not None, f"no fenced code block after {label!r} in the README"
    return block.group(1)


def substitute(snippet: str, replacements: Mapping[str, str]) -> str:
    """Replace each README value (all its occurrences), which must be present."""
    for old, new in replacements.items():
        assert old in snippet, f"the README snippet no longer contains {old!r}:\n{snippet}"
        snippet = snippet.replace(old, new)
    return snippet


def client_env(home: Path) -> dict[str, str]:
    """A minimal environment whose home is the test's (no user config leaks in)."""
    return {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "xterm-256color",
    }


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


# -- the Thunderbird paragraph --------------------------------------------------------
def test_thunderbird_settings_match_the_server_defaults() -> None:
    """The server, port and security the README gives are what `ephemail serve` uses."""
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    paragraph = " ".join(paragraph_after("**Thunderbird:**").split())
    imap = re.search(r"server `([^`]+)`, port `(\d+)`, connection security \*([^*]+)\*", paragraph)
    assert imap is not None, paragraph
    assert imap.group(1) == defaults["imap_bind"]
    assert int(imap.group(2)) == defaults["imap_port"]
    # "None" is right only while the server has no TLS setting that is on by default.
    assert imap.group(3) == "None"
    tls_on = [n for n, v in defaults.items() if "tls" in n and v not in (False, None, "", 0)]
    assert tls_on == [], f"TLS is on by default ({tls_on}): the README must say so"
    assert "authentication *Normal password*" in paragraph
    smtp = re.search(r"Outgoing \(SMTP\) may point at `([^`:]+):(\d+)`", paragraph)
    assert smtp is not None, paragraph
    assert smtp.group(1) == defaults["smtp_bind"]
    assert int(smtp.group(2)) == defaults["smtp_port"]
    # The snippets, before substitution, point at the same default server.
    assert f"imap://{README_HOST}:{README_IMAP_PORT}/" in snippet_after("**mutt / neomutt**")
    mbsyncrc = snippet_after("**mbsync**")
    assert f"Host {README_HOST}\n" in mbsyncrc
    assert f"Port {README_IMAP_PORT}\n" in mbsyncrc
    assert README_HOST == defaults["imap_bind"] == HOST
    assert int(README_IMAP_PORT) == defaults["imap_port"]


# -- mbsync --------------------------------------------------------------------------
def _without_tuid(raw: bytes) -> bytes:
    """The message without the one X-TUID line mbsync adds to the header it stores."""
    blank_line = re.search(rb"\n\r?\n", raw)
    header_end = blank_line.start() + 1 if blank_line else len(raw)
    header, body = raw[:header_end], raw[header_end:]
    assert len(_X_TUID.findall(header)) == 1, header
    return _X_TUID.sub(b"", header) + body


def test_readme_mbsync_config_syncs_the_inbox(mailroom: Mailroom, home: Path) -> None:
    require_binary("mbsync", "isync")
    config = substitute(
        snippet_after("**mbsync**"),
        {
            f"Host {README_HOST}\n": f"Host {HOST}\n",
            f"Port {README_IMAP_PORT}\n": f"Port {mailroom.imap_port}\n",
            f"User {README_USER}\n": f"User {mailroom.address}\n",
        },
    )
    (home / ".mbsyncrc").write_text(config)
    command = re.search(r"then `([^`]+)`", paragraph_after("**mbsync**"))
    assert command is not None, "the README no longer says which command runs mbsync"
    assert command.group(1) == "mkdir -p ~/Mail/bob && mbsync bob", command.group(1)
    delivered = mailroom.deliver(*mailroom.samples())

    run = run_client(["sh", "-c", command.group(1)], home / "mbsync.log", env=client_env(home))

    assert run.returncode == 0, f"mbsync with the README's config failed:\n{run.tail()}"
    inbox = home / "Mail" / "bob" / "INBOX"
    files = maildir_files(inbox)
    arrived = sorted(_without_tuid(path.read_bytes()) for path in files)
    assert arrived == sorted(to_lf(d.raw) for d in delivered), "Maildir differs from the server"
    for path in files:
        assert path.parent.name == "new" and maildir_info(path) == "", path
    flags = [m["seen"] for m in mailroom.summaries()]
    assert flags == [False] * len(delivered), "mbsync only copies: nothing is read"


# -- neomutt / mutt in tmux ---------------------------------------------------------------
class Tmux:
    """A private tmux server (its own socket) running one program in a 140x30 window."""

    def __init__(self, binary: str, env: dict[str, str]) -> None:
        self.binary = binary
        self.env = env
        # A short private directory: a socket path must fit in 108 bytes.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="ephemail-tmux-"))
        self.socket = str(self.socket_dir / "socket")

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "-S", self.socket, "-f", "/dev/null", *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )

    def start(self, command: str) -> None:
        self._tmux("new-session", "-d", "-x", "140", "-y", "30", "-s", "client", command)

    def screen(self) -> str:
        done = self._tmux("capture-pane", "-p", "-t", "client", check=False)
        return done.stdout if done.returncode == 0 else ""

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "client", *keys)

    def wait_for(self, text: str, what: str) -> str:
        """Poll the screen until `text` is on it; fail with the last screen otherwise."""
        deadline = time.monotonic() + SCREEN_TIMEOUT
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        pytest.fail(f"{what}: {text!r} never appeared; the screen was:\n{screen}")

    def kill(self) -> None:
        """Stop this private server (and the client in it) and remove its socket."""
        self._tmux("kill-server", check=False)
        shutil.rmtree(self.socket_dir, ignore_errors=True)


@pytest.fixture
def tmux(home: Path) -> Iterator[Tmux]:
    session = Tmux(require_binary("tmux", "tmux"), client_env(home))
    try:
        yield session
    finally:
        session.kill()


def _mutt_binary() -> str:
    for name in ("neomutt", "mutt"):
        path = shutil.which(name)
        if path is not None:
            return path
    return require_binary("neomutt", "neomutt")  # skips, naming the package


def _wait_for_file(path: Path, what: str, screen: Tmux) -> str:
    deadline = time.monotonic() + SCREEN_TIMEOUT
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen; the screen was:\n{screen.screen()}")


def test_readme_muttrc_reads_a_message(mailroom: Mailroom, home: Path, tmux: Tmux) -> None:
    mutt = _mutt_binary()
    readme_lines = substitute(
        snippet_after("**mutt / neomutt**"),
        {
            f"imap://{README_HOST}:{README_IMAP_PORT}/": f"imap://{HOST}:{mailroom.imap_port}/",
            f'imap_user = "{README_USER}"': f'imap_user = "{mailroom.address}"',
        },
    )
    # The minimum a scripted run needs; nothing here touches how mutt reaches the server.
    extras = f"""
# -- test-only: keep every file in the test's home and never wait for a key --
set header_cache = "{home}/cache/headers"
set message_cachedir = "{home}/cache/bodies"
set certificate_file = "{home}/certificates"
set tmpdir = "{home}/tmp"
set history_file = "{home}/history"
set save_history = 0
set wait_key = no
unset record
set quit = yes
set move = no
"""
    for directory in ("cache/headers", "cache/bodies", "tmp"):
        (home / directory).mkdir(parents=True)
    muttrc = home / ".muttrc"
    muttrc.write_text(readme_lines + extras)
    (plain,) = mailroom.deliver(mailroom.samples()[0])
    assert _seen(mailroom, plain) is False
    status = home / "exit-status"

    tmux.start(f"{mutt} -n -F {muttrc}; echo $? > {status}")

    # The index lists the message by its subject.
    tmux.wait_for(plain.mail.subject, "the index")
    # Opening it (Enter on the only message) shows its body.
    tmux.send("Enter")
    tmux.wait_for(".a line that starts with a dot (dot-stuffed by SMTP)", "the pager")
    screen = tmux.wait_for("..two dots", "the pager")
    assert "Hello," in screen
    # Back to the index, then quit: mutt stores the \Seen flag and exits with status 0.
    tmux.send("q")
    tmux.wait_for(plain.mail.subject, "back in the index")
    tmux.send("q")
    assert _wait_for_file(status, "a clean quit", tmux) == "0"
    assert _seen(mailroom, plain) is True, "reading the message in mutt sets \\Seen"
    assert [flags for flags, _ in mailroom.folder_messages("INBOX").values()] == [{"\\Seen"}]


def _seen(room: Mailroom, message: Delivered) -> bool:
    (summary,) = [m for m in room.summaries() if m["id"] == message.id]
    seen = summary["seen"]
    assert isinstance(seen, bool)
    return seen
