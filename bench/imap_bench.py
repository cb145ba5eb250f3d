"""IMAP benchmark: ephemail's IMAP server next to Dovecot, same messages, same client, same run.

One mailbox of 10,000 generated messages (2–20 KB, some multipart with attachments, a few
planted rare words) is served by ``ephemail serve`` (one server per store, messages
delivered over SMTP, so ingest computes everything IMAP needs) and by a private Dovecot
instance (Debian's ``dovecot-imapd``, started by the benchmark as the invoking user on a
free high port, with the same bytes written into its Maildir ``cur/``). Both are then
measured by the same asyncio IMAP client written here (raw sockets and a small response
scanner, no IMAP library), with 10 concurrent logged-in connections:

- ``SELECT INBOX`` latency, repeated;
- ``UID FETCH 1:* (FLAGS)`` latency;
- ``UID FETCH a:b (BODY.PEEK[])`` over chunks of the mailbox for a fixed time: MB/s over
  all clients;
- ``UID SEARCH TEXT`` and ``UID SEARCH BODY`` with a rare word: latency, and the number of
  matches checked against what the generator planted;
- IDLE: every connection idles on INBOX while new messages arrive at a steady rate; the
  time from delivery to each client reading ``* n EXISTS``. ephemail gets its messages
  over SMTP (from reading the ``250`` to DATA); Dovecot has no SMTP here, so a file is
  renamed into its Maildir ``new/`` (from the return of ``rename``; Dovecot learns of it
  through inotify).

Servers alternate phase by phase (SELECT on each, then FLAGS on each, …) so drift of the
shared machine hits them alike. Run as ``python -m bench.run --suite imap``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.header
import grp
import itertools
import math
import os
import pwd
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from tests.support.postgres import PostgresServer, free_port

from bench.common import (
    REPO,
    STORE_TITLES,
    STORES,
    ReportBase,
    ServerProcess,
    bench_workspace,
    command_lines,
    ephemail_env,
    ephemail_env_text,
    failure_lines,
    fmt,
    load_average,
    machine_description,
    percentile_ms,
    postmaster_pid,
    run_lines,
    server_versions,
    snapshot_source,
    tree_cpu,
    with_pythonpath,
)

IMAP_SERVERS = ("ephemail", "dovecot")
TARGET_FETCH_RATIO = 0.5
TARGET_IDLE_MS = 50.0
ADDRESS = "imap@bench.test"
PASSWORD = "bench-password"  # Dovecot checks it; ephemail's open dev mode takes any
SENDER = "sender@example.org"
# Needles for SEARCH: made of letters no generated word contains (x, q).
TEXT_WORD = "quixlore"
BODY_WORD = "xenquist"
READY_TIMEOUT = 120.0
COMMAND_TIMEOUT = 300.0
READ_SIZE = 256 * 1024
PHASES = ("select", "flags", "fetch", "search", "idle")
PHASE_TITLES = {
    "select": "SELECT INBOX",
    "flags": "UID FETCH 1:* (FLAGS)",
    "fetch": "UID FETCH (BODY.PEEK[])",
    "search": "UID SEARCH",
    "idle": "IDLE",
}


@dataclass(frozen=True)
class ImapConfig:
    """What to run."""

    messages: int = 10_000
    clients: int = 10
    select_rounds: int = 20  # SELECTs per client
    flags_rounds: int = 5  # UID FETCH 1:* (FLAGS) per client
    search_rounds: int = 2  # each SEARCH per client
    fetch_duration: float = 10.0  # seconds of BODY.PEEK[] fetching per server
    fetch_chunk: int = 100  # messages per UID FETCH of bodies
    idle_rate: float = 20.0  # new messages per second while the clients idle
    idle_duration: float = 10.0
    idle_grace: float = 5.0  # how long to wait for late EXISTS after the last delivery
    seed_connections: int = 16  # SMTP connections delivering the mailbox to ephemail
    seed: int = 20261121
    stores: tuple[str, ...] = STORES  # ephemail's stores
    servers: tuple[str, ...] = IMAP_SERVERS
    server_env: tuple[tuple[str, str], ...] = ()
    keep: bool = False
    snapshot: bool = True
    python: str = sys.executable


# --------------------------------------------------------------------------------------
# the messages
# --------------------------------------------------------------------------------------
_COMMON_TEXT = """
the to and of a in for you is your on this with that be are we it at from have as our
will please can by or not an all if has was more about any us their new here information
account order team time one just get update now see would there when which they message
help today also email like service day use need week contact know customer thank thanks
payment support details free best first make only other some review check last offer
back work call report year may them project meeting next should could into these what
how want up out good link following access been still delivery status invoice receipt
shipping package tracking address number password reset code verify security sign login
device browser request confirm subscription plan billing card amount total due date
balance statement transfer bank refund return item product price discount sale store
shop cart coupon newsletter weekly monthly digest summary agenda schedule calendar
invitation event members group document file attached draft version changes comments
feedback approve pending deadline tomorrow friday monday morning afternoon office remote
video conference notes minutes action answer issue ticket problem error failed success
completed build deploy release server database backup alert warning incident resolved
usage limit storage upgrade trial renew license key platform settings profile privacy
policy terms notice important reminder travel flight hotel booking trip departure
arrival train station weather photos album shared folder download upload family friends
dinner weekend birthday holiday garden house kitchen café über résumé naïve façade
"""
_SYLLABLES = "ba ko ri ta mel dor vin sa lu pre ton gar fi nor ze pol dra mi ven thu cal ro"
_NAMES = """
alice bob carol dave erin frank grace heidi ivan judy mallory nia oscar peggy rupert
sybil trent uma victor wendy yara zoe amir bianca chen dmitri elena farah goran hana
ines jonas kenji lena marco nadia omar priya rosa søren zoë józef
"""
_DOMAINS = "example.org example.com mail.example.net shop.example billing.example.com"
_ATTACHMENTS = (
    ("invoice-{n}.pdf", "application/pdf"),
    ("photo-{n}.jpg", "image/jpeg"),
    ("data-{n}.csv", "text/csv"),
    ("slides-{n}.zip", "application/zip"),
)


@dataclass
class Corpus:
    """The mailbox: SMTP DATA contents (CRLF, not dot-stuffed) and what SEARCH must find."""

    messages: list[bytes]
    message_ids: list[str]
    text_matches: int  # messages with TEXT_WORD in a header or the body
    body_matches: int  # messages with BODY_WORD in the body
    multipart: int = 0
    attachments: int = 0

    @property
    def total_bytes(self) -> int:
        """Bytes of all messages."""
        return sum(len(m) for m in self.messages)


def _pseudo_words(rng: random.Random, count: int, syllables: int | None = None) -> list[str]:
    """Distinct made-up words of 2–3 syllables (or exactly `syllables`)."""
    parts = _SYLLABLES.split()
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < count:
        word = "".join(rng.choice(parts) for _ in range(syllables or rng.choice((2, 3, 3))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def build_corpus(count: int, seed: int = ImapConfig.seed) -> Corpus:
    """`count` deterministic messages of 2–20 KB (log-uniform): 35 % multipart/alternative
    (text and HTML), 20 % of those over 6 KB with a base64 attachment (multipart/mixed),
    Zipf-distributed words, two rare words each, and the SEARCH needles planted in ~0.4 %
    (TEXT: half in the subject, half in the body) and ~0.3 % (BODY) of the messages."""
    rng = random.Random(seed)
    common = list(dict.fromkeys(_COMMON_TEXT.split()))
    vocabulary = common + _pseudo_words(rng, 1500)
    rare = _pseudo_words(rng, 3000, syllables=5)
    cumulative = list(itertools.accumulate(1.0 / (r + 1) for r in range(len(vocabulary))))
    pool = rng.choices(vocabulary, cum_weights=cumulative, k=max(200_000, 40 * count))
    b64_lines = base64.encodebytes(rng.randbytes(96 * 1024)).decode("ascii").splitlines()
    names = _NAMES.split()
    domains = _DOMAINS.split()
    start = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    corpus = Corpus(messages=[], message_ids=[], text_matches=0, body_matches=0)
    for index in range(count):
        size = int(math.exp(rng.uniform(math.log(2048), math.log(20480))))
        alternative = rng.random() < 0.35
        attach = size > 6144 and rng.random() < 0.2
        budget = size - 600
        attachment = ""
        if attach:
            lines = int(budget * rng.uniform(0.4, 0.7)) // 78
            first = rng.randrange(0, len(b64_lines) - lines)
            name, ctype = rng.choice(_ATTACHMENTS)
            filename = name.format(n=rng.randint(1, 9999))
            attachment = (
                f'Content-Type: {ctype}; name="{filename}"\r\n'
                f'Content-Disposition: attachment; filename="{filename}"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\n"
                + "\r\n".join(b64_lines[first : first + lines])
                + "\r\n"
            )
            budget -= lines * 78
        text_budget = max(200, int(budget / 2.3) if alternative else budget)
        words_count = max(20, text_budget // 7)
        offset = rng.randrange(0, len(pool) - words_count)
        words = pool[offset : offset + words_count]
        for word in rng.sample(rare, 2):
            words.insert(rng.randrange(len(words)), word)
        # At random, and once at fixed places, so that even a tiny mailbox has matches.
        in_text_body = rng.random() < 0.002 or index == count // 3
        in_subject = rng.random() < 0.002 or index == 2 * count // 3
        in_body = rng.random() < 0.003 or index == count // 2
        if in_text_body:
            words.insert(rng.randrange(len(words)), TEXT_WORD)
        if in_body:
            words.insert(rng.randrange(len(words)), BODY_WORD)
        corpus.text_matches += in_text_body or in_subject
        corpus.body_matches += in_body
        sender_name = f"{rng.choice(names).title()} {rng.choice(names).title()}"
        sender_domain = rng.choice(domains)
        local = sender_name.lower().replace(" ", ".").encode("ascii", "ignore").decode()
        subject = " ".join(rng.choices(vocabulary[:400], k=rng.randint(3, 8))).capitalize()
        if in_subject:
            subject += f" {TEXT_WORD}"
        text_lines = [f"Hello {names[index % len(names)].title()},", ""]
        text_lines += [" ".join(words[i : i + 10]) for i in range(0, len(words), 10)]
        text_lines += ["", "Best regards,", sender_name]
        text = "\r\n".join(text_lines) + "\r\n"
        plain = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        message_id = f"<{index}.{seed}@{sender_domain}>"
        if alternative:
            boundary = f"alt-{index}-{seed}"
            html = "".join(f"<p>{line}</p>\r\n" for line in text_lines if line)
            body_head = f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
            body = (
                f"--{boundary}\r\n{plain}\r\n{text}--{boundary}\r\n"
                "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
                f'\r\n<html><head><meta charset="utf-8"></head><body>\r\n{html}'
                f"</body></html>\r\n--{boundary}--\r\n"
            )
        else:
            body_head, body = plain, text
        if attach:
            boundary = f"mix-{index}-{seed}"
            body = (
                f"--{boundary}\r\n{body_head}\r\n{body}--{boundary}\r\n{attachment}"
                f"--{boundary}--\r\n"
            )
            body_head = f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n'
            corpus.attachments += 1
        corpus.multipart += alternative or attach
        if not in_subject and rng.random() < 0.05:
            subject = email.header.Header(subject + " — naïve café", "utf-8").encode()
        date = format_datetime(start + timedelta(seconds=37 * index))
        head = (
            f"From: {email.header.Header(sender_name, 'utf-8').encode()} "
            f"<{local}@{sender_domain}>\r\nTo: <{ADDRESS}>\r\nSubject: {subject}\r\n"
            f"Date: {date}\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        )
        corpus.messages.append((head + body_head + "\r\n" + body).encode("utf-8"))
        corpus.message_ids.append(message_id)
    return corpus


def dot_stuffed(raw: bytes) -> bytes:
    """SMTP DATA content for `raw` (RFC 5321 section 4.5.2), with the final dot line."""
    data = raw.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def trace_header(when: datetime) -> bytes:
    """The trace line an MTA puts in front of what it delivers (ephemail adds its own
    over SMTP; the Dovecot copy gets one of the same shape)."""
    return (
        f"Received: from bench.example.org (unknown [127.0.0.1]) by {socket.gethostname()} "
        f"with ESMTP; {format_datetime(when)}\r\n"
    ).encode()


# --------------------------------------------------------------------------------------
# SMTP (ephemail's delivery path)
# --------------------------------------------------------------------------------------
class SmtpSession:
    """One reused SMTP connection: EHLO once, then MAIL/RCPT/DATA pipelined (RFC 2920)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, port: int) -> SmtpSession:
        """Open, read the greeting, say EHLO."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        session = cls(reader, writer)
        if not (await session._reply()).startswith("220"):
            raise ConnectionError("no 220 greeting")
        writer.write(b"EHLO bench.example.org\r\n")
        if not (await session._reply()).startswith("250"):
            raise ConnectionError("EHLO refused")
        return session

    async def _reply(self) -> str:
        """One reply; continuation lines have '-' after the code (RFC 5321 section 4.2)."""
        lines = []
        while True:
            line = await self._reader.readline()
            if not line:
                raise ConnectionError("SMTP connection closed by the server")
            lines.append(line.decode(errors="replace").rstrip())
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    async def send(self, recipient: str, data: bytes) -> str:
        """Deliver dot-stuffed `data`; return the reply to DATA (raise unless 250)."""
        self._writer.write(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode())
        replies = [await self._reply() for _ in range(3)]
        if not replies[2].startswith("354"):
            raise ConnectionError("message refused: " + " / ".join(replies))
        self._writer.write(data)
        reply = await self._reply()
        if not reply.startswith("250"):
            raise ConnectionError(f"message refused: {reply}")
        return reply

    async def close(self) -> None:
        """QUIT and close."""
        with contextlib.suppress(ConnectionError, OSError):
            self._writer.write(b"QUIT\r\n")
            await asyncio.wait_for(self._reply(), 5)
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


async def deliver_corpus(port: int, corpus: Corpus, connections: int) -> None:
    """Every message of the corpus to ADDRESS over `connections` SMTP connections."""
    indexes = iter(range(len(corpus.messages)))

    async def one() -> None:
        session = await SmtpSession.connect(port)
        try:
            for i in indexes:
                await session.send(ADDRESS, dot_stuffed(corpus.messages[i]))
        finally:
            await session.close()

    await asyncio.gather(*(one() for _ in range(connections)))


# --------------------------------------------------------------------------------------
# the IMAP client
# --------------------------------------------------------------------------------------
class ImapFailure(Exception):
    """A command did not end in OK."""


@dataclass
class Reply:
    """A tagged response and what came before it."""

    status: bytes = b""
    text: bytes = b""
    responses: int = 0  # untagged responses
    literals: int = 0
    literal_bytes: int = 0
    lines: list[bytes] = field(default_factory=list)  # untagged lines (literals left out)
    literal_data: list[bytes] = field(default_factory=list)


class ImapClient:
    """A minimal IMAP4rev1 client (RFC 3501) over asyncio streams.

    Responses are scanned in a buffer filled by large reads; literals (``{n}``) are
    skipped without being copied unless asked for, so one Python process can keep up
    with a server written in C."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._buf = bytearray()
        self._pos = 0
        self._tags = itertools.count(1)
        self._idle_tag = b""
        self.greeting = b""

    @classmethod
    async def connect(cls, port: int) -> ImapClient:
        """Open a connection and read the `* OK` greeting."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        client.greeting = await asyncio.wait_for(client.read_line(), 30)
        if not client.greeting.startswith(b"* OK"):
            writer.close()
            raise ImapFailure(f"greeting {client.greeting[:80]!r}")
        return client

    async def login(self, user: str, password: str) -> None:
        """LOGIN with quoted strings."""
        await self.command(f'LOGIN "{user}" "{password}"')

    async def _fill(self) -> None:
        data = await self._reader.read(READ_SIZE)
        if not data:
            raise ConnectionError("IMAP connection closed by the server")
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    async def read_line(self) -> bytes:
        """One line without its CRLF (greeting, continuation, IDLE updates)."""
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                line = bytes(self._buf[self._pos : end])
                self._pos = end + 2
                return line
            await self._fill()

    async def _skip(self, size: int, keep: bool) -> bytes:
        """Consume a literal of `size` bytes; return it only when `keep`."""
        available = len(self._buf) - self._pos
        if available >= size:
            data = bytes(self._buf[self._pos : self._pos + size]) if keep else b""
            self._pos += size
            return data
        parts = [bytes(self._buf[self._pos :])] if keep else []
        need = size - available
        self._buf.clear()
        self._pos = 0
        while need:
            chunk = await self._reader.read(max(need, READ_SIZE))
            if not chunk:
                raise ConnectionError("IMAP connection closed inside a literal")
            if len(chunk) <= need:
                need -= len(chunk)
                if keep:
                    parts.append(chunk)
            else:
                if keep:
                    parts.append(chunk[:need])
                self._buf += chunk[need:]
                need = 0
        return b"".join(parts)

    async def command(
        self,
        text: str,
        *,
        keep: bool = False,
        keep_literals: bool = False,
        timeout: float = COMMAND_TIMEOUT,
    ) -> Reply:
        """Send one tagged command; return its reply (raise ImapFailure unless OK)."""
        tag = f"b{next(self._tags)}".encode()
        self._writer.write(tag + b" " + text.encode() + b"\r\n")
        reply = await asyncio.wait_for(self._response(tag, keep, keep_literals), timeout)
        if reply.status != b"OK":
            raise ImapFailure(f"{text[:60]!r}: {reply.text[:200].decode(errors='replace')}")
        return reply

    async def _response(self, tag: bytes, keep: bool, keep_literals: bool) -> Reply:
        reply = Reply()
        prefix = tag + b" "
        pieces: list[bytes] = []
        at_start = True  # the next segment starts a response (not the rest after a literal)
        tag_line = b"\r\n" + prefix
        while True:
            if at_start and not keep and self._pos < len(self._buf):
                # Fast path (FLAGS of a whole mailbox): count the complete lines before
                # the first literal or tagged line in one pass over the buffer.
                buf, pos = self._buf, self._pos
                last = buf.rfind(b"\r\n", pos)
                stop = last + 2 if last >= 0 else pos
                literal = buf.find(b"}\r\n", pos, stop) if stop > pos else -1
                if literal >= 0:  # stop where the line holding the literal starts
                    last = buf.rfind(b"\r\n", pos, literal)
                    stop = last + 2 if last >= 0 else pos
                tagged = buf.find(tag_line, pos, stop) if stop > pos else -1
                if tagged >= 0:
                    stop = tagged + 2
                if stop > pos and not buf.startswith(prefix, pos):
                    reply.responses += buf.count(b"\r\n", pos, stop)
                    self._pos = stop
                    continue
            end = self._buf.find(b"\r\n", self._pos)
            if end < 0:
                await self._fill()
                continue
            segment = bytes(self._buf[self._pos : end])
            self._pos = end + 2
            if segment.endswith(b"}"):
                brace = segment.rfind(b"{")
                digits = segment[brace + 1 : -1].rstrip(b"+")
                if brace >= 0 and digits.isdigit():
                    size = int(digits)
                    reply.literals += 1
                    reply.literal_bytes += size
                    data = await self._skip(size, keep_literals)
                    if keep_literals:
                        reply.literal_data.append(data)
                    if keep:
                        pieces.append(segment)
                    if at_start:
                        reply.responses += 1
                    at_start = False
                    continue
            if at_start and segment.startswith(prefix):
                reply.text = segment
                reply.status = segment[len(prefix) :].split(b" ", 1)[0].upper()
                return reply
            if at_start:
                reply.responses += 1
            if keep:
                pieces.append(segment)
                reply.lines.append(b"".join(pieces))
                pieces = []
            at_start = True

    async def idle(self) -> None:
        """Start IDLE (RFC 2177): send it and wait for the continuation."""
        tag = f"b{next(self._tags)}".encode()
        self._idle_tag = tag
        self._writer.write(tag + b" IDLE\r\n")
        while True:
            line = await asyncio.wait_for(self.read_line(), 30)
            if line.startswith(b"+"):
                return
            if line.startswith(tag + b" "):
                raise ImapFailure(f"IDLE: {line[:200].decode(errors='replace')}")

    async def done(self) -> None:
        """End IDLE; read through its tagged reply."""
        self._writer.write(b"DONE\r\n")
        reply = await asyncio.wait_for(self._response(self._idle_tag, False, False), 30)
        if reply.status != b"OK":
            raise ImapFailure(f"IDLE: {reply.text[:200].decode(errors='replace')}")

    async def close(self) -> None:
        """LOGOUT (best effort) and close."""
        with contextlib.suppress(Exception):
            await self.command("LOGOUT", timeout=5)
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


_EXISTS = re.compile(rb"^\* (\d+) EXISTS", re.IGNORECASE)
_UID = re.compile(rb"UID (\d+)", re.IGNORECASE)
_MESSAGE_ID = re.compile(rb"^Message-ID: *(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def exists_count(lines: Sequence[bytes]) -> int | None:
    """The last `* n EXISTS` of a response."""
    found = None
    for line in lines:
        if m := _EXISTS.match(line):
            found = int(m.group(1))
    return found


def search_hits(lines: Sequence[bytes]) -> int:
    """How many numbers the `* SEARCH` responses hold."""
    return sum(len(line.split()) - 2 for line in lines if line.upper().startswith(b"* SEARCH"))


# --------------------------------------------------------------------------------------
# the servers
# --------------------------------------------------------------------------------------
@dataclass
class ServerResult:
    """The figures of one server."""

    key: str  # sqlite, postgres (ephemail on that store) or dovecot
    title: str
    stored: int = 0
    seed_seconds: float | None = None
    body_check: str = ""
    select: list[float] = field(default_factory=list)
    flags: list[float] = field(default_factory=list)
    fetch: list[float] = field(default_factory=list)  # latency of each chunk
    fetch_bytes: int = 0
    fetch_messages: int = 0
    fetch_wall: float = 0.0
    searches: dict[str, list[float]] = field(default_factory=dict)
    matches: dict[str, int] = field(default_factory=dict)
    idle: list[float] = field(default_factory=list)
    idle_sent: int = 0
    idle_lost: int = 0  # (client, message) pairs never notified
    server_cpu: dict[str, float] = field(default_factory=dict)
    client_cpu: dict[str, float] = field(default_factory=dict)
    commands: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def fetch_mb_s(self) -> float | None:
        """Body bytes per second over all clients, in MB (10^6 bytes)."""
        return self.fetch_bytes / self.fetch_wall / 1e6 if self.fetch_wall else None

    @property
    def fetch_msg_s(self) -> float | None:
        """Messages per second over all clients."""
        return self.fetch_messages / self.fetch_wall if self.fetch_wall else None


@dataclass
class Target:
    """A server under test and how to reach and feed it."""

    key: str
    workdir: Path
    imap_port: int
    user: str
    result: ServerResult
    proc: ServerProcess | None = None
    smtp_port: int | None = None  # ephemail: new mail arrives over SMTP
    http_port: int = 0
    maildir: Path | None = None  # Dovecot: new mail is renamed into new/
    owner: tuple[int, int] | None = None  # Dovecot's mail user when we run as root
    db_pid: int | None = None
    clients: list[ImapClient] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)
    exists: int = 0


def wait_imap(proc: ServerProcess, port: int, timeout: float = READY_TIMEOUT) -> None:
    """Return once `port` answers with an IMAP `* OK` greeting."""
    proc.wait_greeting(port, timeout, expect=b"* OK", goodbye=b"z LOGOUT\r\n")


def dovecot_binary() -> str | None:
    """Path of the dovecot master binary."""
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot",) if os.access(p, os.X_OK)), None
    )


def dovecot_version() -> str:
    """`dovecot --version`, or "not installed"."""
    binary = dovecot_binary()
    if binary is None:
        return "not installed"
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def _dovecot_users() -> tuple[str, str, str, int, int]:
    """(login user, internal user, internal group, mail uid, mail gid).

    Run by root, Dovecot refuses root for its login processes and for mail access: the
    Debian package's own `dovenull`/`dovecot` users take the first two roles and `nobody`
    owns the mail. Run by anyone else, everything runs as that user (a rootless Dovecot)."""
    if os.geteuid() != 0:
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        return user, user, group, os.getuid(), os.getgid()
    nobody = pwd.getpwnam("nobody")
    return "dovenull", "dovecot", "dovecot", nobody.pw_uid, nobody.pw_gid


def dovecot_config(root: Path, port: int, uid: int, gid: int, users: tuple[str, str, str]) -> str:
    """A private dovecot.conf: IMAP only on 127.0.0.1:`port`, plain-text LOGIN, one user
    from a passwd-file, one Maildir, everything under `root`."""
    login_user, internal_user, internal_group = users
    return f"""# written by bench/imap_bench.py
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_max_userip_connections = 1000
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home
}}
mail_location = maildir:{root}/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""


