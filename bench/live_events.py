"""Live events benchmark: SMTP-accept-to-WebSocket-delivery latency under paced ingest.

For each store a fresh ``ephemail serve`` is started (fresh data directory, fresh PostgreSQL
database). One WebSocket client subscribes to ``WS /api/v1/events?mailbox=<address>``;
then a paced sender delivers messages to that address over SMTP at a fixed rate (500/s by
default) through several reused connections, each message on a fixed schedule (message
*i* is due at start + i / rate). For every message the time from reading the ``250``
reply to DATA to the arrival of its ``message.received`` frame is recorded (matched by a
sequence number in the subject, which the event carries in ``data.subject``).

The sender speaks SMTP directly over asyncio streams with PIPELINING (RFC 2920: MAIL,
RCPT and DATA in one write), so the client stays cheap next to the server on the two
cores; sender and WebSocket reader share one event loop and one clock
(``time.perf_counter``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
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

TARGET_MS = 50.0
SENDER = "sender@example.org"
RECIPIENT = "live@bench.test"
READY_TIMEOUT = 90.0


@dataclass(frozen=True)
class EventsConfig:
    """What to run."""

    rates: tuple[float, ...] = (500.0,)  # messages per second; one load per rate and store
    duration: float = 20.0  # seconds of paced sending per store
    connections: int = 20  # SMTP connections the schedule is spread over
    size: int = 2048  # bytes per message (approximately)
    warmup: float = 1.0  # messages due in the first second are not counted
    grace: float = 10.0  # how long to wait for missing frames after the last 250
    stores: tuple[str, ...] = STORES
    server_env: tuple[tuple[str, str], ...] = ()
    keep: bool = False
    snapshot: bool = True
    python: str = sys.executable

    def messages(self, rate: float) -> int:
        """Messages sent per load at `rate`."""
        return max(1, round(rate * self.duration))


@dataclass
class Sent:
    """One message on the schedule."""

    due: float
    started: float = 0.0  # MAIL FROM written
    accepted: float | None = None  # 250 to DATA read
    reply: str = ""


@dataclass
class EventsResult:
    """One store."""

    store: str
    rate: float
    messages: int
    sent: list[Sent] = field(default_factory=list)
    arrivals: dict[int, float] = field(default_factory=dict)
    duplicates: int = 0
    frames: int = 0
    closed: str | None = None  # how the WebSocket ended, when it ended early
    error: str | None = None
    server_cpu: float | None = None
    db_cpu: float | None = None
    client_cpu: float | None = None
    send_wall: float = 0.0
    warmup: float = 1.0

    # -- derived -----------------------------------------------------------------
    def _counted(self) -> list[int]:
        start = self.sent[0].due if self.sent else 0.0
        return [
            i
            for i, s in enumerate(self.sent)
            if s.accepted is not None and s.due - start >= self.warmup
        ]

    @property
    def accepted(self) -> int:
        """Messages that got a 250."""
        return sum(1 for s in self.sent if s.accepted is not None)

    @property
    def rejected(self) -> int:
        """Messages that got anything else (or no reply)."""
        return len(self.sent) - self.accepted

    @property
    def lost(self) -> int:
        """Accepted messages whose frame never arrived."""
        return sum(1 for i, s in enumerate(self.sent) if s.accepted and i not in self.arrivals)

    @property
    def achieved_rate(self) -> float | None:
        """Accepted messages per second, first due time to last 250."""
        done = [s.accepted for s in self.sent if s.accepted is not None]
        if len(done) < 2:
            return None
        return len(done) / (max(done) - self.sent[0].due)

    def latencies(self) -> list[float]:
        """250-to-frame latency (seconds) of every counted message that arrived."""
        out = []
        for i in self._counted():
            accepted = self.sent[i].accepted
            if i in self.arrivals and accepted is not None:
                out.append(self.arrivals[i] - accepted)
        return sorted(out)

    def smtp_latencies(self) -> list[float]:
        """MAIL FROM written to 250 read, per counted message (seconds)."""
        out = []
        for i in self._counted():
            accepted = self.sent[i].accepted
            if accepted is not None:
                out.append(accepted - self.sent[i].started)
        return sorted(out)

    def lateness(self) -> list[float]:
        """How late the sender started each message against its schedule (seconds)."""
        return sorted(max(0.0, s.started - s.due) for s in self.sent if s.started)


# --------------------------------------------------------------------------------------
# the paced SMTP sender and the WebSocket reader
# --------------------------------------------------------------------------------------
def _message(seq: int, recipient: str, size: int) -> bytes:
    """One message whose subject carries its sequence number; dot-stuffing-free body."""
    head = (
        f"From: Bench <{SENDER}>\r\nTo: <{recipient}>\r\nSubject: live {seq}\r\n"
        f"Message-ID: <live.{seq}.{os.getpid()}@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    line = "The quick brown fox jumps over the lazy dog, again and again.\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body + ".\r\n").encode()


async def _reply(reader: asyncio.StreamReader) -> str:
    """One SMTP reply (RFC 5321 section 4.2: continuation lines have '-' after the code)."""
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed by the server")
        lines.append(line.decode(errors="replace").rstrip())
        if len(line) < 4 or line[3:4] != b"-":
            return "\n".join(lines)


async def _sender(
    port: int,
    recipient: str,
    schedule: list[Sent],
    sequence: itertools.count[int],
    messages: list[bytes],
) -> None:
    """One SMTP connection: take the next due message, send it on time, record the 250."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        greeting = await _reply(reader)
        if not greeting.startswith("220"):
            raise ConnectionError(f"greeting {greeting!r}")
        writer.write(b"EHLO bench.example.org\r\n")
        if not (await _reply(reader)).startswith("250"):
            raise ConnectionError("EHLO refused")
        envelope = f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode()
        while (i := next(sequence)) < len(schedule):
            item = schedule[i]
            delay = item.due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            item.started = time.perf_counter()
            writer.write(envelope)  # PIPELINING (RFC 2920)
            replies = [await _reply(reader) for _ in range(3)]
            if not replies[2].startswith("354"):
                item.reply = " / ".join(replies)
                writer.write(b"RSET\r\n")
                await _reply(reader)
                continue
            writer.write(messages[i])
            reply = await _reply(reader)
            if reply.startswith("250"):
                item.accepted = time.perf_counter()
            item.reply = reply
        writer.write(b"QUIT\r\n")
        with contextlib.suppress(ConnectionError):
            await _reply(reader)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def _reader(ws: Any, result: EventsResult, ready: asyncio.Event) -> None:
    """Record the arrival time of every `message.received` frame (by subject number)."""
    try:
        async for frame in ws:
            now = time.perf_counter()
            result.frames += 1
            event = json.loads(frame)
            if event.get("type") != "message.received":
                continue
            subject = str(event.get("data", {}).get("subject", ""))
            if not subject.startswith("live "):
                continue
            seq = int(subject[5:])
            if seq < 0:
                ready.set()  # the probe message
                continue
            if seq in result.arrivals:
                result.duplicates += 1
            else:
                result.arrivals[seq] = now
    except Exception as exc:
        code = getattr(getattr(exc, "rcvd", None), "code", None)
        reason = getattr(getattr(exc, "rcvd", None), "reason", "")
        result.closed = f"{type(exc).__name__} (close {code} {reason})".strip()


