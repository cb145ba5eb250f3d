"""HTTP read benchmark: listing and search latency over a store of 100,000 messages.

For each store (SQLite, PostgreSQL) a fresh database is seeded with a synthetic but varied
corpus, written through ``SqlStore.write_deliveries`` (the ingest transaction, which also
fills the search index), in a child process that runs the same ephemail source as the
server. ``ephemail serve`` is then started on each seeded database and 20 keep-alive
``httpx`` clients request one operation at a time (a mailbox page, a deep page, a search)
for a fixed duration; the latency of every request is recorded. Each operation is then
measured again with a single client. Operations alternate between the two stores.

The corpus (deterministic for a given seed): a vocabulary of English words and made-up
words drawn with a Zipf distribution (so some words are in a third of the messages),
3 of 20,000 rare words per message (each in ~15 messages), a few thousand subjects and
senders, messages of 2–50 KiB (log-uniform total size), half with an HTML alternative,
30 % of those over 8 KiB with an attachment.
About 1 message in 100 contains the phrase "delivery status notification". Messages are
spread over 1,000 mailboxes: one big mailbox with 12 % of them (12,000), four with 3 %
each, the rest over the others (log-normal weights).

Run as ``python -m bench.run --suite http`` (see bench/README.md); the seeding child is
``python -m bench.http_read seed ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from tests.support.postgres import PostgresServer, free_port

from bench.common import (
    REPO,
    STORE_TITLES,
    STORES,
    ReportBase,
    ServerProcess,
    bench_workspace,
    clean_env,
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

LIST_TARGET_MS = 50.0
SEARCH_TARGET_MS = 200.0
DOMAIN = "bench.test"
PHRASE = "delivery status notification"
READY_TIMEOUT = 120.0
# The paced phase runs at this fraction of the back-to-back throughput of the same run.
PACED_FRACTION = 0.5

# --------------------------------------------------------------------------------------
# corpus
# --------------------------------------------------------------------------------------
# The most frequent ranks of the vocabulary: ordinary words of transactional and personal
# mail. The long tail is made-up words (see _pseudo_words).
_REAL_WORDS_TEXT = """
the to and of a in for you is your on this with that be are we it at from have as our
will please can by or not an all if has was more about any us their new here information
account order team time one just get update now see would there when which they message
help today also email like service day use need week contact know customer thank thanks
payment support details new free best first make only other some review check last offer
back work free call report year may them project meeting next should could into these
what how want up out good details order link following access been still our delivery
status notification invoice receipt shipping package tracking address number password
reset code verify verification security sign login device browser request confirm
confirmation subscription plan billing card amount total due date balance statement
transfer bank refund return item items product products price discount sale store shop
cart checkout coupon newsletter weekly monthly daily digest summary agenda schedule
calendar invitation invite event team members group project document file attached
attachment draft version changes comments feedback review approve approved pending
deadline tomorrow friday monday morning afternoon evening office remote call video
conference room notes minutes action items follow question answer issue ticket case
problem error failed success completed started running build deploy release server
database backup alert warning critical incident resolved monitor usage limit quota
storage upgrade trial expire expired renew renewal license key token api developer
platform settings profile preferences privacy policy terms agreement legal notice
important urgent reminder final second first travel flight hotel booking reservation
trip itinerary departure arrival gate seat boarding pass ticket train station airport
weather photos album shared folder download upload link expires family friends dinner
weekend birthday party holiday vacation garden house rent lease apartment kitchen
"""
_REAL_WORDS = _REAL_WORDS_TEXT.split()

_SYLLABLES_TEXT = """
ba ko ri ta mel dor vin sa lu pre ton gar ex fi nor qua ze pol dra mi ven thu cal ro bes
kin lo mar tri sen
"""
_SYLLABLES = _SYLLABLES_TEXT.split()

_FIRST_NAMES_TEXT = """
alice bob carol dave erin frank grace heidi ivan judy mallory nia oscar peggy rupert
sybil trent uma victor wendy xavier yara zoe amir bianca chen dmitri elena farah goran
hana ines jonas kenji lena marco nadia omar priya quinn rosa
"""
_FIRST_NAMES = _FIRST_NAMES_TEXT.split()
_LAST_NAMES_TEXT = """
smith jones garcia miller davis lopez wilson anderson thomas taylor moore jackson martin
lee perez thompson white harris sanchez clark ramirez lewis robinson walker young allen
king wright scott torres nguyen hill flores green adams nelson baker hall
"""
_LAST_NAMES = _LAST_NAMES_TEXT.split()
_SENDER_DOMAINS_TEXT = """
example.org example.com mail.example.net shop.example news.example.org
billing.example.com travel.example alerts.example.io team.example.dev bank.example.co
social.example community.example.org support.example.com cloud.example.net
store.example.org
"""
_SENDER_DOMAINS = _SENDER_DOMAINS_TEXT.split()
_SERVICE_LOCALS_TEXT = """
noreply no-reply info news billing alerts support hello team orders
"""
_SERVICE_LOCALS = _SERVICE_LOCALS_TEXT.split()
_ATTACHMENTS = (
    ("invoice-{n}.pdf", "application/pdf"),
    ("report-{n}.pdf", "application/pdf"),
    ("photo-{n}.jpg", "image/jpeg"),
    ("data-{n}.csv", "text/csv"),
    ("notes-{n}.txt", "text/plain"),
    ("slides-{n}.zip", "application/zip"),
)


@dataclass(frozen=True)
class CorpusConfig:
    """Shape of the seeded data set; everything else scales with `messages`."""

    messages: int = 100_000
    seed: int = 20261121
    batch: int = 250

    @property
    def mailboxes(self) -> int:
        """1,000 mailboxes for 100,000 messages; at least 10."""
        return max(10, min(1000, self.messages // 100))

    @property
    def deep_from(self) -> int:
        """Deep pages start this many messages below the newest of the big mailbox."""
        return min(1000, max(1, int(self.messages * 0.12) // 5))


def _zipf_cumulative(count: int, exponent: float = 1.0) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(count)))


def _pseudo_words(
    rng: random.Random, count: int, taken: set[str], syllables: int | None = None
) -> list[str]:
    """Distinct made-up words of 2-3 syllables (or exactly `syllables`)."""
    words: list[str] = []
    seen = set(taken)
    while len(words) < count:
        length = syllables or rng.choice((2, 3, 3))
        word = "".join(rng.choice(_SYLLABLES) for _ in range(length))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


@dataclass
class SeedMessage:
    """One generated message: its raw bytes and the fields ingest would derive from them."""

    address: str
    raw: bytes
    subject: str
    from_header: str
    sender: str
    to: str
    date: datetime
    message_id: str
    text: str
    html: str | None
    attachments: list[tuple[str, str, int]]
    received_ms: int


class Corpus:
    """Deterministic generator of the seeded messages, with statistics for the queries."""

    def __init__(self, config: CorpusConfig) -> None:
        self.config = config
        rng = random.Random(config.seed)
        self._rng = rng
        real = list(dict.fromkeys(_REAL_WORDS))
        self.vocabulary = real + _pseudo_words(rng, 8000, set(real))
        # Bodies are windows of one long Zipf-distributed word sequence: drawing every
        # word of 100,000 bodies one by one would take minutes.
        self._word_pool = rng.choices(
            self.vocabulary,
            cum_weights=_zipf_cumulative(len(self.vocabulary)),
            k=min(2_000_000, max(100_000, 20 * config.messages)),
        )
        # The rare tail: each message carries 3 of 20,000 words (15 messages per word
        # at 100,000 messages), like the names and codes of real mail.
        self._rare_words = _pseudo_words(rng, 20_000, set(self.vocabulary), syllables=4)
        subject_vocab = self.vocabulary[:3000]
        subject_cum = _zipf_cumulative(len(subject_vocab), 0.8)
        self.subjects = self._subjects(rng, subject_vocab, subject_cum, 3000)
        self.senders = self._senders(rng, 2000)
        self._sender_cum = _zipf_cumulative(len(self.senders), 0.9)
        self._subject_cum = _zipf_cumulative(len(self.subjects), 0.7)
        # Mailboxes: one big (12 %), four medium (3 % each), the rest log-normal.
        n = config.mailboxes
        self.big = f"big@{DOMAIN}"
        self.medium = [f"team{k}@{DOMAIN}" for k in range(1, 5)]
        self.small = [
            f"{rng.choice(_FIRST_NAMES)}.{rng.choice(_LAST_NAMES)}.{j}@{DOMAIN}"
            for j in range(n - 5)
        ]
        self.addresses = [self.big, *self.medium, *self.small]
        rest = [rng.lognormvariate(0, 1) for _ in self.small]
        scale = 0.76 / sum(rest)
        self._mailbox_cum = list(
            itertools.accumulate([0.12, 0.03, 0.03, 0.03, 0.03, *(w * scale for w in rest)])
        )
        blob = rng.randbytes(192 * 1024)
        self._b64_lines = base64.encodebytes(blob).decode("ascii").splitlines()
        self.body_df: Counter[str] = Counter()
        self.big_df: Counter[str] = Counter()  # the same, in the big mailbox only
        self.subject_df: Counter[str] = Counter()
        self.sender_counts: Counter[str] = Counter()
        self.mailbox_counts: Counter[str] = Counter()
        self.phrase_count = 0
        self.raw_bytes = 0
        self.with_html = 0
        self.with_attachments = 0

    @staticmethod
    def _subjects(rng: random.Random, vocab: list[str], cum: list[float], count: int) -> list[str]:
        templates = (
            "{A} {b} {c}",
            "Re: {a} {b} {c} {d}",
            "Fwd: {A} {b}",
            "Your {a} {b} #{n}",
            "Invoice {n} for {a} {b}",
            "[{A}] {b} {c} {d}",
            "Weekly {a} digest: {b} and {c}",
            "{A} {b} — action needed",
            "Reminder: {a} {b} on {c}",
            "{A} {b} {c} {d} {e}",
        )
        subjects: list[str] = []
        seen: set[str] = set()
        while len(subjects) < count:
            a, b, c, d, e = rng.choices(vocab, cum_weights=cum, k=5)
            subject = rng.choice(templates).format(
                A=a.capitalize(), a=a, b=b, c=c, d=d, e=e, n=rng.randint(1000, 99999)
            )
            if subject not in seen:
                seen.add(subject)
                subjects.append(subject)
        return subjects

    @staticmethod
    def _senders(rng: random.Random, count: int) -> list[tuple[str, str]]:
        """(display name, address) pairs: people and services."""
        senders: list[tuple[str, str]] = []
        seen: set[str] = set()
        while len(senders) < count:
            domain = rng.choice(_SENDER_DOMAINS)
            if rng.random() < 0.3:
                local = rng.choice(_SERVICE_LOCALS)
                domain = f"{rng.choice(_LAST_NAMES)}-{domain}"
                name = domain.split(".")[0].replace("-", " ").title()
            else:
                first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
                local = f"{first}.{last}"
                name = f"{first.title()} {last.title()}"
            address = f"{local}@{domain}"
            if address not in seen:
                seen.add(address)
                senders.append((name, address))
        return senders

    def messages(self, start_ms: int, step_ms: int) -> Iterator[SeedMessage]:
        """Every message of the corpus, oldest first, received `step_ms` apart."""
        rng = self._rng
        total = self.config.messages
        mailbox_of = rng.choices(range(len(self.addresses)), cum_weights=self._mailbox_cum, k=total)
        for index in range(total):
            received_ms = start_ms + index * step_ms
            yield self._message(rng, index, self.addresses[mailbox_of[index]], received_ms)

    def _message(self, rng: random.Random, index: int, address: str, ms: int) -> SeedMessage:
        target = int(math.exp(rng.uniform(math.log(2048), math.log(51200))))
        has_html = rng.random() < 0.5
        budget = target - 700
        attachments: list[tuple[str, str, int]] = []
        attachment_lines: list[str] = []
        if target > 8192 and rng.random() < 0.3:
            b64_count = int(budget * rng.uniform(0.4, 0.8)) // 77
            start = rng.randrange(0, len(self._b64_lines) - b64_count)
            attachment_lines = self._b64_lines[start : start + b64_count]
            kind, ctype = rng.choice(_ATTACHMENTS)
            attachments.append((kind.format(n=rng.randint(1, 9999)), ctype, b64_count * 57))
            budget -= b64_count * 77
        text_budget = max(200, int(budget / 2.3) if has_html else budget)
        count = max(20, text_budget // 7)
        start = rng.randrange(0, len(self._word_pool) - count)
        words = self._word_pool[start : start + count]
        for rare in rng.sample(self._rare_words, 3):
            words.insert(rng.randrange(len(words)), rare)
        if rng.random() < 0.01:
            spot = rng.randrange(len(words))
            words[spot:spot] = PHRASE.split()
            self.phrase_count += 1
        name, sender = self.senders[
            rng.choices(range(len(self.senders)), cum_weights=self._sender_cum)[0]
        ]
        subject = self.subjects[
            rng.choices(range(len(self.subjects)), cum_weights=self._subject_cum)[0]
        ]
        first = address.split(".")[0].split("@")[0].title()
        lines = [f"Hello {first},", ""]
        lines += [" ".join(words[i : i + 11]) for i in range(0, len(words), 11)]
        lines += ["", "Best regards,", name]
        text = "\n".join(lines) + "\n"
        html = None
        if has_html:
            paragraphs = "".join(f"<p>{line}</p>\r\n" for line in lines if line)
            html = (
                '<html><head><meta charset="utf-8"></head><body>\r\n'
                f'{paragraphs}<p><a href="https://{sender.split("@")[1]}/m/{index}">'
                "View in browser</a></p>\r\n</body></html>\r\n"
            )
        date = datetime.fromtimestamp(ms / 1000, UTC)
        message_id = f"<{index}.{self.config.seed}@{sender.split('@')[1]}>"
        from_header = f"{name} <{sender}>"
        raw = self._raw(
            address,
            from_header,
            subject,
            date,
            message_id,
            text,
            html,
            attachments,
            attachment_lines,
        )
        distinct = set(words)
        self.body_df.update(distinct)
        if address == self.big:
            self.big_df.update(distinct)
        self.subject_df.update({w.lower() for w in subject.split() if w.isalpha()})
        self.sender_counts[sender] += 1
        self.mailbox_counts[address] += 1
        self.raw_bytes += len(raw)
        self.with_html += html is not None
        self.with_attachments += bool(attachments)
        return SeedMessage(
            address=address,
            raw=raw,
            subject=subject,
            from_header=from_header,
            sender=sender,
            to=address,
            date=date,
            message_id=message_id,
            text=text,
            html=html,
            attachments=attachments,
            received_ms=ms,
        )

    @staticmethod
    def _raw(
        address: str,
        from_header: str,
        subject: str,
        date: datetime,
        message_id: str,
        text: str,
        html: str | None,
        attachments: list[tuple[str, str, int]],
        attachment_lines: list[str],
    ) -> bytes:
        """RFC 5322 bytes of the message (CRLF line ends; RFC 2046 multiparts)."""
        crlf_text = text.replace("\n", "\r\n")
        head = (
            f"Received: from mail.example.org (mail.example.org [192.0.2.10])\r\n"
            f"\tby mx.{DOMAIN} with ESMTP; {format_datetime(date)}\r\n"
            f"From: {from_header}\r\nTo: <{address}>\r\nSubject: {subject}\r\n"
            f"Date: {format_datetime(date)}\r\nMessage-ID: {message_id}\r\n"
            "MIME-Version: 1.0\r\n"
        )
        plain = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        if html is None:
            body_head, body = plain, crlf_text
        else:
            alt = "alt-" + message_id.strip("<>").split("@")[0]
            body_head = f'Content-Type: multipart/alternative; boundary="{alt}"\r\n'
            body = (
                f"--{alt}\r\n{plain}\r\n{crlf_text}\r\n--{alt}\r\n"
                "Content-Type: text/html; charset=utf-8\r\n"
                f"Content-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n--{alt}--\r\n"
            )
        if attachments:
            filename, ctype, _ = attachments[0]
            mixed = "mix-" + message_id.strip("<>").split("@")[0]
            body = (
                f"--{mixed}\r\n{body_head}\r\n{body}\r\n--{mixed}\r\n"
                f'Content-Type: {ctype}; name="{filename}"\r\n'
                f'Content-Disposition: attachment; filename="{filename}"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\n"
                + "\r\n".join(attachment_lines)
                + f"\r\n--{mixed}--\r\n"
            )
            body_head = f'Content-Type: multipart/mixed; boundary="{mixed}"\r\n'
        return (head + body_head + "\r\n" + body).encode("utf-8")

    def queries(self) -> dict[str, str]:
        """Search terms picked from the generated statistics (same for every store)."""
        n = self.config.messages

        def nearest(counts: Counter[str], goal: float, ok: Any = None) -> str:
            candidates = [(w, c) for w, c in counts.items() if ok is None or ok(w)]
            return min(candidates, key=lambda wc: (abs(wc[1] - goal), wc[0]))[0]

        phrase_words = set(PHRASE.split())
        return {
            "common": nearest(self.body_df, 0.3 * n, lambda w: w not in phrase_words),
            # Rare, and present in the big mailbox (its search must find something).
            "rare": nearest(self.body_df, max(2.0, n / 5000), lambda w: self.big_df[w] > 0),
            "phrase": f'"{PHRASE}"',
            "subject": "subject:"
            + nearest(self.subject_df, 0.01 * n, lambda w: len(w) > 3 and w not in phrase_words),
            "from": "from:" + nearest(self.sender_counts, 0.005 * n),
        }


# --------------------------------------------------------------------------------------
# seeding (runs in a child process on the same ephemail source as the server)
# --------------------------------------------------------------------------------------
async def seed_store(database_url: str, config: CorpusConfig) -> dict[str, Any]:
    """Write the corpus through SqlStore.write_deliveries; return the manifest (what the
    load needs: addresses, cursors, queries, and how the seeding went)."""
    import hashlib

    from ephemail.adapters.sql.engine import create_engines
    from ephemail.adapters.sql.migrate import upgrade
    from ephemail.adapters.sql.store import SqlStore
    from ephemail.domain.ids import new_id
    from ephemail.domain.messages import Attachment, ParsedSummary
    from ephemail.ports import Delivery, RecipientDelivery

    corpus = Corpus(config)
    # Received over the past few days, 2.5 s apart on average (ids sort by arrival).
    step_ms = 2500
    start_ms = int(time.time() * 1000) - config.messages * step_ms - 60_000
    engines = create_engines(database_url, sqlite_synchronous="NORMAL")
    await upgrade(engines)
    store = SqlStore(engines)
    big_ids: list[str] = []

    def batches() -> Iterator[list[Delivery]]:
        batch: list[Delivery] = []
        for m in corpus.messages(start_ms, step_ms):
            message_id = new_id(m.received_ms)
            if m.address == corpus.big:
                big_ids.append(message_id)
            summary = ParsedSummary(
                subject=m.subject,
                from_=m.from_header,
                to=(m.to,),
                cc=(),
                reply_to=(),
                date=m.date,
                message_id=m.message_id,
                text=m.text,
                html=m.html,
                attachments=tuple(
                    Attachment(name, ctype, size, None, "attachment")
                    for name, ctype, size in m.attachments
                ),
                headers=(
                    ("From", m.from_header),
                    ("To", f"<{m.to}>"),
                    ("Subject", m.subject),
                    ("Date", format_datetime(m.date)),
                    ("Message-ID", m.message_id),
                ),
                body_text=m.text,
            )
            batch.append(
                Delivery(
                    queue_id=new_id(m.received_ms),
                    raw=m.raw,
                    sha256=hashlib.sha256(m.raw).hexdigest(),
                    summary=summary,
                    envelope_from=m.sender,
                    recipients=(
                        RecipientDelivery(message_id, m.address, m.address.split("@")[1], None),
                    ),
                    received_at=m.date,
                    client_ip="192.0.2.10",
                )
            )
            if len(batch) >= config.batch:
                yield batch
                batch = []
        if batch:
            yield batch

    started = time.perf_counter()
    written = 0
    try:
        # The next batch is generated while the previous one is written (SQLite writes
        # in its writer thread, PostgreSQL in its own processes).
        pending: asyncio.Task[Any] | None = None
        for batch in batches():
            if pending is not None:
                await pending
            pending = asyncio.create_task(store.write_deliveries(batch))
            await asyncio.sleep(0)  # let the write start before generating the next batch
            written += len(batch)
            if written % 10_000 < config.batch:
                rate = written / (time.perf_counter() - started)
                print(f"    seeding: {written:,} ({rate:,.0f} msg/s)", file=sys.stderr, flush=True)
        if pending is not None:
            await pending
        seed_seconds = time.perf_counter() - started
    finally:
        await store.close()
    db_bytes, finish = await _finish_seeding(database_url)
    big_ids.sort(reverse=True)  # newest first, as listed
    rng = random.Random(config.seed + 1)
    deep = big_ids[config.deep_from : max(config.deep_from + 1, len(big_ids) - 50)]
    manifest = {
        "messages": written,
        "mailboxes": len(corpus.mailbox_counts),
        "big": {"address": corpus.big, "count": corpus.mailbox_counts[corpus.big]},
        "medium": {a: corpus.mailbox_counts[a] for a in corpus.medium},
        "small": [a for a in corpus.small if corpus.mailbox_counts[a] > 0],
        "small_median": sorted(corpus.mailbox_counts[a] for a in corpus.small)[
            len(corpus.small) // 2
        ],
        "deep_cursors": rng.sample(deep, min(500, len(deep))),
        "deep_from": config.deep_from,
        "queries": corpus.queries(),
        "phrase_messages": corpus.phrase_count,
        "raw_bytes": corpus.raw_bytes,
        "with_html": corpus.with_html,
        "with_attachments": corpus.with_attachments,
        "seed_seconds": seed_seconds,
        "finish_seconds": finish,
        "db_bytes": db_bytes,
    }
    return manifest


async def _finish_seeding(database_url: str) -> tuple[int, float]:
    """What a long-running server would have done by now; return (database bytes, seconds).

    PostgreSQL: VACUUM ANALYZE (autovacuum would have analyzed the new tables). SQLite:
    a WAL checkpoint, nothing else (ephemail runs no ANALYZE on SQLite).
    """
    started = time.perf_counter()
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        size = sum(p.stat().st_size for p in Path(path).parent.glob(Path(path).name + "*"))
        return size, time.perf_counter() - started
    import asyncpg  # type: ignore[import-untyped,unused-ignore]

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        await conn.execute("VACUUM ANALYZE")
        size = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()
    return size, time.perf_counter() - started


def seed_main(argv: Sequence[str]) -> int:
    """`python -m bench.http_read seed --database-url URL --manifest FILE [--messages N]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.http_read seed")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=CorpusConfig.seed)
    parser.add_argument("--batch", type=int, default=CorpusConfig.batch)
    args = parser.parse_args(argv)
    config = CorpusConfig(messages=args.messages, seed=args.seed, batch=args.batch)
    manifest = asyncio.run(seed_store(args.database_url, config))
    args.manifest.write_text(json.dumps(manifest))
    return 0


# --------------------------------------------------------------------------------------
# the load client
# --------------------------------------------------------------------------------------
@dataclass
class PhaseResult:
    """Requests of one operation against one store with a fixed number of clients."""

    clients: int
    target_rate: float | None = None  # paced (open loop) when set, else back to back
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: int = 0
    first_error: str | None = None
    wall: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    db_cpu: float | None = None

    @property
    def requests(self) -> int:
        """Successful requests."""
        return len(self.latencies)

    @property
    def rate(self) -> float | None:
        """Successful requests per second."""
        return self.requests / self.wall if self.wall and self.latencies else None

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile in milliseconds."""
        return percentile_ms(sorted(self.latencies), q)

    def per_request_ms(self, seconds: float | None) -> float | None:
        """CPU seconds spread over the requests, in ms."""
        if seconds is None or not self.latencies:
            return None
        return 1000 * seconds / self.requests


async def _drive(
    clients: Sequence[Any],
    urls: Iterator[str],
    duration: float,
    result: PhaseResult | None,
    rate: float | None = None,
) -> None:
    """Every client sends requests back to back until `duration` has passed; or, with
    `rate`, request k is due at start + k / rate and goes out on the next free client
    (its latency then counts from the due time, so waiting for a client is included)."""
    start = time.perf_counter()
    deadline = start + duration
    sequence = itertools.count()

    async def worker(client: Any) -> None:
        while True:
            due = None
            if rate is not None:
                due = start + next(sequence) / rate
                if due >= deadline:
                    return
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif time.perf_counter() >= deadline:
                return
            url = next(urls)
            started = time.perf_counter()
            try:
                response = await client.get(url)
                status = response.status_code
                detail = response.text[:200] if status != 200 else ""
            except Exception as exc:
                status, detail = 0, f"{type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - (started if due is None else due)
            if result is None:
                continue
            if status == 200:
                result.latencies.append(elapsed)
            else:
                result.errors += 1
                if result.first_error is None:
                    result.first_error = f"HTTP {status} for {url}: {detail}"

    await asyncio.gather(*(worker(c) for c in clients))


def _start_profiler(pid: int, duration: float, output: Path) -> subprocess.Popen[bytes] | None:
    """py-spy (from the venv or PATH) sampling the GIL holder of `pid`, raw output."""
    candidates = [Path(sys.executable).parent / "py-spy", shutil.which("py-spy")]
    spy = next((str(c) for c in candidates if c and os.access(c, os.X_OK)), None)
    if spy is None:
        print("  py-spy not found: no profile", flush=True)
        return None
    cmd = [spy, "record", "--pid", str(pid), "--duration", str(max(1, round(duration)))]
    cmd += ["--rate", "200", "--gil", "--format", "raw", "--output", str(output)]
    return subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def measure(
    urls: Sequence[str],
    *,
    clients: int,
    duration: float,
    warmup: float,
    server_pid: int,
    db_pid: int | None,
    rate: float | None = None,
    profile: Path | None = None,
) -> PhaseResult:
    """Warm up, then time `clients` keep-alive clients for `duration` seconds (back to
    back, or paced at `rate` requests per second); with `profile`, py-spy samples the
    server meanwhile."""
    import httpx

    result = PhaseResult(clients=clients, target_rate=rate)
    cycle = itertools.cycle(urls)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with contextlib.AsyncExitStack() as stack:
        pool = [
            await stack.enter_async_context(httpx.AsyncClient(timeout=60, limits=limits))
            for _ in range(clients)
        ]
        await _drive(pool, cycle, warmup, None, rate)
        spy = _start_profiler(server_pid, duration, profile) if profile else None
        server_before = tree_cpu(server_pid)
        db_before = tree_cpu(db_pid) if db_pid else None
        cpu_before = time.process_time()
        started = time.perf_counter()
        await _drive(pool, cycle, duration, result, rate)
        result.wall = time.perf_counter() - started
        result.client_cpu = time.process_time() - cpu_before
        result.server_cpu = tree_cpu(server_pid) - server_before
        if db_pid and db_before is not None:
            result.db_cpu = tree_cpu(db_pid) - db_before
        if spy is not None:
            await asyncio.to_thread(spy.wait, 60)
    return result


def _get_json(url: str) -> tuple[int, Any]:
    import httpx

    try:
        response = httpx.get(url, timeout=120)
    except httpx.HTTPError as exc:
        return 0, {"error": {"message": str(exc)}}
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {"error": {"message": response.text[:200]}}


# --------------------------------------------------------------------------------------
# the benchmark
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HttpConfig:
    """What to run."""

    messages: int = 100_000
    clients: int = 20
    duration: float = 10.0  # seconds per operation and store, with `clients` clients
    single_duration: float = 3.0  # seconds per operation and store, one client
    paced_duration: float = 5.0  # seconds per operation and store, paced at half throughput
    warmup: float = 1.0
    stores: tuple[str, ...] = STORES
    operations: tuple[str, ...] | None = None  # None = all
    profile_dir: Path | None = None  # py-spy profiles of an extra, untimed phase
    profile_duration: float = 5.0
    server_env: tuple[tuple[str, str], ...] = ()
    keep: bool = False
    snapshot: bool = True
    python: str = sys.executable


@dataclass(frozen=True)
class Operation:
    """One kind of request, with the URLs (paths and queries) it cycles through."""

    key: str
    kind: str  # "list" or "search"
    title: str
    paths: tuple[str, ...]

    @property
    def target_ms(self) -> float:
        """The p99 target of the issue for this kind of request."""
        return LIST_TARGET_MS if self.kind == "list" else SEARCH_TARGET_MS


OPERATION_KEYS = (
    "list-big",
    "list-deep",
    "list-small",
    "search-mailbox-common",
    "search-mailbox-rare",
    "search-mailbox-phrase",
    "search-mailbox-subject",
    "search-mailbox-from",
    "search-all-common",
    "search-all-rare",
    "search-all-phrase",
    "search-all-from",
)


def _messages_path(address: str, **query: str) -> str:
    base = f"/api/v1/mailboxes/{urllib.parse.quote(address, safe='@')}/messages"
    return base + "?" + urllib.parse.urlencode({"limit": "50", **query})


def build_operations(manifest: dict[str, Any]) -> list[Operation]:
    """The operations of the benchmark for one seeded store."""
    big = manifest["big"]["address"]
    q = manifest["queries"]
    deep_from = manifest["deep_from"]
    ops = [
        Operation("list-big", "list", "list, big mailbox, first page", (_messages_path(big),)),
        Operation(
            "list-deep",
            "list",
            f"list, big mailbox, page ≥ {deep_from:,} deep (cursor)",
            tuple(_messages_path(big, cursor=c) for c in manifest["deep_cursors"]),
        ),
        Operation(
            "list-small",
            "list",
            "list, random small mailbox, first page",
            tuple(_messages_path(a) for a in manifest["small"]),
        ),
    ]
    for key, title in (
        ("common", "common word"),
        ("rare", "rare word"),
        ("phrase", "phrase"),
        ("subject", "field term"),
        ("from", "field term"),
    ):
        ops.append(
            Operation(
                f"search-mailbox-{key}",
                "search",
                f"search big mailbox, {title} `{q[key]}`",
                (_messages_path(big, q=q[key]),),
            )
        )
    for key, title in (
        ("common", "common word"),
        ("rare", "rare word"),
        ("phrase", "phrase"),
        ("from", "field term"),
    ):
        path = "/api/v1/search?" + urllib.parse.urlencode({"q": q[key], "limit": "50"})
        ops.append(
            Operation(f"search-all-{key}", "search", f"search all, {title} `{q[key]}`", (path,))
        )
    return ops


@dataclass
class OpResult:
    """One operation on one store."""

    store: str
    op: Operation
    matched: int | None = None
    unavailable: str | None = None
    concurrent: PhaseResult | None = None
    single: PhaseResult | None = None
    paced: PhaseResult | None = None

    @property
    def failed(self) -> bool:
        """Requests failed while the operation was being timed."""
        return any(p is not None and p.errors for p in (self.concurrent, self.single, self.paced))


@dataclass
class StoreRun:
    """A seeded store and the server started on it."""

    store: str
    workdir: Path
    database_url: str
    manifest: dict[str, Any] = field(default_factory=dict)
    seed_wall: float = 0.0
    proc: ServerProcess | None = None
    http_port: int = 0
    db_pid: int | None = None
    error: str | None = None


@dataclass
class HttpReport(ReportBase[HttpConfig]):
    """Everything needed to print and record one run."""

    stores: dict[str, StoreRun] = field(default_factory=dict)
    results: list[OpResult] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """What went wrong (empty when the run is complete)."""
        out = [f"{s.store}: {s.error}" for s in self.stores.values() if s.error]
        out += [
            f"{r.store} {r.op.key}: "
            + next(p.first_error or "" for p in (r.concurrent, r.single, r.paced) if p and p.errors)
            for r in self.results
            if r.failed
        ]
        return out


def _with_source(env: dict[str, str], src_path: Path | None) -> dict[str, str]:
    """The seeding child and the server import ephemail from the snapshot and the
    benchmark package from the checkout."""
    return with_pythonpath(env, src_path, REPO)


def _seed(config: HttpConfig, run: StoreRun, src_path: Path | None) -> None:
    """Seed the store in a child process (same source as the server); fill run.manifest."""
    manifest_path = run.workdir / "manifest.json"
    cmd = [
        config.python,
        "-m",
        "bench.http_read",
        "seed",
        "--database-url",
        run.database_url,
        "--manifest",
        str(manifest_path),
        "--messages",
        str(config.messages),
    ]
    print(f"  seeding {config.messages:,} messages into {run.store} ...", flush=True)
    started = time.perf_counter()
    done = subprocess.run(
        cmd,
        env=_with_source(clean_env(), src_path),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None,  # progress lines go straight to the terminal
        text=True,
        check=False,
        timeout=max(600.0, config.messages / 50.0),
    )
    run.seed_wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"seeding failed with status {done.returncode}: {done.stdout[-500:]}")
    run.manifest = json.loads(manifest_path.read_text())
    m = run.manifest
    print(
        f"  {run.store}: {m['messages']:,} messages in {m['seed_seconds']:.0f} s "
        f"({m['messages'] / m['seed_seconds']:,.0f} msg/s), database {m['db_bytes'] / 2**20:,.0f} "
        f"MiB",
        flush=True,
    )


def _start_server(config: HttpConfig, run: StoreRun, src_path: Path | None) -> None:
    """Start `ephemail serve` on the seeded database; return once /readyz answers 200."""
    smtp_port, run.http_port = free_port(), free_port()
    env = ephemail_env(
        run.workdir / "data", smtp_port, run.http_port, run.database_url, config.server_env
    )
    cmd = [config.python, "-m", "ephemail", "serve"]
    run.proc = ServerProcess(
        f"ephemail ({run.store})", cmd, _with_source(env, src_path), run.workdir
    )
    run.proc.start()
    run.proc.wait_ready(smtp_port, run.http_port, timeout=READY_TIMEOUT)


def _preflight(run: StoreRun, op: Operation, result: OpResult) -> None:
    """One request before timing: is the route there, and how many messages match?"""
    status, body = _get_json(f"http://127.0.0.1:{run.http_port}{op.paths[0]}")
    if status != 200:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        result.unavailable = f"HTTP {status} {error.get('code', '')}: {error.get('message', '')}"
        return
    total = body.get("total") if isinstance(body, dict) else None
    result.matched = int(total) if isinstance(total, int) else None


def _progress(result: OpResult) -> None:
    tag = f"  [{result.store:<8}] {result.op.key:<24}"
    if result.unavailable:
        print(f"{tag} unavailable: {result.unavailable}", flush=True)
        return
    c, s = result.concurrent, result.single
    parts = []
    if c is not None:
        parts.append(
            f"{c.clients} clients: {fmt(c.rate, '{:,.0f}')} req/s p50 {fmt(c.percentile(0.5))} "
            f"p99 {fmt(c.percentile(0.99))} ms"
        )
    if s is not None:
        parts.append(f"1 client: p50 {fmt(s.percentile(0.5))} p99 {fmt(s.percentile(0.99))} ms")
    paced = result.paced
    if paced is not None:
        parts.append(
            f"paced {fmt(paced.rate, '{:,.0f}')}/s: p50 {fmt(paced.percentile(0.5))} "
            f"p99 {fmt(paced.percentile(0.99))} ms"
        )
    errors = sum(p.errors for p in (c, s, paced) if p is not None)
    if errors:
        parts.append(f"{errors} ERRORS")
    print(f"{tag} " + "; ".join(parts), flush=True)


def _time_operation(config: HttpConfig, run: StoreRun, result: OpResult) -> None:
    """The timed phases of one operation on one store: all clients back to back, one
    client, all clients paced at half the throughput; then the optional profile."""
    assert run.proc is not None
    urls = [f"http://127.0.0.1:{run.http_port}{p}" for p in result.op.paths]

    def phase(clients: int, duration: float, warmup: float, **kw: Any) -> PhaseResult:
        assert run.proc is not None
        return asyncio.run(
            measure(
                urls,
                clients=clients,
                duration=duration,
                warmup=warmup,
                server_pid=run.proc.pid,
                db_pid=run.db_pid,
                **kw,
            )
        )

    result.concurrent = phase(config.clients, config.duration, config.warmup)
    result.single = phase(1, config.single_duration, min(config.warmup, 0.5))
    if config.paced_duration > 0 and result.concurrent.rate:
        rate = PACED_FRACTION * result.concurrent.rate
        result.paced = phase(config.clients, config.paced_duration, 0.5, rate=rate)
    if config.profile_dir is not None:
        config.profile_dir.mkdir(parents=True, exist_ok=True)
        target = config.profile_dir / f"{run.store}-{result.op.key}.txt"
        phase(config.clients, config.profile_duration, 0.5, profile=target)


def run_http_benchmark(config: HttpConfig) -> HttpReport:
    """Seed every store, start a server on each, time every operation (stores alternated)."""
    report = HttpReport(config=config, started=datetime.now(UTC))
    report.machine = machine_description()
    report.machine["load_start"] = load_average()
    runs: list[StoreRun] = []
    with bench_workspace(
        "ephemail-bench-http-", postgres="postgres" in config.stores, keep=config.keep
    ) as (root, pg):
        try:
            _run_stores(config, report, root, pg, runs)
        finally:
            report.machine["load_end"] = load_average()
            for run in runs:
                if run.proc is not None:
                    run.proc.stop()
    return report


def _run_stores(
    config: HttpConfig,
    report: HttpReport,
    root: Path,
    pg: PostgresServer | None,
    runs: list[StoreRun],
) -> None:
    """Seed the stores, start their servers (appended to `runs`), time the operations."""
    src_path = snapshot_source(root) if config.snapshot else None
    report.versions = server_versions(config.python, pg, ("uvicorn", "fastapi", "httpx"))
    if src_path is not None:
        report.versions["ephemail"] += " (source snapshot taken at start)"
    report.commands = _commands(config)
    for store in config.stores:
        workdir = Path(tempfile.mkdtemp(prefix=f"{store}-", dir=root))
        if store == "sqlite":
            url = f"sqlite:///{workdir / 'data' / 'ephemail.sqlite3'}"
        else:
            assert pg is not None
            url = pg.create_database(f"bench_http_{os.getpid()}")
        run = StoreRun(store=store, workdir=workdir, database_url=url)
        if pg is not None and store == "postgres":
            run.db_pid = postmaster_pid(pg)
        report.stores[store] = run
        try:
            _seed(config, run, src_path)
        except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as exc:
            run.error = f"seeding failed: {exc}"
            print(f"  {store}: {run.error}", flush=True)
            continue
        runs.append(run)
    for run in runs:
        try:
            _start_server(config, run, src_path)
        except RuntimeError as exc:
            run.error = f"server did not start: {exc}"
            print(f"  {run.store}: {run.error}", flush=True)
    live = [r for r in runs if r.error is None]
    operations = {r.store: build_operations(r.manifest) for r in live}
    keys = [k for k in OPERATION_KEYS if config.operations is None or k in config.operations]
    for key in keys:
        for run in live:
            op = next(o for o in operations[run.store] if o.key == key)
            result = OpResult(store=run.store, op=op)
            report.results.append(result)
            _preflight(run, op, result)
            if result.unavailable is None:
                _time_operation(config, run, result)
            _progress(result)
            if run.proc is not None and run.proc.exit_status() is not None:
                run.error = f"server exited: {run.proc.exit_status()}"
        live = [r for r in live if r.error is None]


def _commands(config: HttpConfig) -> list[str]:
    base = ephemail_env_text(config.server_env, "EPHEMAIL_DATABASE_URL=<seeded db>")
    return [
        "# seed (one per store, a child process on the server's source)",
        f"python -m bench.http_read seed --database-url <sqlite:///… or postgresql://…> "
        f"--manifest FILE --messages {config.messages}",
        "# server",
        f"{base} python -m ephemail serve",
        f"# load: {config.clients} httpx.AsyncClient (one keep-alive connection each), "
        f"back to back, {config.warmup:g} s warm-up + {config.duration:g} s per operation "
        f"and store; then 1 client for {config.single_duration:g} s; then "
        f"{config.clients} clients paced at {PACED_FRACTION:.0%} of that throughput for "
        f"{config.paced_duration:g} s",
    ]


# --------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------
def _cpu(many: float | None, c: PhaseResult, one: float | None, s: PhaseResult) -> str:
    """CPU ms per request with all clients / with one client."""
    return f"{fmt(c.per_request_ms(many), '{:.2f}')} / {fmt(s.per_request_ms(one), '{:.2f}')}"


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f}"


def render_http_markdown(report: HttpReport) -> str:
    """The report as markdown (the body of the docs/benchmarks.md section)."""
    cfg = report.config
    manifest = next((s.manifest for s in report.stores.values() if s.manifest), {})
    out = [
        "## HTTP reads: listing and search",
        "",
        *run_lines(report),
    ]
    if manifest:
        q = manifest["queries"]
        out += [
            f"- Data: {manifest['messages']:,} messages ({manifest['raw_bytes'] / 2**20:,.0f} "
            f"MiB raw; {manifest['with_html']:,} with an HTML part, "
            f"{manifest['with_attachments']:,} with an attachment; 2–50 KiB, log-uniform) in "
            f"{manifest['mailboxes']:,} mailboxes: the big one holds "
            f"{manifest['big']['count']:,}, four hold ~3 % each, a small one holds "
            f"{manifest['small_median']} (median). Words drawn from a Zipf distribution over "
            f"~8,500 words; {manifest['phrase_messages']:,} messages contain the phrase. "
            f"Queries: common `{q['common']}`, rare `{q['rare']}`, phrase `{q['phrase']}`, "
            f"`{q['subject']}`, `{q['from']}`.",
        ]
    out += [
        "- Seeded through `SqlStore.write_deliveries` (the ingest transaction: it fills the "
        "search index) in batches of 250; then PostgreSQL gets `VACUUM ANALYZE`, SQLite a WAL "
        "checkpoint (ephemail runs no ANALYZE on SQLite).",
        f"- Load: {cfg.clients} concurrent keep-alive clients sending back to back (closed "
        f"loop) for {cfg.duration:g} s per operation and store after {cfg.warmup:g} s of "
        f"warm-up, then 1 client for {cfg.single_duration:g} s, then {cfg.clients} clients "
        f"paced (open loop) at {PACED_FRACTION:.0%} of the back-to-back throughput for "
        f"{cfg.paced_duration:g} s (latency counted from each request's due time). Latency = "
        "request sent to response read, in the client. Stores alternate per operation. The "
        "client (one "
        "Python process) shares the 2 CPUs with the server and PostgreSQL: with 20 clients "
        "the server is saturated, so the 20-client latencies are mostly queueing "
        "(≈ clients / throughput); the 1-client column is the service time.",
        f"- CPU ms/req: CPU time of the ephemail process (all threads) and of PostgreSQL "
        f"(postmaster and backends) during the {cfg.clients}-client / 1-client phase, "
        "divided by its requests; client CPU: the benchmark process (httpx), "
        f"{cfg.clients}-client phase.",
        "",
        *command_lines(report.commands),
    ]
    if report.stores:
        out += [
            "| store | seeding | msg/s | database MiB |",
            "|---|---:|---:|---:|",
        ]
        for run in report.stores.values():
            if run.manifest:
                mf = run.manifest
                out.append(
                    f"| {STORE_TITLES[run.store]} | {mf['seed_seconds']:.0f} s | "
                    f"{mf['messages'] / mf['seed_seconds']:,.0f} | {_mib(mf['db_bytes'])} |"
                )
            else:
                out.append(f"| {STORE_TITLES[run.store]} | failed: {run.error} | — | — |")
        out.append("")
    for store in cfg.stores:
        rows = [r for r in report.results if r.store == store]
        if not rows:
            continue
        out += [
            f"### {STORE_TITLES[store]}",
            "",
            f"| operation | matches | {cfg.clients} clients req/s | p50 ms | p99 ms | max ms "
            "| 1 client p50 ms | p99 ms | paced req/s | p50 ms | p99 ms "
            "| ephemail CPU ms/req | PostgreSQL CPU ms/req | client CPU ms/req | target p99 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in rows:
            if r.unavailable:
                out.append(
                    f"| {r.op.title} | — | unavailable: {r.unavailable.replace('|', '/')} "
                    "| | | | | | | | | | | | |"
                )
                continue
            c, s, paced = r.concurrent, r.single, r.paced
            assert c is not None
            assert s is not None
            p99 = c.percentile(0.99)
            verdict = "—"
            if p99 is not None:
                mark = "✓" if p99 < r.op.target_ms else "✗"
                verdict = f"< {r.op.target_ms:.0f} ms {mark}"
            errors = sum(p.errors for p in (c, s, paced) if p is not None)
            if errors:
                verdict += f" ({errors} errors)"
            paced_cells = "| — | — | —"
            if paced is not None:
                paced_cells = (
                    f"| {fmt(paced.rate, '{:,.0f}')} | {fmt(paced.percentile(0.5))} "
                    f"| {fmt(paced.percentile(0.99))}"
                )
            out.append(
                f"| {r.op.title} | {fmt(r.matched, '{:,}') if r.matched is not None else '—'} "
                f"| {fmt(c.rate, '{:,.0f}')} | {fmt(c.percentile(0.5))} | {fmt(p99)} "
                f"| {fmt(c.percentile(1.0))} | {fmt(s.percentile(0.5))} "
                f"| {fmt(s.percentile(0.99))} {paced_cells} "
                f"| {_cpu(c.server_cpu, c, s.server_cpu, s)} "
                f"| {_cpu(c.db_cpu, c, s.db_cpu, s)} "
                f"| {fmt(c.per_request_ms(c.client_cpu), '{:.2f}')} | {verdict} |"
            )
        out.append("")
    out.append(
        f"Targets (issue 3): list p99 < {LIST_TARGET_MS:.0f} ms, search p99 < "
        f"{SEARCH_TARGET_MS:.0f} ms, under {cfg.clients} concurrent clients (✓ met, ✗ missed)."
    )
    out += failure_lines(report.failures)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if sys.argv[1:2] == ["seed"]:
        raise SystemExit(seed_main(sys.argv[2:]))
    raise SystemExit(
        "usage: python -m bench.http_read seed ... (the benchmark: python -m bench.run)"
    )