def _maildir_name(index: int, size: int, flags: str = "") -> str:
    """A Maildir file name with the size hints Dovecot's own delivery writes (S=, W=:
    the files hold CRLF, so the virtual size is the size)."""
    return f"{1_790_000_000 + index}.M{index}P{os.getpid()}.bench,S={size},W={size}:2,{flags}"


def prepare_dovecot(workdir: Path, corpus: Corpus) -> Target:
    """Write the Maildir (the corpus behind a trace line like the one ephemail adds) and
    a private configuration; the target runs `dovecot -F` (not started yet)."""
    binary = dovecot_binary()
    if binary is None:
        raise RuntimeError(
            "dovecot is not installed (Debian package dovecot-imapd: "
            "bash scripts/system-deps.sh bench)"
        )
    login_user, internal_user, internal_group, uid, gid = _dovecot_users()
    maildir = workdir / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (workdir / "home").mkdir()
    start = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    for index, raw in enumerate(corpus.messages):
        data = trace_header(start + timedelta(seconds=37 * index)) + raw
        (maildir / "cur" / _maildir_name(index, len(data))).write_bytes(data)
    (workdir / "passwd").write_text(f"{ADDRESS}:{{PLAIN}}{PASSWORD}::::::\n")
    port = free_port()
    conf = workdir / "dovecot.conf"
    conf.write_text(
        dovecot_config(workdir, port, uid, gid, (login_user, internal_user, internal_group))
    )
    owner = (uid, gid) if os.geteuid() == 0 else None
    if owner is not None:
        # The mail user reads and renames the files; it must reach them from /.
        for path in (*maildir.rglob("*"), maildir, workdir / "home"):
            os.chown(path, *owner)
        for directory in (workdir, *workdir.parents):
            if directory == Path("/"):
                break
            directory.chmod(directory.stat().st_mode | 0o055)
    result = ServerResult("dovecot", "Dovecot", stored=len(corpus.messages))
    target = Target("dovecot", workdir, port, ADDRESS, result, maildir=maildir, owner=owner)
    target.proc = ServerProcess(
        "dovecot", [binary, "-F", "-c", str(conf)], os.environ.copy(), workdir
    )
    return target