async def _send_one(port: int, recipient: str, seq: int, size: int) -> None:
    schedule = [Sent(due=time.perf_counter())]
    await _sender(port, recipient, schedule, itertools.count(), [_message(seq, recipient, size)])
    if schedule[0].accepted is None:
        raise RuntimeError(f"probe message refused: {schedule[0].reply}")


async def run_load(
    config: EventsConfig, smtp_port: int, http_port: int, recipient: str, result: EventsResult
) -> None:
    """Subscribe, check the pipeline with one probe message, then send `result.messages`
    messages at `result.rate` per second."""
    from websockets.asyncio.client import connect

    query = urllib.parse.urlencode({"mailbox": recipient})
    async with connect(f"ws://127.0.0.1:{http_port}/api/v1/events?{query}", max_size=None) as ws:
        ready = asyncio.Event()
        reading = asyncio.create_task(_reader(ws, result, ready))
        await _send_one(smtp_port, recipient, -1, config.size)
        try:
            await asyncio.wait_for(ready.wait(), 30)
        except TimeoutError:
            raise RuntimeError("the probe message's event did not arrive within 30 s") from None
        messages = [_message(i, recipient, config.size) for i in range(result.messages)]
        start = time.perf_counter() + 0.2
        result.sent = [Sent(due=start + i / result.rate) for i in range(result.messages)]
        sequence = itertools.count()
        senders = [
            asyncio.create_task(_sender(smtp_port, recipient, result.sent, sequence, messages))
            for _ in range(config.connections)
        ]
        outcomes = await asyncio.gather(*senders, return_exceptions=True)
        result.send_wall = time.perf_counter() - start
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            result.error = f"SMTP sender failed: {type(errors[0]).__name__}: {errors[0]}"
        deadline = time.perf_counter() + config.grace
        while time.perf_counter() < deadline and not reading.done():
            if all(i in result.arrivals for i, s in enumerate(result.sent) if s.accepted):
                break
            await asyncio.sleep(0.05)
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading


# --------------------------------------------------------------------------------------
# the benchmark
# --------------------------------------------------------------------------------------
@dataclass
class EventsReport(ReportBase[EventsConfig]):
    """Everything needed to print and record one run."""

    results: list[EventsResult] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """What went wrong (empty when every store ran to the end)."""
        return [f"{r.store}: {r.error}" for r in self.results if r.error]


def run_one(
    config: EventsConfig,
    store: str,
    rate: float,
    root: Path,
    pg: PostgresServer | None,
    src: Path | None,
) -> EventsResult:
    """Start a fresh server on `store`, run the paced load at `rate`, stop the server."""
    result = EventsResult(
        store=store, rate=rate, messages=config.messages(rate), warmup=config.warmup
    )
    workdir = Path(tempfile.mkdtemp(prefix=f"events-{store}-{rate:g}-", dir=root))
    smtp_port, http_port = free_port(), free_port()
    url: str | None = None
    db_name: str | None = None
    db_pid: int | None = None
    if store == "postgres":
        assert pg is not None
        db_name = f"bench_events_{os.getpid()}"
        url = pg.create_database(db_name)
        db_pid = postmaster_pid(pg)
    env = ephemail_env(workdir / "data", smtp_port, http_port, url, config.server_env)
    if src is not None:
        env = with_pythonpath(env, src, REPO)
    proc = ServerProcess(
        f"ephemail ({store})", [config.python, "-m", "ephemail", "serve"], env, workdir
    )
    recipient = RECIPIENT
    try:
        proc.start()
        try:
            proc.wait_ready(smtp_port, http_port, timeout=READY_TIMEOUT)
        except RuntimeError as exc:
            result.error = f"server failed to start: {exc}"
            return result
        server_before = tree_cpu(proc.pid)
        db_before = tree_cpu(db_pid) if db_pid else None
        client_before = time.process_time()
        try:
            asyncio.run(run_load(config, smtp_port, http_port, recipient, result))
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        result.client_cpu = time.process_time() - client_before
        result.server_cpu = tree_cpu(proc.pid) - server_before
        if db_pid and db_before is not None:
            result.db_cpu = tree_cpu(db_pid) - db_before
        status = proc.exit_status()
        if status is not None and result.error is None:
            result.error = f"server exited during the load: {status}"
        return result
    finally:
        proc.stop()
        if pg is not None and db_name is not None:
            with contextlib.suppress(Exception):
                pg.drop_database(db_name)
        if not config.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _progress(r: EventsResult) -> None:
    lat = r.latencies()
    line = (
        f"  [{r.store:<8} {r.rate:g}/s] {r.accepted:,}/{r.messages:,} accepted at "
        f"{fmt(r.achieved_rate, '{:,.0f}')}/s; 250→frame p50 {fmt(percentile_ms(lat, 0.5))} "
        f"p99 {fmt(percentile_ms(lat, 0.99))} max {fmt(percentile_ms(lat, 1.0))} ms; "
        f"lost {r.lost}"
    )
    if r.closed:
        line += f"; stream ended: {r.closed}"
    if r.error:
        line += f"; ERROR {r.error}"
    print(line, flush=True)


def run_events_benchmark(config: EventsConfig) -> EventsReport:
    """Run every store in turn; return the report."""
    report = EventsReport(config=config, started=datetime.now(UTC))
    report.machine = machine_description()
    report.machine["load_start"] = load_average()
    with bench_workspace(
        "ephemail-bench-events-", postgres="postgres" in config.stores, keep=config.keep
    ) as (root, pg):
        try:
            src = snapshot_source(root) if config.snapshot else None
            report.versions = server_versions(config.python, pg, ("uvicorn", "websockets"))
            if src is not None:
                report.versions["ephemail"] += " (source snapshot taken at start)"
            report.commands = _commands(config)
            for rate in config.rates:
                for store in config.stores:
                    result = run_one(config, store, rate, root, pg, src)
                    _progress(result)
                    report.results.append(result)
        finally:
            report.machine["load_end"] = load_average()
    return report