def prepare_ephemail(
    config: ImapConfig,
    store: str,
    workdir: Path,
    pg: PostgresServer | None,
    src: Path | None,
) -> Target:
    """`ephemail serve` on a fresh `store` with IMAP on a free port (not started yet)."""
    smtp_port, http_port, imap_port = free_port(), free_port(), free_port()
    url: str | None = None
    db_pid: int | None = None
    if store == "postgres":
        assert pg is not None
        url = pg.create_database(f"bench_imap_{os.getpid()}")
        db_pid = postmaster_pid(pg)
    env = ephemail_env(workdir / "data", smtp_port, http_port, url)
    env.update(
        {
            "EPHEMAIL_IMAP_ENABLED": "true",
            "EPHEMAIL_IMAP_BIND": "127.0.0.1",
            "EPHEMAIL_IMAP_PORT": str(imap_port),
        }
    )
    env.update(dict(config.server_env))
    if src is not None:
        env = with_pythonpath(env, src, REPO)
    result = ServerResult(store, f"ephemail ({STORE_TITLES[store]})")
    target = Target(
        store,
        workdir,
        imap_port,
        ADDRESS,
        result,
        smtp_port=smtp_port,
        http_port=http_port,
        db_pid=db_pid,
    )
    target.proc = ServerProcess(
        f"ephemail ({store})", [config.python, "-m", "ephemail", "serve"], env, workdir
    )
    return target


def launch(target: Target) -> None:
    """Start the server; return once it answers on IMAP (and, for ephemail, on SMTP and
    HTTP)."""
    assert target.proc is not None
    target.proc.start()
    if target.smtp_port is not None:
        target.proc.wait_ready(target.smtp_port, target.http_port, timeout=READY_TIMEOUT)
    wait_imap(target.proc, target.imap_port)


async def seed_ephemail(config: ImapConfig, target: Target, corpus: Corpus) -> None:
    """Deliver the corpus over SMTP; wait until INBOX holds every message."""
    assert target.smtp_port is not None
    started = time.perf_counter()
    await deliver_corpus(target.smtp_port, corpus, config.seed_connections)
    target.result.seed_seconds = time.perf_counter() - started
    client = await ImapClient.connect(target.imap_port)
    try:
        await client.login(target.user, PASSWORD)
        deadline = time.monotonic() + 60
        while True:
            reply = await client.command("SELECT INBOX", keep=True)
            target.result.stored = exists_count(reply.lines) or 0
            if target.result.stored >= len(corpus.messages) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        await client.close()
    if target.result.stored != len(corpus.messages):
        raise RuntimeError(
            f"INBOX holds {target.result.stored:,} messages, {len(corpus.messages):,} delivered"
        )


# --------------------------------------------------------------------------------------
# the phases
# --------------------------------------------------------------------------------------
async def open_clients(config: ImapConfig, target: Target, corpus: Corpus) -> None:
    """Log the clients in and SELECT INBOX (untimed); learn the UIDs (chunks of the body
    phase) and check a few bodies against the generated messages."""
    target.clients = [await ImapClient.connect(target.imap_port) for _ in range(config.clients)]
    await asyncio.gather(*(c.login(target.user, PASSWORD) for c in target.clients))
    replies = await asyncio.gather(*(c.command("SELECT INBOX", keep=True) for c in target.clients))
    target.exists = exists_count(replies[0].lines) or 0
    flags = await target.clients[0].command("UID FETCH 1:* (FLAGS)", keep=True)
    uids = sorted(int(m.group(1)) for line in flags.lines if (m := _UID.search(line)))
    if len(uids) != len(corpus.messages):
        raise RuntimeError(f"UID FETCH 1:* returned {len(uids):,} UIDs")
    step = config.fetch_chunk
    target.chunks = [
        f"{uids[i]}:{uids[min(i + step, len(uids)) - 1]}" for i in range(0, len(uids), step)
    ]
    by_id = dict(zip(corpus.message_ids, corpus.messages, strict=True))
    checked = []
    for uid in (uids[0], uids[len(uids) // 2], uids[-1]):
        reply = await target.clients[0].command(
            f"UID FETCH {uid} (BODY.PEEK[])", keep_literals=True
        )
        body = reply.literal_data[0] if reply.literal_data else b""
        found = _MESSAGE_ID.search(body)
        original = by_id.get(found.group(1).decode()) if found else None
        if original is None or not body.endswith(original):
            raise RuntimeError(f"UID {uid}: the body served is not a generated message")
        checked.append(len(body) - len(original))
    sizes = f"{min(checked)}" if min(checked) == max(checked) else f"{min(checked)}–{max(checked)}"
    target.result.body_check = (
        f"3 bodies checked, each the message as delivered behind a {sizes}-byte trace header"
    )


async def _per_client(
    target: Target, work: Callable[[ImapClient, int], Awaitable[list[float]]]
) -> list[float]:
    """Run `work` on every client at once; all latencies, sorted. The first failure is
    raised once every client has finished (so no command is left half-read)."""
    outcomes = await asyncio.gather(
        *(work(c, i) for i, c in enumerate(target.clients)), return_exceptions=True
    )
    lists: list[list[float]] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        lists.append(outcome)
    return sorted(x for chunk in lists for x in chunk)


async def phase_select(config: ImapConfig, target: Target, corpus: Corpus) -> int:
    """Every client re-SELECTs INBOX `select_rounds` times (after one untimed SELECT)."""

    async def work(client: ImapClient, _: int) -> list[float]:
        out = []
        for round_ in range(config.select_rounds + 1):  # the first one is not timed
            started = time.perf_counter()
            reply = await client.command("SELECT INBOX", keep=True)
            if round_:
                out.append(time.perf_counter() - started)
            if exists_count(reply.lines) != target.exists:
                raise ImapFailure(f"SELECT: EXISTS {exists_count(reply.lines)}")
        return out

    target.result.select = await _per_client(target, work)
    return len(target.result.select)


async def phase_flags(config: ImapConfig, target: Target, corpus: Corpus) -> int:
    """Every client fetches the flags of the whole mailbox `flags_rounds` times (after
    one untimed fetch)."""

    async def work(client: ImapClient, _: int) -> list[float]:
        out = []
        for round_ in range(config.flags_rounds + 1):  # the first one is not timed
            started = time.perf_counter()
            reply = await client.command("UID FETCH 1:* (FLAGS)")
            if round_:
                out.append(time.perf_counter() - started)
            if reply.responses != target.exists:
                raise ImapFailure(f"UID FETCH 1:* (FLAGS): {reply.responses} responses")
        return out

    target.result.flags = await _per_client(target, work)
    return len(target.result.flags)


async def phase_fetch(config: ImapConfig, target: Target, corpus: Corpus) -> int:
    """Every client fetches whole bodies chunk after chunk (each from its own place in the
    mailbox) for `fetch_duration` seconds."""
    result = target.result
    chunks = target.chunks
    started = time.perf_counter()
    deadline = started + config.fetch_duration

    async def work(client: ImapClient, index: int) -> list[float]:
        out = []
        position = index * len(chunks) // len(target.clients)
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            reply = await client.command(f"UID FETCH {chunks[position]} (BODY.PEEK[])")
            out.append(time.perf_counter() - sent)
            result.fetch_bytes += reply.literal_bytes
            result.fetch_messages += reply.literals
            position = (position + 1) % len(chunks)
        return out

    result.fetch = await _per_client(target, work)
    result.fetch_wall = time.perf_counter() - started
    return len(result.fetch)


SEARCHES = {
    "text": f'UID SEARCH TEXT "{TEXT_WORD}"',
    "body": f'UID SEARCH BODY "{BODY_WORD}"',
}


async def phase_search(config: ImapConfig, target: Target, corpus: Corpus) -> int:
    """Every client runs each search `search_rounds` times; matches must be what the
    generator planted."""
    expected = {"text": corpus.text_matches, "body": corpus.body_matches}
    count = 0
    wrong = []
    for key, command in SEARCHES.items():

        async def work(
            client: ImapClient, _: int, command: str = command, key: str = key
        ) -> list[float]:
            out = []
            for _ in range(config.search_rounds):
                started = time.perf_counter()
                reply = await client.command(command, keep=True)
                out.append(time.perf_counter() - started)
                target.result.matches[key] = search_hits(reply.lines)
            return out

        target.result.searches[key] = await _per_client(target, work)
        count += len(target.result.searches[key])
        if target.result.matches.get(key) != expected[key]:
            wrong.append(
                f"{command}: {target.result.matches.get(key)} matches, {expected[key]} planted"
            )
    if wrong:
        raise ImapFailure("; ".join(wrong))
    return count


def _idle_message(index: int) -> bytes:
    """A ~2 KB message delivered while the clients idle."""
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    head = (
        f"From: Bench <{SENDER}>\r\nTo: <{ADDRESS}>\r\nSubject: idle {index}\r\n"
        f"Message-ID: <idle.{index}.{os.getpid()}@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    return head + line * 26


async def phase_idle(config: ImapConfig, target: Target, corpus: Corpus) -> int:
    """Every client idles on INBOX; messages arrive at `idle_rate` per second; record,
    per client and message, the time from delivery to the EXISTS that covers it."""
    result = target.result
    count = max(1, round(config.idle_rate * config.idle_duration))
    result.idle_sent = count
    replies = await asyncio.gather(*(c.command("SELECT INBOX", keep=True) for c in target.clients))
    bases = [exists_count(r.lines) or 0 for r in replies]
    seen: list[list[tuple[float, int]]] = [[] for _ in target.clients]
    delivered: list[float | None] = [None] * count
    stop = asyncio.Event()

    async def listen(client: ImapClient, index: int) -> None:
        goal = bases[index] + count
        while not stop.is_set():
            line = await client.read_line()
            now = time.perf_counter()
            if m := _EXISTS.match(line):
                seen[index].append((now, int(m.group(1))))
                if int(m.group(1)) >= goal:
                    return

    await asyncio.gather(*(c.idle() for c in target.clients))
    listeners = [asyncio.create_task(listen(c, i)) for i, c in enumerate(target.clients)]
    try:
        if target.smtp_port is not None:
            await _deliver_smtp(config, target.smtp_port, count, delivered)
        else:
            await _deliver_maildir(config, target, count, delivered)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*listeners), config.idle_grace)
    finally:
        stop.set()
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    for i, client in enumerate(target.clients):
        # A listener cancelled mid-read may leave half a line behind: the tagged reply
        # to DONE is still found, as lines are read whole from the buffer.
        await client.done()
        for k, at in enumerate(delivered):
            if at is None:
                continue
            arrival = next((t for t, n in seen[i] if n >= bases[i] + k + 1), None)
            if arrival is None:
                result.idle_lost += 1
            else:
                result.idle.append(arrival - at)
    result.idle.sort()
    target.exists = bases[0] + count
    return count * len(target.clients)


async def _deliver_smtp(
    config: ImapConfig, port: int, count: int, delivered: list[float | None]
) -> None:
    """Message k over one reused SMTP connection at start + k / rate; record the 250."""
    session = await SmtpSession.connect(port)
    try:
        start = time.perf_counter() + 0.2
        for k in range(count):
            data = dot_stuffed(_idle_message(k))
            delay = start + k / config.idle_rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await session.send(ADDRESS, data)
            delivered[k] = time.perf_counter()
    finally:
        await session.close()


async def _deliver_maildir(
    config: ImapConfig, target: Target, count: int, delivered: list[float | None]
) -> None:
    """Dovecot: write every message into tmp/ first, then rename message k into new/ at
    start + k / rate (the rename is the delivery, as a local delivery agent does it)."""
    assert target.maildir is not None
    now = datetime.now(UTC)
    staged = []
    for k in range(count):
        data = trace_header(now) + _idle_message(k)
        name = f"{int(time.time())}.I{k}P{os.getpid()}.bench,S={len(data)},W={len(data)}"
        path = target.maildir / "tmp" / name
        path.write_bytes(data)
        if target.owner is not None:
            os.chown(path, *target.owner)
        staged.append((path, target.maildir / "new" / name))
    start = time.perf_counter() + 0.2
    for k, (source, destination) in enumerate(staged):
        delay = start + k / config.idle_rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        source.rename(destination)
        delivered[k] = time.perf_counter()


PHASE_FUNCTIONS: dict[str, Callable[[ImapConfig, Target, Corpus], Awaitable[int]]] = {
    "select": phase_select,
    "flags": phase_flags,
    "fetch": phase_fetch,
    "search": phase_search,
    "idle": phase_idle,
}


# --------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------
@dataclass
class ImapReport(ReportBase[ImapConfig]):
    """Everything needed to print and record one run."""

    results: list[ServerResult] = field(default_factory=list)
    corpus: dict[str, float] = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        """What went wrong (empty when every server ran every phase correctly)."""
        return [f"{r.title}: {e}" for r in self.results for e in r.errors]


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, RuntimeError) else text