def _commands(config: EventsConfig) -> list[str]:
    base = ephemail_env_text(config.server_env, "EPHEMAIL_DATA_DIR=<fresh dir>")
    return [
        "# server (SQLite; PostgreSQL adds EPHEMAIL_DATABASE_URL=postgresql://…/<fresh db>)",
        f"{base} python -m ephemail serve",
        "# subscriber: one WebSocket",
        f"ws://127.0.0.1:PORT2/api/v1/events?mailbox={RECIPIENT}",
        f"# sender: {config.connections} SMTP connections (EHLO once, then MAIL/RCPT/DATA "
        f"pipelined per message), RATE × {config.duration:g} s messages of "
        f"~{config.size} bytes, message i due at start + i / RATE s "
        f"(RATE = {', '.join(f'{r:g}' for r in config.rates)})",
    ]


# --------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------
def render_events_markdown(report: EventsReport) -> str:
    """The report as markdown (the body of the docs/benchmarks.md section)."""
    cfg = report.config
    out = [
        "## Live events: SMTP accept to WebSocket delivery",
        "",
        *run_lines(report),
        f"- Load: {cfg.duration:g} s of messages of ~{cfg.size} bytes to one mailbox, paced "
        f"at the rate shown over {cfg.connections} reused SMTP connections (PIPELINING); one "
        "WebSocket subscribed to that mailbox. Latency = `message.received` frame read by "
        "the subscriber − `250` to DATA read by the sender (same process, same clock). "
        f"Messages due in the first {cfg.warmup:g} s are not counted. Lost = accepted "
        f"messages whose frame had not arrived {cfg.grace:g} s after the last reply. A fresh "
        "server and database per store. Sender, subscriber, ephemail (and PostgreSQL) share "
        "the 2 CPUs.",
        "",
        *command_lines(report.commands),
        "| store | rate msg/s | sent | accepted | achieved msg/s | 250→frame p50 ms | p99 ms "
        "| max ms | lost | frame before 250 | SMTP MAIL→250 p50 ms | p99 ms | sender late p99 ms "
        "| ephemail CPU ms/msg | PostgreSQL CPU ms/msg | client CPU ms/msg | target p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report.results:
        lat = r.latencies()
        smtp = r.smtp_latencies()
        p99 = percentile_ms(lat, 0.99)
        verdict = "—"
        rate_ok = (r.achieved_rate or 0) >= 0.95 * r.rate
        if p99 is not None:
            met = p99 < TARGET_MS and not r.lost and rate_ok
            verdict = f"< {TARGET_MS:.0f} ms " + ("✓" if met else "✗")
            if not rate_ok:
                verdict += " (rate not reached)"
        if r.error:
            verdict += f" (error: {r.error.replace('|', '/')[:120]})"
        if r.closed:
            verdict += f" (stream ended: {r.closed.replace('|', '/')[:80]})"
        early = sum(1 for x in lat if x < 0)
        cpu = 1000 * r.server_cpu / r.accepted if r.server_cpu is not None and r.accepted else None
        db = 1000 * r.db_cpu / r.accepted if r.db_cpu is not None and r.accepted else None
        client = 1000 * r.client_cpu / len(r.sent) if r.client_cpu is not None and r.sent else None
        out.append(
            f"| {STORE_TITLES[r.store]} | {r.rate:g} | {len(r.sent):,} | {r.accepted:,} "
            f"| {fmt(r.achieved_rate, '{:,.0f}')} | {fmt(percentile_ms(lat, 0.5))} "
            f"| {fmt(p99)} | {fmt(percentile_ms(lat, 1.0))} | {r.lost:,} | {early:,} "
            f"| {fmt(percentile_ms(smtp, 0.5))} | {fmt(percentile_ms(smtp, 0.99))} "
            f"| {fmt(percentile_ms(r.lateness(), 0.99))} | {fmt(cpu, '{:.2f}')} "
            f"| {fmt(db, '{:.2f}')} | {fmt(client, '{:.2f}')} | {verdict} |"
        )
    out += [
        "",
        f"Target (issue 3): event latency p99 < {TARGET_MS:.0f} ms while ingesting at "
        "500 messages/s (at least 95 % of the rate reached), no frame lost (✓ met, ✗ "
        "missed). A negative latency "
        '("frame before 250") means the frame arrived before the sender had read its reply.',
    ]
    out += failure_lines(report.failures)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit("run it with: python -m bench.run --suite events")