def _server_cpu(target: Target) -> float:
    """CPU seconds of the server's process tree (and of PostgreSQL for that store)."""
    assert target.proc is not None
    total = tree_cpu(target.proc.pid)
    if target.db_pid is not None:
        total += tree_cpu(target.db_pid)
    return total


def _progress(phase: str, r: ServerResult) -> None:
    ms = percentile_ms
    if phase == "select":
        text = f"p50 {fmt(ms(r.select, 0.5))} p99 {fmt(ms(r.select, 0.99))} ms"
    elif phase == "flags":
        text = f"p50 {fmt(ms(r.flags, 0.5))} p99 {fmt(ms(r.flags, 0.99))} ms"
    elif phase == "fetch":
        text = (
            f"{fmt(r.fetch_mb_s)} MB/s, {fmt(r.fetch_msg_s, '{:,.0f}')} msg/s; chunk p50 "
            f"{fmt(ms(r.fetch, 0.5))} p99 {fmt(ms(r.fetch, 0.99))} ms"
        )
    elif phase == "search":
        text = "; ".join(
            f"{key} ({r.matches.get(key)} hits) p50 {fmt(ms(lat, 0.5))} p99 {fmt(ms(lat, 0.99))} ms"
            for key, lat in r.searches.items()
        )
    else:
        text = (
            f"delivery→EXISTS p50 {fmt(ms(r.idle, 0.5))} p99 {fmt(ms(r.idle, 0.99))} max "
            f"{fmt(ms(r.idle, 1.0))} ms; missed {r.idle_lost}"
        )
    cpu = r.server_cpu.get(phase)
    print(
        f"  [{r.title:<22}] {PHASE_TITLES[phase]:<24} {text}; server CPU {fmt(cpu, '{:.1f}')} s",
        flush=True,
    )


async def _measure(config: ImapConfig, corpus: Corpus, targets: list[Target]) -> None:
    """Open the clients of every server, then run the phases, servers alternating."""
    live: list[Target] = []
    for target in targets:
        try:
            await open_clients(config, target, corpus)
            live.append(target)
        except Exception as exc:
            target.result.errors.append(f"before timing: {_describe(exc)}")
    for phase in PHASES:
        for target in list(live):
            result = target.result
            server_before, client_before = _server_cpu(target), time.process_time()
            try:
                result.commands[phase] = await PHASE_FUNCTIONS[phase](config, target, corpus)
            except ImapFailure as exc:  # a wrong answer: the connections are still in step
                result.errors.append(f"{PHASE_TITLES[phase]}: {exc}")
            except Exception as exc:
                result.errors.append(f"{PHASE_TITLES[phase]}: {_describe(exc)}")
                live.remove(target)
            result.server_cpu[phase] = _server_cpu(target) - server_before
            result.client_cpu[phase] = time.process_time() - client_before
            status = target.proc.exit_status() if target.proc else None
            if status is not None:
                result.errors.append(f"server ended during {PHASE_TITLES[phase]}: {status}")
                with contextlib.suppress(ValueError):
                    live.remove(target)
            _progress(phase, result)
    for target in live:
        await asyncio.gather(*(c.close() for c in target.clients))


def _start_targets(
    config: ImapConfig,
    corpus: Corpus,
    root: Path,
    pg: PostgresServer | None,
    src: Path | None,
    report: ImapReport,
    targets: list[Target],
) -> list[Target]:
    """Prepare, start and fill every server; the ones ready to be measured."""
    ready: list[Target] = []
    keys = [s for s in config.stores if "ephemail" in config.servers]
    if "dovecot" in config.servers:
        keys.append("dovecot")
    for key in keys:
        workdir = Path(tempfile.mkdtemp(prefix=f"imap-{key}-", dir=root))
        try:
            if key == "dovecot":
                print(f"  writing {len(corpus.messages):,} messages into Dovecot's Maildir ...")
                target = prepare_dovecot(workdir, corpus)
            else:
                target = prepare_ephemail(config, key, workdir, pg, src)
        except Exception as exc:
            title = "Dovecot" if key == "dovecot" else f"ephemail ({STORE_TITLES[key]})"
            report.results.append(ServerResult(key, title, errors=[f"setup: {_describe(exc)}"]))
            continue
        targets.append(target)
        report.results.append(target.result)
        try:
            launch(target)
            if target.smtp_port is not None:
                print(f"  delivering {len(corpus.messages):,} messages to {target.key} over SMTP")
                asyncio.run(seed_ephemail(config, target, corpus))
                seconds = target.result.seed_seconds or 0.0
                print(
                    f"  {target.key}: {target.result.stored:,} messages in {seconds:.0f} s "
                    f"({target.result.stored / max(seconds, 1e-9):,.0f} msg/s)",
                    flush=True,
                )
            ready.append(target)
        except Exception as exc:
            target.result.errors.append(f"start: {_describe(exc)}")
            assert target.proc is not None
            target.proc.stop()
    return ready


def run_imap_benchmark(config: ImapConfig) -> ImapReport:
    """Start and fill every server, measure them phase by phase; return the report."""
    report = ImapReport(config=config, started=datetime.now(UTC))
    report.machine = machine_description()
    report.machine["load_start"] = load_average()
    corpus = build_corpus(config.messages, config.seed)
    report.corpus = {
        "messages": len(corpus.messages),
        "bytes": corpus.total_bytes,
        "multipart": corpus.multipart,
        "attachments": corpus.attachments,
        "text_matches": corpus.text_matches,
        "body_matches": corpus.body_matches,
    }
    postgres = "ephemail" in config.servers and "postgres" in config.stores
    targets: list[Target] = []
    with bench_workspace("ephemail-bench-imap-", postgres=postgres, keep=config.keep) as (
        root,
        pg,
    ):
        try:
            src = snapshot_source(root) if config.snapshot else None
            report.versions = server_versions(config.python, pg, ())
            if src is not None:
                report.versions["ephemail"] += " (source snapshot taken at start)"
            if "dovecot" in config.servers:
                report.versions["Dovecot"] = dovecot_version()
            report.commands = _commands(config)
            ready = _start_targets(config, corpus, root, pg, src, report, targets)
            if ready:
                asyncio.run(_measure(config, corpus, ready))
        finally:
            report.machine["load_end"] = load_average()
            for target in targets:
                if target.proc is not None:
                    target.proc.stop()
    return report


def bench_command(config: ImapConfig) -> str:
    """The `bench.run` command line that runs this configuration."""
    parts = [
        "python -m bench.run --suite imap",
        f"--imap-messages {config.messages}",
        f"--imap-clients {config.clients}",
        f"--imap-rounds {max(1, config.select_rounds // 4)}",
        f"--imap-duration {config.fetch_duration:g}",
        f"--imap-idle-duration {config.idle_duration:g}",
        f"--imap-idle-rate {config.idle_rate:g}",
    ]
    if set(config.stores) != set(STORES):
        parts += [f"--only {store}" for store in config.stores]
    if set(config.servers) != set(IMAP_SERVERS):
        parts += [f"--imap-server {server}" for server in config.servers]
    parts += [f"--server-env {k}={v}" for k, v in config.server_env]
    return " ".join(parts)


def _commands(config: ImapConfig) -> list[str]:
    base = ephemail_env_text(config.server_env, "EPHEMAIL_DATA_DIR=<fresh dir>")
    idle_count = max(1, round(config.idle_rate * config.idle_duration))
    return [
        "# this benchmark (--write puts this section into docs/benchmarks.md)",
        bench_command(config),
        "# ephemail (SQLite; PostgreSQL adds EPHEMAIL_DATABASE_URL=postgresql://…/<fresh db>)",
        f"{base} EPHEMAIL_IMAP_ENABLED=true EPHEMAIL_IMAP_BIND=127.0.0.1 "
        "EPHEMAIL_IMAP_PORT=PORT3 python -m ephemail serve",
        "# Dovecot: private config written by bench/imap_bench.py (IMAP only, 127.0.0.1:PORT4,",
        "# passwd-file user with a plain password, mail_location = maildir:<dir>/Maildir)",
        "dovecot -F -c <dir>/dovecot.conf",
        f"# client: {config.clients} connections, each LOGIN + SELECT INBOX before timing; "
        "then on every connection at once:",
        f"SELECT INBOX                             × {config.select_rounds}",
        f"UID FETCH 1:* (FLAGS)                    × {config.flags_rounds}",
        f"UID FETCH <a:b> (BODY.PEEK[])            chunks of {config.fetch_chunk}, "
        f"{config.fetch_duration:g} s",
        f'UID SEARCH TEXT "{TEXT_WORD}"               × {config.search_rounds}',
        f'UID SEARCH BODY "{BODY_WORD}"               × {config.search_rounds}',
        f"IDLE                                     while {idle_count} messages arrive at "
        f"{config.idle_rate:g}/s",
    ]


# --------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One figure of the table: how to get it from a result and which way is better."""

    title: str
    value: Callable[[ServerResult], float | None]
    pattern: str = "{:.1f}"
    higher_is_better: bool = False


def _per(
    phase: str, unit: Callable[[ServerResult], float | None]
) -> Callable[[ServerResult], float | None]:
    """Server CPU milliseconds per unit of work of `phase`."""

    def value(r: ServerResult) -> float | None:
        cpu, units = r.server_cpu.get(phase), unit(r)
        return 1000 * cpu / units if cpu is not None and units else None

    return value


def _search_percentile(key: str, q: float) -> Callable[[ServerResult], float | None]:
    return lambda r: percentile_ms(r.searches.get(key, []), q)


def _rows(config: ImapConfig) -> list[Row]:
    ms = percentile_ms
    rows = [
        Row("SELECT INBOX p50 ms", lambda r: ms(r.select, 0.5)),
        Row("SELECT INBOX p99 ms", lambda r: ms(r.select, 0.99)),
        Row("UID FETCH 1:* (FLAGS) p50 ms", lambda r: ms(r.flags, 0.5)),
        Row("UID FETCH 1:* (FLAGS) p99 ms", lambda r: ms(r.flags, 0.99)),
        Row(
            f"BODY.PEEK[] MB/s, {config.clients} clients",
            lambda r: r.fetch_mb_s,
            higher_is_better=True,
        ),
        Row(
            "BODY.PEEK[] messages/s",
            lambda r: r.fetch_msg_s,
            "{:,.0f}",
            higher_is_better=True,
        ),
        Row(f"BODY.PEEK[] chunk of {config.fetch_chunk} p50 ms", lambda r: ms(r.fetch, 0.5)),
        Row(f"BODY.PEEK[] chunk of {config.fetch_chunk} p99 ms", lambda r: ms(r.fetch, 0.99)),
    ]
    for key, word in (("text", TEXT_WORD), ("body", BODY_WORD)):
        name = f'UID SEARCH {key.upper()} "{word}"'
        rows += [
            Row(f"{name} p50 ms", _search_percentile(key, 0.5)),
            Row(f"{name} p99 ms", _search_percentile(key, 0.99)),
        ]
    rows += [
        Row("IDLE delivery → EXISTS p50 ms", lambda r: ms(r.idle, 0.5)),
        Row("IDLE delivery → EXISTS p99 ms", lambda r: ms(r.idle, 0.99)),
        Row("IDLE delivery → EXISTS max ms", lambda r: ms(r.idle, 1.0)),
        Row("server CPU ms per SELECT", _per("select", lambda r: len(r.select)), "{:.2f}"),
        Row("server CPU ms per FLAGS fetch", _per("flags", lambda r: len(r.flags)), "{:.1f}"),
        Row(
            "server CPU ms per MB of bodies",
            _per("fetch", lambda r: r.fetch_bytes / 1e6),
            "{:.1f}",
        ),
        Row(
            "bench client CPU ms per MB of bodies",
            lambda r: (
                1000 * r.client_cpu["fetch"] / (r.fetch_bytes / 1e6)
                if "fetch" in r.client_cpu and r.fetch_bytes
                else None
            ),
            "{:.1f}",
        ),
        Row(
            "server CPU ms per SEARCH",
            _per("search", lambda r: sum(len(v) for v in r.searches.values())),
            "{:.1f}",
        ),
        Row(
            "server CPU ms per IDLE notification (ephemail: with the SMTP ingest)",
            _per("idle", lambda r: len(r.idle)),
            "{:.2f}",
        ),
    ]
    return rows


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "—"
    return f"{value / reference:.2f}×"


def render_imap_markdown(report: ImapReport) -> str:
    """The report as markdown (the body of the docs/benchmarks.md section)."""
    cfg = report.config
    c = report.corpus
    results = report.results
    dovecot = next((r for r in results if r.key == "dovecot"), None)
    ours = [r for r in results if r.key != "dovecot"]
    idle_count = max(1, round(cfg.idle_rate * cfg.idle_duration))
    n = int(c.get("messages", 0))
    out = [
        "## IMAP: ephemail next to Dovecot",
        "",
        *run_lines(report),
        f"- Mailbox: one INBOX of {n:,} generated messages, {c.get('bytes', 0) / 1e6:,.1f} MB "
        f"(2–20 KB, mean {c.get('bytes', 0) / max(n, 1) / 1000:.1f} KB; "
        f"{int(c.get('multipart', 0)):,} multipart, {int(c.get('attachments', 0)):,} with a "
        "base64 attachment), the same bytes in every server: ephemail received them over "
        f"SMTP ({cfg.seed_connections} connections, before timing), Dovecot found them in its "
        "Maildir `cur/`, behind a `Received:` trace line of the same shape as the one "
        "ephemail adds. The SEARCH words were planted in "
        f"{int(c.get('text_matches', 0))} (TEXT: subject or body) and "
        f"{int(c.get('body_matches', 0))} (BODY) messages; every search must find exactly "
        "those.",
        f"- Client: one asyncio process written for the benchmark (raw sockets, no IMAP "
        f"library), {cfg.clients} connections per server, logged in with INBOX selected "
        "before timing; every figure comes from all connections working at once (SELECT "
        "and FLAGS after one untimed command per connection). Servers "
        "alternate phase by phase (SELECT on each, then FLAGS on each, …). BODY.PEEK[]: each "
        f"connection fetches chunks of {cfg.fetch_chunk} UIDs back to back for "
        f"{cfg.fetch_duration:g} s, starting at its own place in the mailbox; MB = 10⁶ "
        "bytes of message literals.",
        f"- IDLE: all {cfg.clients} connections idle on INBOX while {idle_count} messages of "
        f"~2 KB arrive at {cfg.idle_rate:g}/s; latency = the client reading the `* n EXISTS` "
        "that covers a message − its delivery, per connection and message. **The delivery is "
        "not the same for both servers**: ephemail gets the message over SMTP and the clock "
        "starts when the sender reads the `250` to DATA (ingest, storage and notification "
        "are all inside the figure); Dovecot has no SMTP here, so the message file is "
        "renamed from `tmp/` into the Maildir's `new/` and the clock starts when `rename` "
        "returns (Dovecot learns of it through inotify; a change arms a 0.5 s timer, its "
        "`NOTIFY_DELAY_MSECS`, and idling clients are told when it fires: its figure is "
        "mostly that wait, by design).",
        "- Ratio = ephemail ÷ Dovecot: above 1× is slower for times and CPU, below 1× is "
        "slower for MB/s and messages/s. Server CPU: the server's process tree (Dovecot: "
        "master, login and one `imap` process per connection; ephemail on PostgreSQL: plus "
        "PostgreSQL). Client and servers share the 2 CPUs.",
        "",
        *command_lines(report.commands),
    ]
    columns = [*ours, *([dovecot] if dovecot else [])]
    header = "| figure | " + " | ".join(r.title for r in columns)
    align = "|---|" + "---:|" * len(columns)
    if dovecot is not None:
        header += "".join(f" | {r.title.removeprefix('ephemail ')} ÷ Dovecot" for r in ours)
        align += "---:|" * len(ours)
    out += [header + " |", align]
    for row in _rows(cfg):
        cells = [fmt(row.value(r), row.pattern) for r in columns]
        if dovecot is not None:
            cells += [_ratio(row.value(r), row.value(dovecot)) for r in ours]
        out.append(f"| {row.title} | " + " | ".join(cells) + " |")
    out.append("")
    lost = ", ".join(f"{r.title} {r.idle_lost}" for r in columns)
    out.append(
        f"IDLE notifications missed ({idle_count} messages × {cfg.clients} connections, "
        f"none after {cfg.idle_grace:g} s): {lost}."
    )
    checks = "; ".join(f"{r.title}: {r.body_check}" for r in columns if r.body_check)
    if checks:
        out.append(f"Bodies: {checks}.")
    seeded = [r for r in ours if r.seed_seconds]
    if seeded:
        out.append(
            "SMTP delivery of the mailbox (untimed setup): "
            + "; ".join(
                f"{r.title} {r.stored:,} messages in {r.seed_seconds:.0f} s"
                for r in seeded
                if r.seed_seconds
            )
            + "."
        )
    out += ["", "Targets (issue 4):", ""]
    for r in ours:
        ref = dovecot.fetch_mb_s if dovecot else None
        ratio = r.fetch_mb_s / ref if r.fetch_mb_s is not None and ref else None
        verdict = "—" if ratio is None else ("✓" if ratio >= TARGET_FETCH_RATIO else "✗")
        p99 = percentile_ms(r.idle, 0.99)
        idle_ok = "—" if p99 is None else ("✓" if p99 < TARGET_IDLE_MS and not r.idle_lost else "✗")
        out.append(
            f"- {r.title}: FETCH throughput ≥ {100 * TARGET_FETCH_RATIO:.0f} % of Dovecot's: "
            f"{fmt(None if ratio is None else 100 * ratio, '{:.0f}')} % {verdict}; IDLE "
            f"notification p99 < {TARGET_IDLE_MS:.0f} ms: {fmt(p99)} ms {idle_ok}"
        )
    out += failure_lines(report.failures)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit("run it with: python -m bench.run --suite imap")
